-- Version 5: drop validation. Each project's plan list, the submissions of drops not in it, the
-- review flag for "flag" mode, and the outbox of replies the daemon posts to the groups.

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
