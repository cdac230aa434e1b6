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
