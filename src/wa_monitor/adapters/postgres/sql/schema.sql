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
-- The review list's "feedback pending" filter, with "resubmitted" or without (0033).
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_feedback_pending
    ON {schema}.qa_photo_reviews (resubmitted, (coalesce(whatsapp_message_date, created_at)), id)
    WHERE (completed OR incomplete) AND feedback_sent IS NULL;
-- The daily counts (daily.sql) by local day: a range of whatsapp_message_date.
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_whatsapp_message_date
    ON {schema}.qa_photo_reviews (whatsapp_message_date);
-- The monitor's newest applied message (the health figures, `wa-monitor status`).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_processed_at
    ON {schema}.wa_monitor_ledger (processed_at, sent_at);
-- A drop's history: the ledger entries of the messages that named it (drops is space-separated).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_drops
    ON {schema}.wa_monitor_ledger USING gin (string_to_array(drops, ' '));
-- The messages that named several drops (whose photos each of them shares): the photo counts'
-- probe per drop, in an index that holds only those few (0032).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_shared_drops
    ON {schema}.wa_monitor_ledger USING gin (string_to_array(drops, ' '))
    WHERE strpos(drops, ' ') > 0;

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

-- Version 17: drop messages skipped for their sender (a bot number, the bridge's own account),
-- one row per message, so that `status` counts them and names the senders.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_skipped (
    chat_jid text NOT NULL,
    message_id text NOT NULL,
    sender text NOT NULL,
    reason text NOT NULL CHECK (reason IN ('bot_sender', 'own_account')),
    sent_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_jid, message_id)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_skipped_sent
    ON {schema}.wa_monitor_skipped (sent_at);

-- Version 18: the monitor's note in its own column (the dashboard's roles may not update it);
-- `comment` is the reviewer's alone.
ALTER TABLE {schema}.qa_photo_reviews ADD COLUMN IF NOT EXISTS monitor_note text;

-- Version 19: the per-day summary. One row per local day (of the review's sighting:
-- whatsapp_message_date, else created_at, in the zone kept beside it) x project x agent's phone,
-- with the counts the overview, the Quality page and the SharePoint totals read, so that none
-- of them scans a month of reviews (the queue's counts have their own partial index, 0014). It is kept by triggers on the reviews and their
-- change trail, in the transaction of the write they summarize: the monitor's batch (one
-- statement-level trigger run per INSERT or UPDATE, over the statement's transition table), a
-- reviewer's verdict and feedback stamp, a drop-number correction, `schema copy-from-prod`, or
-- psql. A batch that rolls back takes its counts with it: exact, and never counted twice. The
-- functions are SECURITY DEFINER (fixed search_path), so no service's role needs a right on it
-- beyond reading it; and without JIT (the transition tables have no statistics: a batch's
-- 20,000 rows are costed as millions, and compiling the plan took 1-2 s where running it takes
-- milliseconds). wa_monitor_daily_rebuild(zone) recomputes it from the tables.
--
-- A review's part: drops 1 on its key; `dated` 1 when it has a whatsapp_message_date (the daily
-- totals count those); completed / incomplete / awaiting (neither) / feedback_sent /
-- resubmitted as the review is now; and from its first verdict (the first trail entry naming a
-- step, the comment or "saved"; sql/quality.sql) reviewed 1, passed_first 1 when all 12 passed,
-- and per step mNN 1 when the step was missing, wNN 1 when wrong. `name` is the user_name of
-- the key's latest sighting (name_at), kept as writes come (a rebuild makes it exact again).
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily (
    day date NOT NULL,
    project text NOT NULL,  -- '' when the review has none
    phone text NOT NULL,  -- submitted_by, '' when none
    drops integer NOT NULL DEFAULT 0,
    dated integer NOT NULL DEFAULT 0,
    completed integer NOT NULL DEFAULT 0,
    incomplete integer NOT NULL DEFAULT 0,
    awaiting integer NOT NULL DEFAULT 0,
    feedback_sent integer NOT NULL DEFAULT 0,
    resubmitted integer NOT NULL DEFAULT 0,
    reviewed integer NOT NULL DEFAULT 0,
    passed_first integer NOT NULL DEFAULT 0,
    m01 integer NOT NULL DEFAULT 0, m02 integer NOT NULL DEFAULT 0,
    m03 integer NOT NULL DEFAULT 0, m04 integer NOT NULL DEFAULT 0,
    m05 integer NOT NULL DEFAULT 0, m06 integer NOT NULL DEFAULT 0,
    m07 integer NOT NULL DEFAULT 0, m08 integer NOT NULL DEFAULT 0,
    m09 integer NOT NULL DEFAULT 0, m10 integer NOT NULL DEFAULT 0,
    m11 integer NOT NULL DEFAULT 0, m12 integer NOT NULL DEFAULT 0,
    w01 integer NOT NULL DEFAULT 0, w02 integer NOT NULL DEFAULT 0,
    w03 integer NOT NULL DEFAULT 0, w04 integer NOT NULL DEFAULT 0,
    w05 integer NOT NULL DEFAULT 0, w06 integer NOT NULL DEFAULT 0,
    w07 integer NOT NULL DEFAULT 0, w08 integer NOT NULL DEFAULT 0,
    w09 integer NOT NULL DEFAULT 0, w10 integer NOT NULL DEFAULT 0,
    w11 integer NOT NULL DEFAULT 0, w12 integer NOT NULL DEFAULT 0,
    name text,
    name_at timestamptz,
    PRIMARY KEY (day, project, phone)
);

-- The zone the days are local to: the environment's (`schema migrate` rebuilds the summary when
-- the config names another).
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily_zone (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    zone text NOT NULL
);
INSERT INTO {schema}.wa_monitor_daily_zone (zone) VALUES ('Africa/Johannesburg')
ON CONFLICT DO NOTHING;

