-- Named queries of the reply outbox (outbox.py) and of `wa-monitor replies`. {outbox} is composed
-- with psycopg.sql.Identifier; everything else is a bound parameter.

-- name: stranded
-- Claimed and never marked, by a session that is gone (a sender per bridge's monitor, each on
-- its own session): whether the bridge posted them is not known. Another sender's reply in
-- flight is not stranded.
SELECT o.id, o.chat_jid, o.drop_number, o.text, o.message_at, o.claimed_at, o.attempts, o.bridge
FROM {outbox} o
WHERE o.state = 'sending'
  AND NOT EXISTS (
    SELECT 1 FROM pg_stat_activity a
    WHERE a.pid = o.claimed_pid
      AND (a.backend_start IS NULL OR a.backend_start = o.claimed_started))
ORDER BY o.claimed_at;

-- name: unknown_through
-- Replies of the last hour whose post through this bridge had no clear answer and that the
-- sender could not prove from where it runs (another host): this bridge's own sender looks for
-- them in its messages.db.
SELECT o.id, o.chat_jid, o.drop_number, o.text, o.message_at, o.claimed_at, o.attempts, o.bridge
FROM {outbox} o
WHERE o.state = 'unknown' AND o.bridge = %(bridge)s
  AND o.claimed_at > now() - interval '1 hour'
ORDER BY o.claimed_at;

-- name: found_sent
-- An unknown reply found in the messages.db of the bridge it went through: sent. Only while it
-- is unknown (a person may have settled it meanwhile).
UPDATE {outbox} SET state = 'sent', done_at = now(),
    detail = left(coalesce(detail, '') || format('; found in bridge %%s''s messages.db', %(bridge)s::text),
                  500)
WHERE id = %(id)s AND state = 'unknown';

-- name: expire
UPDATE {outbox}
SET state = 'expired', done_at = now(), detail = 'older than the reply window: not sent'
WHERE state = 'pending' AND message_at < now() - make_interval(secs => %(window)s);

-- name: hold
-- Waiting replies whose group, or whose message's sender, already had its cap of replies in the
-- last hour (posted, being posted, or perhaps posted): held, recorded, never posted. Run before
-- each claim (which counts the caps again, under the claim lock, so a cap lets exactly that many
-- through whatever two senders do). The counts are made once per waiting reply (MATERIALIZED):
-- inlined, the planner joined every waiting reply with every other, and a backlog of a few
-- hundred made each pass of the sender cost a tenth of a second.
WITH counted AS MATERIALIZED (
    SELECT w.id,
        (SELECT count(*) FROM {outbox} b
         WHERE b.chat_jid = w.chat_jid AND b.claimed_at > now() - interval '1 hour'
           AND b.state IN ('sending', 'sent', 'unknown')) AS in_group,
        (SELECT count(*) FROM {outbox} b
         WHERE w.sender IS NOT NULL AND b.sender = w.sender
           AND b.claimed_at > now() - interval '1 hour'
           AND b.state IN ('sending', 'sent', 'unknown')) AS by_sender
    FROM {outbox} w
    WHERE w.state = 'pending'
)
UPDATE {outbox} o SET
    state = 'held',
    done_at = now(),
    detail = CASE
        WHEN c.in_group >= %(per_group)s
            THEN format('held: its group had %%s replies in the last hour (the cap)', c.in_group)
        ELSE format('held: its sender had %%s replies in the last hour (the cap)', c.by_sender)
    END
FROM counted c
WHERE o.id = c.id AND o.state = 'pending'
  AND (c.in_group >= %(per_group)s OR c.by_sender >= %(per_sender)s);

