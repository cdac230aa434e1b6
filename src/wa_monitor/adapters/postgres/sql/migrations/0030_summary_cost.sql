-- Version 30: the per-day summary's triggers (0019, 0024) cost the monitor's drain less, for the
-- same figures. What a batch of reviews costs the server is the rows it writes (a summary row
-- per new agent's day, mostly); what came on top of them goes:
--
-- * An UPDATE's trigger adds up the moved reviews straight from the statement's transition
--   tables, in one statement of its own (planned once per session), where 0024 packed the old
--   and new rows into arrays of whole reviews for wa_monitor_daily_add, an SQL function parsed
--   and planned again at every call, that unpacked them. A key whose counts do not move and
--   whose name stays (a resubmission by the same agent: the review's part leaves and comes
--   back) is not written, nor a project's day whose counts add up to nothing: an upsert of
--   zeros changed nothing but cost a new version of the row.
-- * An INSERT's trigger takes each key's latest name from one window over the batch, not from a
--   sort per key (array_agg ... ORDER BY: a tuplesort set up for each of a batch's ~1,500 keys).
--
-- The summary's tables and what they hold are unchanged; wa_monitor_daily_add stays for a
-- delete, the trail's trigger and the rebuild.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_reviews()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    verdicts jsonb[];
    verdict_ats timestamptz[];
    feedback_ats timestamptz[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE {schema}.wa_monitor_daily, {schema}.wa_monitor_daily_projects,
                 {schema}.wa_monitor_daily_times;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT ARRAY[f.verdict], ARRAY[f.verdict_at], ARRAY[f.feedback_at]
        INTO verdicts, verdict_ats, feedback_ats
        FROM {schema}.wa_monitor_trail_firsts(OLD.id) AS f;
        PERFORM {schema}.wa_monitor_daily_add(
            ARRAY[-1], ARRAY[OLD], ARRAY[true], verdicts, verdict_ats, feedback_ats);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        -- The drain's path: new reviews have no trail yet, so only their own part, added up
        -- straight from the statement's rows (waits only for one already complete, as
        -- `schema copy-from-prod` writes them).
        WITH part AS MATERIALIZED (
            SELECT (coalesce(n.whatsapp_message_date, n.created_at) AT TIME ZONE z.zone)::date
                       AS day,
                   coalesce(n.project, '') AS project,
                   coalesce(n.submitted_by, '') AS phone,
                   coalesce(n.whatsapp_message_date, n.created_at) AS sighted,
                   n.whatsapp_message_date AS dated,
                   n.completed, n.incomplete, n.feedback_sent, n.resubmitted, n.user_name,
                   n.last_submitted_at, n.reviewed_at
            FROM new_reviews AS n, {schema}.wa_monitor_daily_zone AS z
        ),
        keyed AS (  -- each key's latest sighting with a name: one sort for the batch
            SELECT *, first_value(user_name) OVER (
                          PARTITION BY day, project, phone
                          ORDER BY user_name IS NULL, sighted DESC) AS latest_name
            FROM part
        ),
        daily AS (
            INSERT INTO {schema}.wa_monitor_daily AS d (
                day, project, phone, drops, dated, completed, incomplete, awaiting,
                feedback_sent, resubmitted, name, name_at)
            SELECT day, project, phone, count(*), count(dated),
                   count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
                   count(*) FILTER (WHERE NOT completed AND NOT incomplete),
                   count(feedback_sent), count(*) FILTER (WHERE resubmitted),
                   min(latest_name), max(sighted) FILTER (WHERE user_name IS NOT NULL)
            FROM keyed
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
                name_at = greatest(d.name_at, excluded.name_at)
        ),
        projects AS (
            INSERT INTO {schema}.wa_monitor_daily_projects AS p (
                day, project, drops, dated, completed, incomplete, awaiting, feedback_sent,
                resubmitted)
            SELECT day, project, count(*), count(dated),
                   count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
                   count(*) FILTER (WHERE NOT completed AND NOT incomplete),
                   count(feedback_sent), count(*) FILTER (WHERE resubmitted)
            FROM part
            GROUP BY day, project
            ORDER BY day, project
            ON CONFLICT (day, project) DO UPDATE SET
                drops = p.drops + excluded.drops,
                dated = p.dated + excluded.dated,
                completed = p.completed + excluded.completed,
                incomplete = p.incomplete + excluded.incomplete,
                awaiting = p.awaiting + excluded.awaiting,
                feedback_sent = p.feedback_sent + excluded.feedback_sent,
                resubmitted = p.resubmitted + excluded.resubmitted
        )
        INSERT INTO {schema}.wa_monitor_daily_times AS t (day, project, stage, phone, bucket, n)
        SELECT p.day, p.project, w.stage, '', {schema}.wa_monitor_wait_bucket(w.seconds),
               count(*)
        FROM part AS p
        CROSS JOIN LATERAL (VALUES
            (4::smallint, CASE WHEN p.resubmitted AND p.reviewed_at > p.last_submitted_at
                               THEN extract(epoch FROM p.reviewed_at - p.last_submitted_at)
                                        ::double precision END),
            (5, extract(epoch FROM p.reviewed_at - p.sighted)::double precision)
        ) AS w(stage, seconds)
        WHERE p.completed AND w.seconds IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (day, project, stage, phone, bucket) DO UPDATE SET n = t.n + excluded.n;
        RETURN NULL;
    END IF;
    -- An UPDATE: the reviews whose part changed take their old part away and add the new one
    -- (with their first verdict's counts and their waits, from one look at the trail each).
    WITH moved AS MATERIALIZED (
        SELECT o.id, f.verdict, f.verdict_at, f.feedback_at
        FROM old_reviews AS o
        JOIN new_reviews AS n ON n.id = o.id
        CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(o.id) AS f
        WHERE (o.project, o.submitted_by, o.user_name, o.whatsapp_message_date, o.created_at,
               o.completed, o.incomplete, o.feedback_sent IS NULL, o.resubmitted,
               o.last_submitted_at, o.reviewed_at)
              IS DISTINCT FROM
              (n.project, n.submitted_by, n.user_name, n.whatsapp_message_date, n.created_at,
               n.completed, n.incomplete, n.feedback_sent IS NULL, n.resubmitted,
               n.last_submitted_at, n.reviewed_at)
    ),
    sides AS (
        SELECT -1 AS sign, o.project, o.submitted_by, o.whatsapp_message_date, o.created_at,
               o.completed, o.incomplete, o.feedback_sent, o.resubmitted, o.user_name,
               o.last_submitted_at, o.reviewed_at, m.verdict, m.verdict_at, m.feedback_at
        FROM old_reviews AS o JOIN moved AS m ON m.id = o.id
        UNION ALL
        SELECT 1, n.project, n.submitted_by, n.whatsapp_message_date, n.created_at,
               n.completed, n.incomplete, n.feedback_sent, n.resubmitted, n.user_name,
               n.last_submitted_at, n.reviewed_at, m.verdict, m.verdict_at, m.feedback_at
        FROM new_reviews AS n JOIN moved AS m ON m.id = n.id
    ),
    parts AS MATERIALIZED (
        SELECT r.sign,
               (coalesce(r.whatsapp_message_date, r.created_at) AT TIME ZONE z.zone)::date AS day,
               coalesce(r.project, '') AS project,
               coalesce(r.submitted_by, '') AS phone,
               coalesce(r.whatsapp_message_date, r.created_at) AS sighted,
               r.whatsapp_message_date IS NOT NULL AS dated,
               r.completed, r.incomplete, r.feedback_sent IS NOT NULL AS feedback, r.resubmitted,
               r.user_name, r.last_submitted_at, r.reviewed_at, r.verdict AS v, r.verdict_at,
               r.feedback_at,
               CASE WHEN r.verdict IS NOT NULL THEN ARRAY(
                   SELECT CASE WHEN r.verdict -> s.col ->> 'to' = 'passed' THEN 0
                               WHEN r.verdict -> s.col ->> 'to' LIKE 'wrong%' THEN 2
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
        FROM sides AS r, {schema}.wa_monitor_daily_zone AS z
    ),
    delta AS MATERIALIZED (
        SELECT day, project, phone,
               coalesce(sum(sign), 0)::integer AS drops,
               coalesce(sum(sign) FILTER (WHERE dated), 0)::integer AS dated,
               coalesce(sum(sign) FILTER (WHERE completed), 0)::integer AS completed,
               coalesce(sum(sign) FILTER (WHERE incomplete), 0)::integer AS incomplete,
               coalesce(sum(sign) FILTER (WHERE NOT completed AND NOT incomplete), 0)::integer
                   AS awaiting,
               coalesce(sum(sign) FILTER (WHERE feedback), 0)::integer AS feedback_sent,
               coalesce(sum(sign) FILTER (WHERE resubmitted), 0)::integer AS resubmitted,
               coalesce(sum(sign) FILTER (WHERE v IS NOT NULL), 0)::integer AS reviewed,
               coalesce(sum(sign) FILTER (WHERE marks = array_fill(0, ARRAY[12])), 0)::integer
                   AS passed_first,
               coalesce(sum(sign) FILTER (WHERE marks[1] = 1), 0)::integer AS m01,
               coalesce(sum(sign) FILTER (WHERE marks[2] = 1), 0)::integer AS m02,
               coalesce(sum(sign) FILTER (WHERE marks[3] = 1), 0)::integer AS m03,
               coalesce(sum(sign) FILTER (WHERE marks[4] = 1), 0)::integer AS m04,
               coalesce(sum(sign) FILTER (WHERE marks[5] = 1), 0)::integer AS m05,
               coalesce(sum(sign) FILTER (WHERE marks[6] = 1), 0)::integer AS m06,
               coalesce(sum(sign) FILTER (WHERE marks[7] = 1), 0)::integer AS m07,
               coalesce(sum(sign) FILTER (WHERE marks[8] = 1), 0)::integer AS m08,
               coalesce(sum(sign) FILTER (WHERE marks[9] = 1), 0)::integer AS m09,
               coalesce(sum(sign) FILTER (WHERE marks[10] = 1), 0)::integer AS m10,
               coalesce(sum(sign) FILTER (WHERE marks[11] = 1), 0)::integer AS m11,
               coalesce(sum(sign) FILTER (WHERE marks[12] = 1), 0)::integer AS m12,
               coalesce(sum(sign) FILTER (WHERE marks[1] = 2), 0)::integer AS w01,
               coalesce(sum(sign) FILTER (WHERE marks[2] = 2), 0)::integer AS w02,
               coalesce(sum(sign) FILTER (WHERE marks[3] = 2), 0)::integer AS w03,
               coalesce(sum(sign) FILTER (WHERE marks[4] = 2), 0)::integer AS w04,
               coalesce(sum(sign) FILTER (WHERE marks[5] = 2), 0)::integer AS w05,
               coalesce(sum(sign) FILTER (WHERE marks[6] = 2), 0)::integer AS w06,
               coalesce(sum(sign) FILTER (WHERE marks[7] = 2), 0)::integer AS w07,
               coalesce(sum(sign) FILTER (WHERE marks[8] = 2), 0)::integer AS w08,
               coalesce(sum(sign) FILTER (WHERE marks[9] = 2), 0)::integer AS w09,
               coalesce(sum(sign) FILTER (WHERE marks[10] = 2), 0)::integer AS w10,
               coalesce(sum(sign) FILTER (WHERE marks[11] = 2), 0)::integer AS w11,
               coalesce(sum(sign) FILTER (WHERE marks[12] = 2), 0)::integer AS w12,
               (array_agg(user_name ORDER BY sighted DESC)
                    FILTER (WHERE sign > 0 AND user_name IS NOT NULL))[1] AS name,
               max(sighted) FILTER (WHERE sign > 0 AND user_name IS NOT NULL) AS name_at
        FROM parts
        GROUP BY day, project, phone
    ),
    counted AS (
        -- A key whose counts did not move and that gets no name has nothing to write.
        SELECT * FROM delta AS c
        WHERE c.name_at IS NOT NULL
           OR (c.drops, c.dated, c.completed, c.incomplete, c.awaiting, c.feedback_sent,
               c.resubmitted, c.reviewed, c.passed_first, c.m01, c.m02, c.m03, c.m04, c.m05,
               c.m06, c.m07, c.m08, c.m09, c.m10, c.m11, c.m12, c.w01, c.w02, c.w03, c.w04,
               c.w05, c.w06, c.w07, c.w08, c.w09, c.w10, c.w11, c.w12)
              IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ),
    daily AS (
        INSERT INTO {schema}.wa_monitor_daily AS d (
            day, project, phone, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, reviewed, passed_first,
            m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
            w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12, name, name_at)
        SELECT * FROM counted
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
            name_at = greatest(d.name_at, excluded.name_at)
        -- (a row that would come out as it is stays as it is: no new version of it)
        WHERE (excluded.drops, excluded.dated, excluded.completed, excluded.incomplete,
               excluded.awaiting, excluded.feedback_sent, excluded.resubmitted, excluded.reviewed,
               excluded.passed_first, excluded.m01, excluded.m02, excluded.m03, excluded.m04,
               excluded.m05, excluded.m06, excluded.m07, excluded.m08, excluded.m09, excluded.m10,
               excluded.m11, excluded.m12, excluded.w01, excluded.w02, excluded.w03, excluded.w04,
               excluded.w05, excluded.w06, excluded.w07, excluded.w08, excluded.w09, excluded.w10,
               excluded.w11, excluded.w12)
              IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
           OR excluded.name_at > d.name_at
           OR (d.name_at IS NULL AND excluded.name_at IS NOT NULL)
           OR (excluded.name_at = d.name_at AND excluded.name IS DISTINCT FROM d.name)
    ),
    projects AS (
        INSERT INTO {schema}.wa_monitor_daily_projects AS p (
            day, project, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, reviewed,
            passed_first, m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
            w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12)
        SELECT day, project, sum(drops), sum(dated), sum(completed), sum(incomplete),
               sum(awaiting), sum(feedback_sent), sum(resubmitted), sum(reviewed),
               sum(passed_first), sum(m01), sum(m02), sum(m03), sum(m04), sum(m05), sum(m06),
               sum(m07), sum(m08), sum(m09), sum(m10), sum(m11), sum(m12), sum(w01), sum(w02),
               sum(w03), sum(w04), sum(w05), sum(w06), sum(w07), sum(w08), sum(w09), sum(w10),
               sum(w11), sum(w12)
        FROM counted
        GROUP BY day, project
        HAVING (sum(drops), sum(dated), sum(completed), sum(incomplete), sum(awaiting),
                sum(feedback_sent), sum(resubmitted), sum(reviewed), sum(passed_first),
                sum(m01), sum(m02), sum(m03), sum(m04), sum(m05), sum(m06), sum(m07), sum(m08),
                sum(m09), sum(m10), sum(m11), sum(m12), sum(w01), sum(w02), sum(w03), sum(w04),
                sum(w05), sum(w06), sum(w07), sum(w08), sum(w09), sum(w10), sum(w11), sum(w12))
               IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        ORDER BY day, project
        ON CONFLICT (day, project) DO UPDATE SET
            drops = p.drops + excluded.drops,
            dated = p.dated + excluded.dated,
            completed = p.completed + excluded.completed,
            incomplete = p.incomplete + excluded.incomplete,
            awaiting = p.awaiting + excluded.awaiting,
            feedback_sent = p.feedback_sent + excluded.feedback_sent,
            resubmitted = p.resubmitted + excluded.resubmitted,
            reviewed = p.reviewed + excluded.reviewed,
            passed_first = p.passed_first + excluded.passed_first,
            m01 = p.m01 + excluded.m01, m02 = p.m02 + excluded.m02, m03 = p.m03 + excluded.m03,
            m04 = p.m04 + excluded.m04, m05 = p.m05 + excluded.m05, m06 = p.m06 + excluded.m06,
            m07 = p.m07 + excluded.m07, m08 = p.m08 + excluded.m08, m09 = p.m09 + excluded.m09,
            m10 = p.m10 + excluded.m10, m11 = p.m11 + excluded.m11, m12 = p.m12 + excluded.m12,
            w01 = p.w01 + excluded.w01, w02 = p.w02 + excluded.w02, w03 = p.w03 + excluded.w03,
            w04 = p.w04 + excluded.w04, w05 = p.w05 + excluded.w05, w06 = p.w06 + excluded.w06,
            w07 = p.w07 + excluded.w07, w08 = p.w08 + excluded.w08, w09 = p.w09 + excluded.w09,
            w10 = p.w10 + excluded.w10, w11 = p.w11 + excluded.w11, w12 = p.w12 + excluded.w12
    )
    INSERT INTO {schema}.wa_monitor_daily_times AS t (day, project, stage, phone, bucket, n)
    SELECT p.day, p.project, w.stage, w.phone, {schema}.wa_monitor_wait_bucket(w.seconds),
           sum(p.sign)
    FROM parts AS p
    CROSS JOIN LATERAL (VALUES
        (1::smallint, '', extract(epoch FROM p.verdict_at - p.sighted)::double precision),
        (2, '', extract(epoch FROM p.feedback_at - p.verdict_at)::double precision),
        (3, p.phone, CASE WHEN p.resubmitted AND p.last_submitted_at > p.feedback_at
                          THEN extract(epoch FROM p.last_submitted_at - p.feedback_at)
                                   ::double precision END),
        (4, '', CASE WHEN p.completed AND p.resubmitted AND p.reviewed_at > p.last_submitted_at
                     THEN extract(epoch FROM p.reviewed_at - p.last_submitted_at)
                              ::double precision END),
        (5, '', CASE WHEN p.completed
                     THEN extract(epoch FROM p.reviewed_at - p.sighted)::double precision END)
    ) AS w(stage, phone, seconds)
    WHERE (p.verdict_at IS NOT NULL OR p.feedback_at IS NOT NULL OR p.completed) AND w.seconds IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(p.sign) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, project, stage, phone, bucket) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_reviews() FROM PUBLIC;
