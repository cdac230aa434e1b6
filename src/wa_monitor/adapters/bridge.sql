-- The bridge's SQLite queries (messages.db and whatsapp.db), loaded by adapters/sqlfiles.py.
-- Every value is a bound parameter. 262144 is MAX_MESSAGE_BYTES in bridge.py (4 bytes x
-- WhatsApp's 65,536 characters): no more of a message's content leaves SQLite; a test
-- checks that the two agree. Why each query is shaped as it is: the comments in bridge.py.

-- name: read
SELECT rowid, chat_jid, typeof(id), CAST(id AS BLOB), sender, CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT), timestamp, coalesce(is_from_me, 0),
       media_type, filename, file_sha256, file_length FROM messages
WHERE rowid > ? AND rowid <= ?
  AND chat_jid IN (SELECT value FROM json_each(?))
  AND (content IS NOT NULL
        AND ((content LIKE '%dr%'
              AND (CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT) GLOB '*[Dd][Rr][0-9][0-9][0-9][0-9][0-9][0-9]*'
                   OR CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT) GLOB '*[Dd][Rr] [0-9][0-9][0-9][0-9][0-9][0-9]*'))
             OR typeof(content) <> 'text' OR instr(content, char(0)) > 0))
ORDER BY rowid;

-- name: read_heads
SELECT rowid, chat_jid, kind, raw, sender, head, timestamp, from_me,
       media_type, filename, file_sha256, file_length FROM (
    SELECT rowid, chat_jid, typeof(id) AS kind, CAST(id AS BLOB) AS raw, sender,
           CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT) AS head, typeof(content) AS content_type, timestamp,
           coalesce(is_from_me, 0) AS from_me, media_type, filename, file_sha256, file_length
    FROM messages
    WHERE rowid > ? AND rowid <= ?
      AND chat_jid IN (SELECT value FROM json_each(?))
    ORDER BY rowid LIMIT -1)
WHERE (content_type <> 'null'
       AND ((head LIKE '%dr%'
             AND (head GLOB '*[Dd][Rr][0-9][0-9][0-9][0-9][0-9][0-9]*'
                  OR head GLOB '*[Dd][Rr] [0-9][0-9][0-9][0-9][0-9][0-9]*'))
            OR content_type <> 'text' OR instr(head, char(0)) > 0))
ORDER BY rowid;

-- name: photo_rows
-- With photos on, in the same read transaction: the image and video rows of read's span that
-- read did not give (:taken, the rowids it gave). The plain ones come as one JSON array of
-- {c: chat, i: id, r: rowid, s: sender, t: time, m: type, f: file name, h: SHA-256 hex,
-- n: length} (objects: PostgreSQL's json_to_recordset reads each field once), which the daemon
-- passes to PostgreSQL as it is, with their (chat, sender, count)s, their first and last time
-- (Unix seconds) and how many; the others as the JSON array of their rowids, which by_rowid
-- then reads as read does. Plain: an id of ASCII letters and digits, a sender of digits (a
-- JID's user part), the bridge's own time shape with a real date, an offset PostgreSQL takes,
-- not before 2009 nor after :late (the newest time a row may have unflawed, less a second, in
-- UTC; :early, a day before it, is a text comparison that needs no parsing), not the bridge's
-- own account, no caption that can name a drop, a printable ASCII file name. Anything else,
-- a NULL in the test included, is read as a row.
WITH p AS MATERIALIZED (
    SELECT rowid AS r, chat_jid AS c, id, sender, timestamp AS t, media_type, filename,
           file_sha256, file_length,
           coalesce(
           (typeof(id) = 'text' AND id <> '' AND id NOT GLOB '*[^0-9A-Za-z]*' AND instr(id, char(0)) = 0
            AND typeof(sender) = 'text' AND sender GLOB '[0-9]*' AND instr(sender, char(0)) = 0
            AND sender NOT GLOB '*[^ -~]*'
            AND substr(sender, 1, instr(sender || '@', '@') - 1) NOT GLOB '*[^0-9]*'
            AND typeof(timestamp) = 'text'
            AND timestamp GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9][+-][0-2][0-9]:[0-5][0-9]'
            AND substr(timestamp, 6, 2) BETWEEN '01' AND '12' AND substr(timestamp, 12, 2) < '24'
            AND substr(timestamp, 21, 2) < '15' AND substr(timestamp, 15, 1) < '6'
            AND substr(timestamp, 18, 1) < '6' AND timestamp >= '2009-01-03'
            AND (substr(timestamp, 9, 2) BETWEEN '01' AND '28'
                 OR strftime('%Y-%m-%d', julianday(substr(timestamp, 1, 10))) = substr(timestamp, 1, 10))
            AND (timestamp < :early OR julianday(timestamp) <= julianday(:late))
            AND (is_from_me IS NULL OR is_from_me IS 0)
            AND (content IS NULL OR (typeof(content) = 'text' AND instr(content, char(0)) = 0
                                     AND content NOT LIKE '%dr%'))
            AND (filename IS NULL OR (typeof(filename) = 'text' AND instr(filename, char(0)) = 0
                                      AND filename NOT GLOB '*[^ -~]*'))), 0) AS plain
    FROM messages
    WHERE rowid > :lo AND rowid <= :hi
      AND chat_jid IN (SELECT value FROM json_each(:groups))
      AND media_type IS NOT NULL AND media_type IN ('image', 'video')
      AND rowid NOT IN (SELECT value FROM json_each(:taken))
    ORDER BY rowid),
q AS MATERIALIZED (
    SELECT r, c, id, substr(sender, 1, instr(sender || '@', '@') - 1) AS s, t, media_type,
           coalesce(substr(filename, 1, 255), '') AS f,
           CASE WHEN typeof(file_sha256) = 'blob' AND length(file_sha256) = 32
                THEN hex(file_sha256) END AS sha,
           CASE WHEN typeof(file_length) = 'integer' AND file_length >= 0
                THEN file_length END AS n,
           CAST(strftime('%s', t) AS INTEGER) AS unix
    FROM p WHERE plain ORDER BY r)
SELECT (SELECT json_group_array(json_object('c', c, 'i', id, 'r', r, 's', s, 't', t,
                                           'm', media_type, 'f', f, 'h', sha, 'n', n))
        FROM q),
       (SELECT json_group_array(json_array(c, s, k))
        FROM (SELECT c, s, count(*) AS k FROM q GROUP BY c, s)),
       (SELECT min(unix) FROM q), (SELECT max(unix) FROM q), (SELECT count(*) FROM q),
       (SELECT json_group_array(r) FROM p WHERE NOT plain);

-- name: by_rowid
-- The photo rows photo_rows did not hand over whole, as read gives rows.
SELECT rowid, chat_jid, typeof(id), CAST(id AS BLOB), sender, CAST(substr(CAST(content AS BLOB), 1, 262144) AS TEXT), timestamp, coalesce(is_from_me, 0),
       media_type, filename, file_sha256, file_length FROM messages
WHERE rowid IN (SELECT value FROM json_each(?))
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
