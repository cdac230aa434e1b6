-- Version 15: a reviewer corrects a mistyped drop number, and a logout ends the session on the
-- server. Both through narrow functions the dashboard's role may execute (SECURITY DEFINER,
-- fixed search_path): the role holds no UPDATE on drop_number nor on wa_monitor_users.
-- A logout ends the session on the server: the user's session epoch moves on, so the cookie
-- the browser held (or anyone copied) is refused at its next request. Only the epoch the
-- logging-out session carried: a stale cookie cannot log a newer session out.
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_logged_out(user_id bigint, epoch integer)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
    UPDATE {schema}.wa_monitor_users
    SET session_epoch = session_epoch + 1, updated_at = now()
    WHERE id = user_id AND session_epoch = epoch;
$body$;
REVOKE ALL ON FUNCTION {schema}.wa_monitor_logged_out(bigint, integer) FROM PUBLIC;

-- A reviewer corrects a review's drop number: only drop_number (and the version, updated_at),
-- only from the version the page showed, only to a well-formed number (DR and 6-8 digits), in
-- the project's plan when `planned` asks for it, never onto a drop that already has a review
-- that day, and always with a reason and a row in the change trail holding the old number.
-- The outcome: 'corrected' (with the new version), 'missing', 'changed' (the version moved on),
-- 'same', 'malformed', 'no_reason', 'unplanned', or 'taken' (with the other review's id).
CREATE OR REPLACE FUNCTION {schema}.wa_monitor_correct_drop(
    review uuid, seen_version integer, new_drop text, reason text, by_name text,
    planned boolean, OUT outcome text, OUT other uuid, OUT new_version integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    target record;
BEGIN
    SELECT id, drop_number, review_date, project, version INTO target
    FROM {schema}.qa_photo_reviews WHERE id = review FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'missing';
        RETURN;
    END IF;
    IF target.version <> seen_version THEN
        outcome := 'changed';
        RETURN;
    END IF;
    IF new_drop IS NULL OR new_drop !~ '^DR[0-9]+$' OR length(new_drop) NOT BETWEEN 8 AND 10 THEN
        outcome := 'malformed';
        RETURN;
    END IF;
    IF new_drop = target.drop_number THEN
        outcome := 'same';
        RETURN;
    END IF;
    IF reason IS NULL OR btrim(reason) = '' OR length(reason) > 300 OR by_name IS NULL THEN
        outcome := 'no_reason';
        RETURN;
    END IF;
    IF planned AND NOT EXISTS (SELECT 1 FROM {schema}.valid_drops v
                               WHERE v.project = target.project AND v.drop_number = new_drop) THEN
        outcome := 'unplanned';
        RETURN;
    END IF;
    SELECT r.id INTO other FROM {schema}.qa_photo_reviews r
    WHERE r.drop_number = new_drop AND r.review_date = target.review_date;
    IF FOUND THEN
        outcome := 'taken';
        RETURN;
    END IF;
    UPDATE {schema}.qa_photo_reviews
    SET drop_number = new_drop, updated_at = now(), version = version + 1
    WHERE id = review
    RETURNING version INTO new_version;
    INSERT INTO {schema}.wa_monitor_review_changes (review_id, version, changed_by, changes)
    VALUES (review, new_version, by_name,
            jsonb_build_object('drop_number',
                               jsonb_build_object('from', target.drop_number, 'to', new_drop),
                               'reason', btrim(reason)));
    outcome := 'corrected';
END
$body$;
REVOKE ALL ON FUNCTION
    {schema}.wa_monitor_correct_drop(uuid, integer, text, text, text, boolean) FROM PUBLIC;

-- The roles that serve this environment's dashboard (as migration 0011 found them) may execute
-- both: an upgrade needs no new grant.
DO $$
DECLARE
    web record;
BEGIN
    FOR web IN
        SELECT rolname
        FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_function_privilege(oid, '{schema}.wa_monitor_logged_in(bigint, text, text)',
                                     'EXECUTE')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_users'::regclass), 'USAGE')
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s(bigint, integer) TO %I',
                       '{schema}.wa_monitor_logged_out', web.rolname);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s(uuid, integer, text, text, text, boolean) '
                       'TO %I', '{schema}.wa_monitor_correct_drop', web.rolname);
    END LOOP;
END
$$;
