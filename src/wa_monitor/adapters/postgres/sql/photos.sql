-- The drops' photos (migration 0016): what the drain records, what the fetcher works through,
-- and what the dashboard shows. Run through Database.query("photos.<name>"). The drain's
-- arrays go in binary (%(x)b), as in queries.sql: text dumping them cost the drain half its speed.

-- name: record_drop_posts
-- A batch's drop messages, before its photos (record_photos ties against them).
INSERT INTO {drop_posts} (chat_jid, message_id, sender, sent_at, drop_number)
SELECT * FROM unnest(%(chats)b::text[], %(ids)b::text[], %(senders)b::text[],
                     %(at)b::timestamptz[], %(drops)b::text[])
ON CONFLICT (chat_jid, message_id) DO NOTHING;

-- name: record_photos
-- A batch's photos, each tied to its drop as it is inserted, and the photos of earlier batches
-- whose tie the batch's drop messages change; a replayed photo finds itself here. Sent after
-- record_drop_posts, in the same transaction: the batch's own drop messages are included.
--
-- The photos come as JSON arrays of rows, so that the daemon makes no parameter per photo:
-- `rows` made by json.dumps (the odd rows the daemon read one by one: [chat, id, rowid, phone,
-- time, type, file name, SHA-256 hex, length, caption's drop]), `plain` as the bridge's SQLite
-- made it (bridge.sql, photo_rows: objects of the same without the caption, the sender as
-- stored, a LID to be resolved by the `lids` given, read by json_to_recordset, each field
-- parsed once: `->>` on json parses the row again). A plain row of a (chat, sender) in
-- `skip_*` is not recorded (a bot's). The times keep their offsets; inserted in bridge order,
-- so that ids follow it.
--
-- Only the photos a drop message claims become rows of {photos} (and the fetcher's work):
-- nearly every photo of a watched group is no drop's, and a row with its four indexes was half
-- the server's work of a drain (migration 0035). The others wait, one unindexed row of
-- {photos_waiting} per window's length of their times (a JSON array in the `plain` shape,
-- the sender resolved), for a later batch's drop message: its window's waiting rows are
-- unpacked, and
-- its sender's photos among them join the batch's new photos, tied and recorded like them.
-- A waiting photo stays in its row once recorded; the table's row of it is the one read. A
-- photo already waiting (a replay, another bridge's copy) is not parked again.
--
-- The tie is the association rule of core/photos.py (`associate`, its reference: a test holds
-- the two to the same answers), run where the rows are, so that no photo or drop message
-- crosses to the daemon and back: a photo gets the nearest drop message of its sender in its
-- group — the last one at or before it, at most `after` earlier, or the first one after it, at
-- most `before` later; the later one on a tie in distance. A caption naming a drop ties the
-- photo to that drop directly. Message ids compare byte-wise (COLLATE "C"), as Python compares
-- them, for drop messages sent in the same microsecond. A drop message can change the tie only
-- of its sender's photos in its group sent from `before` before it to `after` after it: those
-- already recorded (`post_*`: the batch's drop messages) are tied again, and only ties that
-- change are written. A new photo is written once, with its tie: no second version of the row.
WITH u AS (
    SELECT x->>0 AS chat_jid, x->>1 AS message_id, (x->>2)::bigint AS rowid, x->>3 AS sender,
           (x->>4)::timestamptz AS at, x->>5 AS media_type, x->>6 AS filename, x->>7 AS sha,
           (x->>8)::bigint AS length, x->>9 AS caption
    FROM json_array_elements(%(rows)s::json) AS x
    UNION ALL
    SELECT x.c, x.i, x.r, coalesce(lid.phone, x.s), x.t, x.m, x.f, x.h, x.n, NULL
    FROM json_to_recordset(%(plain)s::json)
        AS x(c text, i text, r bigint, s text, t timestamptz, m text, f text, h text, n bigint)
    LEFT JOIN unnest(%(lids)b::text[], %(phones)b::text[]) AS lid(id, phone) ON lid.id = x.s
    WHERE NOT EXISTS (
        SELECT 1 FROM unnest(%(skip_chats)b::text[], %(skip_senders)b::text[]) AS k(c, s)
        WHERE k.c = x.c AND k.s = x.s)
),
posts AS MATERIALIZED (
    SELECT * FROM unnest(%(post_chats)b::text[], %(post_senders)b::text[],
                         %(post_at)b::timestamptz[]) AS d(c, s, t)
),
waited AS (
    -- The waiting photos in a window of the batch's drop messages (their sender's, in their
    -- group), not recorded since; each once, though a replayed batch may have parked it twice.
    SELECT DISTINCT ON (x.c, x.i) x.*
    FROM {photos_waiting} AS w
    CROSS JOIN LATERAL json_to_recordset(w.photos)
        AS x(c text, i text, r bigint, s text, t timestamptz, m text, f text, h text, n bigint)
    JOIN posts AS d ON d.c = x.c AND d.s = x.s
                   AND x.t BETWEEN d.t - %(before)s::interval AND d.t + %(after)s::interval
    WHERE w.last_at >= (SELECT min(t) FROM posts) - %(before)s::interval
      AND w.first_at <= (SELECT max(t) FROM posts) + %(after)s::interval
      AND NOT EXISTS (SELECT 1 FROM {photos} AS p WHERE p.chat_jid = x.c AND p.message_id = x.i)
    ORDER BY x.c, x.i
),
recorded AS (
    -- Per drop message, one probe of the (chat_jid, sender, sent_at) index (OFFSET 0 keeps it
    -- one: pulled up into a join, the planner may hash the whole table instead, in every batch).
    SELECT DISTINCT x.row_at, x.chat_jid, x.sender, x.sent_at, x.message_id,
                    x.drop_number, x.round_message_id, x.round_at
    FROM posts AS d
    CROSS JOIN LATERAL (
        SELECT p.ctid AS row_at, p.* FROM {photos} AS p
        WHERE p.chat_jid = d.c AND p.sender = d.s AND p.caption_drop IS NULL
          AND p.sent_at BETWEEN d.t - %(before)s::interval AND d.t + %(after)s::interval
        OFFSET 0
    ) AS x
),
candidates AS (
    SELECT NULL::tid AS row_at, u.chat_jid, u.sender, u.at AS sent_at, u.message_id, u.caption,
           NULL AS old_d, NULL AS old_r, NULL::timestamptz AS old_t, u.rowid, u.media_type,
           u.filename, u.sha, u.length, true AS fresh
    FROM u
    UNION ALL
    SELECT NULL::tid, w.c, w.s, w.t, w.i, NULL, NULL, NULL, NULL, w.r, w.m, w.f, w.h, w.n, false
    FROM waited AS w
    UNION ALL
    SELECT r.row_at, r.chat_jid, r.sender, r.sent_at, r.message_id, NULL, r.drop_number,
           r.round_message_id, r.round_at, NULL, NULL, NULL, NULL, NULL, false
    FROM recorded AS r
),
tied AS (
    SELECT b.*,
           coalesce(b.caption, c.drop_number) AS d,
           CASE WHEN b.caption IS NULL THEN c.message_id ELSE b.message_id END AS r,
           CASE WHEN b.caption IS NULL THEN c.sent_at ELSE b.sent_at END AS t
    FROM candidates AS b
    LEFT JOIN LATERAL (
        -- One probe of the (chat_jid, sender, sent_at) index for the drop messages of the
        -- window; the nearest first: the last at or before the photo is the nearest before it,
        -- the first after it the nearest after; the later one on a tie in distance; among
        -- those sent in the same microsecond, the last in bridge-id order before the photo and
        -- the first after it (core/photos.py: its bisect over (sent_at, message_id)).
        SELECT d.drop_number, d.message_id, d.sent_at
        FROM {drop_posts} AS d
        WHERE d.chat_jid = b.chat_jid AND d.sender = b.sender
          AND d.sent_at >= b.sent_at - %(after)s::interval
          AND d.sent_at <= b.sent_at + %(before)s::interval
        ORDER BY abs(extract(epoch FROM d.sent_at - b.sent_at)), d.sent_at > b.sent_at DESC,
                 CASE WHEN d.sent_at <= b.sent_at THEN d.message_id END COLLATE "C" DESC,
                 d.message_id COLLATE "C"
        LIMIT 1
    ) AS c ON b.caption IS NULL
),
inserted AS (
    INSERT INTO {photos} (chat_jid, message_id, bridge_rowid, sender, sent_at, media_type,
                          filename, file_sha256, file_length, caption_drop, next_attempt_at,
                          drop_number, round_message_id, round_at)
    SELECT n.chat_jid, n.message_id, n.rowid, n.sender, n.sent_at, n.media_type, n.filename,
           decode(n.sha, 'hex'), n.length, n.caption, n.sent_at, n.d, n.r, n.t
    FROM tied AS n
    WHERE n.row_at IS NULL AND n.d IS NOT NULL
    ORDER BY n.rowid
    ON CONFLICT (chat_jid, message_id) DO NOTHING
),
parked_before AS MATERIALIZED (
    -- The waiting photos of the windows' lengths (the rows' bins, see parked) that the batch's
    -- unclaimed ones fall in: another bridge's copy of a message, or a replay, is not parked
    -- twice. One probe of the rows' index per bin: a batch whose times spread over a year (a
    -- history sync, another bridge's order) unpacks its own bins, not every row between.
    SELECT x.c, x.i
    FROM (SELECT DISTINCT date_bin(%(stride)s::interval, n.sent_at,
                                   timestamptz '2000-01-01 00:00+00') AS bin
          FROM tied AS n WHERE n.fresh AND n.d IS NULL) AS b
    CROSS JOIN LATERAL (
        SELECT w.photos FROM {photos_waiting} AS w
        WHERE w.last_at >= b.bin
          AND w.last_at < b.bin + %(stride)s::interval
        OFFSET 0
    ) AS w
    CROSS JOIN LATERAL json_to_recordset(w.photos) AS x(c text, i text)
    WHERE x.c IS NOT NULL AND x.i IS NOT NULL  -- (NOT IN below: a NULL would hide every photo)
),
parked AS (
    -- A window's length of times apiece (before + after, an hour at least): a drop message's
    -- window unpacks two or three of them, not a whole backlog batch of a year's messages.
    INSERT INTO {photos_waiting} (first_at, last_at, photos)
    SELECT min(n.sent_at), max(n.sent_at),
           json_agg(json_build_object('c', n.chat_jid, 'i', n.message_id, 'r', n.rowid,
                                      's', n.sender, 't', n.sent_at, 'm', n.media_type,
                                      'f', n.filename, 'h', n.sha, 'n', n.length)
                    ORDER BY n.rowid)
    FROM tied AS n
    WHERE n.fresh AND n.d IS NULL
      -- NOT IN: one hashed look-up a photo (a NOT EXISTS here was planned as a nested loop,
      -- every photo against every waiting one: 0.5 s a batch of another bridge's copies)
      AND (n.chat_jid, n.message_id) NOT IN (SELECT b.c, b.i FROM parked_before AS b)
    GROUP BY date_bin(%(stride)s::interval, n.sent_at, timestamptz '2000-01-01 00:00+00')
)
UPDATE {photos} AS p SET drop_number = tied.d, round_message_id = tied.r, round_at = tied.t
FROM tied
WHERE p.ctid = tied.row_at  -- the row just read: no second look-up the planner could misjudge
  AND (tied.d, tied.r, tied.t) IS DISTINCT FROM (tied.old_d, tied.old_r, tied.old_t);

-- name: forget_waiting
-- The waiting photos parked more than :waiting ago (photos_waiting_days): no drop message has
-- claimed them, and WhatsApp's servers would no longer serve their media. By the index on
-- recorded_at (migration 0036): a range that is empty but once a day or so.
DELETE FROM {photos_waiting} WHERE recorded_at < now() - %(waiting)s::interval;

-- name: seen
-- Every photo the drain recorded or keeps waiting, with its tie (NULL: no drop message claims
-- it yet): what `record_photos` holds in both its tables, one row a photo.
SELECT chat_jid, message_id, bridge_rowid, sender, sent_at, media_type, filename, file_sha256,
       file_length, caption_drop, drop_number, round_message_id, round_at
FROM {photos}
UNION ALL
(SELECT DISTINCT ON (x.c, x.i) x.c, x.i, x.r, x.s, x.t, x.m, x.f, decode(x.h, 'hex'), x.n,
        NULL, NULL, NULL, NULL::timestamptz
 FROM {photos_waiting} AS w
 CROSS JOIN LATERAL json_to_recordset(w.photos)
     AS x(c text, i text, r bigint, s text, t timestamptz, m text, f text, h text, n bigint)
 WHERE NOT EXISTS (SELECT 1 FROM {photos} AS p WHERE p.chat_jid = x.c AND p.message_id = x.i)
 ORDER BY x.c, x.i);

-- name: waiting
-- How many photos wait for a drop message to claim them (record_photos): not asked of the
-- bridge until one does. Every waiting row unpacked: for `photos status`, not for a page.
SELECT count(*) FROM (
    SELECT DISTINCT x.c, x.i
    FROM {photos_waiting} AS w
    CROSS JOIN LATERAL json_to_recordset(w.photos) AS x(c text, i text)
    WHERE NOT EXISTS (SELECT 1 FROM {photos} AS p WHERE p.chat_jid = x.c AND p.message_id = x.i)
) AS unclaimed;

-- name: due
-- The photos and videos the fetcher should ask the bridge for now, oldest due first.
SELECT id, chat_jid, message_id, file_sha256, attempts, media_type FROM {photos}
WHERE state IN ('pending', 'retrying') AND next_attempt_at <= %(now)s
ORDER BY next_attempt_at, id
LIMIT %(limit)s;

-- name: next_due
-- When the next photo waiting falls due (NULL: none waits): the fetcher sleeps until then.
SELECT min(next_attempt_at) FROM {photos} WHERE state IN ('pending', 'retrying');

-- name: fetched
UPDATE {photos}
SET state = 'fetched', fetched_at = %(now)s, content_key = %(key)s, content_type = %(type)s,
    width = %(width)s, height = %(height)s, taken_text = %(taken)s, place_text = %(place)s,
    attempts = attempts + 1, last_error = NULL, retry_cause = NULL
WHERE id = %(id)s;

-- name: final
-- expired / mismatch / refused: no page asks again.
UPDATE {photos}
SET state = %(state)s, fetched_at = %(now)s, attempts = attempts + 1, last_error = %(error)s,
    retry_cause = NULL
WHERE id = %(id)s;

-- name: retry
UPDATE {photos}
SET state = 'retrying', attempts = attempts + 1, next_attempt_at = %(next)s,
    last_error = %(error)s, retry_cause = %(cause)s
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
       p.taken_text, p.place_text, p.round_message_id, p.round_at, s.step, p.retry_cause
FROM found
JOIN {photos} AS p ON p.id = found.id
LEFT JOIN {photo_steps} AS s ON s.photo_id = p.id AND s.review_id = %(review)s
ORDER BY p.round_at, p.sent_at, p.id;

-- name: counts
-- How many photos each of these drops has, a message's photos shared by the drops it named (as
-- of_drop shows them).
-- One probe of the ledger's index per drop (an overlap with the whole list would be a scan of
-- the ledger, each row against every drop: 1.4 s for a day's 2,300 drops among 20,000). The
-- probe is a LATERAL with OFFSET 0: as a plain join the planner scanned the whole ledger,
-- checking each row against the 50 drops of a page (90 ms at 100,000 reviews; 0.3 ms now).
WITH shared AS (
    SELECT DISTINCT l.chat_jid, l.message_id, l.named
    FROM unnest(%(drops)s::text[]) AS w(d)
    CROSS JOIN LATERAL (
        SELECT l.chat_jid, l.message_id, string_to_array(l.drops, ' ') AS named
        FROM {ledger} AS l
        WHERE string_to_array(l.drops, ' ') @> ARRAY[w.d] AND strpos(l.drops, ' ') > 0
        OFFSET 0
    ) AS l
)
SELECT x.d, count(*) FROM (
    SELECT p.drop_number AS d FROM {photos} AS p WHERE p.drop_number = ANY(%(drops)s::text[])
    UNION ALL
    SELECT other.d FROM shared
    -- Each shared message's photos by the drop index (OFFSET 0 keeps the planner from turning
    -- this into a hash join over every photo of the environment).
    CROSS JOIN LATERAL (
        SELECT p.drop_number FROM {photos} AS p
        WHERE p.drop_number = ANY(shared.named) AND p.chat_jid = shared.chat_jid
          AND p.round_message_id = shared.message_id
        OFFSET 0
    ) AS p
    CROSS JOIN LATERAL unnest(shared.named) AS other(d)
    WHERE other.d = ANY(%(drops)s::text[]) AND other.d <> p.drop_number
) AS x
GROUP BY x.d;

-- name: day_counts
-- The overview's figures for a local day (review_date): its drops' photos in all, and how many
-- of its drops have fewer than 12, counted as `counts` counts them. Each drop's own photos by
-- the drop index, a message naming several drops by the ledger's index: a day's 2,300 drops
-- are 2,300 short probes, never a scan of the photos or of the ledger.
WITH day AS (SELECT DISTINCT drop_number::text AS d FROM {reviews} WHERE review_date = %(day)s),
-- MATERIALIZED: the count is read twice below, and inlined it was counted twice per drop.
own AS MATERIALIZED (
    SELECT day.d, (SELECT count(*) FROM {photos} AS p WHERE p.drop_number = day.d) AS n
    FROM day
),
shared AS (
    SELECT DISTINCT l.chat_jid, l.message_id, string_to_array(l.drops, ' ') AS named
    FROM day JOIN {ledger} AS l ON string_to_array(l.drops, ' ') @> ARRAY[day.d]
    WHERE strpos(l.drops, ' ') > 0
),
more AS (
    SELECT other.d, count(*) AS n FROM shared
    CROSS JOIN LATERAL (
        SELECT p.drop_number FROM {photos} AS p
        WHERE p.drop_number = ANY(shared.named) AND p.chat_jid = shared.chat_jid
          AND p.round_message_id = shared.message_id
        OFFSET 0
    ) AS p
    CROSS JOIN LATERAL unnest(shared.named) AS other(d)
    WHERE other.d <> p.drop_number AND other.d IN (SELECT d FROM day)
    GROUP BY other.d
)
SELECT coalesce(sum(own.n + coalesce(more.n, 0)), 0)::bigint,
       count(*) FILTER (WHERE own.n + coalesce(more.n, 0) < 12)
FROM own LEFT JOIN more ON more.d = own.d;

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
