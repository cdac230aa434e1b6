-- Version 19: the per-day summary. One row per local day (of the review's sighting:
-- whatsapp_message_date, else created_at, in the zone kept beside it) x project x agent's phone,
-- with the counts the overview, the Quality page and the SharePoint totals read, so that none
-- of them scans a month of reviews (the queue's counts have their own partial index, 0014). It is kept by triggers on the reviews and their
-- change trail, in the transaction of the write they summarize: the monitor's batch (one
-- statement-level trigger run per INSERT or UPDATE, over the statement's transition table), a
-- reviewer's verdict and feedback stamp, a drop-number correction, `schema copy-from-prod`, or
-- psql. A batch that rolls back takes its counts with it: exact, and never counted twice. The
-- functions are SECURITY DEFINER (fixed search_path), so no service's role needs a right on it
-- beyond reading it; and without JIT (the transition tables have no statistics: a batch's
-- 20,000 rows are costed as millions, and compiling the plan took 1-2 s where running it takes
-- milliseconds). wa_monitor_daily_rebuild(zone) recomputes it from the tables.
--
-- A review's part: drops 1 on its key; `dated` 1 when it has a whatsapp_message_date (the daily
-- totals count those); completed / incomplete / awaiting (neither) / feedback_sent /
-- resubmitted as the review is now; and from its first verdict (the first trail entry naming a
-- step, the comment or "saved"; sql/quality.sql) reviewed 1, passed_first 1 when all 12 passed,
-- and per step mNN 1 when the step was missing, wNN 1 when wrong. `name` is the user_name of
-- the key's latest sighting (name_at), kept as writes come (a rebuild makes it exact again).
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily (
    day date NOT NULL,
    project text NOT NULL,  -- '' when the review has none
    phone text NOT NULL,  -- submitted_by, '' when none
    drops integer NOT NULL DEFAULT 0,
    dated integer NOT NULL DEFAULT 0,
    completed integer NOT NULL DEFAULT 0,
    incomplete integer NOT NULL DEFAULT 0,
    awaiting integer NOT NULL DEFAULT 0,
    feedback_sent integer NOT NULL DEFAULT 0,
    resubmitted integer NOT NULL DEFAULT 0,
    reviewed integer NOT NULL DEFAULT 0,
    passed_first integer NOT NULL DEFAULT 0,
    m01 integer NOT NULL DEFAULT 0, m02 integer NOT NULL DEFAULT 0,
    m03 integer NOT NULL DEFAULT 0, m04 integer NOT NULL DEFAULT 0,
    m05 integer NOT NULL DEFAULT 0, m06 integer NOT NULL DEFAULT 0,
    m07 integer NOT NULL DEFAULT 0, m08 integer NOT NULL DEFAULT 0,
    m09 integer NOT NULL DEFAULT 0, m10 integer NOT NULL DEFAULT 0,
    m11 integer NOT NULL DEFAULT 0, m12 integer NOT NULL DEFAULT 0,
    w01 integer NOT NULL DEFAULT 0, w02 integer NOT NULL DEFAULT 0,
    w03 integer NOT NULL DEFAULT 0, w04 integer NOT NULL DEFAULT 0,
    w05 integer NOT NULL DEFAULT 0, w06 integer NOT NULL DEFAULT 0,
    w07 integer NOT NULL DEFAULT 0, w08 integer NOT NULL DEFAULT 0,
    w09 integer NOT NULL DEFAULT 0, w10 integer NOT NULL DEFAULT 0,
    w11 integer NOT NULL DEFAULT 0, w12 integer NOT NULL DEFAULT 0,
    name text,
    name_at timestamptz,
    PRIMARY KEY (day, project, phone)
);

-- The zone the days are local to: the environment's (`schema migrate` rebuilds the summary when
-- the config names another).
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily_zone (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    zone text NOT NULL
);
INSERT INTO {schema}.wa_monitor_daily_zone (zone) VALUES ('Africa/Johannesburg')
ON CONFLICT DO NOTHING;