-- Adds the parts of reviews to the summary: sign -1 takes a review's part away, +1 adds it;
-- with_base false adds only the first verdict's part (the trail's trigger). `verdict` is the
-- review's first verdict (NULL: none yet).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_add(
    signs integer[], reviews {schema}.qa_photo_reviews[], with_base boolean[], verdicts jsonb[])
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
    WITH parts AS (
        SELECT u.sign,
               u.base,
               (coalesce(r.whatsapp_message_date, r.created_at)
                    AT TIME ZONE (SELECT zone FROM {schema}.wa_monitor_daily_zone))::date AS day,
               coalesce(r.project, '') AS project,
               coalesce(r.submitted_by, '') AS phone,
               coalesce(r.whatsapp_message_date, r.created_at) AS sighted,
               r.whatsapp_message_date IS NOT NULL AS dated,
               r.completed,
               r.incomplete,
               r.feedback_sent IS NOT NULL AS feedback,
               r.resubmitted,
               r.user_name,
               u.v,
               CASE WHEN u.v IS NOT NULL THEN ARRAY(SELECT CASE WHEN u.v -> s.col ->> 'to' = 'passed' THEN 0
                                 WHEN u.v -> s.col ->> 'to' LIKE 'wrong%' THEN 2
                                 ELSE 1 END
                     FROM unnest(ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                                       'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                                       'step_05_wall_for_installation',
                                       'step_06_ont_back_after_install',
                                       'step_07_power_meter_reading', 'step_08_ont_barcode',
                                       'step_09_ups_serial', 'step_10_final_installation',
                                       'step_11_green_lights', 'step_12_customer_signature'])
                          WITH ORDINALITY AS s(col, n)
                     ORDER BY s.n) END AS marks
        -- Unnested side by side (an array's i-th element is found by walking from its start:
        -- subscripts would make a batch's cost grow with its square).
        FROM unnest(reviews) WITH ORDINALITY AS r
        JOIN unnest(signs, with_base, verdicts) WITH ORDINALITY AS u(sign, base, v, n)
            ON u.n = r.ordinality
    ),
    delta AS (
        SELECT day, project, phone,
               sum(sign) FILTER (WHERE base) AS drops,
               sum(sign) FILTER (WHERE base AND dated) AS dated,
               sum(sign) FILTER (WHERE base AND completed) AS completed,
               sum(sign) FILTER (WHERE base AND incomplete) AS incomplete,
               sum(sign) FILTER (WHERE base AND NOT completed AND NOT incomplete)
                   AS awaiting,
               sum(sign) FILTER (WHERE base AND feedback) AS feedback_sent,
               sum(sign) FILTER (WHERE base AND resubmitted) AS resubmitted,
               sum(sign) FILTER (WHERE v IS NOT NULL) AS reviewed,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks = array_fill(0, ARRAY[12]))
                   AS passed_first,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[1] = 1) AS m01,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[2] = 1) AS m02,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[3] = 1) AS m03,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[4] = 1) AS m04,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[5] = 1) AS m05,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[6] = 1) AS m06,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[7] = 1) AS m07,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[8] = 1) AS m08,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[9] = 1) AS m09,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[10] = 1) AS m10,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[11] = 1) AS m11,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[12] = 1) AS m12,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[1] = 2) AS w01,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[2] = 2) AS w02,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[3] = 2) AS w03,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[4] = 2) AS w04,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[5] = 2) AS w05,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[6] = 2) AS w06,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[7] = 2) AS w07,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[8] = 2) AS w08,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[9] = 2) AS w09,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[10] = 2) AS w10,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[11] = 2) AS w11,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[12] = 2) AS w12,
               (array_agg(user_name ORDER BY sighted DESC)
                    FILTER (WHERE sign > 0 AND base AND user_name IS NOT NULL))[1] AS name,
               max(sighted) FILTER (WHERE sign > 0 AND base AND user_name IS NOT NULL)
                   AS name_at
        FROM parts
        GROUP BY day, project, phone
    )
    INSERT INTO {schema}.wa_monitor_daily AS d (
        day, project, phone, drops, dated, completed, incomplete, awaiting, feedback_sent,
        resubmitted, reviewed, passed_first,
        m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
        w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12, name, name_at)
    SELECT day, project, phone, coalesce(drops, 0), coalesce(dated, 0), coalesce(completed, 0),
           coalesce(incomplete, 0), coalesce(awaiting, 0), coalesce(feedback_sent, 0),
           coalesce(resubmitted, 0), coalesce(reviewed, 0), coalesce(passed_first, 0),
           coalesce(m01, 0), coalesce(m02, 0), coalesce(m03, 0), coalesce(m04, 0),
           coalesce(m05, 0), coalesce(m06, 0), coalesce(m07, 0), coalesce(m08, 0),
           coalesce(m09, 0), coalesce(m10, 0), coalesce(m11, 0), coalesce(m12, 0),
           coalesce(w01, 0), coalesce(w02, 0), coalesce(w03, 0), coalesce(w04, 0),
           coalesce(w05, 0), coalesce(w06, 0), coalesce(w07, 0), coalesce(w08, 0),
           coalesce(w09, 0), coalesce(w10, 0), coalesce(w11, 0), coalesce(w12, 0),
           name, name_at
    FROM delta
    ORDER BY day, project, phone
    ON CONFLICT (day, project, phone) DO UPDATE SET
        drops = d.drops + excluded.drops,
        dated = d.dated + excluded.dated,
        completed = d.completed + excluded.completed,
        incomplete = d.incomplete + excluded.incomplete,
        awaiting = d.awaiting + excluded.awaiting,
        feedback_sent = d.feedback_sent + excluded.feedback_sent,
        resubmitted = d.resubmitted + excluded.resubmitted,
        reviewed = d.reviewed + excluded.reviewed,
        passed_first = d.passed_first + excluded.passed_first,
        m01 = d.m01 + excluded.m01, m02 = d.m02 + excluded.m02, m03 = d.m03 + excluded.m03,
        m04 = d.m04 + excluded.m04, m05 = d.m05 + excluded.m05, m06 = d.m06 + excluded.m06,
        m07 = d.m07 + excluded.m07, m08 = d.m08 + excluded.m08, m09 = d.m09 + excluded.m09,
        m10 = d.m10 + excluded.m10, m11 = d.m11 + excluded.m11, m12 = d.m12 + excluded.m12,
        w01 = d.w01 + excluded.w01, w02 = d.w02 + excluded.w02, w03 = d.w03 + excluded.w03,
        w04 = d.w04 + excluded.w04, w05 = d.w05 + excluded.w05, w06 = d.w06 + excluded.w06,
        w07 = d.w07 + excluded.w07, w08 = d.w08 + excluded.w08, w09 = d.w09 + excluded.w09,
        w10 = d.w10 + excluded.w10, w11 = d.w11 + excluded.w11, w12 = d.w12 + excluded.w12,
        name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                    THEN coalesce(excluded.name, d.name) ELSE d.name END,
        name_at = greatest(d.name_at, excluded.name_at);
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_add(
    integer[], {schema}.qa_photo_reviews[], boolean[], jsonb[]) FROM PUBLIC;

-- A review's first verdict: the first trail entry a reviewer's save made (sql/quality.sql).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_first_verdict(review uuid)
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
    SELECT c.changes FROM {schema}.wa_monitor_review_changes AS c
    WHERE c.review_id = review
      AND c.changes ?| ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                             'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                             'step_05_wall_for_installation', 'step_06_ont_back_after_install',
                             'step_07_power_meter_reading', 'step_08_ont_barcode',
                             'step_09_ups_serial', 'step_10_final_installation',
                             'step_11_green_lights', 'step_12_customer_signature', 'comment',
                             'saved']
    ORDER BY c.id LIMIT 1;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_first_verdict(uuid) FROM PUBLIC;

-- The reviews' triggers: new reviews add their part (they have no trail yet); an update takes
-- the old part away and adds the new one, for the rows whose part changed; a delete takes the
-- part away before the trail goes with it; a TRUNCATE empties the summary.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_reviews()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE {schema}.wa_monitor_daily;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM {schema}.wa_monitor_daily_add(
            ARRAY[-1], ARRAY[OLD], ARRAY[true], ARRAY[{schema}.wa_monitor_first_verdict(OLD.id)]);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        -- The drain's path, kept lean: new reviews have no trail yet, so only their own part,
        -- added up straight from the statement's rows.
        INSERT INTO {schema}.wa_monitor_daily AS d (
            day, project, phone, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, name, name_at)
        SELECT day, project, phone, count(*), count(dated),
               count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
               count(*) FILTER (WHERE NOT completed AND NOT incomplete), count(feedback_sent),
               count(*) FILTER (WHERE resubmitted),
               (array_agg(user_name ORDER BY sighted DESC)
                    FILTER (WHERE user_name IS NOT NULL))[1],
               max(sighted) FILTER (WHERE user_name IS NOT NULL)
        FROM (SELECT (coalesce(n.whatsapp_message_date, n.created_at) AT TIME ZONE z.zone)::date
                         AS day,
                     coalesce(n.project, '') AS project,
                     coalesce(n.submitted_by, '') AS phone,
                     coalesce(n.whatsapp_message_date, n.created_at) AS sighted,
                     n.whatsapp_message_date AS dated,
                     n.completed, n.incomplete, n.feedback_sent, n.resubmitted, n.user_name
              FROM new_reviews AS n, {schema}.wa_monitor_daily_zone AS z) AS part
        GROUP BY day, project, phone
        ORDER BY day, project, phone
        ON CONFLICT (day, project, phone) DO UPDATE SET
            drops = d.drops + excluded.drops,
            dated = d.dated + excluded.dated,
            completed = d.completed + excluded.completed,
            incomplete = d.incomplete + excluded.incomplete,
            awaiting = d.awaiting + excluded.awaiting,
            feedback_sent = d.feedback_sent + excluded.feedback_sent,
            resubmitted = d.resubmitted + excluded.resubmitted,
            name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                        THEN coalesce(excluded.name, d.name) ELSE d.name END,
            name_at = greatest(d.name_at, excluded.name_at);
        RETURN NULL;
    ELSE
        WITH moved AS (
            SELECT o.id FROM old_reviews AS o JOIN new_reviews AS n ON n.id = o.id
            WHERE (o.project, o.submitted_by, o.user_name, o.whatsapp_message_date, o.created_at,
                   o.completed, o.incomplete, o.feedback_sent IS NULL, o.resubmitted)
                  IS DISTINCT FROM
                  (n.project, n.submitted_by, n.user_name, n.whatsapp_message_date, n.created_at,
                   n.completed, n.incomplete, n.feedback_sent IS NULL, n.resubmitted)
        ),
        parts AS (
            SELECT -1 AS sign, o::{schema}.qa_photo_reviews AS r
            FROM old_reviews AS o WHERE o.id IN (SELECT id FROM moved)
            UNION ALL
            SELECT 1, n::{schema}.qa_photo_reviews
            FROM new_reviews AS n WHERE n.id IN (SELECT id FROM moved)
        )
        SELECT array_agg(sign), array_agg(r), array_agg(true),
               array_agg({schema}.wa_monitor_first_verdict((r).id))
        INTO signs, revs, bases, verdicts
        FROM parts;
    END IF;
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(signs, revs, bases, verdicts);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_reviews() FROM PUBLIC;

-- The trail's trigger: a review whose first verdict these entries hold adds that verdict's part
-- to the review's key (the trail is only ever appended to; deleting a review is handled above).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
BEGIN
    SELECT array_agg(1), array_agg(r), array_agg(false), array_agg(f.verdict)
    INTO signs, revs, bases, verdicts
    FROM (SELECT DISTINCT review_id FROM new_changes) AS touched
    CROSS JOIN LATERAL (
        SELECT first.id, first.changes AS verdict
        FROM {schema}.wa_monitor_review_changes AS first
        WHERE first.review_id = touched.review_id
          AND first.changes ?| ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                                     'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                                     'step_05_wall_for_installation',
                                     'step_06_ont_back_after_install',
                                     'step_07_power_meter_reading', 'step_08_ont_barcode',
                                     'step_09_ups_serial', 'step_10_final_installation',
                                     'step_11_green_lights', 'step_12_customer_signature',
                                     'comment', 'saved']
        ORDER BY first.id LIMIT 1
    ) AS f
    JOIN {schema}.qa_photo_reviews AS r ON r.id = touched.review_id
    WHERE f.id IN (SELECT id FROM new_changes);
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(signs, revs, bases, verdicts);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_changes() FROM PUBLIC;

