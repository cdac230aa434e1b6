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
-- The photos the fetcher should ask the bridge for now, oldest due first. (Videos wait: they
-- are not fetched yet.)
SELECT id, chat_jid, message_id, file_sha256, attempts FROM {photos}
WHERE state IN ('pending', 'retrying') AND next_attempt_at <= %(now)s AND media_type = 'image'
ORDER BY next_attempt_at, id
LIMIT %(limit)s;

-- name: fetched
UPDATE {photos}
SET state = 'fetched', fetched_at = %(now)s, content_key = %(key)s, content_type = 'image/jpeg',
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
-- A drop's photos for its review page, rounds apart (each drop message a round), in posting order.
SELECT id, message_id, media_type, sent_at, state, content_key, width, height, taken_text,
       place_text, round_message_id, round_at
FROM {photos}
WHERE drop_number = %(drop)s
ORDER BY round_at, sent_at, id;

-- name: counts
SELECT drop_number, count(*) FROM {photos}
WHERE drop_number = ANY(%(drops)s::text[])
GROUP BY drop_number;

-- name: servable
-- Whether this environment serves the copies named `key`: a fetched photo of one of its reviews.
SELECT 1 FROM {photos} AS p
WHERE p.content_key = %(key)s AND p.state = 'fetched'
  AND EXISTS (SELECT 1 FROM {reviews} AS r WHERE r.drop_number = p.drop_number)
LIMIT 1;