-- Adds the parts of reviews to the summary: sign -1 takes a review's part away, +1 adds it;
-- with_base false adds only the first verdict's part (the trail's trigger). `verdict` is the
-- review's first verdict (NULL: none yet).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_add(
    signs integer[], reviews {schema}.qa_photo_reviews[], with_base boolean[], verdicts jsonb[])
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
    WITH parts AS (
        SELECT u.sign,
               u.base,
               (coalesce(r.whatsapp_message_date, r.created_at)
                    AT TIME ZONE (SELECT zone FROM {schema}.wa_monitor_daily_zone))::date AS day,
               coalesce(r.project, '') AS project,
               coalesce(r.submitted_by, '') AS phone,
               coalesce(r.whatsapp_message_date, r.created_at) AS sighted,
               r.whatsapp_message_date IS NOT NULL AS dated,
               r.completed,
               r.incomplete,
               r.feedback_sent IS NOT NULL AS feedback,
               r.resubmitted,
               r.user_name,
               u.v,
               CASE WHEN u.v IS NOT NULL THEN ARRAY(SELECT CASE WHEN u.v -> s.col ->> 'to' = 'passed' THEN 0
                                 WHEN u.v -> s.col ->> 'to' LIKE 'wrong%' THEN 2
                                 ELSE 1 END
                     FROM unnest(ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                                       'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                                       'step_05_wall_for_installation',
                                       'step_06_ont_back_after_install',
                                       'step_07_power_meter_reading', 'step_08_ont_barcode',
                                       'step_09_ups_serial', 'step_10_final_installation',
                                       'step_11_green_lights', 'step_12_customer_signature'])
                          WITH ORDINALITY AS s(col, n)
                     ORDER BY s.n) END AS marks
        -- Unnested side by side (an array's i-th element is found by walking from its start:
        -- subscripts would make a batch's cost grow with its square).
        FROM unnest(reviews) WITH ORDINALITY AS r
        JOIN unnest(signs, with_base, verdicts) WITH ORDINALITY AS u(sign, base, v, n)
            ON u.n = r.ordinality
    ),
    delta AS (
        SELECT day, project, phone,
               sum(sign) FILTER (WHERE base) AS drops,
               sum(sign) FILTER (WHERE base AND dated) AS dated,
               sum(sign) FILTER (WHERE base AND completed) AS completed,
               sum(sign) FILTER (WHERE base AND incomplete) AS incomplete,
               sum(sign) FILTER (WHERE base AND NOT completed AND NOT incomplete)
                   AS awaiting,
               sum(sign) FILTER (WHERE base AND feedback) AS feedback_sent,
               sum(sign) FILTER (WHERE base AND resubmitted) AS resubmitted,
               sum(sign) FILTER (WHERE v IS NOT NULL) AS reviewed,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks = array_fill(0, ARRAY[12]))
                   AS passed_first,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[1] = 1) AS m01,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[2] = 1) AS m02,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[3] = 1) AS m03,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[4] = 1) AS m04,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[5] = 1) AS m05,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[6] = 1) AS m06,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[7] = 1) AS m07,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[8] = 1) AS m08,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[9] = 1) AS m09,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[10] = 1) AS m10,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[11] = 1) AS m11,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[12] = 1) AS m12,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[1] = 2) AS w01,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[2] = 2) AS w02,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[3] = 2) AS w03,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[4] = 2) AS w04,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[5] = 2) AS w05,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[6] = 2) AS w06,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[7] = 2) AS w07,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[8] = 2) AS w08,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[9] = 2) AS w09,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[10] = 2) AS w10,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[11] = 2) AS w11,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[12] = 2) AS w12,
               (array_agg(user_name ORDER BY sighted DESC)
                    FILTER (WHERE sign > 0 AND base AND user_name IS NOT NULL))[1] AS name,
               max(sighted) FILTER (WHERE sign > 0 AND base AND user_name IS NOT NULL)
                   AS name_at
        FROM parts
        GROUP BY day, project, phone
    )
    INSERT INTO {schema}.wa_monitor_daily AS d (
        day, project, phone, drops, dated, completed, incomplete, awaiting, feedback_sent,
        resubmitted, reviewed, passed_first,
        m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
        w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12, name, name_at)
    SELECT day, project, phone, coalesce(drops, 0), coalesce(dated, 0), coalesce(completed, 0),
           coalesce(incomplete, 0), coalesce(awaiting, 0), coalesce(feedback_sent, 0),
           coalesce(resubmitted, 0), coalesce(reviewed, 0), coalesce(passed_first, 0),
           coalesce(m01, 0), coalesce(m02, 0), coalesce(m03, 0), coalesce(m04, 0),
           coalesce(m05, 0), coalesce(m06, 0), coalesce(m07, 0), coalesce(m08, 0),
           coalesce(m09, 0), coalesce(m10, 0), coalesce(m11, 0), coalesce(m12, 0),
           coalesce(w01, 0), coalesce(w02, 0), coalesce(w03, 0), coalesce(w04, 0),
           coalesce(w05, 0), coalesce(w06, 0), coalesce(w07, 0), coalesce(w08, 0),
           coalesce(w09, 0), coalesce(w10, 0), coalesce(w11, 0), coalesce(w12, 0),
           name, name_at
    FROM delta
    ORDER BY day, project, phone
    ON CONFLICT (day, project, phone) DO UPDATE SET
        drops = d.drops + excluded.drops,
        dated = d.dated + excluded.dated,
        completed = d.completed + excluded.completed,
        incomplete = d.incomplete + excluded.incomplete,
        awaiting = d.awaiting + excluded.awaiting,
        feedback_sent = d.feedback_sent + excluded.feedback_sent,
        resubmitted = d.resubmitted + excluded.resubmitted,
        reviewed = d.reviewed + excluded.reviewed,
        passed_first = d.passed_first + excluded.passed_first,
        m01 = d.m01 + excluded.m01, m02 = d.m02 + excluded.m02, m03 = d.m03 + excluded.m03,
        m04 = d.m04 + excluded.m04, m05 = d.m05 + excluded.m05, m06 = d.m06 + excluded.m06,
        m07 = d.m07 + excluded.m07, m08 = d.m08 + excluded.m08, m09 = d.m09 + excluded.m09,
        m10 = d.m10 + excluded.m10, m11 = d.m11 + excluded.m11, m12 = d.m12 + excluded.m12,
        w01 = d.w01 + excluded.w01, w02 = d.w02 + excluded.w02, w03 = d.w03 + excluded.w03,
        w04 = d.w04 + excluded.w04, w05 = d.w05 + excluded.w05, w06 = d.w06 + excluded.w06,
        w07 = d.w07 + excluded.w07, w08 = d.w08 + excluded.w08, w09 = d.w09 + excluded.w09,
        w10 = d.w10 + excluded.w10, w11 = d.w11 + excluded.w11, w12 = d.w12 + excluded.w12,
        name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                    THEN coalesce(excluded.name, d.name) ELSE d.name END,
        name_at = greatest(d.name_at, excluded.name_at);
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_add(
    integer[], {schema}.qa_photo_reviews[], boolean[], jsonb[]) FROM PUBLIC;

