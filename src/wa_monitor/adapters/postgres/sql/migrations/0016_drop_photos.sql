-- Version 16: the drops' photos. The monitor records each photo or video message of a watched
-- group as it drains (wa_monitor_photos), and each drop message's sender and time
-- (wa_monitor_drop_posts), in the batch's transaction with the ledger; a photo's drop is the
-- nearest drop message of its sender (core/photos.py), kept up to date as later messages come.
-- The fetcher then downloads each photo through the bridge, checks it, and caches what is served.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_drop_posts (
    chat_jid text NOT NULL,
    message_id text NOT NULL,
    sender text NOT NULL,
    sent_at timestamptz NOT NULL,
    drop_number text NOT NULL,
    PRIMARY KEY (chat_jid, message_id)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_drop_posts_sender
    ON {schema}.wa_monitor_drop_posts (chat_jid, sender, sent_at);

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_photos (
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    chat_jid text NOT NULL,
    message_id text NOT NULL,
    bridge_rowid bigint NOT NULL,
    sender text NOT NULL,
    sent_at timestamptz NOT NULL,
    media_type text NOT NULL CHECK (media_type IN ('image', 'video')),
    filename text NOT NULL DEFAULT '',
    file_sha256 bytea,
    file_length bigint,
    caption_drop text,
    -- The drop it belongs to and the drop message (its round) that claimed it; NULL: none yet.
    drop_number text,
    round_message_id text,
    round_at timestamptz,
    -- Fetching: pending → fetched, or expired / mismatch / refused once final; 'retrying' while
    -- the bridge fails, next_attempt_at saying when to ask again.
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'retrying', 'fetched', 'expired', 'mismatch', 'refused')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    fetched_at timestamptz,
    content_key text,  -- the cache's name for the served copies (SHA-256 of the file)
    content_type text,
    width integer,
    height integer,
    taken_text text,  -- EXIF time and GPS position, kept as text (the served copies have none)
    place_text text,
    last_error text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_jid, message_id)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_sender
    ON {schema}.wa_monitor_photos (chat_jid, sender, sent_at);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_drop
    ON {schema}.wa_monitor_photos (drop_number, sent_at) WHERE drop_number IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_due
    ON {schema}.wa_monitor_photos (next_attempt_at) WHERE state IN ('pending', 'retrying');
