-- Named queries of `wa-monitor drops` (plans.py). {valid_drops} is composed with
-- psycopg.sql.Identifier; everything else is a bound parameter.

-- name: create_incoming
CREATE TEMP TABLE incoming_drops (drop_number text PRIMARY KEY) ON COMMIT DROP;

-- name: copy_incoming
COPY incoming_drops (drop_number) FROM STDIN;

-- name: analyze_incoming
ANALYZE incoming_drops;

-- name: change
SELECT
    (SELECT count(*) FROM {valid_drops} WHERE project = %(project)s),
    (SELECT count(*) FROM incoming_drops i WHERE NOT EXISTS (
        SELECT 1 FROM {valid_drops} v
        WHERE v.project = %(project)s AND v.drop_number = i.drop_number)),
    (SELECT count(*) FROM {valid_drops} v WHERE v.project = %(project)s AND NOT EXISTS (
        SELECT 1 FROM incoming_drops i WHERE i.drop_number = v.drop_number));

-- name: adding_examples
SELECT i.drop_number FROM incoming_drops i
WHERE NOT EXISTS (
    SELECT 1 FROM {valid_drops} v WHERE v.project = %(project)s AND v.drop_number = i.drop_number)
ORDER BY i.drop_number
LIMIT %(limit)s;

-- name: missing_examples
SELECT v.drop_number FROM {valid_drops} v
WHERE v.project = %(project)s
  AND NOT EXISTS (SELECT 1 FROM incoming_drops i WHERE i.drop_number = v.drop_number)
ORDER BY v.drop_number
LIMIT %(limit)s;

-- name: add
INSERT INTO {valid_drops} (project, drop_number)
SELECT %(project)s, drop_number FROM incoming_drops
ON CONFLICT (project, drop_number) DO NOTHING;

-- name: remove
DELETE FROM {valid_drops} v
WHERE v.project = %(project)s
  AND NOT EXISTS (SELECT 1 FROM incoming_drops i WHERE i.drop_number = v.drop_number);

-- name: count
SELECT count(*) FROM {valid_drops} WHERE project = %(project)s;

-- name: sizes_of
SELECT project, count(*) FROM {valid_drops} WHERE project = ANY(%(projects)s) GROUP BY project;

-- name: sizes
SELECT project, count(*), max(imported_at) FROM {valid_drops} GROUP BY project ORDER BY project;

-- name: check
SELECT q.drop_number, coalesce(array_agg(v.project ORDER BY v.project)
    FILTER (WHERE v.project IS NOT NULL), ARRAY[]::varchar[])
FROM unnest(%(drops)s::text[]) AS q(drop_number)
LEFT JOIN {valid_drops} v ON v.drop_number = q.drop_number
GROUP BY q.drop_number
ORDER BY q.drop_number;
