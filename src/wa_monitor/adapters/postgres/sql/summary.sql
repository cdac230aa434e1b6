-- Reads of the per-day summary (migration 0019: {daily}, one row per local day x project x
-- agent's phone, kept by triggers in every writer's transaction). {daily} and {daily_zone} are
-- composed with psycopg.sql.Identifier; everything else is a bound parameter. A month is a few
-- thousand rows here where the reviews hold a hundred thousand.

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
FROM {daily}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY day, project
HAVING sum(dated) > 0
ORDER BY day, project;

-- name: day_cards
-- The overview's cards for one local day.
SELECT coalesce(sum(drops), 0), coalesce(sum(completed), 0), coalesce(sum(incomplete), 0),
       coalesce(sum(awaiting), 0), coalesce(sum(feedback_sent), 0), coalesce(sum(resubmitted), 0)
FROM {daily}
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
FROM {daily}
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
FROM {daily}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY GROUPING SETS ((project), ())
HAVING sum(reviewed) > 0
ORDER BY grouping(project), project;

-- name: agents
-- Per agent's phone: drops, first verdicts, passed first time, each step's failures (missing
-- plus wrong) and the name of their latest sighting.
SELECT phone,
       (array_agg(name ORDER BY name_at DESC) FILTER (WHERE name IS NOT NULL))[1],
       sum(drops), sum(reviewed), sum(passed_first),
       round(100.0 * sum(passed_first) / nullif(sum(reviewed), 0), 1),
       ARRAY[sum(m01 + w01), sum(m02 + w02), sum(m03 + w03), sum(m04 + w04),
             sum(m05 + w05), sum(m06 + w06), sum(m07 + w07), sum(m08 + w08),
             sum(m09 + w09), sum(m10 + w10), sum(m11 + w11), sum(m12 + w12)]
FROM {daily}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY phone
HAVING sum(drops) > 0
ORDER BY phone;

-- name: weekly
-- Local weeks (Monday first): drops, first verdicts, passed first time.
SELECT date_trunc('week', day::timestamp)::date AS week, sum(drops), sum(reviewed), sum(passed_first)
FROM {daily}
WHERE day BETWEEN %(first)s AND %(last)s
GROUP BY 1
HAVING sum(drops) > 0
ORDER BY 1;