-- A review's first verdict: the first trail entry a reviewer's save made (sql/quality.sql).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_first_verdict(review uuid)
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
    SELECT c.changes FROM {schema}.wa_monitor_review_changes AS c
    WHERE c.review_id = review
      AND c.changes ?| ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                             'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                             'step_05_wall_for_installation', 'step_06_ont_back_after_install',
                             'step_07_power_meter_reading', 'step_08_ont_barcode',
                             'step_09_ups_serial', 'step_10_final_installation',
                             'step_11_green_lights', 'step_12_customer_signature', 'comment',
                             'saved']
    ORDER BY c.id LIMIT 1;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_first_verdict(uuid) FROM PUBLIC;

-- The reviews' triggers: new reviews add their part (they have no trail yet); an update takes
-- the old part away and adds the new one, for the rows whose part changed; a delete takes the
-- part away before the trail goes with it; a TRUNCATE empties the summary.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_reviews()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE {schema}.wa_monitor_daily;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM {schema}.wa_monitor_daily_add(
            ARRAY[-1], ARRAY[OLD], ARRAY[true], ARRAY[{schema}.wa_monitor_first_verdict(OLD.id)]);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        -- The drain's path, kept lean: new reviews have no trail yet, so only their own part,
        -- added up straight from the statement's rows.
        INSERT INTO {schema}.wa_monitor_daily AS d (
            day, project, phone, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, name, name_at)
        SELECT day, project, phone, count(*), count(dated),
               count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
               count(*) FILTER (WHERE NOT completed AND NOT incomplete), count(feedback_sent),
               count(*) FILTER (WHERE resubmitted),
               (array_agg(user_name ORDER BY sighted DESC)
                    FILTER (WHERE user_name IS NOT NULL))[1],
               max(sighted) FILTER (WHERE user_name IS NOT NULL)
        FROM (SELECT (coalesce(n.whatsapp_message_date, n.created_at) AT TIME ZONE z.zone)::date
                         AS day,
                     coalesce(n.project, '') AS project,
                     coalesce(n.submitted_by, '') AS phone,
                     coalesce(n.whatsapp_message_date, n.created_at) AS sighted,
                     n.whatsapp_message_date AS dated,
                     n.completed, n.incomplete, n.feedback_sent, n.resubmitted, n.user_name
              FROM new_reviews AS n, {schema}.wa_monitor_daily_zone AS z) AS part
        GROUP BY day, project, phone
        ORDER BY day, project, phone
        ON CONFLICT (day, project, phone) DO UPDATE SET
            drops = d.drops + excluded.drops,
            dated = d.dated + excluded.dated,
            completed = d.completed + excluded.completed,
            incomplete = d.incomplete + excluded.incomplete,
            awaiting = d.awaiting + excluded.awaiting,
            feedback_sent = d.feedback_sent + excluded.feedback_sent,
            resubmitted = d.resubmitted + excluded.resubmitted,
            name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                        THEN coalesce(excluded.name, d.name) ELSE d.name END,
            name_at = greatest(d.name_at, excluded.name_at);
        RETURN NULL;
    ELSE
        WITH moved AS (
            SELECT o.id FROM old_reviews AS o JOIN new_reviews AS n ON n.id = o.id
            WHERE (o.project, o.submitted_by, o.user_name, o.whatsapp_message_date, o.created_at,
                   o.completed, o.incomplete, o.feedback_sent IS NULL, o.resubmitted)
                  IS DISTINCT FROM
                  (n.project, n.submitted_by, n.user_name, n.whatsapp_message_date, n.created_at,
                   n.completed, n.incomplete, n.feedback_sent IS NULL, n.resubmitted)
        ),
        parts AS (
            SELECT -1 AS sign, o::{schema}.qa_photo_reviews AS r
            FROM old_reviews AS o WHERE o.id IN (SELECT id FROM moved)
            UNION ALL
            SELECT 1, n::{schema}.qa_photo_reviews
            FROM new_reviews AS n WHERE n.id IN (SELECT id FROM moved)
        )
        SELECT array_agg(sign), array_agg(r), array_agg(true),
               array_agg({schema}.wa_monitor_first_verdict((r).id))
        INTO signs, revs, bases, verdicts
        FROM parts;
    END IF;
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(signs, revs, bases, verdicts);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_reviews() FROM PUBLIC;

