-- The SharePoint sync's record of what it wrote (sync_record.py). {sync_writes} is composed with
-- psycopg.sql.Identifier; everything else is a bound parameter.

-- name: record_write
INSERT INTO {sync_writes} (day, project, drops, previous, action, target_kind, target, sheet_row)
VALUES (%(day)s, %(project)s, %(drops)s, %(previous)s, %(action)s, %(target_kind)s, %(target)s,
        %(sheet_row)s);


-- name: written_keys
-- The (day, project) rows this job wrote to the target on the days being synced.
SELECT DISTINCT day, project FROM {sync_writes}
WHERE target = %(target)s AND day BETWEEN %(first)s AND %(last)s;
