-- Version 24: every view of the dashboard from the per-day summary (0019), at a cost that does not
-- grow with the reviews: at a million reviews the queue's counts walked every review awaiting a
-- verdict, a month's Quality times every review of the month and its trail (1.75 s at 300,000
-- reviews a month), and a month of any count 400 summary rows a day (one per agent). Two more
-- parts of the summary, kept by the same triggers in the transaction of every write:
--
-- * wa_monitor_daily_projects: the counts of wa_monitor_daily per local day x project, without
--   the agent's phone (and name): a month is a hundred rows. The overview's cards and chart, the
--   SharePoint totals, the queue's counts per project and age band (awaiting), and the Quality
--   page's projects, steps and weeks read it; the agents' table reads wa_monitor_daily.
-- * wa_monitor_daily_times: histograms of the loop's waits per local day x project, one row per
--   non-empty bucket. Stage 1: the drop to its first verdict; 2: the first verdict to the first
--   feedback sent; 3: that feedback to the resubmission (last_submitted_at); 4: the
--   resubmission to complete (reviewed_at); 5: the drop to complete (sql/quality.sql defines
--   each). Stage 3 is kept per agent's phone (the agents' table reads it; the projects' figures
--   add the phones up); the other stages have phone ''. A bucket is an eighth of a doubling of
--   seconds: bucket k >= 1 holds waits in [2^((k-1)/8), 2^(k/8)) s, -k the same waits negative,
--   0 those under a second. A median or 90th percentile read from them takes each rank's bucket
--   at its middle, 2^((k-1/2)/8): within 4.4 % of the exact figure (within a second for waits
--   under a second, which count as 0).
--
-- The triggers' work per write also gets cheaper: a review's first verdict and first feedback are
-- found by one inlinable look-up of its trail per changed review (wa_monitor_trail_firsts), where
-- 0019 called a SECURITY DEFINER function twice per changed review.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily_projects (
    day date NOT NULL,
    project text NOT NULL,  -- '' when the review has none
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
    PRIMARY KEY (day, project)
);

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily_times (
    day date NOT NULL,
    project text NOT NULL,  -- '' when the review has none
    stage smallint NOT NULL CHECK (stage BETWEEN 1 AND 5),
    phone text NOT NULL,  -- stage 3: submitted_by ('' when none); the other stages: ''
    bucket smallint NOT NULL,
    n integer NOT NULL,
    PRIMARY KEY (day, project, stage, phone, bucket)
);

-- A wait in seconds → its bucket. Plain SQL, so that the planner inlines it into the triggers'
-- statements (which run as the tables' owner); the reads take a bucket's middle themselves.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_wait_bucket(seconds double precision)
RETURNS smallint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $body$
    SELECT CASE WHEN abs(seconds) < 1 THEN 0
                ELSE (sign(seconds) * (1 + floor(8 * ln(abs(seconds)) / ln(2::double precision))))
                     ::smallint
           END;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_wait_bucket(double precision) FROM PUBLIC;

-- A review's first verdict (the first trail entry a reviewer's save made: it names a step, the
-- comment or "saved"; sql/quality.sql) and its first feedback stamp, with their entries' ids and
-- times: one visit of the review's trail (a handful of entries). Not SECURITY DEFINER, so that
-- it is inlined into the triggers' statements (which run as the tables' owner).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_trail_firsts(review uuid)
RETURNS TABLE (verdict_id bigint, verdict jsonb, verdict_at timestamptz, feedback_id bigint,
               feedback_at timestamptz)
LANGUAGE sql
STABLE
AS $body$
    SELECT (array_agg(c.id ORDER BY c.id) FILTER (WHERE c.changes ?| k.verdict_keys))[1],
           (array_agg(c.changes ORDER BY c.id) FILTER (WHERE c.changes ?| k.verdict_keys))[1],
           (array_agg(c.changed_at ORDER BY c.id) FILTER (WHERE c.changes ?| k.verdict_keys))[1],
           (array_agg(c.id ORDER BY c.id) FILTER (WHERE c.changes ? 'feedback_sent'))[1],
           (array_agg(c.changed_at ORDER BY c.id) FILTER (WHERE c.changes ? 'feedback_sent'))[1]
    FROM {schema}.wa_monitor_review_changes AS c,
         (SELECT ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                       'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                       'step_05_wall_for_installation', 'step_06_ont_back_after_install',
                       'step_07_power_meter_reading', 'step_08_ont_barcode',
                       'step_09_ups_serial', 'step_10_final_installation',
                       'step_11_green_lights', 'step_12_customer_signature', 'comment',
                       'saved'] AS verdict_keys) AS k
    WHERE c.review_id = review;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_trail_firsts(uuid) FROM PUBLIC;

