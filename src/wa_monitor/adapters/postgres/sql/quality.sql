-- The Quality page's figures (web/quality.py), computed here and nowhere else. {reviews} and
-- {changes} are composed with psycopg.sql.Identifier; {facts} is the `facts` block below,
-- composed into each query; everything else is a bound parameter.
--
-- Definitions (written on the page and in docs/DASHBOARD.md too):
-- * a drop is a review first seen (whatsapp_message_date, else created_at) in [start, end);
-- * its first verdict is the first entry of its change trail that is a reviewer's save (an
--   entry naming a step, the comment, or "saved"; not a feedback stamp). The trail records only
--   what a save changed, and before the first save every step is missing, so a step the first
--   save does not name stayed missing;
-- * passed first time: that first verdict marked all 12 steps passed;
-- * a resubmission: the agent posted the drop again after it was first seen (the monitor's
--   `resubmitted`); its time is last_submitted_at, the latest such post;
-- * feedback sent: the first feedback stamp in the trail (the bridge answered success);
-- * complete: the review's verdict now is all 12 passed; its time is reviewed_at;
-- * awaiting review: neither complete nor incomplete now (never judged, or resubmitted since).
-- Times are seconds; medians and 90th percentiles are percentile_cont (interpolated).

-- name: no_jit
-- The figures' statements are costed high enough for JIT compilation, which takes longer than
-- running them: off for the page's transaction.
SET LOCAL jit = off;

-- name: facts
-- One row per drop in the range: what the page counts, from the review and its trail.
facts AS (
    SELECT r.id,
           coalesce(r.project, '') AS project,
           coalesce(r.submitted_by, '') AS phone,
           r.user_name,
           coalesce(r.whatsapp_message_date, r.created_at) AS sighted,
           r.completed,
           r.incomplete,
           r.resubmitted,
           r.last_submitted_at,
           r.reviewed_at,
           v.changed_at AS verdict_at,
           v.changes AS verdict,
           f.changed_at AS feedback_at
    FROM {reviews} AS r
    LEFT JOIN LATERAL (
        SELECT c.changed_at, c.changes FROM {changes} AS c
        WHERE c.review_id = r.id AND c.changes ?| %(verdict_keys)s::text[]
        ORDER BY c.id LIMIT 1
    ) AS v ON true
    LEFT JOIN LATERAL (
        SELECT c.changed_at FROM {changes} AS c
        WHERE c.review_id = r.id AND c.changes ? 'feedback_sent'
        ORDER BY c.id LIMIT 1
    ) AS f ON true
    WHERE coalesce(r.whatsapp_message_date, r.created_at) >= %(start)s
      AND coalesce(r.whatsapp_message_date, r.created_at) < %(end)s
),
-- Each step of each first verdict: passed, wrong (with a reason) or missing.
marks AS (
    SELECT d.id, d.project, d.phone, s.number::int AS number,
           CASE WHEN d.verdict -> s.col ->> 'to' = 'passed' THEN 'passed'
                WHEN d.verdict -> s.col ->> 'to' LIKE 'wrong%%' THEN 'wrong'
                ELSE 'missing' END AS mark
    FROM facts AS d
    CROSS JOIN unnest(%(step_columns)s::text[]) WITH ORDINALITY AS s(col, number)
    WHERE d.verdict IS NOT NULL
),
judged AS (
    SELECT id, bool_and(mark = 'passed') AS passed_first FROM marks GROUP BY id
),
drops AS (
    SELECT d.*, j.passed_first,
           extract(epoch FROM d.verdict_at - d.sighted) AS to_verdict,
           extract(epoch FROM d.feedback_at - d.verdict_at) AS to_feedback,
           CASE WHEN d.resubmitted AND d.last_submitted_at > d.feedback_at
                THEN extract(epoch FROM d.last_submitted_at - d.feedback_at) END AS to_fix,
           CASE WHEN d.completed AND d.resubmitted AND d.reviewed_at > d.last_submitted_at
                THEN extract(epoch FROM d.reviewed_at - d.last_submitted_at) END AS to_complete,
           CASE WHEN d.completed THEN extract(epoch FROM d.reviewed_at - d.sighted) END
               AS drop_to_complete
    FROM facts AS d LEFT JOIN judged AS j ON j.id = d.id
)

