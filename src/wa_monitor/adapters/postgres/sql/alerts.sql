-- Named queries of `wa-monitor alerts check` (adapters/postgres/alerts.py). {alerts} is composed
-- with psycopg.sql.Identifier; everything else is a bound parameter. One row per open incident
-- kind; it is deleted once its recovery went out on every channel its alert went to.

-- name: lock
-- The timer and the OnFailure= hook may run at the same moment: one check's turn at a time per
-- schema, so a message is claimed once. A lock on the environment's own alerts table, held to
-- the end of the turn's short transaction (never across a post): SHARE ROW EXCLUSIVE conflicts
-- with itself and needs UPDATE or DELETE on the table, which only this environment's roles
-- hold. An advisory lock would not do: any role, of any environment or none, could take it and
-- hold production's checks back.
LOCK TABLE {alerts} IN SHARE ROW EXCLUSIVE MODE;

-- name: incidents
SELECT kind, detail, opened_at, opened_via, resolved_at, resolved_via, opening, recovering
FROM {alerts} ORDER BY opened_at, kind;

-- name: open
INSERT INTO {alerts} (kind, detail) VALUES (%(kind)s, %(detail)s)
ON CONFLICT (kind) DO NOTHING;

-- name: reopen
-- Back before its recovery went anywhere: the incident goes on, nothing to announce again.
UPDATE {alerts} SET resolved_at = NULL, resolved_via = ARRAY[]::text[] WHERE kind = %(kind)s;

-- name: resolve
UPDATE {alerts} SET resolved_at = now() WHERE kind = %(kind)s AND resolved_at IS NULL;

-- name: claim_alert
UPDATE {alerts} SET opening = opening || %(channel)s::text, claimed_at = now()
WHERE kind = %(kind)s;

-- name: claim_recovery
UPDATE {alerts} SET recovering = recovering || %(channel)s::text, claimed_at = now()
WHERE kind = %(kind)s;

-- name: settle_alert
-- The post's outcome: carried (or perhaps carried: never posted again), or certainly not
-- (the channel is due again at the next check).
UPDATE {alerts} SET
    opening = array_remove(opening, %(channel)s::text),
    opened_via = CASE WHEN %(carried)s THEN opened_via || %(channel)s::text ELSE opened_via END
WHERE kind = %(kind)s;

-- name: settle_recovery
UPDATE {alerts} SET
    recovering = array_remove(recovering, %(channel)s::text),
    resolved_via = CASE WHEN %(carried)s THEN resolved_via || %(channel)s::text
                        ELSE resolved_via END
WHERE kind = %(kind)s;

-- name: settle_stale
-- Claims no check settled (it was killed around its post): perhaps posted, so never again.
UPDATE {alerts} SET
    opened_via = opened_via || opening,
    resolved_via = resolved_via || recovering,
    opening = ARRAY[]::text[],
    recovering = ARRAY[]::text[]
WHERE cardinality(opening) + cardinality(recovering) > 0
  AND claimed_at < now() - %(stale)s::interval;

-- name: close
DELETE FROM {alerts} WHERE kind = %(kind)s;