-- Adds the parts of reviews to the summary: sign -1 takes a review's part away, +1 adds it;
-- with_base false leaves out the review's own counts (the trail's trigger); a verdict (the
-- review's first, NULL: none or not to count) adds its counts; verdict_ats and feedback_ats are
-- the review's first verdict's and first feedback's times, for the waits (always counted: a
-- part taken away and added back in the same bucket cancels out).
DROP FUNCTION IF EXISTS {schema}.wa_monitor_daily_add(
    integer[], {schema}.qa_photo_reviews[], boolean[], jsonb[]);
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_add(
    signs integer[], reviews {schema}.qa_photo_reviews[], with_base boolean[], verdicts jsonb[],
    verdict_ats timestamptz[], feedback_ats timestamptz[])
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
               r.last_submitted_at,
               r.reviewed_at,
               u.v,
               u.verdict_at,
               u.feedback_at,
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
        JOIN unnest(signs, with_base, verdicts, verdict_ats, feedback_ats) WITH ORDINALITY
            AS u(sign, base, v, verdict_at, feedback_at, n)
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
    ),
    daily AS (
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
            name_at = greatest(d.name_at, excluded.name_at)
    ),
    projects AS (
        INSERT INTO {schema}.wa_monitor_daily_projects AS p (
            day, project, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, reviewed,
            passed_first, m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
            w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12)
        SELECT day, project,
               coalesce(sum(drops), 0), coalesce(sum(dated), 0), coalesce(sum(completed), 0),
               coalesce(sum(incomplete), 0), coalesce(sum(awaiting), 0),
               coalesce(sum(feedback_sent), 0), coalesce(sum(resubmitted), 0),
               coalesce(sum(reviewed), 0), coalesce(sum(passed_first), 0),
               coalesce(sum(m01), 0), coalesce(sum(m02), 0), coalesce(sum(m03), 0),
               coalesce(sum(m04), 0), coalesce(sum(m05), 0), coalesce(sum(m06), 0),
               coalesce(sum(m07), 0), coalesce(sum(m08), 0), coalesce(sum(m09), 0),
               coalesce(sum(m10), 0), coalesce(sum(m11), 0), coalesce(sum(m12), 0),
               coalesce(sum(w01), 0), coalesce(sum(w02), 0), coalesce(sum(w03), 0),
               coalesce(sum(w04), 0), coalesce(sum(w05), 0), coalesce(sum(w06), 0),
               coalesce(sum(w07), 0), coalesce(sum(w08), 0), coalesce(sum(w09), 0),
               coalesce(sum(w10), 0), coalesce(sum(w11), 0), coalesce(sum(w12), 0)
        FROM delta
        GROUP BY day, project
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
    WHERE w.seconds IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(p.sign) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, project, stage, phone, bucket) DO UPDATE SET n = t.n + excluded.n;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_add(
    integer[], {schema}.qa_photo_reviews[], boolean[], jsonb[], timestamptz[], timestamptz[])
    FROM PUBLIC;

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
        -- The drain's path, kept lean: new reviews have no trail yet, so only their own part,
        -- added up straight from the statement's rows (waits only for one already complete,
        -- as `schema copy-from-prod` writes them).
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
        daily AS (
            INSERT INTO {schema}.wa_monitor_daily AS d (
                day, project, phone, drops, dated, completed, incomplete, awaiting,
                feedback_sent, resubmitted, name, name_at)
            SELECT day, project, phone, count(*), count(dated),
                   count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
                   count(*) FILTER (WHERE NOT completed AND NOT incomplete),
                   count(feedback_sent), count(*) FILTER (WHERE resubmitted),
                   (array_agg(user_name ORDER BY sighted DESC)
                        FILTER (WHERE user_name IS NOT NULL))[1],
                   max(sighted) FILTER (WHERE user_name IS NOT NULL)
            FROM part
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
    ELSE
        WITH moved AS (
            SELECT o.id FROM old_reviews AS o JOIN new_reviews AS n ON n.id = o.id
            WHERE (o.project, o.submitted_by, o.user_name, o.whatsapp_message_date, o.created_at,
                   o.completed, o.incomplete, o.feedback_sent IS NULL, o.resubmitted,
                   o.last_submitted_at, o.reviewed_at)
                  IS DISTINCT FROM
                  (n.project, n.submitted_by, n.user_name, n.whatsapp_message_date, n.created_at,
                   n.completed, n.incomplete, n.feedback_sent IS NULL, n.resubmitted,
                   n.last_submitted_at, n.reviewed_at)
        ),
        firsts AS (
            SELECT m.id, f.verdict, f.verdict_at, f.feedback_at
            FROM moved AS m CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(m.id) AS f
        ),
        parts AS (
            SELECT -1 AS sign, o::{schema}.qa_photo_reviews AS r, f.verdict, f.verdict_at,
                   f.feedback_at
            FROM old_reviews AS o JOIN firsts AS f ON f.id = o.id
            UNION ALL
            SELECT 1, n::{schema}.qa_photo_reviews, f.verdict, f.verdict_at, f.feedback_at
            FROM new_reviews AS n JOIN firsts AS f ON f.id = n.id
        )
        SELECT array_agg(sign), array_agg(r), array_agg(true), array_agg(verdict),
               array_agg(verdict_at), array_agg(feedback_at)
        INTO signs, revs, bases, verdicts, verdict_ats, feedback_ats
        FROM parts;
    END IF;
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(
            signs, revs, bases, verdicts, verdict_ats, feedback_ats);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_reviews() FROM PUBLIC;

-- The trail's trigger: a review whose first verdict or first feedback these entries hold (the
-- trail is only ever appended to, so before them it had none) takes its waits as they were away
-- and adds them as they are now, with the first verdict's counts when that is new.
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
    verdict_ats timestamptz[];
    feedback_ats timestamptz[];