-- The trail's trigger: a review whose first verdict these entries hold adds that verdict's part
-- to the review's key (the trail is only ever appended to; deleting a review is handled above).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
BEGIN
    SELECT array_agg(1), array_agg(r), array_agg(false), array_agg(f.verdict)
    INTO signs, revs, bases, verdicts
    FROM (SELECT DISTINCT review_id FROM new_changes) AS touched
    CROSS JOIN LATERAL (
        SELECT first.id, first.changes AS verdict
        FROM {schema}.wa_monitor_review_changes AS first
        WHERE first.review_id = touched.review_id
          AND first.changes ?| ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                                     'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                                     'step_05_wall_for_installation',
                                     'step_06_ont_back_after_install',
                                     'step_07_power_meter_reading', 'step_08_ont_barcode',
                                     'step_09_ups_serial', 'step_10_final_installation',
                                     'step_11_green_lights', 'step_12_customer_signature',
                                     'comment', 'saved']
        ORDER BY first.id LIMIT 1
    ) AS f
    JOIN {schema}.qa_photo_reviews AS r ON r.id = touched.review_id
    WHERE f.id IN (SELECT id FROM new_changes);
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(signs, revs, bases, verdicts);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_changes() FROM PUBLIC;

DROP TRIGGER IF EXISTS wa_monitor_daily_insert ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_insert AFTER INSERT ON {schema}.qa_photo_reviews
    REFERENCING NEW TABLE AS new_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_update ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_update AFTER UPDATE ON {schema}.qa_photo_reviews
    REFERENCING OLD TABLE AS old_reviews NEW TABLE AS new_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_delete ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_delete BEFORE DELETE ON {schema}.qa_photo_reviews
    FOR EACH ROW EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_truncate ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_truncate AFTER TRUNCATE ON {schema}.qa_photo_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_changes ON {schema}.wa_monitor_review_changes;
