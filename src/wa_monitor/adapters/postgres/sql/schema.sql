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

-- The dashboard (version 2): its users, their failed logins, and the indexes its pages read by.
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
-- The reviewers' queue: only the reviews awaiting a verdict, in the same order.
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_awaiting
    ON {schema}.qa_photo_reviews ((coalesce(whatsapp_message_date, created_at)), id)
    INCLUDE (project, whatsapp_message_date, created_at)
    WHERE NOT completed AND NOT incomplete;
-- The daily counts (daily.sql) by local day: a range of whatsapp_message_date.
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_whatsapp_message_date
    ON {schema}.qa_photo_reviews (whatsapp_message_date);
-- The monitor's newest applied message (the health figures, `wa-monitor status`).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_processed_at
    ON {schema}.wa_monitor_ledger (processed_at, sent_at);
-- A drop's history: the ledger entries of the messages that named it (drops is space-separated).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_drops
    ON {schema}.wa_monitor_ledger USING gin (string_to_array(drops, ' '));

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

-- Version 3: the review workflow. A reviewer's verdict (which steps are wrong and why, who
-- reviewed and when), a version every writer bumps so a save that did not see the last change
-- is refused, the trail of changes, and each feedback message sent through the bridge.

-- wrong_steps: the wrong steps' reasons, a JSON object keyed by step column (for example
-- step_03_cable_entry_outside: "cable not clipped"); a step is passed (its boolean), wrong (a
-- key here) or missing.
ALTER TABLE {schema}.qa_photo_reviews
    ADD COLUMN IF NOT EXISTS wrong_steps jsonb NOT NULL DEFAULT '{{}}'::jsonb;
ALTER TABLE {schema}.qa_photo_reviews ADD COLUMN IF NOT EXISTS reviewed_by varchar(255);
ALTER TABLE {schema}.qa_photo_reviews ADD COLUMN IF NOT EXISTS reviewed_at timestamptz;
-- Bumped by every UPDATE of a review (a reviewer's save, a feedback stamp, the monitor's
-- resubmission): a save carries the version its page showed and is refused if it moved.
ALTER TABLE {schema}.qa_photo_reviews
    ADD COLUMN IF NOT EXISTS version integer NOT NULL DEFAULT 1;

-- Who changed a review, when, and what: a JSON object of field to its "from" and "to".
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_review_changes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    review_id uuid NOT NULL REFERENCES {schema}.qa_photo_reviews (id) ON DELETE CASCADE,
    version integer NOT NULL,  -- the review's version this change made
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changes jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_review_changes_review
    ON {schema}.wa_monitor_review_changes (review_id, id);

-- Each feedback message: claimed (committed) before the bridge is called, then its outcome.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_feedback_sends (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    review_id uuid NOT NULL REFERENCES {schema}.qa_photo_reviews (id) ON DELETE CASCADE,
    review_version integer NOT NULL,  -- the verdict's version the message was composed from
    sent_by text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    recipient text NOT NULL,
    message text NOT NULL,
    state text NOT NULL DEFAULT 'claimed'
        CHECK (state IN ('claimed', 'sent', 'refused', 'down', 'unknown')),
    bridge_status integer,
    bridge_answer text,
    -- An unknown outcome a reviewer looked into: 'posted' (seen in the group) or 'not_posted'.
    resolved_by text,
    resolved_at timestamptz,
    resolution text CHECK (resolution IN ('posted', 'not_posted'))
);
-- One message per saved verdict: a second claim (a double click, a browser retry, another
-- reviewer) conflicts while a send is in flight, went out, or may have gone out. Refused and
-- down sends never reached WhatsApp and do not block a new try.
CREATE UNIQUE INDEX IF NOT EXISTS idx_wa_monitor_feedback_sends_once
    ON {schema}.wa_monitor_feedback_sends (review_id, review_version)
    WHERE state IN ('claimed', 'sent')
       OR (state = 'unknown' AND resolution IS DISTINCT FROM 'not_posted');