BEGIN
    WITH touched AS (
        SELECT r, f.verdict, f.verdict_at, f.feedback_at,
               coalesce(f.verdict_id IN (SELECT id FROM new_changes), false) AS new_verdict,
               coalesce(f.feedback_id IN (SELECT id FROM new_changes), false) AS new_feedback
        FROM (SELECT DISTINCT review_id FROM new_changes) AS c
        JOIN {schema}.qa_photo_reviews AS r ON r.id = c.review_id
        CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(c.review_id) AS f
    ),
    parts AS (
        SELECT -1 AS sign, r, NULL::jsonb AS verdict,
               CASE WHEN new_verdict THEN NULL ELSE verdict_at END AS verdict_at,
               CASE WHEN new_feedback THEN NULL ELSE feedback_at END AS feedback_at
        FROM touched WHERE new_verdict OR new_feedback
        UNION ALL
        SELECT 1, r, CASE WHEN new_verdict THEN verdict END, verdict_at, feedback_at
        FROM touched WHERE new_verdict OR new_feedback
    )
    SELECT array_agg(sign), array_agg(r), array_agg(false), array_agg(verdict),
           array_agg(verdict_at), array_agg(feedback_at)
    INTO signs, revs, bases, verdicts, verdict_ats, feedback_ats
    FROM parts;
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(
            signs, revs, bases, verdicts, verdict_ats, feedback_ats);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_changes() FROM PUBLIC;

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
    verdict_ats timestamptz[];
    feedback_ats timestamptz[];
    week record;
    counted bigint := 0;
BEGIN
    LOCK TABLE {schema}.qa_photo_reviews, {schema}.wa_monitor_review_changes IN SHARE MODE;
    PERFORM now() AT TIME ZONE new_zone;  -- an unknown zone fails here, before anything changes
    UPDATE {schema}.wa_monitor_daily_zone SET zone = new_zone;
    TRUNCATE {schema}.wa_monitor_daily, {schema}.wa_monitor_daily_projects,
             {schema}.wa_monitor_daily_times;
    -- A week of reviews at a time: the parts of a million reviews would not fit in memory.
    FOR week IN
        SELECT DISTINCT date_trunc('week', coalesce(whatsapp_message_date, created_at)) AS start
        FROM {schema}.qa_photo_reviews
    LOOP
        SELECT array_agg(1), array_agg(r), array_agg(true), array_agg(f.verdict),
               array_agg(f.verdict_at), array_agg(f.feedback_at)
        INTO signs, revs, bases, verdicts, verdict_ats, feedback_ats
        FROM {schema}.qa_photo_reviews AS r
        CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(r.id) AS f
        WHERE coalesce(r.whatsapp_message_date, r.created_at) >= week.start
          AND coalesce(r.whatsapp_message_date, r.created_at) < week.start + interval '7 days';
        PERFORM {schema}.wa_monitor_daily_add(
            signs, revs, bases, verdicts, verdict_ats, feedback_ats);
        counted := counted + array_length(signs, 1);
    END LOOP;
    RETURN counted;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_rebuild(text) FROM PUBLIC;

SELECT {schema}.wa_monitor_daily_rebuild(zone) FROM {schema}.wa_monitor_daily_zone;

-- The roles that serve this environment's dashboard (found as in 0014) read the new parts,
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
        EXECUTE format('GRANT SELECT ON %s, %s TO %I', '{schema}.wa_monitor_daily_projects',
                       '{schema}.wa_monitor_daily_times', web.rolname);
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
        EXECUTE format('GRANT SELECT ON %s TO %I', '{schema}.wa_monitor_daily_projects',
                       web.rolname);
    END LOOP;
END
$$;
