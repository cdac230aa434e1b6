-- Named queries of the dashboard's users and login throttle (adapters/postgres/users.py).
-- {users} and {throttle} are the environment's wa_monitor_users and wa_monitor_login_throttle
-- (its `client` is the client's address block: services/accounts.address_block),
-- composed with psycopg.sql.Identifier; everything else is a bound parameter.

-- name: by_name
SELECT id, username, display_name, role, session_epoch, disabled_at, last_login_at, password_hash
FROM {users} WHERE username = %(username)s;

-- name: by_id
SELECT id, username, display_name, role, session_epoch, disabled_at, last_login_at, password_hash
FROM {users} WHERE id = %(id)s;

-- name: all
SELECT id, username, display_name, role, session_epoch, disabled_at, last_login_at, password_hash
FROM {users} ORDER BY username;

-- name: add
INSERT INTO {users} (username, display_name, role, password_hash)
VALUES (%(username)s, %(display_name)s, %(role)s, %(password_hash)s)
ON CONFLICT (username) DO NOTHING
RETURNING id;

-- name: set_password
-- A new password ends every session of the user (session_epoch).
UPDATE {users}
SET password_hash = %(password_hash)s, session_epoch = session_epoch + 1, updated_at = now()
WHERE username = %(username)s
RETURNING disabled_at IS NULL;

-- name: enable
UPDATE {users} SET disabled_at = NULL, updated_at = now()
WHERE username = %(username)s
RETURNING id;

-- name: set_role
-- A new role ends the user's sessions: a page open as a reviewer must not keep its forms.
UPDATE {users}
SET role = %(role)s, session_epoch = session_epoch + 1, updated_at = now()
WHERE username = %(username)s
RETURNING id;

-- name: disable
UPDATE {users}
SET disabled_at = coalesce(disabled_at, now()), session_epoch = session_epoch + 1,
    updated_at = now()
WHERE username = %(username)s
RETURNING id;

-- name: logged_in
-- After a successful login; the hash is replaced when the hasher's parameters have changed.
-- Through the schema's narrow function (migration 0011): the dashboard's role may not UPDATE
-- the users table.
SELECT {schema}.wa_monitor_logged_in(%(id)s, %(checked_hash)s, %(password_hash)s);

-- name: logged_out
-- A logout ends the user's sessions on the server (migration 0015's narrow function): the
-- cookie the browser held is refused if replayed.
SELECT {schema}.wa_monitor_logged_out(%(id)s, %(epoch)s);

-- name: count_attempt
-- One more login attempt, counted before its password is checked: for (username, block) and
-- for the block over every username (the row whose username is ''). Both counts come back as
-- they are after this attempt; concurrent attempts each see a different count (the rows are
-- locked by the upsert), so no more than the limit ever reach the hasher. An expired window
-- starts again at one.
WITH person AS (
    INSERT INTO {throttle} AS t (username, client, failures, window_started_at)
    VALUES (%(username)s, %(client)s, 1, now())
    ON CONFLICT (username, client) DO UPDATE SET
        failures = CASE WHEN t.window_started_at > now() - %(window)s::interval
                        THEN t.failures + 1 ELSE 1 END,
        window_started_at = CASE WHEN t.window_started_at > now() - %(window)s::interval
                                 THEN t.window_started_at ELSE now() END
    RETURNING failures
), block AS (
    INSERT INTO {throttle} AS t (username, client, failures, window_started_at)
    VALUES ('', %(client)s, 1, now())
    ON CONFLICT (username, client) DO UPDATE SET
        failures = CASE WHEN t.window_started_at > now() - %(window)s::interval
                        THEN t.failures + 1 ELSE 1 END,
        window_started_at = CASE WHEN t.window_started_at > now() - %(window)s::interval
                                 THEN t.window_started_at ELSE now() END
    RETURNING failures
)
SELECT (SELECT failures FROM person), (SELECT failures FROM block);

-- name: forgive
-- A login that succeeded: the user's count from the block is gone, and the block's count
-- takes back the attempt (it was not a failure).
WITH person AS (
    DELETE FROM {throttle} WHERE username = %(username)s AND client = %(client)s
)
UPDATE {throttle} SET failures = greatest(failures - 1, 0)
WHERE username = '' AND client = %(client)s;

-- name: forget_old_failures
-- Windows that ended a day ago say nothing any more; the table stays small under a spray.
DELETE FROM {throttle} WHERE window_started_at < now() - interval '1 day';
