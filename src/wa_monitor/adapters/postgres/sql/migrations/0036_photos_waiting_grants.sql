-- Version 36: the waiting photos (0035) are let go photos_waiting_days after they were parked,
-- by the drain, through an index on when they were parked; and the roles already granted for
-- `run` get the waiting table with this upgrade (0035 granted nothing: a daemon with a role of
-- its own would have stalled on its first unclaimed photo), as 0017 did for its table.
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_waiting_recorded
    ON {schema}.wa_monitor_photos_waiting (recorded_at);
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
        EXECUTE format('GRANT SELECT, INSERT, DELETE ON %s TO %I',
                       '{schema}.wa_monitor_photos_waiting', monitor.rolname);
        IF monitor.empties THEN
            EXECUTE format('GRANT TRUNCATE ON %s TO %I',
                           '{schema}.wa_monitor_photos_waiting', monitor.rolname);
        END IF;
    END LOOP;
END
$$;