-- name: claim_turn
-- Every sender of the environment (one per bridge's monitor, on any host) claims under this
-- lock, held to the end of the claim's transaction: the counts below are then never read by two
-- claims at once, so two senders cannot each let one more reply through a cap, nor claim two
-- replies of one group at once. An advisory lock: it needs no privilege and blocks no writer of
-- the outbox (the drain's inserts). Its key is the environment's schema.
SELECT pg_advisory_xact_lock(hashtext('wa_monitor_outbox claim'), hashtext(%(schema)s));

-- name: claim
-- The oldest waiting reply within the window whose group has no reply being posted (each group
-- its own lane) and had no reply claimed or finished within the interval, and whose group and
-- message's sender are under their hourly caps (counted as `hold` counts them). Run after
-- claim_turn, in its transaction.
UPDATE {outbox} SET state = 'sending', claimed_at = clock_timestamp(), attempts = attempts + 1,
    bridge = NULL, claimed_pid = pg_backend_pid(),
    claimed_started = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
WHERE id = (
    SELECT o.id FROM {outbox} o
    WHERE o.state = 'pending' AND o.not_before <= now()
      AND o.message_at >= now() - make_interval(secs => %(window)s)
      AND NOT EXISTS (
          SELECT 1 FROM {outbox} f WHERE f.chat_jid = o.chat_jid AND f.state = 'sending')
      AND NOT EXISTS (
          SELECT 1 FROM {outbox} b
          WHERE b.chat_jid = o.chat_jid
            AND b.claimed_at > now() - make_interval(secs => %(interval)s + 10)
            AND (b.claimed_at > now() - make_interval(secs => %(interval)s)
                 OR b.done_at > now() - make_interval(secs => %(interval)s)))
      AND (SELECT count(*) FROM {outbox} b
           WHERE b.chat_jid = o.chat_jid AND b.claimed_at > now() - interval '1 hour'
             AND b.state IN ('sending', 'sent', 'unknown')) < %(per_group)s
      AND (o.sender IS NULL
           OR (SELECT count(*) FROM {outbox} b
               WHERE b.sender = o.sender AND b.claimed_at > now() - interval '1 hour'
                 AND b.state IN ('sending', 'sent', 'unknown')) < %(per_sender)s)
    ORDER BY o.created_at, o.message_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING id, chat_jid, drop_number, text, message_at, claimed_at, attempts, bridge;

-- name: route
-- The bridge a claimed reply is about to be posted through, committed before the post: an
-- unknown outcome is looked for in that bridge's messages.db. Only while it is still claimed;
-- the claim is this session's from now on (a sender whose connection was renewed keeps it, and
-- no other sender takes it for stranded).
UPDATE {outbox} SET bridge = %(bridge)s, claimed_pid = pg_backend_pid(),
    claimed_started = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
WHERE id = %(id)s AND state = 'sending';

-- name: sent_alike
-- Other replies with the same text in the same group, marked sent at or after `since`: the
-- bot's messages of that text in messages.db that are theirs (an agent who posts the same wrong
-- drop twice gets the same answer twice).
SELECT count(*) FROM {outbox}
WHERE chat_jid = %(chat)s AND text = %(text)s AND state = 'sent' AND id <> %(id)s
  AND done_at >= %(since)s;

-- name: waiting
SELECT EXISTS (SELECT 1 FROM {outbox} WHERE state = 'pending');

-- name: finish
UPDATE {outbox} SET
    state = %(state)s,
    detail = %(detail)s,
    done_at = CASE WHEN %(state)s = 'pending' THEN NULL ELSE now() END,
    not_before = now() + make_interval(secs => %(retry_in)s)
WHERE id = %(id)s AND state = 'sending';

-- name: list
SELECT id, state, kind, project, drop_number, chat_jid, message_at, attempts, detail, text
FROM {outbox}
WHERE (%(state)s::text IS NULL OR state = %(state)s)
ORDER BY created_at DESC
LIMIT %(limit)s;

-- name: list_unknown_like
SELECT id, state, kind, project, drop_number, chat_jid, message_at, attempts, detail, text
FROM {outbox} WHERE state = 'unknown' AND id::text LIKE %(prefix)s || '%%';

-- name: resolve
-- An operator's decision on a reply whose outcome is unknown: it was posted (sent), or it was
-- not and may go out again (pending).
UPDATE {outbox} SET
    state = %(state)s,
    done_at = CASE WHEN %(state)s = 'sent' THEN now() ELSE NULL END,
    not_before = now(),
    detail = %(detail)s
WHERE state = 'unknown' AND id::text LIKE %(prefix)s || '%%';

-- name: status
SELECT
    (SELECT count(*) FROM {invalid}
        WHERE whatsapp_message_date >= %(since)s AND whatsapp_message_date < %(until)s),
    (SELECT count(*) FROM {outbox} WHERE state IN ('pending', 'sending')),
    (SELECT count(*) FROM {outbox} WHERE state = 'unknown');
