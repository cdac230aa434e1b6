-- The bridge's SQLite queries (messages.db and whatsapp.db), loaded by adapters/sqlfiles.py.
-- Every value is a bound parameter. 262144 is MAX_MESSAGE_BYTES in bridge.py (4 bytes x
-- WhatsApp's 65,536 characters): no more of a message's content leaves SQLite; a test
-- checks that the two agree. Why each query is shaped as it is: the comments in bridge.py.

-- name: read
-- The last parameter is 1 when photos are on: image and video rows come out too, whatever
-- their content (the cheap test first: most rows have no media_type).
SELECT rowid, chat_jid, typeof(id), CAST(id AS BLOB), sender, CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT), timestamp, coalesce(is_from_me, 0),
       media_type, filename, file_sha256, file_length FROM messages
WHERE rowid > ? AND rowid <= ?
  AND chat_jid IN (SELECT value FROM json_each(?))
  AND ((content IS NOT NULL
        AND ((content LIKE '%dr%'
              AND (CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT) GLOB '*[Dd][Rr][0-9][0-9][0-9][0-9][0-9][0-9]*'
                   OR CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT) GLOB '*[Dd][Rr] [0-9][0-9][0-9][0-9][0-9][0-9]*'))
             OR typeof(content) <> 'text' OR instr(content, char(0)) > 0))
       OR (? AND media_type IS NOT NULL AND media_type IN ('image', 'video')))
ORDER BY rowid;

-- name: read_heads
SELECT rowid, chat_jid, kind, raw, sender, head, timestamp, from_me,
       media_type, filename, file_sha256, file_length FROM (
    SELECT rowid, chat_jid, typeof(id) AS kind, CAST(id AS BLOB) AS raw, sender,
           CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT) AS head, typeof(content) AS content_type, timestamp,
           coalesce(is_from_me, 0) AS from_me, media_type, filename, file_sha256, file_length,
           (? AND media_type IS NOT NULL AND media_type IN ('image', 'video')) AS photo
    FROM messages
    WHERE rowid > ? AND rowid <= ?
      AND chat_jid IN (SELECT value FROM json_each(?))
    ORDER BY rowid LIMIT -1)
WHERE (content_type <> 'null'
       AND ((head LIKE '%dr%'
             AND (head GLOB '*[Dd][Rr][0-9][0-9][0-9][0-9][0-9][0-9]*'
                  OR head GLOB '*[Dd][Rr] [0-9][0-9][0-9][0-9][0-9][0-9]*'))
            OR content_type <> 'text' OR instr(head, char(0)) > 0))
   OR photo
ORDER BY rowid;

-- name: max_rowid
SELECT max(rowid) FROM messages;

-- name: next_rowid
SELECT min(rowid) FROM messages WHERE rowid > ?;

-- name: take_lock
SELECT 1 FROM sqlite_master LIMIT 1;

-- name: anchor_at
SELECT rowid, typeof(chat_jid), CAST(chat_jid AS BLOB), typeof(id), CAST(id AS BLOB),
       CAST(timestamp AS BLOB), CAST(sender AS BLOB)
FROM messages WHERE rowid <= ? ORDER BY rowid DESC LIMIT 1;

-- name: find
SELECT rowid, CAST(timestamp AS BLOB), CAST(sender AS BLOB) FROM messages
WHERE id IS (CASE ?2 WHEN 'blob' THEN ?1 WHEN 'null' THEN NULL ELSE CAST(?1 AS TEXT) END)
  AND chat_jid IS (CASE ?4 WHEN 'blob' THEN ?3 WHEN 'null' THEN NULL ELSE CAST(?3 AS TEXT) END);

-- name: at_rowid
SELECT 1 FROM messages WHERE rowid = ?;

-- name: by_key
SELECT m.rowid, m.chat_jid, typeof(m.id), CAST(m.id AS BLOB), m.sender, CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT), m.timestamp, coalesce(m.is_from_me, 0),
       m.media_type, m.filename, m.file_sha256, m.file_length
FROM json_each(?) AS k
JOIN messages AS m
  ON m.id = json_extract(k.value, '$[1]') AND m.chat_jid = json_extract(k.value, '$[0]');

-- name: names
SELECT jid, name FROM chats WHERE jid IN (SELECT value FROM json_each(?));

-- name: lids
SELECT lid, pn FROM whatsmeow_lid_map WHERE lid IN (SELECT value FROM json_each(?));

-- name: count_pending
SELECT count(*) FROM messages
WHERE rowid > ? AND chat_jid IN (SELECT value FROM json_each(?));

-- name: newest_time
SELECT timestamp FROM messages WHERE rowid = (SELECT max(rowid) FROM messages);

-- name: known_groups
SELECT jid FROM chats WHERE jid IN (SELECT value FROM json_each(?));

-- name: lid_count
SELECT count(*) FROM whatsmeow_lid_map;

-- name: table_columns
SELECT name FROM pragma_table_info(?);

-- name: bot_posts
-- The bot's own messages with exactly this text in this chat (replies.py: proof of a post).
SELECT timestamp FROM messages WHERE chat_jid = ? AND content = ? AND is_from_me;
