"""PostgreSQL: db (the one way in), store (the daemon's transaction), admin (schema commands),
daily (the shared daily counts); SQL only in sql/, loaded by name."""