DROP TRIGGER IF EXISTS wa_monitor_daily_insert ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_insert AFTER INSERT ON {schema}.qa_photo_reviews
    REFERENCING NEW TABLE AS new_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_update ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_update AFTER UPDATE ON {schema}.qa_photo_reviews
    REFERENCING OLD TABLE AS old_reviews NEW TABLE AS new_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_delete ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_delete BEFORE DELETE ON {schema}.qa_photo_reviews
    FOR EACH ROW EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_truncate ON {schema}.qa_photo_reviews;
CREATE TRIGGER wa_monitor_daily_truncate AFTER TRUNCATE ON {schema}.qa_photo_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_reviews();
DROP TRIGGER IF EXISTS wa_monitor_daily_changes ON {schema}.wa_monitor_review_changes;
CREATE TRIGGER wa_monitor_daily_changes AFTER INSERT ON {schema}.wa_monitor_review_changes
    REFERENCING NEW TABLE AS new_changes
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wa_monitor_daily_changes();

-- Recomputes the summary from the reviews and their trail, in `zone`: the backfill below,
-- `schema migrate` when the config's zone changed, and `schema summarize`. Writers wait.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_rebuild(new_zone text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
    week record;
    counted bigint := 0;
BEGIN
    LOCK TABLE {schema}.qa_photo_reviews, {schema}.wa_monitor_review_changes IN SHARE MODE;
    PERFORM now() AT TIME ZONE new_zone;  -- an unknown zone fails here, before anything changes
    UPDATE {schema}.wa_monitor_daily_zone SET zone = new_zone;
    TRUNCATE {schema}.wa_monitor_daily;
    -- A week of reviews at a time: the parts of a million reviews would not fit in memory.
    FOR week IN
        SELECT DISTINCT date_trunc('week', coalesce(whatsapp_message_date, created_at)) AS start
        FROM {schema}.qa_photo_reviews
    LOOP
        SELECT array_agg(1), array_agg(r), array_agg(true),
               array_agg({schema}.wa_monitor_first_verdict(r.id))
        INTO signs, revs, bases, verdicts
        FROM {schema}.qa_photo_reviews AS r
        WHERE coalesce(r.whatsapp_message_date, r.created_at) >= week.start
          AND coalesce(r.whatsapp_message_date, r.created_at) < week.start + interval '7 days';
        PERFORM {schema}.wa_monitor_daily_add(signs, revs, bases, verdicts);
        counted := counted + array_length(signs, 1);
    END LOOP;
    RETURN counted;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_rebuild(text) FROM PUBLIC;

SELECT {schema}.wa_monitor_daily_rebuild(zone) FROM {schema}.wa_monitor_daily_zone;

-- The roles that serve this environment's dashboard (found as in 0014) read it,
DO $$
DECLARE
    web record;
BEGIN
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_users', 'SELECT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_users'::regclass), 'USAGE')
    LOOP
        EXECUTE format('GRANT SELECT ON %s, %s TO %I', '{schema}.wa_monitor_daily',
                       '{schema}.wa_monitor_daily_zone', web.rolname);
    END LOOP;
    -- and the SharePoint job's (those that record sheet writes), for the daily totals.
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_sync_writes', 'INSERT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_sync_writes'::regclass),
                              'USAGE')
    LOOP
        EXECUTE format('GRANT SELECT ON %s, %s TO %I', '{schema}.wa_monitor_daily',
                       '{schema}.wa_monitor_daily_zone', web.rolname);
    END LOOP;
END
$$;

-- Version 20: which step a photo shows, marked by a reviewer per review; kept through the
-- verdict's saves and the agent's resubmissions.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_photo_steps (
    review_id uuid NOT NULL REFERENCES {schema}.qa_photo_reviews (id) ON DELETE CASCADE,
    photo_id bigint NOT NULL REFERENCES {schema}.wa_monitor_photos (id) ON DELETE CASCADE,
    step smallint NOT NULL CHECK (step BETWEEN 1 AND 12),
    marked_by text NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (review_id, photo_id)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photo_steps_photo
    ON {schema}.wa_monitor_photo_steps (photo_id);

-- A thumbnail's request finds its photo by the cache's key (photos.servable): an index, so it
-- stays one lookup however many photos the environment holds.
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_content_key
    ON {schema}.wa_monitor_photos (content_key) WHERE content_key IS NOT NULL;

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

-- Version 22: reply senders on several hosts (migrations/0022_reply_claimers.sql).
ALTER TABLE {schema}.wa_monitor_outbox ADD COLUMN IF NOT EXISTS claimed_pid integer;
ALTER TABLE {schema}.wa_monitor_outbox ADD COLUMN IF NOT EXISTS claimed_started timestamptz;

-- Version 24: every view of the dashboard from the per-day summary (0019), at a cost that does not
-- grow with the reviews: at a million reviews the queue's counts walked every review awaiting a
-- verdict, a month's Quality times every review of the month and its trail (1.75 s at 300,000
-- reviews a month), and a month of any count 400 summary rows a day (one per agent). Two more
-- parts of the summary, kept by the same triggers in the transaction of every write:
--
-- * wa_monitor_daily_projects: the counts of wa_monitor_daily per local day x project, without
--   the agent's phone (and name): a month is a hundred rows. The overview's cards and chart, the
--   SharePoint totals, the queue's counts per project and age band (awaiting), and the Quality
--   page's projects, steps and weeks read it; the agents' table reads wa_monitor_daily.
-- * wa_monitor_daily_times: histograms of the loop's waits per local day x project, one row per
--   non-empty bucket. Stage 1: the drop to its first verdict; 2: the first verdict to the first
--   feedback sent; 3: that feedback to the resubmission (last_submitted_at); 4: the
--   resubmission to complete (reviewed_at); 5: the drop to complete (sql/quality.sql defines
--   each). Stage 3 is kept per agent's phone (the agents' table reads it; the projects' figures
--   add the phones up); the other stages have phone ''. A bucket is an eighth of a doubling of
--   seconds: bucket k >= 1 holds waits in [2^((k-1)/8), 2^(k/8)) s, -k the same waits negative,
--   0 those under a second. A median or 90th percentile read from them takes each rank's bucket
--   at its middle, 2^((k-1/2)/8): within 4.4 % of the exact figure (within a second for waits
--   under a second, which count as 0).
--
-- The triggers' work per write also gets cheaper: a review's first verdict and first feedback are
-- found by one inlinable look-up of its trail per changed review (wa_monitor_trail_firsts), where
-- 0019 called a SECURITY DEFINER function twice per changed review.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily_projects (
    day date NOT NULL,
    project text NOT NULL,  -- '' when the review has none
    drops integer NOT NULL DEFAULT 0,
    dated integer NOT NULL DEFAULT 0,
    completed integer NOT NULL DEFAULT 0,
    incomplete integer NOT NULL DEFAULT 0,
    awaiting integer NOT NULL DEFAULT 0,
    feedback_sent integer NOT NULL DEFAULT 0,
    resubmitted integer NOT NULL DEFAULT 0,
    reviewed integer NOT NULL DEFAULT 0,
    passed_first integer NOT NULL DEFAULT 0,
    m01 integer NOT NULL DEFAULT 0, m02 integer NOT NULL DEFAULT 0,
    m03 integer NOT NULL DEFAULT 0, m04 integer NOT NULL DEFAULT 0,
    m05 integer NOT NULL DEFAULT 0, m06 integer NOT NULL DEFAULT 0,
    m07 integer NOT NULL DEFAULT 0, m08 integer NOT NULL DEFAULT 0,
    m09 integer NOT NULL DEFAULT 0, m10 integer NOT NULL DEFAULT 0,
    m11 integer NOT NULL DEFAULT 0, m12 integer NOT NULL DEFAULT 0,
    w01 integer NOT NULL DEFAULT 0, w02 integer NOT NULL DEFAULT 0,
    w03 integer NOT NULL DEFAULT 0, w04 integer NOT NULL DEFAULT 0,
    w05 integer NOT NULL DEFAULT 0, w06 integer NOT NULL DEFAULT 0,
    w07 integer NOT NULL DEFAULT 0, w08 integer NOT NULL DEFAULT 0,
    w09 integer NOT NULL DEFAULT 0, w10 integer NOT NULL DEFAULT 0,
    w11 integer NOT NULL DEFAULT 0, w12 integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, project)
);

CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_daily_times (
    day date NOT NULL,
    project text NOT NULL,  -- '' when the review has none
    stage smallint NOT NULL CHECK (stage BETWEEN 1 AND 5),
    phone text NOT NULL,  -- stage 3: submitted_by ('' when none); the other stages: ''
    bucket smallint NOT NULL,
    n integer NOT NULL,
    PRIMARY KEY (day, project, stage, phone, bucket)
);

-- A wait in seconds → its bucket. Plain SQL, so that the planner inlines it into the triggers'
-- statements (which run as the tables' owner); the reads take a bucket's middle themselves.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_wait_bucket(seconds double precision)
RETURNS smallint
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $body$
    SELECT CASE WHEN abs(seconds) < 1 THEN 0
                ELSE (sign(seconds) * (1 + floor(8 * ln(abs(seconds)) / ln(2::double precision))))
                     ::smallint
           END;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_wait_bucket(double precision) FROM PUBLIC;

-- A review's first verdict (the first trail entry a reviewer's save made: it names a step, the
-- comment or "saved"; sql/quality.sql) and its first feedback stamp, with their entries' ids and
-- times: one visit of the review's trail (a handful of entries). Not SECURITY DEFINER, so that
-- it is inlined into the triggers' statements (which run as the tables' owner).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_trail_firsts(review uuid)
RETURNS TABLE (verdict_id bigint, verdict jsonb, verdict_at timestamptz, feedback_id bigint,
               feedback_at timestamptz)
