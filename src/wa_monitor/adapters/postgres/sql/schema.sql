-- The whole schema of one environment at the current version. {schema} is composed with
-- psycopg.sql.Identifier; a test proves that the migrations in migrations/ produce exactly this.

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {schema}.qa_photo_reviews (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    drop_number varchar(50) NOT NULL,
    review_date date NOT NULL,
    project varchar(100),
    user_name varchar(255),
    submitted_by varchar(50),
    whatsapp_message_date timestamptz,
    last_submitted_at timestamptz,
    step_01_house_photo boolean NOT NULL DEFAULT false,
    step_02_cable_from_pole boolean NOT NULL DEFAULT false,
    step_03_cable_entry_outside boolean NOT NULL DEFAULT false,
    step_04_cable_entry_inside boolean NOT NULL DEFAULT false,
    step_05_wall_for_installation boolean NOT NULL DEFAULT false,
    step_06_ont_back_after_install boolean NOT NULL DEFAULT false,
    step_07_power_meter_reading boolean NOT NULL DEFAULT false,
    step_08_ont_barcode boolean NOT NULL DEFAULT false,
    step_09_ups_serial boolean NOT NULL DEFAULT false,
    step_10_final_installation boolean NOT NULL DEFAULT false,
    step_11_green_lights boolean NOT NULL DEFAULT false,
    step_12_customer_signature boolean NOT NULL DEFAULT false,
    completed boolean NOT NULL DEFAULT false,
    incomplete boolean NOT NULL DEFAULT false,
    resubmitted boolean NOT NULL DEFAULT false,
    feedback_sent timestamptz,
    comment text,
    completed_photos integer NOT NULL DEFAULT 0,
    outstanding_photos integer NOT NULL DEFAULT 12,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT qa_photo_reviews_drop_number_review_date_key UNIQUE (drop_number, review_date)
);

CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_review_date
    ON {schema}.qa_photo_reviews (review_date);
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_drop_number
    ON {schema}.qa_photo_reviews (drop_number);
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_user_name
    ON {schema}.qa_photo_reviews (user_name);

-- Every bridge message that named a drop and was applied, keyed as the bridge keys it. Written in
-- the same transaction as the reviews it changed: a replayed message finds itself here.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_ledger (
    chat_jid text NOT NULL,
    message_id text NOT NULL,
    bridge_rowid bigint NOT NULL,
    drops text NOT NULL,
    sent_at timestamptz NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_jid, message_id)
);

-- Where reading the bridge resumes: one row, saved with each batch's writes.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_cursor (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    bridge_rowid bigint NOT NULL,
    anchor_chat_jid text,
    anchor_message_id text,
    bridge_file text NOT NULL,
    -- The groups read up to bridge_rowid: a group enabled later is read again from the start.
    groups text[] NOT NULL DEFAULT ARRAY[]::text[],
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What the SharePoint sync wrote, one row per sheet row written (production's sync only).
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_sync_writes (
    day date NOT NULL,
    project text NOT NULL,
    drops integer NOT NULL CHECK (drops >= 0),
    previous integer,  -- the count the row held before; NULL when the row was appended
    action text NOT NULL CHECK (action IN ('update', 'append')),
    target_kind text NOT NULL CHECK (target_kind IN ('sharepoint', 'xlsx', 'csv')),
    target text NOT NULL,  -- drive, item and worksheet; or the file's path
    sheet_row integer NOT NULL CHECK (sheet_row > 0),
    written_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_wa_monitor_sync_writes_day
    ON {schema}.wa_monitor_sync_writes (day, project);

-- Rows processed with something put in place of what they hold (an unreadable or implausible
-- time, an id that is not plain text), and messages the database refused (skipped): where and
-- why. Written with the batch's ledger entries.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_flawed_rows (
    chat_jid text NOT NULL,
    message_id text NOT NULL,  -- as in the ledger: the id, or its typed hex ("text:41ff")
    bridge_rowid bigint NOT NULL,
    flaw text NOT NULL,  -- unreadable_time, future_time, ancient_time, raw_id, refused
    bridge_time text,  -- what the bridge stored as the time, NUL-free, at most 80 characters
    detail text,  -- for a refused message: what the database said
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_jid, message_id, flaw)
);

-- A digest of the anchor row's time and sender: the file rewritten in place is read again.
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS anchor_fingerprint text;

-- The instance election: a running monitor holds this (empty) table locked in EXCLUSIVE mode,
-- which needs UPDATE on it, for as long as it runs. Only the environment's own role (or an
-- owner) can take that lock or one that conflicts with it, so no other role can make production
-- stand by. A table lock, not a row lock: it takes no transaction id, so the transaction left
-- open for it holds back no VACUUM.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_instance (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton)
);
