-- Version 6: hostile bridge rows. Rows processed with something put in place of what they hold
-- (an unreadable or implausible time, an id that is not plain text), and messages the database
-- refused and that were skipped, are recorded, where and why;
-- the cursor keeps a fingerprint of the row it stands on, to notice a file rewritten in place;
-- the instance election becomes a table lock that only the environment's own role can take.

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

ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS anchor_fingerprint text;

-- The instance election: a running monitor holds this (empty) table locked in EXCLUSIVE mode,
-- which needs UPDATE on it, for as long as it runs. Only the environment's own role (or an
-- owner) can take that lock or one that conflicts with it, so no other role can make production
-- stand by. A table lock, not a row lock: it takes no transaction id, so the transaction left
-- open for it holds back no VACUUM.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_instance (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton)
);

-- The roles that run this environment's monitor (those that may update its cursor, as `schema
-- grant` made them) get what it now needs of the new tables, and the roles that read its cursor
-- (the dashboard's) may read the new record: an upgrade needs no new grant. A role that may
-- empty the cursor (dev's, for `schema reset`) may empty the new record too.
DO $$
DECLARE
    reader record;
BEGIN
    FOR reader IN
        SELECT rolname,
               has_table_privilege(oid, '{schema}.wa_monitor_cursor', 'UPDATE') AS runs,
               has_table_privilege(oid, '{schema}.wa_monitor_cursor', 'TRUNCATE') AS empties
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_cursor', 'SELECT')
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I',
                       '{schema}.wa_monitor_flawed_rows', reader.rolname);
        IF reader.runs THEN
            EXECUTE format('GRANT INSERT ON %s TO %I',
                           '{schema}.wa_monitor_flawed_rows', reader.rolname);
            EXECUTE format('GRANT UPDATE ON %s TO %I',
                           '{schema}.wa_monitor_instance', reader.rolname);
        END IF;
        IF reader.empties THEN
            EXECUTE format('GRANT TRUNCATE ON %s TO %I',
                           '{schema}.wa_monitor_flawed_rows', reader.rolname);
        END IF;
    END LOOP;
END
$$;