LANGUAGE sql
STABLE
AS $body$
    SELECT (array_agg(c.id ORDER BY c.id) FILTER (WHERE c.changes ?| k.verdict_keys))[1],
           (array_agg(c.changes ORDER BY c.id) FILTER (WHERE c.changes ?| k.verdict_keys))[1],
           (array_agg(c.changed_at ORDER BY c.id) FILTER (WHERE c.changes ?| k.verdict_keys))[1],
           (array_agg(c.id ORDER BY c.id) FILTER (WHERE c.changes ? 'feedback_sent'))[1],
           (array_agg(c.changed_at ORDER BY c.id) FILTER (WHERE c.changes ? 'feedback_sent'))[1]
    FROM {schema}.wa_monitor_review_changes AS c,
         (SELECT ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                       'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                       'step_05_wall_for_installation', 'step_06_ont_back_after_install',
                       'step_07_power_meter_reading', 'step_08_ont_barcode',
                       'step_09_ups_serial', 'step_10_final_installation',
                       'step_11_green_lights', 'step_12_customer_signature', 'comment',
                       'saved'] AS verdict_keys) AS k
    WHERE c.review_id = review;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_trail_firsts(uuid) FROM PUBLIC;

-- Adds the parts of reviews to the summary: sign -1 takes a review's part away, +1 adds it;
-- with_base false leaves out the review's own counts (the trail's trigger); a verdict (the
-- review's first, NULL: none or not to count) adds its counts; verdict_ats and feedback_ats are
-- the review's first verdict's and first feedback's times, for the waits (always counted: a
-- part taken away and added back in the same bucket cancels out).
DROP FUNCTION IF EXISTS {schema}.wa_monitor_daily_add(
    integer[], {schema}.qa_photo_reviews[], boolean[], jsonb[]);
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_add(
    signs integer[], reviews {schema}.qa_photo_reviews[], with_base boolean[], verdicts jsonb[],
    verdict_ats timestamptz[], feedback_ats timestamptz[])
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
    WITH parts AS (
        SELECT u.sign,
               u.base,
               (coalesce(r.whatsapp_message_date, r.created_at)
                    AT TIME ZONE (SELECT zone FROM {schema}.wa_monitor_daily_zone))::date AS day,
               coalesce(r.project, '') AS project,
               coalesce(r.submitted_by, '') AS phone,
               coalesce(r.whatsapp_message_date, r.created_at) AS sighted,
               r.whatsapp_message_date IS NOT NULL AS dated,
               r.completed,
               r.incomplete,
               r.feedback_sent IS NOT NULL AS feedback,
               r.resubmitted,
               r.user_name,
               r.last_submitted_at,
               r.reviewed_at,
               u.v,
               u.verdict_at,
               u.feedback_at,
               CASE WHEN u.v IS NOT NULL THEN ARRAY(SELECT CASE WHEN u.v -> s.col ->> 'to' = 'passed' THEN 0
                                 WHEN u.v -> s.col ->> 'to' LIKE 'wrong%' THEN 2
                                 ELSE 1 END
                     FROM unnest(ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                                       'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                                       'step_05_wall_for_installation',
                                       'step_06_ont_back_after_install',
                                       'step_07_power_meter_reading', 'step_08_ont_barcode',
                                       'step_09_ups_serial', 'step_10_final_installation',
                                       'step_11_green_lights', 'step_12_customer_signature'])
                          WITH ORDINALITY AS s(col, n)
                     ORDER BY s.n) END AS marks
        -- Unnested side by side (an array's i-th element is found by walking from its start:
        -- subscripts would make a batch's cost grow with its square).
        FROM unnest(reviews) WITH ORDINALITY AS r
        JOIN unnest(signs, with_base, verdicts, verdict_ats, feedback_ats) WITH ORDINALITY
            AS u(sign, base, v, verdict_at, feedback_at, n)
            ON u.n = r.ordinality
    ),
    delta AS (
        SELECT day, project, phone,
               sum(sign) FILTER (WHERE base) AS drops,
               sum(sign) FILTER (WHERE base AND dated) AS dated,
               sum(sign) FILTER (WHERE base AND completed) AS completed,
               sum(sign) FILTER (WHERE base AND incomplete) AS incomplete,
               sum(sign) FILTER (WHERE base AND NOT completed AND NOT incomplete)
                   AS awaiting,
               sum(sign) FILTER (WHERE base AND feedback) AS feedback_sent,
               sum(sign) FILTER (WHERE base AND resubmitted) AS resubmitted,
               sum(sign) FILTER (WHERE v IS NOT NULL) AS reviewed,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks = array_fill(0, ARRAY[12]))
                   AS passed_first,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[1] = 1) AS m01,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[2] = 1) AS m02,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[3] = 1) AS m03,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[4] = 1) AS m04,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[5] = 1) AS m05,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[6] = 1) AS m06,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[7] = 1) AS m07,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[8] = 1) AS m08,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[9] = 1) AS m09,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[10] = 1) AS m10,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[11] = 1) AS m11,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[12] = 1) AS m12,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[1] = 2) AS w01,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[2] = 2) AS w02,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[3] = 2) AS w03,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[4] = 2) AS w04,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[5] = 2) AS w05,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[6] = 2) AS w06,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[7] = 2) AS w07,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[8] = 2) AS w08,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[9] = 2) AS w09,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[10] = 2) AS w10,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[11] = 2) AS w11,
               sum(sign) FILTER (WHERE v IS NOT NULL AND marks[12] = 2) AS w12,
               (array_agg(user_name ORDER BY sighted DESC)
                    FILTER (WHERE sign > 0 AND base AND user_name IS NOT NULL))[1] AS name,
               max(sighted) FILTER (WHERE sign > 0 AND base AND user_name IS NOT NULL)
                   AS name_at
        FROM parts
        GROUP BY day, project, phone
    ),
    daily AS (
        INSERT INTO {schema}.wa_monitor_daily AS d (
            day, project, phone, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, reviewed, passed_first,
            m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
            w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12, name, name_at)
        SELECT day, project, phone, coalesce(drops, 0), coalesce(dated, 0), coalesce(completed, 0),
               coalesce(incomplete, 0), coalesce(awaiting, 0), coalesce(feedback_sent, 0),
               coalesce(resubmitted, 0), coalesce(reviewed, 0), coalesce(passed_first, 0),
               coalesce(m01, 0), coalesce(m02, 0), coalesce(m03, 0), coalesce(m04, 0),
               coalesce(m05, 0), coalesce(m06, 0), coalesce(m07, 0), coalesce(m08, 0),
               coalesce(m09, 0), coalesce(m10, 0), coalesce(m11, 0), coalesce(m12, 0),
               coalesce(w01, 0), coalesce(w02, 0), coalesce(w03, 0), coalesce(w04, 0),
               coalesce(w05, 0), coalesce(w06, 0), coalesce(w07, 0), coalesce(w08, 0),
               coalesce(w09, 0), coalesce(w10, 0), coalesce(w11, 0), coalesce(w12, 0),
               name, name_at
        FROM delta
        ORDER BY day, project, phone
        ON CONFLICT (day, project, phone) DO UPDATE SET
            drops = d.drops + excluded.drops,
            dated = d.dated + excluded.dated,
            completed = d.completed + excluded.completed,
            incomplete = d.incomplete + excluded.incomplete,
            awaiting = d.awaiting + excluded.awaiting,
            feedback_sent = d.feedback_sent + excluded.feedback_sent,
            resubmitted = d.resubmitted + excluded.resubmitted,
            reviewed = d.reviewed + excluded.reviewed,
            passed_first = d.passed_first + excluded.passed_first,
            m01 = d.m01 + excluded.m01, m02 = d.m02 + excluded.m02, m03 = d.m03 + excluded.m03,
            m04 = d.m04 + excluded.m04, m05 = d.m05 + excluded.m05, m06 = d.m06 + excluded.m06,
            m07 = d.m07 + excluded.m07, m08 = d.m08 + excluded.m08, m09 = d.m09 + excluded.m09,
            m10 = d.m10 + excluded.m10, m11 = d.m11 + excluded.m11, m12 = d.m12 + excluded.m12,
            w01 = d.w01 + excluded.w01, w02 = d.w02 + excluded.w02, w03 = d.w03 + excluded.w03,
            w04 = d.w04 + excluded.w04, w05 = d.w05 + excluded.w05, w06 = d.w06 + excluded.w06,
            w07 = d.w07 + excluded.w07, w08 = d.w08 + excluded.w08, w09 = d.w09 + excluded.w09,
            w10 = d.w10 + excluded.w10, w11 = d.w11 + excluded.w11, w12 = d.w12 + excluded.w12,
            name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                        THEN coalesce(excluded.name, d.name) ELSE d.name END,
            name_at = greatest(d.name_at, excluded.name_at)
    ),
    projects AS (
        INSERT INTO {schema}.wa_monitor_daily_projects AS p (
            day, project, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, reviewed,
            passed_first, m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
            w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12)
        SELECT day, project,
               coalesce(sum(drops), 0), coalesce(sum(dated), 0), coalesce(sum(completed), 0),
               coalesce(sum(incomplete), 0), coalesce(sum(awaiting), 0),
               coalesce(sum(feedback_sent), 0), coalesce(sum(resubmitted), 0),
               coalesce(sum(reviewed), 0), coalesce(sum(passed_first), 0),
               coalesce(sum(m01), 0), coalesce(sum(m02), 0), coalesce(sum(m03), 0),
               coalesce(sum(m04), 0), coalesce(sum(m05), 0), coalesce(sum(m06), 0),
               coalesce(sum(m07), 0), coalesce(sum(m08), 0), coalesce(sum(m09), 0),
               coalesce(sum(m10), 0), coalesce(sum(m11), 0), coalesce(sum(m12), 0),
               coalesce(sum(w01), 0), coalesce(sum(w02), 0), coalesce(sum(w03), 0),
               coalesce(sum(w04), 0), coalesce(sum(w05), 0), coalesce(sum(w06), 0),
               coalesce(sum(w07), 0), coalesce(sum(w08), 0), coalesce(sum(w09), 0),
               coalesce(sum(w10), 0), coalesce(sum(w11), 0), coalesce(sum(w12), 0)
        FROM delta
        GROUP BY day, project
        ORDER BY day, project
        ON CONFLICT (day, project) DO UPDATE SET
            drops = p.drops + excluded.drops,
            dated = p.dated + excluded.dated,
            completed = p.completed + excluded.completed,
            incomplete = p.incomplete + excluded.incomplete,
            awaiting = p.awaiting + excluded.awaiting,
            feedback_sent = p.feedback_sent + excluded.feedback_sent,
            resubmitted = p.resubmitted + excluded.resubmitted,
            reviewed = p.reviewed + excluded.reviewed,
            passed_first = p.passed_first + excluded.passed_first,
            m01 = p.m01 + excluded.m01, m02 = p.m02 + excluded.m02, m03 = p.m03 + excluded.m03,
            m04 = p.m04 + excluded.m04, m05 = p.m05 + excluded.m05, m06 = p.m06 + excluded.m06,
            m07 = p.m07 + excluded.m07, m08 = p.m08 + excluded.m08, m09 = p.m09 + excluded.m09,
            m10 = p.m10 + excluded.m10, m11 = p.m11 + excluded.m11, m12 = p.m12 + excluded.m12,
            w01 = p.w01 + excluded.w01, w02 = p.w02 + excluded.w02, w03 = p.w03 + excluded.w03,
            w04 = p.w04 + excluded.w04, w05 = p.w05 + excluded.w05, w06 = p.w06 + excluded.w06,
            w07 = p.w07 + excluded.w07, w08 = p.w08 + excluded.w08, w09 = p.w09 + excluded.w09,
            w10 = p.w10 + excluded.w10, w11 = p.w11 + excluded.w11, w12 = p.w12 + excluded.w12
    )
    INSERT INTO {schema}.wa_monitor_daily_times AS t (day, project, stage, phone, bucket, n)
    SELECT p.day, p.project, w.stage, w.phone, {schema}.wa_monitor_wait_bucket(w.seconds),
           sum(p.sign)
    FROM parts AS p
    CROSS JOIN LATERAL (VALUES
        (1::smallint, '', extract(epoch FROM p.verdict_at - p.sighted)::double precision),
        (2, '', extract(epoch FROM p.feedback_at - p.verdict_at)::double precision),
        (3, p.phone, CASE WHEN p.resubmitted AND p.last_submitted_at > p.feedback_at
                          THEN extract(epoch FROM p.last_submitted_at - p.feedback_at)
                                   ::double precision END),
        (4, '', CASE WHEN p.completed AND p.resubmitted AND p.reviewed_at > p.last_submitted_at
                     THEN extract(epoch FROM p.reviewed_at - p.last_submitted_at)
                              ::double precision END),
        (5, '', CASE WHEN p.completed
                     THEN extract(epoch FROM p.reviewed_at - p.sighted)::double precision END)
    ) AS w(stage, phone, seconds)
    WHERE w.seconds IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(p.sign) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, project, stage, phone, bucket) DO UPDATE SET n = t.n + excluded.n;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_add(
    integer[], {schema}.qa_photo_reviews[], boolean[], jsonb[], timestamptz[], timestamptz[])
    FROM PUBLIC;

