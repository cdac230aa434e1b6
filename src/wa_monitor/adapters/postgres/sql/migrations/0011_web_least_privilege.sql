-- Version 11: the dashboard's role writes only the columns its pages write. It could UPDATE
-- every column of wa_monitor_users (role, password_hash, disabled_at) and of qa_photo_reviews
-- (drop_number, project, created_at), leaving no change-trail row. Now a reviewer's save, the
-- feedback stamp and a send's outcome each update their own columns, and a login notes itself
-- (and replaces a hash made with old parameters) through one narrow function the role may
-- execute: it writes last_login_at, and password_hash only in place of the very hash the login
-- just checked and only with an argon2id hash, and nothing of a disabled user.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_logged_in(user_id bigint, checked_hash text,
                                                         new_hash text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
    UPDATE {schema}.wa_monitor_users
    SET last_login_at = now(),
        password_hash = CASE
            WHEN new_hash LIKE '$argon2id$%' AND password_hash = checked_hash THEN new_hash
            ELSE password_hash
        END
    WHERE id = user_id AND disabled_at IS NULL;
$body$;
-- Functions are executable by PUBLIC unless told otherwise: this one only by the web roles.
REVOKE ALL ON FUNCTION {schema}.wa_monitor_logged_in(bigint, text, text) FROM PUBLIC;

-- The roles that serve this environment's dashboard (those that may read its users, as `schema
-- grant --service web` made them; never the tables' owner) trade their table-wide UPDATEs for
-- the columns and the function: an upgrade needs no new grant.
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
    LOOP
        EXECUTE format('REVOKE UPDATE ON %s, %s, %s FROM %I',
                       '{schema}.wa_monitor_users', '{schema}.qa_photo_reviews',
                       '{schema}.wa_monitor_feedback_sends', web.rolname);
        EXECUTE format('GRANT UPDATE (step_01_house_photo, step_02_cable_from_pole, '
                       'step_03_cable_entry_outside, step_04_cable_entry_inside, '
                       'step_05_wall_for_installation, step_06_ont_back_after_install, '
                       'step_07_power_meter_reading, step_08_ont_barcode, step_09_ups_serial, '
                       'step_10_final_installation, step_11_green_lights, '
                       'step_12_customer_signature, wrong_steps, comment, completed, incomplete, '
                       'completed_photos, outstanding_photos, reviewed_by, reviewed_at, '
                       'feedback_sent, updated_at, version) ON %s TO %I',
                       '{schema}.qa_photo_reviews', web.rolname);
        EXECUTE format('GRANT UPDATE (state, finished_at, bridge_status, bridge_answer, '
                       'resolution, resolved_by, resolved_at) ON %s TO %I',
                       '{schema}.wa_monitor_feedback_sends', web.rolname);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s(bigint, text, text) TO %I',
                       '{schema}.wa_monitor_logged_in', web.rolname);
    END LOOP;
END
$$;
