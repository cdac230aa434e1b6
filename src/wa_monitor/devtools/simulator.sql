-- The bridge's stand-in (devtools/simulator.py): the schema the bridge (whatsmeow +
-- mattn/go-sqlite3) creates in messages.db, verbatim, whatsmeow's LID map in whatsapp.db, and
-- the bridge's own writes. Loaded by adapters/sqlfiles.py.

-- name: bridge_ddl
CREATE TABLE IF NOT EXISTS chats (
    jid TEXT PRIMARY KEY,
    name TEXT,
    last_message_time TIMESTAMP
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT,
    chat_jid TEXT,
    sender TEXT,
    content TEXT,
    timestamp TIMESTAMP,
    is_from_me BOOLEAN,
    media_type TEXT,
    filename TEXT,
    url TEXT,
    media_key BLOB,
    file_sha256 BLOB,
    file_enc_sha256 BLOB,
    file_length INTEGER,
    PRIMARY KEY (id, chat_jid),
    FOREIGN KEY (chat_jid) REFERENCES chats(jid)
);

-- name: lid_map_ddl
CREATE TABLE IF NOT EXISTS whatsmeow_lid_map (
    lid TEXT PRIMARY KEY,
    pn  TEXT UNIQUE NOT NULL
);

-- name: chat
INSERT OR REPLACE INTO chats (jid, name) VALUES (?, ?);

-- name: chat_of_post
INSERT OR IGNORE INTO chats (jid, name, last_message_time) VALUES (?, NULL, ?);

-- name: post
INSERT OR REPLACE INTO messages (id, chat_jid, sender, content, timestamp, is_from_me,
    media_type, filename, url, media_key, file_sha256, file_enc_sha256, file_length)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: media_row
-- What the bridge's /api/download reads of a message (its own query).
SELECT media_type, filename, url, media_key, file_sha256, file_enc_sha256, file_length
FROM messages WHERE id = ? AND chat_jid = ?;

-- name: lid
INSERT OR REPLACE INTO whatsmeow_lid_map (lid, pn) VALUES (?, ?);

-- name: last_rowid
SELECT max(rowid) FROM messages;