-- The reviews' triggers: new reviews add their part (they have no trail yet); an update takes
-- the old part away and adds the new one, for the rows whose part changed; a delete takes the
-- part away before the trail goes with it; a TRUNCATE empties the summary.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_reviews()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
    verdict_ats timestamptz[];
    feedback_ats timestamptz[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE {schema}.wa_monitor_daily, {schema}.wa_monitor_daily_projects,
                 {schema}.wa_monitor_daily_times;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT ARRAY[f.verdict], ARRAY[f.verdict_at], ARRAY[f.feedback_at]
        INTO verdicts, verdict_ats, feedback_ats
        FROM {schema}.wa_monitor_trail_firsts(OLD.id) AS f;
        PERFORM {schema}.wa_monitor_daily_add(
            ARRAY[-1], ARRAY[OLD], ARRAY[true], verdicts, verdict_ats, feedback_ats);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        -- The drain's path, kept lean: new reviews have no trail yet, so only their own part,
        -- added up straight from the statement's rows (waits only for one already complete,
        -- as `schema copy-from-prod` writes them).
        WITH part AS MATERIALIZED (
            SELECT (coalesce(n.whatsapp_message_date, n.created_at) AT TIME ZONE z.zone)::date
                       AS day,
                   coalesce(n.project, '') AS project,
                   coalesce(n.submitted_by, '') AS phone,
                   coalesce(n.whatsapp_message_date, n.created_at) AS sighted,
                   n.whatsapp_message_date AS dated,
                   n.completed, n.incomplete, n.feedback_sent, n.resubmitted, n.user_name,
                   n.last_submitted_at, n.reviewed_at
            FROM new_reviews AS n, {schema}.wa_monitor_daily_zone AS z
        ),
        daily AS (
            INSERT INTO {schema}.wa_monitor_daily AS d (
                day, project, phone, drops, dated, completed, incomplete, awaiting,
                feedback_sent, resubmitted, name, name_at)
            SELECT day, project, phone, count(*), count(dated),
                   count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
                   count(*) FILTER (WHERE NOT completed AND NOT incomplete),
                   count(feedback_sent), count(*) FILTER (WHERE resubmitted),
                   (array_agg(user_name ORDER BY sighted DESC)
                        FILTER (WHERE user_name IS NOT NULL))[1],
                   max(sighted) FILTER (WHERE user_name IS NOT NULL)
            FROM part
            GROUP BY day, project, phone
            ORDER BY day, project, phone
            ON CONFLICT (day, project, phone) DO UPDATE SET
                drops = d.drops + excluded.drops,
                dated = d.dated + excluded.dated,
                completed = d.completed + excluded.completed,
                incomplete = d.incomplete + excluded.incomplete,
                awaiting = d.awaiting + excluded.awaiting,
                feedback_sent = d.feedback_sent + excluded.feedback_sent,
                resubmitted = d.resubmitted + excluded.resubmitted,
                name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                            THEN coalesce(excluded.name, d.name) ELSE d.name END,
                name_at = greatest(d.name_at, excluded.name_at)
        ),
        projects AS (
            INSERT INTO {schema}.wa_monitor_daily_projects AS p (
                day, project, drops, dated, completed, incomplete, awaiting, feedback_sent,
                resubmitted)
            SELECT day, project, count(*), count(dated),
                   count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
                   count(*) FILTER (WHERE NOT completed AND NOT incomplete),
                   count(feedback_sent), count(*) FILTER (WHERE resubmitted)
            FROM part
            GROUP BY day, project
            ORDER BY day, project
            ON CONFLICT (day, project) DO UPDATE SET
                drops = p.drops + excluded.drops,
                dated = p.dated + excluded.dated,
                completed = p.completed + excluded.completed,
                incomplete = p.incomplete + excluded.incomplete,
                awaiting = p.awaiting + excluded.awaiting,
                feedback_sent = p.feedback_sent + excluded.feedback_sent,
                resubmitted = p.resubmitted + excluded.resubmitted
        )
        INSERT INTO {schema}.wa_monitor_daily_times AS t (day, project, stage, phone, bucket, n)
        SELECT p.day, p.project, w.stage, '', {schema}.wa_monitor_wait_bucket(w.seconds),
               count(*)
        FROM part AS p
        CROSS JOIN LATERAL (VALUES
            (4::smallint, CASE WHEN p.resubmitted AND p.reviewed_at > p.last_submitted_at
                               THEN extract(epoch FROM p.reviewed_at - p.last_submitted_at)
                                        ::double precision END),
            (5, extract(epoch FROM p.reviewed_at - p.sighted)::double precision)
        ) AS w(stage, seconds)
        WHERE p.completed AND w.seconds IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (day, project, stage, phone, bucket) DO UPDATE SET n = t.n + excluded.n;
        RETURN NULL;
    ELSE
        WITH moved AS (
            SELECT o.id FROM old_reviews AS o JOIN new_reviews AS n ON n.id = o.id
            WHERE (o.project, o.submitted_by, o.user_name, o.whatsapp_message_date, o.created_at,
                   o.completed, o.incomplete, o.feedback_sent IS NULL, o.resubmitted,
                   o.last_submitted_at, o.reviewed_at)
                  IS DISTINCT FROM
                  (n.project, n.submitted_by, n.user_name, n.whatsapp_message_date, n.created_at,
                   n.completed, n.incomplete, n.feedback_sent IS NULL, n.resubmitted,
                   n.last_submitted_at, n.reviewed_at)
        ),
        firsts AS (
            SELECT m.id, f.verdict, f.verdict_at, f.feedback_at
            FROM moved AS m CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(m.id) AS f
        ),
        parts AS (
            SELECT -1 AS sign, o::{schema}.qa_photo_reviews AS r, f.verdict, f.verdict_at,
                   f.feedback_at
            FROM old_reviews AS o JOIN firsts AS f ON f.id = o.id
            UNION ALL
            SELECT 1, n::{schema}.qa_photo_reviews, f.verdict, f.verdict_at, f.feedback_at
            FROM new_reviews AS n JOIN firsts AS f ON f.id = n.id
        )
        SELECT array_agg(sign), array_agg(r), array_agg(true), array_agg(verdict),
               array_agg(verdict_at), array_agg(feedback_at)
        INTO signs, revs, bases, verdicts, verdict_ats, feedback_ats
        FROM parts;
    END IF;
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(
            signs, revs, bases, verdicts, verdict_ats, feedback_ats);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_reviews() FROM PUBLIC;

