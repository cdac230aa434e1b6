-- The drops' photos (migration 0016): what the drain records, what the fetcher works through,
-- and what the dashboard shows. Run through Database.query("photos.<name>").

-- name: record_photos
-- A batch's photos; a replayed one finds itself here.
INSERT INTO {photos} (chat_jid, message_id, bridge_rowid, sender, sent_at, media_type, filename,
                      file_sha256, file_length, caption_drop, next_attempt_at)
SELECT c, m, r, s, t, mt, f, sha, len, cap, t FROM unnest(
    %(chats)s::text[], %(ids)s::text[], %(rowids)s::bigint[], %(senders)s::text[],
    %(at)s::timestamptz[], %(types)s::text[], %(files)s::text[], %(shas)s::bytea[],
    %(lengths)s::bigint[], %(captions)s::text[]) AS x(c, m, r, s, t, mt, f, sha, len, cap)
ON CONFLICT (chat_jid, message_id) DO NOTHING;

-- name: record_drop_posts
INSERT INTO {drop_posts} (chat_jid, message_id, sender, sent_at, drop_number)
SELECT * FROM unnest(%(chats)s::text[], %(ids)s::text[], %(senders)s::text[],
                     %(at)s::timestamptz[], %(drops)s::text[])
ON CONFLICT (chat_jid, message_id) DO NOTHING;

-- name: neighbours
-- The drop messages and photos of these (group, sender) pairs in a time range: what the
-- association rule needs to tie the batch's photos, and to re-tie those a new drop message is
-- nearer to. Sent after the batch's own inserts, in the same transaction: they are included.
WITH pairs AS (SELECT DISTINCT * FROM unnest(%(chats)s::text[], %(senders)s::text[]) AS p(c, s))
SELECT 'post', d.chat_jid, d.sender, d.message_id, d.sent_at, d.drop_number,
       NULL::text, NULL::text, NULL::timestamptz
FROM pairs JOIN {drop_posts} AS d ON d.chat_jid = pairs.c AND d.sender = pairs.s
WHERE d.sent_at BETWEEN %(lo)s AND %(hi)s
UNION ALL
SELECT 'photo', p.chat_jid, p.sender, p.message_id, p.sent_at, p.caption_drop,
       p.drop_number, p.round_message_id, p.round_at
FROM pairs JOIN {photos} AS p ON p.chat_jid = pairs.c AND p.sender = pairs.s
WHERE p.sent_at BETWEEN %(lo)s AND %(hi)s;

-- name: tie_photos
UPDATE {photos} AS p
SET drop_number = x.d, round_message_id = x.r, round_at = x.t
FROM unnest(%(chats)s::text[], %(ids)s::text[], %(drops)s::text[], %(rounds)s::text[],
            %(at)s::timestamptz[]) AS x(c, m, d, r, t)
WHERE p.chat_jid = x.c AND p.message_id = x.m;

-- name: due
-- The photos and videos the fetcher should ask the bridge for now, oldest due first.
SELECT id, chat_jid, message_id, file_sha256, attempts, media_type FROM {photos}
WHERE state IN ('pending', 'retrying') AND next_attempt_at <= %(now)s
ORDER BY next_attempt_at, id
LIMIT %(limit)s;

-- name: fetched
UPDATE {photos}
SET state = 'fetched', fetched_at = %(now)s, content_key = %(key)s, content_type = %(type)s,
    width = %(width)s, height = %(height)s, taken_text = %(taken)s, place_text = %(place)s,
    attempts = attempts + 1, last_error = NULL
WHERE id = %(id)s;

-- name: final
-- expired / mismatch / refused: no page asks again.
UPDATE {photos}
SET state = %(state)s, fetched_at = %(now)s, attempts = attempts + 1, last_error = %(error)s
WHERE id = %(id)s;

-- name: retry
UPDATE {photos}
SET state = 'retrying', attempts = attempts + 1, next_attempt_at = %(next)s,
    last_error = %(error)s
WHERE id = %(id)s;

