-- Named queries of the review workflow, loaded by reviewing.py. {reviews}, {changes} and {sends}
-- are composed with psycopg.sql.Identifier; everything else is a bound parameter.

-- name: load_review
SELECT id, drop_number, project, review_date, user_name, submitted_by, last_submitted_at,
       resubmitted, feedback_sent, comment, wrong_steps, reviewed_by, reviewed_at, version,
       updated_at,
       step_01_house_photo, step_02_cable_from_pole, step_03_cable_entry_outside,
       step_04_cable_entry_inside, step_05_wall_for_installation,
       step_06_ont_back_after_install, step_07_power_meter_reading, step_08_ont_barcode,
       step_09_ups_serial, step_10_final_installation, step_11_green_lights,
       step_12_customer_signature
FROM {reviews}
WHERE id = %(id)s;

-- name: lock_review
SELECT version, reviewed_at, feedback_sent FROM {reviews} WHERE id = %(id)s FOR UPDATE;

-- name: lock_for_send
SELECT version, reviewed_at, feedback_sent, project, drop_number FROM {reviews}
WHERE id = %(id)s FOR UPDATE;

-- name: save_verdict
UPDATE {reviews} SET
    step_01_house_photo = %(step_01_house_photo)s,
    step_02_cable_from_pole = %(step_02_cable_from_pole)s,
    step_03_cable_entry_outside = %(step_03_cable_entry_outside)s,
    step_04_cable_entry_inside = %(step_04_cable_entry_inside)s,
    step_05_wall_for_installation = %(step_05_wall_for_installation)s,
    step_06_ont_back_after_install = %(step_06_ont_back_after_install)s,
    step_07_power_meter_reading = %(step_07_power_meter_reading)s,
    step_08_ont_barcode = %(step_08_ont_barcode)s,
    step_09_ups_serial = %(step_09_ups_serial)s,
    step_10_final_installation = %(step_10_final_installation)s,
    step_11_green_lights = %(step_11_green_lights)s,
    step_12_customer_signature = %(step_12_customer_signature)s,
    wrong_steps = %(wrong_steps)s,
    comment = %(comment)s,
    completed = %(completed)s,
    incomplete = %(incomplete)s,
    completed_photos = %(completed_photos)s,
    outstanding_photos = %(outstanding_photos)s,
    reviewed_by = %(by)s,
    reviewed_at = now(),
    updated_at = now(),
    version = version + 1
WHERE id = %(id)s AND version = %(version)s
RETURNING version;

-- name: record_change
INSERT INTO {changes} (review_id, version, changed_by, changes)
VALUES (%(id)s, %(version)s, %(by)s, %(changes)s);

-- name: last_change
-- Who made the review's current version, when a person did (the monitor's resubmission leaves
-- no row here: the review's own submission fields say who and when).
SELECT changed_by, changed_at, changes ? 'feedback_sent' FROM {changes}
WHERE review_id = %(id)s AND version = %(version)s
ORDER BY id DESC LIMIT 1;

-- name: changes_of
SELECT version, changed_by, changed_at, changes FROM {changes}
WHERE review_id = %(id)s ORDER BY id DESC;

-- name: claim_send
-- Made under the review's row lock, after the checks; the partial unique index is the backstop
-- that keeps one message per version even so. Committed before the bridge is called, with the
-- bridge it is posted through first (route_send writes the next, if that one is down).
INSERT INTO {sends} (review_id, review_version, sent_by, recipient, message, bridge)
VALUES (%(id)s, %(version)s, %(by)s, %(recipient)s, %(message)s, %(bridge)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: route_send
-- The bridge a claimed send is about to be posted through, committed before the post: an
-- unknown outcome is looked for in that bridge's messages.db. Only while it is claimed.
UPDATE {sends} SET bridge = %(bridge)s WHERE id = %(send)s AND state = 'claimed';

-- name: finish_send
UPDATE {sends} SET
    state = %(state)s, finished_at = now(), bridge_status = %(status)s, bridge_answer = %(answer)s
WHERE id = %(send)s AND state = 'claimed';

-- name: sends_alike
-- Other sends of the same text to the same group settled as sent since `since`: the bot's
-- messages of that text in messages.db that are theirs (core/replies.py: reconcile).
SELECT count(*) FROM {sends}
WHERE recipient = %(recipient)s AND message = %(message)s AND state = 'sent' AND id <> %(send)s
  AND finished_at >= %(since)s;

-- name: stamp_feedback
-- Only on the version the message was composed from: a resubmission in the meantime started a
-- new round that nobody has given feedback on.
UPDATE {reviews} SET feedback_sent = now(), updated_at = now(), version = version + 1
WHERE id = %(id)s AND version = %(version)s
RETURNING version, feedback_sent;

-- name: blocking_send
-- The send that holds this version's one message: in flight, sent, or perhaps sent.
SELECT id FROM {sends}
WHERE review_id = %(id)s AND review_version = %(version)s
  AND (state IN ('claimed', 'sent')
       OR (state = 'unknown' AND resolution IS DISTINCT FROM 'not_posted'))
ORDER BY id DESC LIMIT 1;

-- name: sends_of
SELECT id, review_version, sent_by, claimed_at, finished_at, recipient, message, state,
       bridge_status, bridge_answer, resolved_by, resolved_at, resolution
FROM {sends} WHERE review_id = %(id)s ORDER BY id DESC;

-- name: send_by_id
SELECT id, review_version, sent_by, claimed_at, finished_at, recipient, message, state,
       bridge_status, bridge_answer, resolved_by, resolved_at, resolution
FROM {sends} WHERE id = %(send)s AND review_id = %(id)s;

-- name: resolve_send
-- A person checked the group for a send whose outcome was not known (or that never finished).
UPDATE {sends} SET
    state = CASE WHEN state = 'claimed' THEN 'unknown' ELSE state END,
    resolution = %(resolution)s, resolved_by = %(by)s, resolved_at = now()
WHERE id = %(send)s AND review_id = %(id)s AND resolution IS NULL
  AND (state = 'unknown' OR (state = 'claimed' AND claimed_at < now() - %(stale)s::interval))
RETURNING id, review_version;

-- name: correct_drop
-- Through the schema's narrow function (migration 0015): the dashboard's role may not UPDATE
-- drop_number. It checks the version, the number's form, the plan, the day's other review, and
-- records the change with the old number and the reason.
SELECT outcome, other, new_version
FROM {schema}.wa_monitor_correct_drop(%(id)s, %(version)s, %(drop)s, %(reason)s, %(by)s,
                                      %(planned)s);