-- The trail's trigger: a review whose first verdict or first feedback these entries hold (the
-- trail is only ever appended to, so before them it had none) takes its waits as they were away
-- and adds them as they are now, with the first verdict's counts when that is new.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
    verdict_ats timestamptz[];
    feedback_ats timestamptz[];
BEGIN
    WITH touched AS (
        SELECT r, f.verdict, f.verdict_at, f.feedback_at,
               coalesce(f.verdict_id IN (SELECT id FROM new_changes), false) AS new_verdict,
               coalesce(f.feedback_id IN (SELECT id FROM new_changes), false) AS new_feedback
        FROM (SELECT DISTINCT review_id FROM new_changes) AS c
        JOIN {schema}.qa_photo_reviews AS r ON r.id = c.review_id
        CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(c.review_id) AS f
    ),
    parts AS (
        SELECT -1 AS sign, r, NULL::jsonb AS verdict,
               CASE WHEN new_verdict THEN NULL ELSE verdict_at END AS verdict_at,
               CASE WHEN new_feedback THEN NULL ELSE feedback_at END AS feedback_at
        FROM touched WHERE new_verdict OR new_feedback
        UNION ALL
        SELECT 1, r, CASE WHEN new_verdict THEN verdict END, verdict_at, feedback_at
        FROM touched WHERE new_verdict OR new_feedback
    )
    SELECT array_agg(sign), array_agg(r), array_agg(false), array_agg(verdict),
           array_agg(verdict_at), array_agg(feedback_at)
    INTO signs, revs, bases, verdicts, verdict_ats, feedback_ats
    FROM parts;
    IF signs IS NOT NULL THEN
        PERFORM {schema}.wa_monitor_daily_add(
            signs, revs, bases, verdicts, verdict_ats, feedback_ats);
    END IF;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_changes() FROM PUBLIC;

-- Recomputes the summary from the reviews and their trail, in `zone`: the backfill below,
-- `schema migrate` when the config's zone changed, and `schema summarize`. Writers wait.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_rebuild(new_zone text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    signs integer[];
    revs {schema}.qa_photo_reviews[];
    bases boolean[];
    verdicts jsonb[];
    verdict_ats timestamptz[];
    feedback_ats timestamptz[];
    week record;
    counted bigint := 0;
BEGIN
    LOCK TABLE {schema}.qa_photo_reviews, {schema}.wa_monitor_review_changes IN SHARE MODE;
    PERFORM now() AT TIME ZONE new_zone;  -- an unknown zone fails here, before anything changes
    UPDATE {schema}.wa_monitor_daily_zone SET zone = new_zone;
    TRUNCATE {schema}.wa_monitor_daily, {schema}.wa_monitor_daily_projects,
             {schema}.wa_monitor_daily_times;
    -- A week of reviews at a time: the parts of a million reviews would not fit in memory.
    FOR week IN
        SELECT DISTINCT date_trunc('week', coalesce(whatsapp_message_date, created_at)) AS start
        FROM {schema}.qa_photo_reviews
    LOOP
        SELECT array_agg(1), array_agg(r), array_agg(true), array_agg(f.verdict),
               array_agg(f.verdict_at), array_agg(f.feedback_at)
        INTO signs, revs, bases, verdicts, verdict_ats, feedback_ats
        FROM {schema}.qa_photo_reviews AS r
        CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(r.id) AS f
        WHERE coalesce(r.whatsapp_message_date, r.created_at) >= week.start
          AND coalesce(r.whatsapp_message_date, r.created_at) < week.start + interval '7 days';
        PERFORM {schema}.wa_monitor_daily_add(
            signs, revs, bases, verdicts, verdict_ats, feedback_ats);
        counted := counted + array_length(signs, 1);
    END LOOP;
    RETURN counted;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_rebuild(text) FROM PUBLIC;

SELECT {schema}.wa_monitor_daily_rebuild(zone) FROM {schema}.wa_monitor_daily_zone;

-- The roles that serve this environment's dashboard (found as in 0014) read the new parts,
DO $$
DECLARE
    web record;
BEGIN
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_users', 'SELECT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_users'::regclass), 'USAGE')
    LOOP
        EXECUTE format('GRANT SELECT ON %s, %s TO %I', '{schema}.wa_monitor_daily_projects',
                       '{schema}.wa_monitor_daily_times', web.rolname);
    END LOOP;
    -- and the SharePoint job's (those that record sheet writes), for the daily totals.
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_sync_writes', 'INSERT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_sync_writes'::regclass),
                              'USAGE')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', '{schema}.wa_monitor_daily_projects',
                       web.rolname);
    END LOOP;
END
$$;

-- Version 27: posts through the first bridge whose API answers (migrations/0027_post_routes.sql):
-- the bridge each reply and feedback send was posted through, recorded before the post.
ALTER TABLE {schema}.wa_monitor_outbox ADD COLUMN IF NOT EXISTS bridge text;
ALTER TABLE {schema}.wa_monitor_feedback_sends ADD COLUMN IF NOT EXISTS bridge text;

