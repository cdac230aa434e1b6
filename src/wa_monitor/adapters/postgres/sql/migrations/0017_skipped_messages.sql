-- Version 17: messages that name a drop but were skipped because of who sent them (a number in
-- `bot_senders`, or the bridge's own account when `own_account_posts_drops` is false). The
-- monitor logs each sender once; this table lets `status` count them and name the senders long
-- after the log has rotated, so that an agent listed as a bot by mistake is never silent.
-- One row per message (a rescan adds none); `schema reset` empties it with the ledger.
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

-- The roles that run this environment's monitor (those that may add to its ledger, as `schema
-- grant --service run` made them; never the tables' owner) record and count them, and dev's may
-- empty them with the rest (`schema reset`): an upgrade needs no new grant, and the monitor never
-- stalls on a table it may not write.
DO $$
DECLARE
    monitor record;
BEGIN
    FOR monitor IN
        SELECT rolname, has_table_privilege(oid, '{schema}.wa_monitor_ledger', 'TRUNCATE') AS empties
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_ledger', 'INSERT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_ledger'::regclass), 'USAGE')
    LOOP
        EXECUTE format('GRANT SELECT, INSERT ON %s TO %I',
                       '{schema}.wa_monitor_skipped', monitor.rolname);
        IF monitor.empties THEN
            EXECUTE format('GRANT TRUNCATE ON %s TO %I',
                           '{schema}.wa_monitor_skipped', monitor.rolname);
        END IF;
    END LOOP;
END
$$;