CREATE TRIGGER wa_monitor_daily_changes AFTER INSERT ON {schema}.wa_monitor_review_changes
    REFERENCING NEW TABLE AS new_changes
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_changes();

-- Recomputes the summary from the reviews and their trail, in `zone`: the backfill below,
-- `schema migrate` when the config's zone changed, and `schema summarize`. Writers wait.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_rebuild(new_zone text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
    week record;
    counted bigint := 0;
BEGIN
    LOCK TABLE {schema}.qa_photo_reviews, {schema}.wa_monitor_review_changes IN SHARE MODE;
    PERFORM now() AT TIME ZONE new_zone;  -- an unknown zone fails here, before anything changes
    UPDATE {schema}.wa_monitor_daily_zone SET zone = new_zone;
    TRUNCATE {schema}.wa_monitor_daily;
    -- A week of reviews at a time: the parts of a million reviews would not fit in memory.
    FOR week IN
        SELECT DISTINCT date_trunc('week', coalesce(whatsapp_message_date, created_at)) AS start
        FROM {schema}.qa_photo_reviews
    LOOP
        SELECT array_agg(1), array_agg(r), array_agg(true),
               array_agg({schema}.wa_monitor_first_verdict(r.id))
        INTO signs, revs, bases, verdicts
        FROM {schema}.qa_photo_reviews AS r
        WHERE coalesce(r.whatsapp_message_date, r.created_at) >= week.start
          AND coalesce(r.whatsapp_message_date, r.created_at) < week.start + interval '7 days';
        PERFORM {schema}.wa_monitor_daily_add(signs, revs, bases, verdicts);
        counted := counted + array_length(signs, 1);
    END LOOP;
    RETURN counted;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_rebuild(text) FROM PUBLIC;

SELECT {schema}.wa_monitor_daily_rebuild(zone) FROM {schema}.wa_monitor_daily_zone;

-- The roles that serve this environment's dashboard (found as in 0014) read it,
DO $$
DECLARE
    web record;
BEGIN
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_users', 'SELECT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_users'::regclass), 'USAGE')
    LOOP
        EXECUTE format('GRANT SELECT ON %s, %s TO %I', '{schema}.wa_monitor_daily',
                       '{schema}.wa_monitor_daily_zone', web.rolname);
    END LOOP;
    -- and the SharePoint job's (those that record sheet writes), for the daily totals.
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_sync_writes', 'INSERT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_sync_writes'::regclass),
                              'USAGE')
    LOOP
        EXECUTE format('GRANT SELECT ON %s, %s TO %I', '{schema}.wa_monitor_daily',
                       '{schema}.wa_monitor_daily_zone', web.rolname);
    END LOOP;
END
$$;
