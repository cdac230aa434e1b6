-- Named queries of `wa-monitor alerts check` (services/alerts.py). {alerts} and {schema} are
-- composed with psycopg.sql.Identifier; everything else is a bound parameter. One row per open
-- incident kind; it is deleted once its recovery went out on every channel its alert went to.

-- name: lock
-- The timer and the OnFailure= hook may run at the same moment: one check at a time per schema,
-- so an incident is announced once. A lock on the environment's own alerts table, held to the
-- end of the check's transaction: SHARE ROW EXCLUSIVE conflicts with itself and needs UPDATE or
-- DELETE on the table, which only this environment's roles hold. An advisory lock would not do:
-- any role, of any environment or none, could take it and hold production's checks back.
LOCK TABLE {alerts} IN SHARE ROW EXCLUSIVE MODE;

-- name: incidents
SELECT kind, detail, opened_at, opened_via, resolved_at, resolved_via
FROM {alerts} ORDER BY opened_at, kind;

-- name: open
INSERT INTO {alerts} (kind, detail) VALUES (%(kind)s, %(detail)s)
ON CONFLICT (kind) DO NOTHING;

-- name: reopen
-- Back before its recovery went anywhere: the incident goes on, nothing to announce again.
UPDATE {alerts} SET resolved_at = NULL, resolved_via = ARRAY[]::text[] WHERE kind = %(kind)s;

-- name: resolve
UPDATE {alerts} SET resolved_at = now() WHERE kind = %(kind)s AND resolved_at IS NULL;

-- name: opened_via
UPDATE {alerts} SET opened_via = opened_via || %(channel)s::text WHERE kind = %(kind)s;

-- name: resolved_via
UPDATE {alerts} SET resolved_via = resolved_via || %(channel)s::text WHERE kind = %(kind)s;

-- name: close
DELETE FROM {alerts} WHERE kind = %(kind)s;
