-- The daily drop counts, defined once: the dashboard and the SharePoint job both read these.
-- {reviews} is composed with psycopg.sql.Identifier. A day is the local date (the configured
-- zone, Africa/Johannesburg) of whatsapp_message_date, the time the agent posted the drop;
-- counting by created_at or by the browser's zone gave the wrong days. The range is given as
-- instants (local midnights) so that the index on whatsapp_message_date serves it.

-- name: daily_counts
SELECT (r.whatsapp_message_date AT TIME ZONE %(tz)s)::date AS day,
       coalesce(r.project, '') AS project,
       count(DISTINCT r.drop_number) AS drops
FROM {reviews} AS r
WHERE r.whatsapp_message_date >= %(start)s
  AND r.whatsapp_message_date < %(end)s
GROUP BY 1, 2
ORDER BY 1, 2
