-- Version 21: several bridges per environment (linked devices on other hosts, each with its own
-- messages.db and rowids). The cursor, its anchor and the heartbeat (read_at) are kept per
-- bridge name; a plain `bridge_db` config is the bridge 'main', so the one cursor a schema had
-- becomes main's. newest_at: the newest message time the bridge's monitor has read (a bridge
-- falling behind the freshest one shows in status and alerts).
ALTER TABLE {schema}.wa_monitor_cursor ADD COLUMN IF NOT EXISTS bridge text NOT NULL DEFAULT 'main';
ALTER TABLE {schema}.wa_monitor_cursor DROP COLUMN IF EXISTS singleton;
-- (Only once: a migration may run again over its own work, as every other one does.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '{schema}.wa_monitor_cursor'::regclass AND contype = 'p') THEN
        ALTER TABLE {schema}.wa_monitor_cursor ADD PRIMARY KEY (bridge);
    END IF;
END
$$;
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