-- name: states
SELECT state, count(*), min(sent_at) FILTER (WHERE state IN ('pending', 'retrying'))
FROM {photos} GROUP BY state ORDER BY state;

-- name: cache_keys
SELECT DISTINCT content_key FROM {photos} WHERE content_key IS NOT NULL;

-- name: of_drop
-- A drop's photos for its review page, rounds apart (each drop message a round), in posting
-- order, each with the step this review marks it as showing. A message naming several drops
-- shares its photos with each of them: they are tied to one of its drops (core/photos.py), and
-- the ledger says which others it named.
WITH shared AS (
    SELECT l.chat_jid, l.message_id, string_to_array(l.drops, ' ') AS named
    FROM {ledger} AS l
    WHERE string_to_array(l.drops, ' ') @> ARRAY[%(drop)s::text] AND strpos(l.drops, ' ') > 0
), found AS (
    SELECT p.id FROM {photos} AS p WHERE p.drop_number = %(drop)s
    UNION
    SELECT p.id FROM shared
    JOIN {photos} AS p ON p.drop_number = ANY(shared.named) AND p.chat_jid = shared.chat_jid
                      AND p.round_message_id = shared.message_id
)
SELECT p.id, p.message_id, p.media_type, p.sent_at, p.state, p.content_key, p.width, p.height,
       p.taken_text, p.place_text, p.round_message_id, p.round_at, s.step
FROM found
JOIN {photos} AS p ON p.id = found.id
LEFT JOIN {photo_steps} AS s ON s.photo_id = p.id AND s.review_id = %(review)s
ORDER BY p.round_at, p.sent_at, p.id;

-- name: counts
-- How many photos each of these drops has, a message's photos shared by the drops it named (as
-- of_drop shows them).
WITH shared AS (
    SELECT l.chat_jid, l.message_id, string_to_array(l.drops, ' ') AS named
    FROM {ledger} AS l
    WHERE string_to_array(l.drops, ' ') && %(drops)s::text[] AND strpos(l.drops, ' ') > 0
)
SELECT x.d, count(*) FROM (
    SELECT p.drop_number AS d FROM {photos} AS p WHERE p.drop_number = ANY(%(drops)s::text[])
    UNION ALL
    SELECT other.d FROM shared
    JOIN {photos} AS p ON p.drop_number = ANY(shared.named) AND p.chat_jid = shared.chat_jid
                      AND p.round_message_id = shared.message_id
    CROSS JOIN LATERAL unnest(shared.named) AS other(d)
    WHERE other.d = ANY(%(drops)s::text[]) AND other.d <> p.drop_number
) AS x
GROUP BY x.d;

-- name: day_drops
-- The drops reviewed on a local day (review_date): the overview counts their photos.
SELECT DISTINCT drop_number FROM {reviews} WHERE review_date = %(day)s;

-- name: mark_step
-- A reviewer's mark: this photo of the review's drop shows this step (web/photo_steps.py checks
-- the photo is one of the drop's).
INSERT INTO {photo_steps} (review_id, photo_id, step, marked_by)
VALUES (%(review)s, %(photo)s, %(step)s, %(by)s)
ON CONFLICT (review_id, photo_id)
DO UPDATE SET step = excluded.step, marked_by = excluded.marked_by, marked_at = now();

-- name: unmark_step
DELETE FROM {photo_steps} WHERE review_id = %(review)s AND photo_id = %(photo)s;

-- name: servable
-- The content type of the copies named `key` if this environment serves them (a fetched photo
-- of one of its reviews); no row if not.
SELECT p.content_type FROM {photos} AS p
WHERE p.content_key = %(key)s AND p.state = 'fetched'
  AND (EXISTS (SELECT 1 FROM {reviews} AS r WHERE r.drop_number = p.drop_number)
       OR EXISTS (SELECT 1 FROM {ledger} AS l
                  JOIN {reviews} AS r ON r.drop_number = ANY(string_to_array(l.drops, ' '))
                  WHERE l.chat_jid = p.chat_jid AND l.message_id = p.round_message_id))
LIMIT 1;
