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
