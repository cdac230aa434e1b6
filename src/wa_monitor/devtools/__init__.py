"""Demo, simulator (the bridge's stand-in) and embedded PostgreSQL: for the demo, the tests and
the benchmark only. Behind the 'devtools' extra; nothing in production's path imports them."""
