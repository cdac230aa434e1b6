-- The table locks held for as long as their holder runs (db.hold_table_lock): the instance
-- election's and the SharePoint sync's. {locked} is composed with psycopg.sql.Identifier.

-- name: lock_session
-- A lock holder's connection (the election's, the SharePoint sync's) stays idle in its
-- transaction for as long as its holder runs.
SET idle_in_transaction_session_timeout = 0; SET statement_timeout = '10s';

-- name: table_lock
-- {locked} is the environment's wa_monitor_instance or wa_monitor_sync_lock. Run in a
-- transaction that stays open: the table stays locked until the session ends. An advisory lock
-- would not do: any role, even one with no privilege at all, can take one. EXCLUSIVE mode
-- conflicts with itself and with every lock that needs a write privilege, not with a read.
LOCK TABLE {locked} IN EXCLUSIVE MODE NOWAIT;
