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

-- The valid drops of each project's plan (imported with `wa-monitor drops import`). Keyed by
-- project and drop: one drop may be in several projects' plans.
CREATE TABLE IF NOT EXISTS {schema}.valid_drops (
    project varchar(100) NOT NULL,
    drop_number varchar(50) NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, drop_number)
);

-- A drop posted in a validating project's group that is not in that project's list: one row per
-- message and drop, written in the transaction that applies the message.
CREATE TABLE IF NOT EXISTS {schema}.invalid_drop_submissions (
    chat_jid text NOT NULL,
    message_id text NOT NULL,
    drop_number varchar(50) NOT NULL,
    project varchar(100) NOT NULL,
    submitted_by varchar(50),
    user_name varchar(255),
    whatsapp_message_date timestamptz NOT NULL,
    reason text NOT NULL,
    action text NOT NULL CHECK (action IN ('reject', 'flag')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_jid, message_id, drop_number)
);
CREATE INDEX IF NOT EXISTS idx_invalid_drop_submissions_message_date
    ON {schema}.invalid_drop_submissions (whatsapp_message_date);

-- A review created in "flag" mode for a drop that is not in its project's plan.
ALTER TABLE {schema}.qa_photo_reviews
    ADD COLUMN IF NOT EXISTS drop_not_in_plan boolean NOT NULL DEFAULT false;

-- Replies to the groups, written in the batch's transaction and posted after COMMIT by the
-- daemon's sender. state: pending → sending (claimed, committed before the HTTP call) → sent;
-- expired (the message was older than the reply window); unknown (the bridge may or may not
-- have posted it: never sent again without an operator); blocked (a group this environment may
-- not reply in).
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind text NOT NULL CHECK (kind IN ('invalid_drop', 'received', 'resubmission')),
    chat_jid text NOT NULL,
    message_id text NOT NULL,
    drop_number varchar(50) NOT NULL,
    project varchar(100) NOT NULL,
    text text NOT NULL,
    message_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'sent', 'expired', 'unknown', 'blocked')),
    attempts integer NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz,
    done_at timestamptz,
    detail text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, chat_jid, message_id, drop_number)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_outbox_waiting
    ON {schema}.wa_monitor_outbox (created_at) WHERE state IN ('pending', 'sending');
-- The per-group rate limit's look-up; rows never claimed (most, after a backlog) stay out of it.
CREATE INDEX IF NOT EXISTS idx_wa_monitor_outbox_chat_claimed
    ON {schema}.wa_monitor_outbox (chat_jid, claimed_at) WHERE claimed_at IS NOT NULL;
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

-- Liveness and alerts. The cursor's read_at is when the monitor last read the bridge: saved
-- with every batch, and at most once a minute while it is idle (a heartbeat that costs one
-- UPDATE a minute). wa_monitor_alerts holds the incidents `wa-monitor alerts check` announced,
-- so a restart neither announces one again nor forgets to announce its recovery.
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS read_at timestamptz;

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_alerts (
    kind text PRIMARY KEY,
    detail text NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    -- the channels (whatsapp, email) that carried the incident's message, then its recovery's
    opened_via text[] NOT NULL DEFAULT ARRAY[]::text[],
    resolved_at timestamptz,
    resolved_via text[] NOT NULL DEFAULT ARRAY[]::text[]
);