-- Version 30: the summary's triggers cost the drain less, for the same figures
-- (migrations/0030_summary_cost.sql).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_daily_reviews()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $body$
DECLARE
    verdicts jsonb[];
    verdict_ats timestamptz[];
    feedback_ats timestamptz[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE {schema}.wa_monitor_daily, {schema}.wa_monitor_daily_projects,
                 {schema}.wa_monitor_daily_times;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT ARRAY[f.verdict], ARRAY[f.verdict_at], ARRAY[f.feedback_at]
        INTO verdicts, verdict_ats, feedback_ats
        FROM {schema}.wa_monitor_trail_firsts(OLD.id) AS f;
        PERFORM {schema}.wa_monitor_daily_add(
            ARRAY[-1], ARRAY[OLD], ARRAY[true], verdicts, verdict_ats, feedback_ats);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        -- The drain's path: new reviews have no trail yet, so only their own part, added up
        -- straight from the statement's rows (waits only for one already complete, as
        -- `schema copy-from-prod` writes them).
        WITH part AS MATERIALIZED (
            SELECT (coalesce(n.whatsapp_message_date, n.created_at) AT TIME ZONE z.zone)::date
                       AS day,
                   coalesce(n.project, '') AS project,
                   coalesce(n.submitted_by, '') AS phone,
                   coalesce(n.whatsapp_message_date, n.created_at) AS sighted,
                   n.whatsapp_message_date AS dated,
                   n.completed, n.incomplete, n.feedback_sent, n.resubmitted, n.user_name,
                   n.last_submitted_at, n.reviewed_at
            FROM new_reviews AS n, {schema}.wa_monitor_daily_zone AS z
        ),
        keyed AS (  -- each key's latest sighting with a name: one sort for the batch
            SELECT *, first_value(user_name) OVER (
                          PARTITION BY day, project, phone
                          ORDER BY user_name IS NULL, sighted DESC) AS latest_name
            FROM part
        ),
        daily AS (
            INSERT INTO {schema}.wa_monitor_daily AS d (
                day, project, phone, drops, dated, completed, incomplete, awaiting,
                feedback_sent, resubmitted, name, name_at)
            SELECT day, project, phone, count(*), count(dated),
                   count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
                   count(*) FILTER (WHERE NOT completed AND NOT incomplete),
                   count(feedback_sent), count(*) FILTER (WHERE resubmitted),
                   min(latest_name), max(sighted) FILTER (WHERE user_name IS NOT NULL)
            FROM keyed
            GROUP BY day, project, phone
            ORDER BY day, project, phone
            ON CONFLICT (day, project, phone) DO UPDATE SET
                drops = d.drops + excluded.drops,
                dated = d.dated + excluded.dated,
                completed = d.completed + excluded.completed,
                incomplete = d.incomplete + excluded.incomplete,
                awaiting = d.awaiting + excluded.awaiting,
                feedback_sent = d.feedback_sent + excluded.feedback_sent,
                resubmitted = d.resubmitted + excluded.resubmitted,
                name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                            THEN coalesce(excluded.name, d.name) ELSE d.name END,
                name_at = greatest(d.name_at, excluded.name_at)
        ),
        projects AS (
            INSERT INTO {schema}.wa_monitor_daily_projects AS p (
                day, project, drops, dated, completed, incomplete, awaiting, feedback_sent,
                resubmitted)
            SELECT day, project, count(*), count(dated),
                   count(*) FILTER (WHERE completed), count(*) FILTER (WHERE incomplete),
                   count(*) FILTER (WHERE NOT completed AND NOT incomplete),
                   count(feedback_sent), count(*) FILTER (WHERE resubmitted)
            FROM part
            GROUP BY day, project
            ORDER BY day, project
            ON CONFLICT (day, project) DO UPDATE SET
                drops = p.drops + excluded.drops,
                dated = p.dated + excluded.dated,
                completed = p.completed + excluded.completed,
                incomplete = p.incomplete + excluded.incomplete,
                awaiting = p.awaiting + excluded.awaiting,
                feedback_sent = p.feedback_sent + excluded.feedback_sent,
                resubmitted = p.resubmitted + excluded.resubmitted
        )
        INSERT INTO {schema}.wa_monitor_daily_times AS t (day, project, stage, phone, bucket, n)
        SELECT p.day, p.project, w.stage, '', {schema}.wa_monitor_wait_bucket(w.seconds),
               count(*)
        FROM part AS p
        CROSS JOIN LATERAL (VALUES
            (4::smallint, CASE WHEN p.resubmitted AND p.reviewed_at > p.last_submitted_at
                               THEN extract(epoch FROM p.reviewed_at - p.last_submitted_at)
                                        ::double precision END),
            (5, extract(epoch FROM p.reviewed_at - p.sighted)::double precision)
        ) AS w(stage, seconds)
        WHERE p.completed AND w.seconds IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (day, project, stage, phone, bucket) DO UPDATE SET n = t.n + excluded.n;
        RETURN NULL;
    END IF;
    -- An UPDATE: the reviews whose part changed take their old part away and add the new one
    -- (with their first verdict's counts and their waits, from one look at the trail each).
    WITH moved AS MATERIALIZED (
        SELECT o.id, f.verdict, f.verdict_at, f.feedback_at
        FROM old_reviews AS o
        JOIN new_reviews AS n ON n.id = o.id
        CROSS JOIN LATERAL {schema}.wa_monitor_trail_firsts(o.id) AS f
        WHERE (o.project, o.submitted_by, o.user_name, o.whatsapp_message_date, o.created_at,
               o.completed, o.incomplete, o.feedback_sent IS NULL, o.resubmitted,
               o.last_submitted_at, o.reviewed_at)
              IS DISTINCT FROM
              (n.project, n.submitted_by, n.user_name, n.whatsapp_message_date, n.created_at,
               n.completed, n.incomplete, n.feedback_sent IS NULL, n.resubmitted,
               n.last_submitted_at, n.reviewed_at)
    ),
    sides AS (
        SELECT -1 AS sign, o.project, o.submitted_by, o.whatsapp_message_date, o.created_at,
               o.completed, o.incomplete, o.feedback_sent, o.resubmitted, o.user_name,
               o.last_submitted_at, o.reviewed_at, m.verdict, m.verdict_at, m.feedback_at
        FROM old_reviews AS o JOIN moved AS m ON m.id = o.id
        UNION ALL
        SELECT 1, n.project, n.submitted_by, n.whatsapp_message_date, n.created_at,
               n.completed, n.incomplete, n.feedback_sent, n.resubmitted, n.user_name,
               n.last_submitted_at, n.reviewed_at, m.verdict, m.verdict_at, m.feedback_at
        FROM new_reviews AS n JOIN moved AS m ON m.id = n.id
    ),
    parts AS MATERIALIZED (
        SELECT r.sign,
               (coalesce(r.whatsapp_message_date, r.created_at) AT TIME ZONE z.zone)::date AS day,
               coalesce(r.project, '') AS project,
               coalesce(r.submitted_by, '') AS phone,
               coalesce(r.whatsapp_message_date, r.created_at) AS sighted,
               r.whatsapp_message_date IS NOT NULL AS dated,
               r.completed, r.incomplete, r.feedback_sent IS NOT NULL AS feedback, r.resubmitted,
               r.user_name, r.last_submitted_at, r.reviewed_at, r.verdict AS v, r.verdict_at,
               r.feedback_at,
               CASE WHEN r.verdict IS NOT NULL THEN ARRAY(
                   SELECT CASE WHEN r.verdict -> s.col ->> 'to' = 'passed' THEN 0
                               WHEN r.verdict -> s.col ->> 'to' LIKE 'wrong%' THEN 2
                               ELSE 1 END
                   FROM unnest(ARRAY['step_01_house_photo', 'step_02_cable_from_pole',
                                     'step_03_cable_entry_outside', 'step_04_cable_entry_inside',
                                     'step_05_wall_for_installation',
                                     'step_06_ont_back_after_install',
                                     'step_07_power_meter_reading', 'step_08_ont_barcode',
                                     'step_09_ups_serial', 'step_10_final_installation',
                                     'step_11_green_lights', 'step_12_customer_signature'])
                        WITH ORDINALITY AS s(col, n)
                   ORDER BY s.n) END AS marks
        FROM sides AS r, {schema}.wa_monitor_daily_zone AS z
    ),
    delta AS MATERIALIZED (
        SELECT day, project, phone,
               coalesce(sum(sign), 0)::integer AS drops,
               coalesce(sum(sign) FILTER (WHERE dated), 0)::integer AS dated,
               coalesce(sum(sign) FILTER (WHERE completed), 0)::integer AS completed,
               coalesce(sum(sign) FILTER (WHERE incomplete), 0)::integer AS incomplete,
               coalesce(sum(sign) FILTER (WHERE NOT completed AND NOT incomplete), 0)::integer
                   AS awaiting,
               coalesce(sum(sign) FILTER (WHERE feedback), 0)::integer AS feedback_sent,
               coalesce(sum(sign) FILTER (WHERE resubmitted), 0)::integer AS resubmitted,
               coalesce(sum(sign) FILTER (WHERE v IS NOT NULL), 0)::integer AS reviewed,
               coalesce(sum(sign) FILTER (WHERE marks = array_fill(0, ARRAY[12])), 0)::integer
                   AS passed_first,
               coalesce(sum(sign) FILTER (WHERE marks[1] = 1), 0)::integer AS m01,
               coalesce(sum(sign) FILTER (WHERE marks[2] = 1), 0)::integer AS m02,
               coalesce(sum(sign) FILTER (WHERE marks[3] = 1), 0)::integer AS m03,
               coalesce(sum(sign) FILTER (WHERE marks[4] = 1), 0)::integer AS m04,
               coalesce(sum(sign) FILTER (WHERE marks[5] = 1), 0)::integer AS m05,
               coalesce(sum(sign) FILTER (WHERE marks[6] = 1), 0)::integer AS m06,
               coalesce(sum(sign) FILTER (WHERE marks[7] = 1), 0)::integer AS m07,
               coalesce(sum(sign) FILTER (WHERE marks[8] = 1), 0)::integer AS m08,
               coalesce(sum(sign) FILTER (WHERE marks[9] = 1), 0)::integer AS m09,
               coalesce(sum(sign) FILTER (WHERE marks[10] = 1), 0)::integer AS m10,
               coalesce(sum(sign) FILTER (WHERE marks[11] = 1), 0)::integer AS m11,
               coalesce(sum(sign) FILTER (WHERE marks[12] = 1), 0)::integer AS m12,
               coalesce(sum(sign) FILTER (WHERE marks[1] = 2), 0)::integer AS w01,
               coalesce(sum(sign) FILTER (WHERE marks[2] = 2), 0)::integer AS w02,
               coalesce(sum(sign) FILTER (WHERE marks[3] = 2), 0)::integer AS w03,
               coalesce(sum(sign) FILTER (WHERE marks[4] = 2), 0)::integer AS w04,
               coalesce(sum(sign) FILTER (WHERE marks[5] = 2), 0)::integer AS w05,
               coalesce(sum(sign) FILTER (WHERE marks[6] = 2), 0)::integer AS w06,
               coalesce(sum(sign) FILTER (WHERE marks[7] = 2), 0)::integer AS w07,
               coalesce(sum(sign) FILTER (WHERE marks[8] = 2), 0)::integer AS w08,
               coalesce(sum(sign) FILTER (WHERE marks[9] = 2), 0)::integer AS w09,
               coalesce(sum(sign) FILTER (WHERE marks[10] = 2), 0)::integer AS w10,
               coalesce(sum(sign) FILTER (WHERE marks[11] = 2), 0)::integer AS w11,
               coalesce(sum(sign) FILTER (WHERE marks[12] = 2), 0)::integer AS w12,
               (array_agg(user_name ORDER BY sighted DESC)
                    FILTER (WHERE sign > 0 AND user_name IS NOT NULL))[1] AS name,
               max(sighted) FILTER (WHERE sign > 0 AND user_name IS NOT NULL) AS name_at
        FROM parts
        GROUP BY day, project, phone
    ),
    counted AS (
        -- A key whose counts did not move and that gets no name has nothing to write.
        SELECT * FROM delta AS c
        WHERE c.name_at IS NOT NULL
           OR (c.drops, c.dated, c.completed, c.incomplete, c.awaiting, c.feedback_sent,
               c.resubmitted, c.reviewed, c.passed_first, c.m01, c.m02, c.m03, c.m04, c.m05,
               c.m06, c.m07, c.m08, c.m09, c.m10, c.m11, c.m12, c.w01, c.w02, c.w03, c.w04,
               c.w05, c.w06, c.w07, c.w08, c.w09, c.w10, c.w11, c.w12)
              IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ),
    daily AS (
        INSERT INTO {schema}.wa_monitor_daily AS d (
            day, project, phone, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, reviewed, passed_first,
            m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
            w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12, name, name_at)
        SELECT * FROM counted
        ORDER BY day, project, phone
        ON CONFLICT (day, project, phone) DO UPDATE SET
            drops = d.drops + excluded.drops,
            dated = d.dated + excluded.dated,
            completed = d.completed + excluded.completed,
            incomplete = d.incomplete + excluded.incomplete,
            awaiting = d.awaiting + excluded.awaiting,
            feedback_sent = d.feedback_sent + excluded.feedback_sent,
            resubmitted = d.resubmitted + excluded.resubmitted,
            reviewed = d.reviewed + excluded.reviewed,
            passed_first = d.passed_first + excluded.passed_first,
            m01 = d.m01 + excluded.m01, m02 = d.m02 + excluded.m02, m03 = d.m03 + excluded.m03,
            m04 = d.m04 + excluded.m04, m05 = d.m05 + excluded.m05, m06 = d.m06 + excluded.m06,
            m07 = d.m07 + excluded.m07, m08 = d.m08 + excluded.m08, m09 = d.m09 + excluded.m09,
            m10 = d.m10 + excluded.m10, m11 = d.m11 + excluded.m11, m12 = d.m12 + excluded.m12,
            w01 = d.w01 + excluded.w01, w02 = d.w02 + excluded.w02, w03 = d.w03 + excluded.w03,
            w04 = d.w04 + excluded.w04, w05 = d.w05 + excluded.w05, w06 = d.w06 + excluded.w06,
            w07 = d.w07 + excluded.w07, w08 = d.w08 + excluded.w08, w09 = d.w09 + excluded.w09,
            w10 = d.w10 + excluded.w10, w11 = d.w11 + excluded.w11, w12 = d.w12 + excluded.w12,
            name = CASE WHEN excluded.name_at >= d.name_at OR d.name_at IS NULL
                        THEN coalesce(excluded.name, d.name) ELSE d.name END,
            name_at = greatest(d.name_at, excluded.name_at)
        -- (a row that would come out as it is stays as it is: no new version of it)
        WHERE (excluded.drops, excluded.dated, excluded.completed, excluded.incomplete,
               excluded.awaiting, excluded.feedback_sent, excluded.resubmitted, excluded.reviewed,
               excluded.passed_first, excluded.m01, excluded.m02, excluded.m03, excluded.m04,
               excluded.m05, excluded.m06, excluded.m07, excluded.m08, excluded.m09, excluded.m10,
               excluded.m11, excluded.m12, excluded.w01, excluded.w02, excluded.w03, excluded.w04,
               excluded.w05, excluded.w06, excluded.w07, excluded.w08, excluded.w09, excluded.w10,
               excluded.w11, excluded.w12)
              IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
           OR excluded.name_at > d.name_at
           OR (d.name_at IS NULL AND excluded.name_at IS NOT NULL)
           OR (excluded.name_at = d.name_at AND excluded.name IS DISTINCT FROM d.name)
    ),
    projects AS (
        INSERT INTO {schema}.wa_monitor_daily_projects AS p (
            day, project, drops, dated, completed, incomplete, awaiting, feedback_sent,
            resubmitted, reviewed,
            passed_first, m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12,
            w01, w02, w03, w04, w05, w06, w07, w08, w09, w10, w11, w12)
        SELECT day, project, sum(drops), sum(dated), sum(completed), sum(incomplete),
               sum(awaiting), sum(feedback_sent), sum(resubmitted), sum(reviewed),
               sum(passed_first), sum(m01), sum(m02), sum(m03), sum(m04), sum(m05), sum(m06),
               sum(m07), sum(m08), sum(m09), sum(m10), sum(m11), sum(m12), sum(w01), sum(w02),
               sum(w03), sum(w04), sum(w05), sum(w06), sum(w07), sum(w08), sum(w09), sum(w10),
               sum(w11), sum(w12)
        FROM counted
        GROUP BY day, project
        HAVING (sum(drops), sum(dated), sum(completed), sum(incomplete), sum(awaiting),
                sum(feedback_sent), sum(resubmitted), sum(reviewed), sum(passed_first),
                sum(m01), sum(m02), sum(m03), sum(m04), sum(m05), sum(m06), sum(m07), sum(m08),
                sum(m09), sum(m10), sum(m11), sum(m12), sum(w01), sum(w02), sum(w03), sum(w04),
                sum(w05), sum(w06), sum(w07), sum(w08), sum(w09), sum(w10), sum(w11), sum(w12))
               IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        ORDER BY day, project
        ON CONFLICT (day, project) DO UPDATE SET
            drops = p.drops + excluded.drops,
            dated = p.dated + excluded.dated,
            completed = p.completed + excluded.completed,
            incomplete = p.incomplete + excluded.incomplete,
            awaiting = p.awaiting + excluded.awaiting,
            feedback_sent = p.feedback_sent + excluded.feedback_sent,
            resubmitted = p.resubmitted + excluded.resubmitted,
            reviewed = p.reviewed + excluded.reviewed,
            passed_first = p.passed_first + excluded.passed_first,
            m01 = p.m01 + excluded.m01, m02 = p.m02 + excluded.m02, m03 = p.m03 + excluded.m03,
            m04 = p.m04 + excluded.m04, m05 = p.m05 + excluded.m05, m06 = p.m06 + excluded.m06,
            m07 = p.m07 + excluded.m07, m08 = p.m08 + excluded.m08, m09 = p.m09 + excluded.m09,
            m10 = p.m10 + excluded.m10, m11 = p.m11 + excluded.m11, m12 = p.m12 + excluded.m12,
            w01 = p.w01 + excluded.w01, w02 = p.w02 + excluded.w02, w03 = p.w03 + excluded.w03,
            w04 = p.w04 + excluded.w04, w05 = p.w05 + excluded.w05, w06 = p.w06 + excluded.w06,
            w07 = p.w07 + excluded.w07, w08 = p.w08 + excluded.w08, w09 = p.w09 + excluded.w09,
            w10 = p.w10 + excluded.w10, w11 = p.w11 + excluded.w11, w12 = p.w12 + excluded.w12
    )
    INSERT INTO {schema}.wa_monitor_daily_times AS t (day, project, stage, phone, bucket, n)
    SELECT p.day, p.project, w.stage, w.phone, {schema}.wa_monitor_wait_bucket(w.seconds),
           sum(p.sign)
    FROM parts AS p
    CROSS JOIN LATERAL (VALUES
        (1::smallint, '', extract(epoch FROM p.verdict_at - p.sighted)::double precision),
        (2, '', extract(epoch FROM p.feedback_at - p.verdict_at)::double precision),
        (3, p.phone, CASE WHEN p.resubmitted AND p.last_submitted_at > p.feedback_at
                          THEN extract(epoch FROM p.last_submitted_at - p.feedback_at)
                                   ::double precision END),
        (4, '', CASE WHEN p.completed AND p.resubmitted AND p.reviewed_at > p.last_submitted_at
                     THEN extract(epoch FROM p.reviewed_at - p.last_submitted_at)
                              ::double precision END),
        (5, '', CASE WHEN p.completed
                     THEN extract(epoch FROM p.reviewed_at - p.sighted)::double precision END)
    ) AS w(stage, phone, seconds)
    WHERE (p.verdict_at IS NOT NULL OR p.feedback_at IS NOT NULL OR p.completed) AND w.seconds IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(p.sign) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, project, stage, phone, bucket) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_daily_reviews() FROM PUBLIC;

-- Version 34: why a photo is being retried, as the review page says it
-- (migrations/0034_photo_retry_cause.sql).
ALTER TABLE {schema}.wa_monitor_photos ADD COLUMN IF NOT EXISTS retry_cause text
    CHECK (retry_cause IN ('unreachable', 'bridge', 'decoding', 'here'));

-- Version 35: the photos no drop message claims yet, one row per batch
-- (migrations/0035_photos_waiting.sql).
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
-- Let go photos_waiting_days after they were parked, by the drain (0036).
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_waiting_recorded
    ON {schema}.wa_monitor_photos_waiting (recorded_at);