-- The SharePoint sync's lock: a sync holds this (empty) table locked in EXCLUSIVE mode while it
-- runs, which needs UPDATE on it: no role of another environment can take it.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_sync_lock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton)
);

-- Version 10: the bot speaks rarely and in order, and every message it posts is claimed before
-- it goes out.
-- * The outbox keeps who wrote the message a reply answers (its sender's phone), so replies can
--   be capped per sender as well as per group; a reply over a cap is 'held': recorded, never
--   posted. Rows written before this version have no sender and count for their group alone.
-- * An alert is claimed on a channel (opening / recovering) in one short transaction, posted
--   outside it, then settled: a check never holds the alerts lock across an HTTP or SMTP call.
ALTER TABLE {schema}.wa_monitor_outbox ADD COLUMN IF NOT EXISTS sender text;
ALTER TABLE {schema}.wa_monitor_outbox DROP CONSTRAINT IF EXISTS wa_monitor_outbox_state_check;
ALTER TABLE {schema}.wa_monitor_outbox ADD CONSTRAINT wa_monitor_outbox_state_check
    CHECK (state IN ('pending', 'sending', 'sent', 'expired', 'unknown', 'blocked', 'held'));
CREATE INDEX IF NOT EXISTS idx_wa_monitor_outbox_sender_claimed
    ON {schema}.wa_monitor_outbox (sender, claimed_at) WHERE claimed_at IS NOT NULL;

ALTER TABLE {schema}.wa_monitor_alerts
    ADD COLUMN IF NOT EXISTS opening text[] NOT NULL DEFAULT ARRAY[]::text[],
    ADD COLUMN IF NOT EXISTS recovering text[] NOT NULL DEFAULT ARRAY[]::text[],
    ADD COLUMN IF NOT EXISTS claimed_at timestamptz;

-- A login notes itself through this function, the one way the dashboard's role changes a user:
-- last_login_at, and password_hash only in place of the hash the login just checked and only
-- with an argon2id hash (a rehash after the hasher's parameters changed), never for a disabled
-- user. Executable by the web roles `schema grant --service web` names, not by PUBLIC.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_logged_in(user_id bigint, checked_hash text,
                                                         new_hash text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
    UPDATE {schema}.wa_monitor_users
    SET last_login_at = now(),
        password_hash = CASE
            WHEN new_hash LIKE '$argon2id$%' AND password_hash = checked_hash THEN new_hash
            ELSE password_hash
        END
    WHERE id = user_id AND disabled_at IS NULL;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_logged_in(bigint, text, text) FROM PUBLIC;

-- Who has a review open right now: a mark a reviewer's page writes and renews while it is open;
-- older than two minutes it means nothing (reads ignore it, writes delete it). It never blocks.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_review_presence (
    review_id uuid NOT NULL,
    username text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (review_id, username)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_review_presence_seen
    ON {schema}.wa_monitor_review_presence (seen_at);

-- Version 15: a logout ends the session on the server, and a reviewer corrects a mistyped
-- drop number; both through narrow functions the web roles may execute (not PUBLIC).
-- A logout ends the session on the server: the user's session epoch moves on, so the cookie
-- the browser held (or anyone copied) is refused at its next request. Only the epoch the
-- logging-out session carried: a stale cookie cannot log a newer session out.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_logged_out(user_id bigint, epoch integer)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
    UPDATE {schema}.wa_monitor_users
    SET session_epoch = session_epoch + 1, updated_at = now()
    WHERE id = user_id AND session_epoch = epoch;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_logged_out(bigint, integer) FROM PUBLIC;

-- A reviewer corrects a review's drop number: only drop_number (and the version, updated_at),
-- only from the version the page showed, only to a well-formed number (DR and 6-8 digits), in
-- the project's plan when `planned` asks for it, never onto a drop that already has a review
-- that day, and always with a reason and a row in the change trail holding the old number.
-- The outcome: 'corrected' (with the new version), 'missing', 'changed' (the version moved on),
-- 'same', 'malformed', 'no_reason', 'unplanned', or 'taken' (with the other review's id).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_correct_drop(
    review uuid, seen_version integer, new_drop text, reason text, by_name text,
    planned boolean, OUT outcome text, OUT other uuid, OUT new_version integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    target record;
BEGIN
    SELECT id, drop_number, review_date, project, version INTO target
    FROM {schema}.qa_photo_reviews WHERE id = review FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'missing';
        RETURN;
    END IF;
    IF target.version <> seen_version THEN
        outcome := 'changed';
        RETURN;
    END IF;
    IF new_drop IS NULL OR new_drop !~ '^DR[0-9]+$' OR length(new_drop) NOT BETWEEN 8 AND 10 THEN
        outcome := 'malformed';
        RETURN;
    END IF;
    IF new_drop = target.drop_number THEN
        outcome := 'same';
        RETURN;
    END IF;
    IF reason IS NULL OR btrim(reason) = '' OR length(reason) > 300 OR by_name IS NULL THEN
        outcome := 'no_reason';
        RETURN;
    END IF;
    IF planned AND NOT EXISTS (SELECT 1 FROM {schema}.valid_drops v
                               WHERE v.project = target.project AND v.drop_number = new_drop) THEN
        outcome := 'unplanned';
        RETURN;
    END IF;
    SELECT r.id INTO other FROM {schema}.qa_photo_reviews r
    WHERE r.drop_number = new_drop AND r.review_date = target.review_date;
    IF FOUND THEN
        outcome := 'taken';
        RETURN;
    END IF;
    UPDATE {schema}.qa_photo_reviews
    SET drop_number = new_drop, updated_at = now(), version = version + 1
    WHERE id = review
    RETURNING version INTO new_version;
    INSERT INTO {schema}.wa_monitor_review_changes (review_id, version, changed_by, changes)
    VALUES (review, new_version, by_name,
            jsonb_build_object('drop_number',
                               jsonb_build_object('from', target.drop_number, 'to', new_drop),
                               'reason', btrim(reason)));
    outcome := 'corrected';
END
$body$;
REVOKE ALL ON FUNCTION
    {schema}.wa_monitor_correct_drop(uuid, integer, text, text, text, boolean) FROM PUBLIC;

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

-- Version 21: several bridges per environment (migrations/0021_bridges.sql).
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS bridge text NOT NULL DEFAULT 'main';
ALTER TABLE {schema}.wa_monitor_cursor DROP COLUMN IF EXISTS singleton;
ALTER TABLE {schema}.wa_monitor_cursor ADD PRIMARY KEY (bridge);
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS newest_at timestamptz;
-- The election, per bridge: the monitor reading a bridge holds the instance table in ROW
-- EXCLUSIVE mode on its election connection for as long as it runs (needs a write privilege on
-- the environment's own table: no other role can take it or block it) and writes that
-- connection's pid and start here, under a short SHARE UPDATE EXCLUSIVE lock of the same table
-- that orders the elections. A holder whose session is gone, or holds the table no more, has
-- lost the bridge.
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS holder_pid integer;
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS holder_started timestamptz;

-- The ledger still keys a message by chat and message id, whichever bridge delivered it: a
-- message seen by two bridges is applied once. It now also keeps the bridge that delivered it
-- first, and what the review rules need to fold a drop's messages again in their own time
-- order when one arrives late (history synced by a bridge that was down): its project, its
-- sender's number and name, and whether it said "done"/"fixed". NULL on rows written before
-- version 21.
ALTER TABLE {schema}.wa_monitor_ledger ADD COLUMN IF NOT EXISTS bridge text;
ALTER TABLE {schema}.wa_monitor_ledger ADD COLUMN IF NOT EXISTS project text;
ALTER TABLE {schema}.wa_monitor_ledger ADD COLUMN IF NOT EXISTS sender text;
ALTER TABLE {schema}.wa_monitor_ledger ADD COLUMN IF NOT EXISTS user_name text;
ALTER TABLE {schema}.wa_monitor_ledger ADD COLUMN IF NOT EXISTS resubmit boolean;
