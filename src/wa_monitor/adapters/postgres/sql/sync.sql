-- The SharePoint sync's record of what it wrote (sync_record.py). {sync_writes} is composed with
-- psycopg.sql.Identifier; everything else is a bound parameter.

-- name: record_write
INSERT INTO {sync_writes} (day, project, drops, previous, action, target_kind, target, sheet_row)
VALUES (%(day)s, %(project)s, %(drops)s, %(previous)s, %(action)s, %(target_kind)s, %(target)s,
        %(sheet_row)s);

-- name: sync_lock
-- One sync per target at a time (the timer's and one started by hand would both append a new
-- key's row): held for the session, released when the connection closes.
SELECT pg_try_advisory_lock(hashtext('wa-monitor sync'), hashtext(%(target)s));
