-- The Quality page's times (web/quality.py). {reviews} and {changes} are composed with
-- psycopg.sql.Identifier; everything else is a bound parameter.
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
--
-- The counts (drops, first verdicts, passed first time, the failing steps, the weeks) are read
-- from the per-day summary (sql/summary.sql, migration 0019), kept to these definitions; only
-- the times, which no sum can give, are computed here from the reviews and their trail, in one
-- pass per range.

-- name: no_jit
-- The figures' statements are costed high enough for JIT compilation, which takes longer than
-- running them: off for the page's transaction.
SET LOCAL jit = off;

-- name: times
-- The loop's times per project, overall and per agent's phone (level: 1 project, 3 overall,
-- 2 phone), in one pass over the drops of the range.
WITH times AS (
    SELECT coalesce(r.project, '') AS project,
           coalesce(r.submitted_by, '') AS phone,
           coalesce(r.whatsapp_message_date, r.created_at) AS sighted,
           r.completed, r.resubmitted, r.last_submitted_at, r.reviewed_at,
           t.verdict_at,
           t.feedback_at
    FROM {reviews} AS r
    -- One visit of the review's trail (a handful of entries) for both firsts.
    LEFT JOIN LATERAL (
        SELECT (array_agg(c.changed_at ORDER BY c.id)
                    FILTER (WHERE c.changes ?| %(verdict_keys)s::text[]))[1] AS verdict_at,
               (array_agg(c.changed_at ORDER BY c.id)
                    FILTER (WHERE c.changes ? 'feedback_sent'))[1] AS feedback_at
        FROM {changes} AS c
        WHERE c.review_id = r.id
    ) AS t ON true
    WHERE coalesce(r.whatsapp_message_date, r.created_at) >= %(start)s
      AND coalesce(r.whatsapp_message_date, r.created_at) < %(end)s
),
drops AS (
    SELECT project, phone,
           extract(epoch FROM verdict_at - sighted) AS to_verdict,
           extract(epoch FROM feedback_at - verdict_at) AS to_feedback,
           CASE WHEN resubmitted AND last_submitted_at > feedback_at
                THEN extract(epoch FROM last_submitted_at - feedback_at) END AS to_fix,
           CASE WHEN completed AND resubmitted AND reviewed_at > last_submitted_at
                THEN extract(epoch FROM reviewed_at - last_submitted_at) END AS to_complete,
           CASE WHEN completed THEN extract(epoch FROM reviewed_at - sighted) END
               AS drop_to_complete
    FROM times
)
SELECT grouping(project, phone) AS level, project, phone,
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
GROUP BY GROUPING SETS ((project), (), (phone))
ORDER BY level, project, phone;
