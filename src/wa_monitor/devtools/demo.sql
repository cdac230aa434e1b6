-- The demo's closing report: the runbook's comparison, read from each environment's schema.
-- {reviews} and {invalid} are composed with psycopg.sql.Identifier for that schema.

-- name: totals
SELECT count(*), count(*) FILTER (WHERE resubmitted), max(created_at) FROM {reviews};

-- name: per_project
SELECT project, count(*) FROM {reviews} GROUP BY 1 ORDER BY 1;

-- name: invalid
SELECT drop_number, project, submitted_by, reason FROM {invalid} ORDER BY created_at;

-- name: read_up_to
SELECT bridge_rowid FROM {cursor};
