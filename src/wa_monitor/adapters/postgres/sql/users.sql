-- Named queries of the dashboard's users and login throttle (adapters/postgres/users.py).
-- {users} and {throttle} are the environment's wa_monitor_users and wa_monitor_login_throttle,
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
RETURNING id;

-- name: disable
UPDATE {users}
SET disabled_at = coalesce(disabled_at, now()), session_epoch = session_epoch + 1,
    updated_at = now()
WHERE username = %(username)s
RETURNING id;

-- name: logged_in
-- After a successful login; the hash is replaced when the hasher's parameters have changed.
UPDATE {users}
SET last_login_at = now(), password_hash = coalesce(%(password_hash)s, password_hash)
WHERE id = %(id)s;

-- name: failures
-- Failed logins of (username, client) in the current window (none once the window is over).
SELECT failures FROM {throttle}
WHERE username = %(username)s AND client = %(client)s
  AND window_started_at > now() - %(window)s::interval;

-- name: client_failures
-- Failed logins from one client address in the current windows, whatever the usernames tried.
SELECT coalesce(sum(failures), 0) FROM {throttle}
WHERE client = %(client)s AND window_started_at > now() - %(window)s::interval;

-- name: record_failure
-- One more failure; an expired window starts again at one.
INSERT INTO {throttle} AS t (username, client, failures, window_started_at)
VALUES (%(username)s, %(client)s, 1, now())
ON CONFLICT (username, client) DO UPDATE SET
    failures = CASE WHEN t.window_started_at > now() - %(window)s::interval
                    THEN t.failures + 1 ELSE 1 END,
    window_started_at = CASE WHEN t.window_started_at > now() - %(window)s::interval
                             THEN t.window_started_at ELSE now() END
RETURNING failures;

-- name: forget_old_failures
-- Windows that ended a day ago say nothing any more; the table stays small under a spray.
DELETE FROM {throttle} WHERE window_started_at < now() - interval '1 day';

-- name: clear_failures
DELETE FROM {throttle} WHERE username = %(username)s AND client = %(client)s;
