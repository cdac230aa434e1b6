-- The SharePoint sync's record of what it wrote, and its lock (sync_record.py). {sync_writes} and
-- {sync_lock} are composed with psycopg.sql.Identifier; everything else is a bound parameter.

-- name: record_write
INSERT INTO {sync_writes} (day, project, drops, previous, action, target_kind, target, sheet_row)
VALUES (%(day)s, %(project)s, %(drops)s, %(previous)s, %(action)s, %(target_kind)s, %(target)s,
        %(sheet_row)s);

-- name: sync_lock_session
-- The lock's own connection stays idle in its transaction for as long as the sync runs.
SET idle_in_transaction_session_timeout = 0; SET statement_timeout = '10s';

-- name: sync_lock
-- One sync at a time (the timer's and one started by hand would both append a new key's row):
-- run in a transaction that stays open until the sync ends. EXCLUSIVE mode needs UPDATE on the
-- environment's own lock table; an advisory lock would not do: any role can take one.
LOCK TABLE {sync_lock} IN EXCLUSIVE MODE NOWAIT;

-- name: written_keys
-- The (day, project) rows this job wrote to the target on the days being synced.
SELECT DISTINCT day, project FROM {sync_writes}
WHERE target = %(target)s AND day BETWEEN %(first)s AND %(last)s;
