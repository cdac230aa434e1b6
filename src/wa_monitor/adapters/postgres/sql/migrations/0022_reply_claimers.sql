-- Version 22: several bridges, several reply senders (one per bridge's monitor) on one outbox.
-- A claimed reply names the session that claimed it: a reply left 'sending' is stranded (its
-- outcome unknown) only when that session is gone, not while another bridge's sender is posting
-- it. Rows claimed before version 22 name none, and are stranded as before.
ALTER TABLE {schema}.wa_monitor_outbox ADD COLUMN IF NOT EXISTS claimed_pid integer;
ALTER TABLE {schema}.wa_monitor_outbox ADD COLUMN IF NOT EXISTS claimed_started timestamptz;