-- name: projects
-- Per project, and the total (project NULL).
WITH {facts}
SELECT CASE WHEN grouping(project) = 1 THEN NULL ELSE project END AS project,
       count(*) AS drops,
       count(verdict_at) AS reviewed,
       count(*) FILTER (WHERE passed_first) AS passed_first,
       round(100.0 * count(*) FILTER (WHERE passed_first) / nullif(count(verdict_at), 0), 1)
           AS first_time_rate,
       count(*) FILTER (WHERE resubmitted) AS resubmitted,
       round(100.0 * count(*) FILTER (WHERE resubmitted) / nullif(count(*), 0), 1) AS resubmission_rate,
       count(*) FILTER (WHERE completed) AS completed,
       round(100.0 * count(*) FILTER (WHERE completed) / nullif(count(*), 0), 1) AS completion_rate,
       count(*) FILTER (WHERE NOT completed AND NOT incomplete) AS awaiting,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_verdict) AS verdict_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_verdict) AS verdict_p90
FROM drops
GROUP BY GROUPING SETS ((project), ())
ORDER BY grouping(project), project;

-- name: steps
-- How often each step was missing or wrong in a first verdict, per project and overall
-- (project NULL); `reviewed` is the number of first verdicts the shares are of.
WITH {facts}
SELECT CASE WHEN grouping(project) = 1 THEN NULL ELSE project END AS project,
       number,
       count(*) FILTER (WHERE mark = 'missing') AS missing,
       count(*) FILTER (WHERE mark = 'wrong') AS wrong,
       count(*) AS reviewed
FROM marks
GROUP BY GROUPING SETS ((project, number), (number))
ORDER BY grouping(project), project, number;

-- name: agents
-- Per agent (the phone the drop was last posted from; the name they last used): drops, first
-- verdicts, passed first time, feedback → fix, and their three most missed or wrong steps.
WITH {facts},
agent_steps AS (
    SELECT phone, number, count(*) AS failed,
           row_number() OVER (PARTITION BY phone ORDER BY count(*) DESC, number) AS rank
    FROM marks WHERE mark <> 'passed'
    GROUP BY phone, number
),
agent_top AS (
    SELECT phone, array_agg(array[number, failed] ORDER BY rank) AS top_steps
    FROM agent_steps WHERE rank <= 3
    GROUP BY phone
)
SELECT d.phone,
       (array_agg(d.user_name ORDER BY d.sighted DESC) FILTER (WHERE d.user_name IS NOT NULL))[1]
           AS name,
       count(*) AS drops,
       count(d.verdict_at) AS reviewed,
       count(*) FILTER (WHERE d.passed_first) AS passed_first,
       round(100.0 * count(*) FILTER (WHERE d.passed_first) / nullif(count(d.verdict_at), 0), 1)
           AS first_time_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d.to_fix) AS fix_p50,
       coalesce(min(t.top_steps), '{{}}') AS top_steps
FROM drops AS d LEFT JOIN agent_top AS t ON t.phone = d.phone
GROUP BY d.phone
ORDER BY d.phone;

-- name: loop
-- The loop's stages as medians and 90th percentiles, per project and overall (project NULL).
WITH {facts}
SELECT CASE WHEN grouping(project) = 1 THEN NULL ELSE project END AS project,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_verdict) AS verdict_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_verdict) AS verdict_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_feedback) AS feedback_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_feedback) AS feedback_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_fix) AS fix_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_fix) AS fix_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_complete) AS complete_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_complete) AS complete_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY drop_to_complete) AS total_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY drop_to_complete) AS total_p90
FROM drops
GROUP BY GROUPING SETS ((project), ())
ORDER BY grouping(project), project;

-- name: weekly
-- Local weeks (Monday first) of the range: drops, first verdicts, passed first time.
WITH {facts}
SELECT date_trunc('week', sighted AT TIME ZONE %(tz)s)::date AS week,
       count(*) AS drops,
       count(verdict_at) AS reviewed,
       count(*) FILTER (WHERE passed_first) AS passed_first
FROM drops
GROUP BY 1
ORDER BY 1;
