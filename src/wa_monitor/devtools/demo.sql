-- The demo's closing report: the runbook's comparison, read from each environment's schema.
-- {reviews} and {invalid} are composed with psycopg.sql.Identifier for that schema.

-- name: totals
SELECT count(*), count(*) FILTER (WHERE resubmitted), max(created_at) FROM {reviews};

-- name: per_project
SELECT project, count(*) FROM {reviews} GROUP BY 1 ORDER BY 1;

-- name: invalid
SELECT drop_number, project, submitted_by, reason FROM {invalid} ORDER BY created_at;

-- name: read_up_to
SELECT bridge, bridge_rowid FROM {cursor};

-- name: bridges
-- Each bridge's cursor, and the messages it delivered first (the ledger keeps one per message).
SELECT c.bridge, c.bridge_rowid, c.newest_at,
       (SELECT count(*) FROM {ledger} l WHERE l.bridge = c.bridge)
FROM {cursor} c ORDER BY 1;

-- name: history_reviews
-- The demo's past weeks (devtools/history.py): reviews as the monitor and the reviewers left
-- them. The per-day summary's triggers count them as they go in.
INSERT INTO {reviews} (
    drop_number, review_date, project, user_name, submitted_by, whatsapp_message_date,
    last_submitted_at, resubmitted, completed, incomplete, feedback_sent, reviewed_at,
    reviewed_by, completed_photos, outstanding_photos, wrong_steps, version,
    step_01_house_photo, step_02_cable_from_pole, step_03_cable_entry_outside,
    step_04_cable_entry_inside, step_05_wall_for_installation, step_06_ont_back_after_install,
    step_07_power_meter_reading, step_08_ont_barcode, step_09_ups_serial,
    step_10_final_installation, step_11_green_lights, step_12_customer_signature)
SELECT d.drop, (d.sighted AT TIME ZONE %(tz)s)::date, d.project, d.name, d.phone, d.sighted,
       d.last, d.resubmitted, d.completed, d.incomplete, d.feedback, d.reviewed_at,
       CASE WHEN d.reviewed_at IS NOT NULL THEN 'demo reviewer' END,
       cardinality(array_positions(d.passed, true)),
       12 - cardinality(array_positions(d.passed, true)),
       d.wrong, d.version,
       d.passed[1], d.passed[2], d.passed[3], d.passed[4], d.passed[5], d.passed[6],
       d.passed[7], d.passed[8], d.passed[9], d.passed[10], d.passed[11], d.passed[12]
FROM jsonb_to_recordset(%(drops)s) AS d(
    drop text, project text, name text, phone text, sighted timestamptz, last timestamptz,
    resubmitted boolean, completed boolean, incomplete boolean, feedback timestamptz,
    reviewed_at timestamptz, wrong jsonb, version integer, passed boolean[])
ON CONFLICT (drop_number, review_date) DO NOTHING;

-- name: history_changes
-- Their change trail: each save and feedback stamp, at the time it was made.
INSERT INTO {changes} (review_id, version, changed_by, changed_at, changes)
SELECT r.id, c.version, 'demo reviewer', c.at, c.changes
FROM jsonb_to_recordset(%(changes)s) AS c(drop text, version integer, at timestamptz, changes jsonb)
JOIN {reviews} AS r ON r.drop_number = c.drop
ORDER BY c.drop, c.version;
