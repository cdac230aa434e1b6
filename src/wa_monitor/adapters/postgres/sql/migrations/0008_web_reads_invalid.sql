-- Version 8: the dashboard's overview lists the day's invalid drop numbers and the state of the
-- answer to each. No table changes; the roles that serve this environment's dashboard (those
-- that may read its users, as `schema grant --service web` made them) may now read the invalid
-- submissions and the outbox, so an upgrade needs no new grant.
DO $$
DECLARE
    reader record;
BEGIN
    FOR reader IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_users', 'SELECT')
    LOOP
        EXECUTE format('GRANT SELECT ON %s, %s TO %I',
                       '{schema}.invalid_drop_submissions', '{schema}.wa_monitor_outbox',
                       reader.rolname);
    END LOOP;
END
$$;
