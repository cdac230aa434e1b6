-- Version 35: the photos no drop message claims yet wait as one unindexed row per batch. Every
-- photo of a watched group used to be a row of wa_monitor_photos with its four indexes, though
-- nearly none is a drop's (an agent posts in many groups, and chats): at 1M messages that was
-- half the server's work of the drain. A batch now records only the photos a drop message
-- claims; the others go, as one JSON array per batch with their first and last time, here,
-- where a later batch's drop message (up to photos_before later) finds them and records them
-- with their tie. The rows are the photo_rows shape (photos.sql, record_photos), the sender
-- resolved, the bots' left out.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_photos_waiting (
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    photos json NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_waiting_last
    ON {schema}.wa_monitor_photos_waiting (last_at);
-- Stored apart, not compressed: pglz gains little on random ids and took 4 times as long as the
-- row's insert (40 ms of a 1M drain's 76 ms batch statement).
ALTER TABLE {schema}.wa_monitor_photos_waiting ALTER COLUMN photos SET STORAGE EXTERNAL;
