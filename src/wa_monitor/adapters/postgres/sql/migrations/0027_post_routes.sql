-- Version 27: a reply or a reviewer's feedback goes out through the first bridge whose API
-- answers (another bridge's when this host's is down). Each records the bridge it is posted
-- through, committed before the post: an unknown outcome is looked for in that bridge's own
-- messages.db. NULL on rows posted before version 27 (through their claimer's own bridge).
ALTER TABLE {schema}.wa_monitor_outbox ADD COLUMN IF NOT EXISTS bridge text;
ALTER TABLE {schema}.wa_monitor_feedback_sends ADD COLUMN IF NOT EXISTS bridge text;
-- The dashboard's roles (as migration 0011 finds them) record the bridge of the sends they make.
DO $$
DECLARE
    web record;
BEGIN
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_users', 'SELECT')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_users'::regclass), 'USAGE')
          AND has_table_privilege(oid, '{schema}.wa_monitor_feedback_sends', 'INSERT')
    LOOP
        EXECUTE format('GRANT UPDATE (bridge) ON %s TO %I',
                       '{schema}.wa_monitor_feedback_sends', web.rolname);
    END LOOP;
END
$$;
