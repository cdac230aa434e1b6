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

-- name: monitor_lock
-- The per-bridge election (db.hold_bridge): a monitor holds its environment's instance table in
-- ROW EXCLUSIVE mode for as long as it runs. The mode does not conflict with itself (a monitor
-- per bridge runs side by side), needs a write privilege on the environment's own table (no other
-- role can take it, or one that blocks it), and blocks `schema reset` (EXCLUSIVE) while held.
LOCK TABLE {locked} IN ROW EXCLUSIVE MODE NOWAIT;

-- name: election_lock
-- Orders the elections of one environment's monitors, for the election's own short transaction:
-- conflicts with itself, not with the monitors' ROW EXCLUSIVE.
LOCK TABLE {locked} IN SHARE UPDATE EXCLUSIVE MODE;
