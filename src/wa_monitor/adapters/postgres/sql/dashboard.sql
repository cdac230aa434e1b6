-- Named queries of the dashboard's pages (adapters/postgres/dashboard.py), loaded like
-- queries.sql. {reviews} and {ledger} are the configured environment's tables, composed with
-- psycopg.sql.Identifier; everything else is a bound parameter. A review's place in time is
-- coalesce(whatsapp_message_date, created_at): the index idx_qa_photo_reviews_sighted serves
-- the order, the keyset and the date range. Optional filters are `%(x)s IS NULL OR …`: the
-- connections never prepare statements, so each query is planned with its values and the
-- unused filters fold away.

-- name: review_page
-- One page of the filtered reviews after (older_*) or before (newer_*) a keyset, or every one of
-- them (limit NULL: the CSV export, read through a server-side cursor).
SELECT {columns}, coalesce(whatsapp_message_date, created_at)
FROM {reviews}
WHERE coalesce(whatsapp_message_date, created_at) >= coalesce(%(start)s::timestamptz, '-infinity')
  AND coalesce(whatsapp_message_date, created_at) < coalesce(%(end)s::timestamptz, 'infinity')
  AND (%(project)s::text IS NULL OR project = %(project)s)
  AND (%(status)s::text IS NULL
       OR (%(status)s = 'complete' AND completed)
       OR (%(status)s = 'incomplete' AND incomplete)
       OR (%(status)s = 'awaiting' AND NOT completed AND NOT incomplete))
  AND (%(resubmitted)s::boolean IS NULL OR resubmitted = %(resubmitted)s)
  AND (%(feedback)s::text IS NULL
       OR (%(feedback)s = 'pending' AND (completed OR incomplete) AND feedback_sent IS NULL)
       OR (%(feedback)s = 'sent' AND feedback_sent IS NOT NULL))
  -- A prefix search on the drop_number index: DR12 ≤ drop < DR12Z holds every DR12… in any
  -- collation (digits sort before letters), and LIKE keeps exactly those that start with it.
  AND (%(drop_from)s::text IS NULL
       OR (drop_number >= %(drop_from)s AND drop_number < %(drop_to)s
           AND drop_number LIKE %(drop_like)s))
  AND (%(agent)s::text IS NULL OR submitted_by = %(agent)s)
  -- A step the first verdict marked missing or wrong (quality.sql defines the first verdict).
  AND (%(failed)s::text IS NULL OR EXISTS (
       SELECT 1 FROM (
           SELECT c.changes -> %(failed)s ->> 'to' AS mark FROM {changes} AS c
           WHERE c.review_id = {reviews}.id AND c.changes ?| %(verdict_keys)s::text[]
           ORDER BY c.id LIMIT 1) AS v
       WHERE coalesce(v.mark, 'missing') <> 'passed'
         AND (%(failed_mark)s::text IS NULL
              OR (%(failed_mark)s = 'wrong') = coalesce(v.mark LIKE 'wrong%%', false))))
  AND (%(older_at)s::timestamptz IS NULL
       OR (coalesce(whatsapp_message_date, created_at), id) < (%(older_at)s, %(older_id)s::uuid))
  AND (%(newer_at)s::timestamptz IS NULL
       OR (coalesce(whatsapp_message_date, created_at), id) > (%(newer_at)s, %(newer_id)s::uuid))
-- {order} is `sighted` below, or, for a drop search, `sighted_unindexed`: the same value as an
-- expression no index has, so the planner finds the few matching drops through the
-- drop_number index and sorts them, instead of walking the whole list newest first for them.
ORDER BY {order} {direction}, id {direction}
LIMIT %(limit)s;

-- name: review
SELECT {columns}, coalesce(whatsapp_message_date, created_at) FROM {reviews} WHERE id = %(id)s;

-- name: drop_history
-- The monitor's ledger entries of the messages that named the drop, oldest first.
SELECT chat_jid, message_id, sent_at, processed_at
FROM {ledger}
WHERE string_to_array(drops, ' ') @> ARRAY[%(drop)s::text]
ORDER BY sent_at, processed_at
LIMIT 500;

-- name: invalid_day
-- The drops posted in a validating project's group that were not in its plan, in [start, end)
-- by the time of the WhatsApp message, newest first, with the state of the reply to each (none
-- when replies are off). The last column counts them all, past the limit.
SELECT i.whatsapp_message_date, i.project, i.drop_number, i.user_name, i.submitted_by,
       i.reason, i.action, o.state, o.done_at, count(*) OVER ()
FROM {invalid} AS i
LEFT JOIN {outbox} AS o
       ON o.kind = 'invalid_drop' AND o.chat_jid = i.chat_jid
      AND o.message_id = i.message_id AND o.drop_number = i.drop_number
WHERE i.whatsapp_message_date >= %(start)s AND i.whatsapp_message_date < %(end)s
ORDER BY i.whatsapp_message_date DESC, i.drop_number
LIMIT %(limit)s;

-- name: ping
-- /healthz: the database answers.
SELECT 1;

-- name: session
-- Each connection of the web service: a stuck query, or a download nobody reads, cannot hold
-- a snapshot (and vacuum) for ever.
SET statement_timeout = '15s';
SET idle_in_transaction_session_timeout = '10min';
-- The 30-day counts sort ~80,000 rows of a million-row table: in memory, not in temp files.
SET work_mem = '32MB';
-- No page's statement runs long enough for JIT compilation to pay (it costs 20-500 ms a
-- statement); a plan costed high on a wrong row estimate was compiled at every request.
SET jit = off;

-- name: export_session
-- A CSV export's own connection: each FETCH of the cursor is bounded, and a download that
-- stops being read ends its transaction (and the connection) within a minute.
SET statement_timeout = '30s';
SET idle_in_transaction_session_timeout = '1min';

-- name: sighted
coalesce(whatsapp_message_date, created_at)

-- name: sighted_unindexed
(coalesce(whatsapp_message_date, created_at) + interval '0')
