-- Reads of the per-day summary, kept by triggers in every writer's transaction: {daily} (migration
-- 0019: one row per local day x project x agent's phone), {daily_projects} (0024: the same counts
-- per local day x project) and {daily_times} (0024: histograms of the loop's waits per local day
-- x project). The tables are composed with psycopg.sql.Identifier; everything else is a bound
-- parameter. A month is a hundred rows of {daily_projects}, some ten thousand of {daily} (the
-- agents') and of {daily_times}, where the reviews hold a hundred thousand.

-- name: zone
SELECT zone FROM {daily_zone};

-- name: zone_readable
-- Whether this session may read the zone (a service's role runs `schema migrate` too).
SELECT has_table_privilege(format('%%I.%%I', %(schema)s::text, %(table)s::text), 'SELECT');

-- name: rebuild
SELECT {schema}.wa_monitor_daily_rebuild(%(zone)s);

-- name: daily_counts
-- The daily totals (adapters/postgres/daily.py): drops with a whatsapp_message_date per local
-- day and project. A drop has one review a day, so the reviews counted are distinct drops.
SELECT day, project, sum(dated) AS drops
FROM {daily_projects}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY day, project
HAVING sum(dated) > 0
ORDER BY day, project;

-- name: day_cards
-- The overview's cards for one local day.
SELECT coalesce(sum(drops), 0), coalesce(sum(completed), 0), coalesce(sum(incomplete), 0),
       coalesce(sum(awaiting), 0), coalesce(sum(feedback_sent), 0), coalesce(sum(resubmitted), 0)
FROM {daily_projects}
WHERE day BETWEEN %(first)s AND %(last)s;

-- name: projects
-- The Quality page's counts per project and in total (project NULL), days first..last.
-- Rates are percentages rounded as sql/quality.sql rounds them.
SELECT CASE WHEN grouping(project) = 1 THEN NULL ELSE project END AS project,
       coalesce(sum(drops), 0) AS drops,
       coalesce(sum(reviewed), 0) AS reviewed,
       coalesce(sum(passed_first), 0) AS passed_first,
       round(100.0 * sum(passed_first) / nullif(sum(reviewed), 0), 1) AS first_time_rate,
       coalesce(sum(resubmitted), 0) AS resubmitted,
       round(100.0 * sum(resubmitted) / nullif(sum(drops), 0), 1) AS resubmission_rate,
       coalesce(sum(completed), 0) AS completed,
       round(100.0 * sum(completed) / nullif(sum(drops), 0), 1) AS completion_rate,
       coalesce(sum(awaiting), 0) AS awaiting
FROM {daily_projects}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY GROUPING SETS ((project), ())
HAVING sum(drops) > 0 OR grouping(project) = 1
ORDER BY grouping(project), project;

-- name: steps
-- Each step's missing and wrong counts in first verdicts, per project and overall (NULL), with
-- the number of first verdicts (the shares' base); one row per project, the 12 steps as arrays.
SELECT CASE WHEN grouping(project) = 1 THEN NULL ELSE project END AS project,
       ARRAY[sum(m01), sum(m02), sum(m03), sum(m04), sum(m05), sum(m06),
             sum(m07), sum(m08), sum(m09), sum(m10), sum(m11), sum(m12)],
       ARRAY[sum(w01), sum(w02), sum(w03), sum(w04), sum(w05), sum(w06),
             sum(w07), sum(w08), sum(w09), sum(w10), sum(w11), sum(w12)],
       sum(reviewed)
FROM {daily_projects}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY GROUPING SETS ((project), ())
HAVING sum(reviewed) > 0
ORDER BY grouping(project), project;

-- name: agents
-- Per agent's phone: drops, first verdicts, passed first time, each step's failures (missing
-- plus wrong), and the name of their latest sighting: the name of the row whose name_at is the
-- phone's latest (found by joining back, as an aggregate ordered by name_at sorted every row).
-- A row's name_at falls on its own local day, so that row is on the phone's last day with a
-- name (name_day): the join reads only those days (the last one or two of the range for agents
-- who post daily), not the whole range a second time.
WITH counted AS (
    SELECT phone, max(name_at) AS name_at,
           max(day) FILTER (WHERE name_at IS NOT NULL) AS name_day,
           sum(drops) AS drops, sum(reviewed) AS reviewed, sum(passed_first) AS passed,
           ARRAY[sum(m01 + w01), sum(m02 + w02), sum(m03 + w03), sum(m04 + w04),
                 sum(m05 + w05), sum(m06 + w06), sum(m07 + w07), sum(m08 + w08),
                 sum(m09 + w09), sum(m10 + w10), sum(m11 + w11), sum(m12 + w12)] AS failures
    FROM {daily}
    WHERE day BETWEEN %(first)s AND %(last)s
    GROUP BY phone
    HAVING sum(drops) > 0
),
named AS (
    SELECT DISTINCT ON (d.phone) d.phone, d.name
    FROM {daily} AS d
    JOIN counted AS c ON c.phone = d.phone AND c.name_at = d.name_at
    WHERE d.day = ANY (ARRAY(SELECT DISTINCT name_day FROM counted))
    ORDER BY d.phone, d.name
)
SELECT c.phone, n.name, c.drops, c.reviewed, c.passed,
       round(100.0 * c.passed / nullif(c.reviewed, 0), 1), c.failures
FROM counted AS c
LEFT JOIN named AS n ON n.phone = c.phone
ORDER BY c.phone;

-- name: weekly
-- Local weeks (Monday first): drops, first verdicts, passed first time.
SELECT date_trunc('week', day::timestamp)::date AS week, sum(drops), sum(reviewed), sum(passed_first)
FROM {daily_projects}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY 1
HAVING sum(drops) > 0
ORDER BY 1;

-- name: queue_counts
-- The reviewers' queue: the reviews awaiting a verdict per project (NULL: none), by the age bands
-- of the queue's page, in local days: from `today` on, the two days before it, the five before
-- those (from `week`), and older. A row per day and project, however many await.
SELECT nullif(project, '') AS project,
       coalesce(sum(awaiting) FILTER (WHERE day >= %(today)s), 0),
       coalesce(sum(awaiting) FILTER (WHERE day >= %(two_days)s AND day < %(today)s), 0),
       coalesce(sum(awaiting) FILTER (WHERE day >= %(week)s AND day < %(two_days)s), 0),
       coalesce(sum(awaiting) FILTER (WHERE day < %(week)s), 0)
FROM {daily_projects}
GROUP BY project
HAVING sum(awaiting) > 0
ORDER BY 1 NULLS LAST;

-- name: times
-- The loop's waits (sql/quality.sql defines them) per project (level 1), overall (level 3) and,
-- when the agents are asked for, feedback to fix per agent's phone (level 2): each stage's median
-- and 90th percentile, read from the histograms as percentile_cont reads the waits themselves
-- (linear between the two nearest ranks, 0-based), each rank's wait taken at its bucket's
-- middle: within a factor 2^(1/16) (4.4 per cent) of the exact figure, within a second under a
-- second.
WITH by_project AS (
    SELECT project, stage, bucket, sum(n)::integer AS n
    FROM {daily_times}
    WHERE day BETWEEN %(first)s AND %(last)s
    GROUP BY project, stage, bucket
    HAVING sum(n) > 0
),
counted AS (
    SELECT 1 AS level, project, NULL::text AS phone, stage, bucket, n FROM by_project
    UNION ALL
    SELECT 3, NULL, NULL, stage, bucket, sum(n)::integer FROM by_project GROUP BY stage, bucket
    UNION ALL
    SELECT 2, NULL, phone, stage, bucket, sum(n)::integer
    FROM {daily_times}
    WHERE %(agents)s AND day BETWEEN %(first)s AND %(last)s AND stage = 3
    GROUP BY phone, stage, bucket
    HAVING sum(n) > 0
),
ranked AS (
    SELECT level, project, phone, stage, n,
           sign(bucket) * power(2::double precision, (abs(bucket) - 0.5) / 8) AS wait,
           sum(n) OVER (PARTITION BY level, project, phone, stage ORDER BY bucket) - n AS below,
           sum(n) OVER (PARTITION BY level, project, phone, stage) - 1 AS last
    FROM counted
),
-- Where the median (m) and the 90th percentile (t) fall among the ranks,
at AS (
    SELECT *, 0.5 * last::double precision AS m, 0.9 * last::double precision AS t FROM ranked
),
-- the waits at the ranks just below and above each,
picked AS (
    SELECT level, project, phone, stage, max(m) AS m, max(t) AS t,
           max(wait) FILTER (WHERE below <= floor(m) AND floor(m) < below + n) AS m_low,
           max(wait) FILTER (WHERE below <= ceil(m) AND ceil(m) < below + n) AS m_high,
           max(wait) FILTER (WHERE below <= floor(t) AND floor(t) < below + n) AS t_low,
           max(wait) FILTER (WHERE below <= ceil(t) AND ceil(t) < below + n) AS t_high
    FROM at
    GROUP BY level, project, phone, stage
),
-- and between them.
waits AS (
    SELECT level, project, phone, stage,
           m_low + (m - floor(m)) * (m_high - m_low) AS p50,
           t_low + (t - floor(t)) * (t_high - t_low) AS p90
    FROM picked
)
SELECT level, project, phone,
       max(p50) FILTER (WHERE stage = 1) AS verdict_p50,
       max(p90) FILTER (WHERE stage = 1) AS verdict_p90,
       max(p50) FILTER (WHERE stage = 2) AS feedback_p50,
       max(p90) FILTER (WHERE stage = 2) AS feedback_p90,
       max(p50) FILTER (WHERE stage = 3) AS fix_p50,
       max(p90) FILTER (WHERE stage = 3) AS fix_p90,
       max(p50) FILTER (WHERE stage = 4) AS complete_p50,
       max(p90) FILTER (WHERE stage = 4) AS complete_p90,
       max(p50) FILTER (WHERE stage = 5) AS total_p50,
       max(p90) FILTER (WHERE stage = 5) AS total_p90
FROM waits
GROUP BY level, project, phone
ORDER BY level, project, phone;
