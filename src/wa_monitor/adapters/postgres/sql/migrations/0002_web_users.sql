-- Version 2: the dashboard. Its users and their failed logins live in the environment's own
-- schema (prod's in public, dev's in dev); two indexes let its pages stay fast on a big table.

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- ({{0,63}}: braces are doubled because the file is a psycopg.sql template)
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{{0,63}}$'),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role text NOT NULL CHECK (role IN ('viewer', 'reviewer')),
    password_hash text NOT NULL,
    -- Part of every session cookie: a new password or a disable bumps it, and every session
    -- signed before that stops working at its next request.
    session_epoch integer NOT NULL DEFAULT 0,
    disabled_at timestamptz,
    last_login_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Failed logins per (username, client address) in the current window; a success deletes the row.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_login_throttle (
    username text NOT NULL,
    client text NOT NULL,
    failures integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (username, client)
);

-- The review list's order, newest first, and the keyset its pages continue from.
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_sighted
    ON {schema}.qa_photo_reviews ((coalesce(whatsapp_message_date, created_at)), id);
-- The daily counts (daily.sql) by local day: a range of whatsapp_message_date.
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_whatsapp_message_date
    ON {schema}.qa_photo_reviews (whatsapp_message_date);
-- The monitor's newest applied message (the health figures, `wa-monitor status`).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_processed_at
    ON {schema}.wa_monitor_ledger (processed_at, sent_at);
-- A drop's history: the ledger entries of the messages that named it (drops is space-separated).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_drops
    ON {schema}.wa_monitor_ledger USING gin (string_to_array(drops, ' '));
