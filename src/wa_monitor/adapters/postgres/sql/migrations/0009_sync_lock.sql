-- Version 9: the SharePoint sync's lock becomes a table lock, like the instance election. A sync
-- holds this (empty) table locked in EXCLUSIVE mode for as long as it runs, which needs UPDATE on
-- it: only the environment's sync role (or an owner) can take that lock or one that conflicts
-- with it. The advisory lock it replaces could be taken by any role of the cluster, and so could
-- make production's nightly sync refuse to run.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_sync_lock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton)
);

-- The roles that run this environment's sync (those that may add to its record, as `schema
-- grant --service sync` made them) may take the new lock: an upgrade needs no new grant.
DO $$
DECLARE
    syncer record;
BEGIN
    FOR syncer IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_sync_writes', 'INSERT')
    LOOP
        EXECUTE format('GRANT UPDATE ON %s TO %I',
                       '{schema}.wa_monitor_sync_lock', syncer.rolname);
    END LOOP;
END
$$;
