-- Named queries of the ops commands (ops.py, status.py, doctor.py), loaded like queries.sql.
-- {reviews}, {ledger}, {cursor}, {migrations} and {schema} name the target environment's objects,
-- {prod_reviews} and {prod_ledger} production's, {role} a role, {columns}/{updates} column lists:
-- all composed with psycopg.sql.Identifier. Everything else is a bound parameter.

-- name: lock_timeout
SET LOCAL lock_timeout = '10s';

-- name: instance_xact_lock
-- The running monitor's lock (locks.sql: table_lock), held for this transaction only: if a
-- monitor of the schema runs we do not get it, and while we hold it no monitor starts.
LOCK TABLE {instance} IN EXCLUSIVE MODE NOWAIT;

-- name: row_counts
SELECT (SELECT count(*) FROM {reviews}), (SELECT count(*) FROM {ledger});

-- name: reset
TRUNCATE {reviews}, {ledger}, {cursor}, {invalid}, {outbox}, {changes}, {sends}, {flawed},
    {skipped}, {photo_steps};

-- name: outside_dependents
-- Objects outside the schema that DROP SCHEMA … CASCADE would take with it (a view, a foreign
-- key, a trigger on a table elsewhere): each dependent object is placed in its own schema, or in
-- its table's schema for defaults, rules, triggers and policies.
WITH inside AS (
    SELECT 'pg_class'::regclass AS classid, oid FROM pg_class
        WHERE relnamespace = %(schema)s::regnamespace
    UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type
        WHERE typnamespace = %(schema)s::regnamespace
    UNION ALL SELECT 'pg_proc'::regclass, oid FROM pg_proc
        WHERE pronamespace = %(schema)s::regnamespace
), dependents AS (
    SELECT DISTINCT d.classid, d.objid, d.objsubid
    FROM pg_depend d JOIN inside i ON d.refclassid = i.classid AND d.refobjid = i.oid
    WHERE d.deptype IN ('n', 'a')
)
SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
FROM dependents d
WHERE coalesce(
    (SELECT relnamespace FROM pg_class WHERE d.classid = 'pg_class'::regclass AND oid = d.objid),
    (SELECT typnamespace FROM pg_type WHERE d.classid = 'pg_type'::regclass AND oid = d.objid),
    (SELECT pronamespace FROM pg_proc WHERE d.classid = 'pg_proc'::regclass AND oid = d.objid),
    (SELECT connamespace FROM pg_constraint
        WHERE d.classid = 'pg_constraint'::regclass AND oid = d.objid),
    (SELECT c.relnamespace FROM pg_attrdef a JOIN pg_class c ON c.oid = a.adrelid
        WHERE d.classid = 'pg_attrdef'::regclass AND a.oid = d.objid),
    (SELECT c.relnamespace FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
        WHERE d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid),
    (SELECT c.relnamespace FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE d.classid = 'pg_trigger'::regclass AND t.oid = d.objid),
    (SELECT c.relnamespace FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        WHERE d.classid = 'pg_policy'::regclass AND p.oid = d.objid)
) IS DISTINCT FROM %(schema)s::regnamespace
ORDER BY 1;

-- name: drop_schema
DROP SCHEMA {schema} CASCADE;

-- name: review_columns
-- Columns of a schema's review table that can be written (not generated), in table order.
SELECT a.attname::text
FROM pg_attribute a
WHERE a.attrelid = to_regclass(format('%%I.%%I', %(schema)s::text, 'qa_photo_reviews'))
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum;

-- name: copy_reviews
WITH recent AS (
    SELECT {columns} FROM {prod_reviews} WHERE created_at >= now() - %(window)s::interval
), written AS (
    INSERT INTO {reviews} ({columns}) SELECT {columns} FROM recent
    ON CONFLICT (drop_number, review_date) DO NOTHING
    RETURNING true AS inserted
)
SELECT (SELECT count(*) FROM recent), (SELECT count(*) FROM written), 0;

-- name: copy_reviews_replace
-- xmax is 0 on a row this statement inserted, and set on one it updated. {updates} sets each
-- column as `replace_column` below, and the version as `replace_version`.
WITH recent AS (
    SELECT {columns} FROM {prod_reviews} WHERE created_at >= now() - %(window)s::interval
), written AS (
    INSERT INTO {reviews} ({columns}) SELECT {columns} FROM recent
    ON CONFLICT (drop_number, review_date) DO UPDATE SET {updates}
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM recent),
       (SELECT count(*) FROM written WHERE inserted),
       (SELECT count(*) FROM written WHERE NOT inserted);

-- name: copy_ledger
-- Production's ledger entries of the messages all of whose drops were copied: their effect is in
-- the copied rows, so the dev monitor must find them applied and not apply them a second time. A
-- message that also named a drop left behind stays out: dev applies it, or that drop is lost.
INSERT INTO {ledger} (chat_jid, message_id, bridge_rowid, drops, sent_at, processed_at)
SELECT l.chat_jid, l.message_id, l.bridge_rowid, l.drops, l.sent_at, l.processed_at
FROM {prod_ledger} l
WHERE string_to_array(l.drops, ' ') <@ ARRAY(
    SELECT drop_number::text FROM {prod_reviews}
    WHERE created_at >= now() - %(window)s::interval)
ON CONFLICT (chat_jid, message_id) DO NOTHING;

-- name: role_info
-- Whether a role exists, is a superuser, or owns (directly or by membership) a wa-monitor table of
-- the schema: grants cannot limit either.
SELECT r.rolsuper,
       EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %(schema)s AND c.relname = ANY(%(tables)s::text[])
                 AND pg_has_role(r.oid, c.relowner, 'USAGE'))
FROM pg_roles r WHERE r.rolname = %(role)s;

-- name: revoke_tables
REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role};

-- name: revoke_functions
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM {role};

-- name: grant_columns
GRANT {privilege} ({columns}) ON {table} TO {role};

-- name: grant_function
GRANT EXECUTE ON FUNCTION {function}({arguments}) TO {role};

-- name: revoke_create
REVOKE CREATE ON SCHEMA {schema} FROM {role};

-- name: grant_usage
GRANT USAGE ON SCHEMA {schema} TO {role};

-- name: grant_table
GRANT {privileges} ON {table} TO {role};

-- name: role_attributes
-- A role's attributes and whether it may create schemas in this database (its own or PUBLIC's).
SELECT r.rolname::text, r.rolsuper, r.rolcreatedb, r.rolcreaterole, current_database()::text,
       has_database_privilege(r.oid, current_database(), 'CREATE')
FROM pg_roles r WHERE r.rolname = coalesce(%(role)s, current_user::text);

-- name: table_privileges
-- Every privilege a role holds (its own, through PUBLIC, or inherited) on a table or view
-- outside the system schemas; the current role when none is named.
SELECT n.nspname::text, c.relname::text, p.privilege
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                        'TRIGGER']) AS p(privilege)
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
  AND has_table_privilege(coalesce(%(role)s, current_user::text), c.oid, p.privilege)
ORDER BY 1, 2, 3;

-- name: schema_privileges
SELECT n.nspname::text, p.privilege
FROM pg_namespace n CROSS JOIN unnest(ARRAY['USAGE', 'CREATE']) AS p(privilege)
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
  AND has_schema_privilege(coalesce(%(role)s, current_user::text), n.oid, p.privilege)
ORDER BY 1, 2;

-- name: column_privileges
-- Every column-level grant a role holds (its own, through PUBLIC, or inherited), as the columns'
-- own ACLs say: a table-wide grant is not listed here (table_privileges has it).
SELECT n.nspname::text, c.relname::text, a.attname::text, acl.privilege_type::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(a.attacl) AS acl
WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
  AND acl.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
  AND (acl.grantee = 0
       OR pg_has_role(coalesce(%(role)s, current_user::text), acl.grantee, 'USAGE'))
ORDER BY 1, 2, 3, 4;

-- name: function_privileges
-- wa-monitor's own functions (wa_monitor_*) in any schema that a role may execute.
SELECT n.nspname::text, p.proname::text
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname LIKE 'wa\_monitor\_%%'
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%%'
  AND has_function_privilege(coalesce(%(role)s, current_user::text), p.oid, 'EXECUTE')
ORDER BY 1, 2;

-- name: wa_monitor_schemas
-- Every schema that holds wa-monitor's tables: each is some environment's.
SELECT n.nspname::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'wa_monitor_migrations' AND c.relkind IN ('r', 'p')
ORDER BY 1;

-- name: status_reviews
SELECT count(*), count(*) FILTER (WHERE review_date = %(today)s), max(created_at) FROM {reviews};

-- name: status_ledger
SELECT processed_at, sent_at FROM {ledger} ORDER BY processed_at DESC, sent_at DESC LIMIT 1;

-- name: status_cursor
SELECT bridge_rowid, updated_at, read_at FROM {cursor} WHERE bridge = %(bridge)s;

-- name: status_bridges
-- Every bridge's cursor: its newest message read, the heartbeat, and whether its monitor runs
-- (the election's holder still there and still holding the instance table: queries.sql,
-- bridge_holder).
SELECT c.bridge, c.bridge_rowid, c.newest_at, c.read_at, h.pid, h.backend_start
FROM {cursor} c
LEFT JOIN LATERAL (
    SELECT a.pid, a.backend_start FROM pg_stat_activity a
    -- (backend_start is hidden from a role that is not the session's: the pid and its lock do)
    WHERE a.pid = c.holder_pid
      AND (a.backend_start IS NULL OR a.backend_start = c.holder_started)
      AND EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.pid = a.pid AND l.locktype = 'relation' AND l.granted
          AND l.mode = 'RowExclusiveLock'
          AND l.relation = to_regclass(format('%%I.%%I', %(schema)s::text, 'wa_monitor_instance'))
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
) h ON true
ORDER BY c.bridge;

-- name: status_flawed
SELECT count(*), max(seen_at) FROM {flawed};

-- name: status_skipped
-- Drop messages skipped for their sender since %(since)s, per sender and reason, newest first.
SELECT sender, reason, count(*), max(sent_at)
FROM {skipped}
WHERE sent_at >= %(since)s
GROUP BY sender, reason
ORDER BY max(sent_at) DESC;

-- name: replace_version
{column} = {target}.{column} + 1

-- name: replace_column
{column} = excluded.{column}

-- name: ledger_before_21
-- Ledger entries written before version 21, which kept no project, sender or resubmission word
-- (so their drop cannot be folded again when an older message arrives late): a page after the
-- key given, in key order.
SELECT chat_jid, message_id FROM {ledger}
WHERE sender IS NULL AND (chat_jid, message_id) > (%(chat)s, %(id)s)
ORDER BY chat_jid, message_id
LIMIT %(limit)s;

-- name: complete_ledger
-- Those entries completed from the message as the bridge still holds it (sightings of it).
UPDATE {ledger} AS l SET
    project = u.project, sender = u.sender, user_name = u.user_name, resubmit = u.resubmit
FROM unnest(%(chats)b::text[], %(ids)b::text[], %(projects)b::text[], %(senders)b::text[],
            %(names)b::text[], %(resubmit)b::boolean[])
    AS u(chat_jid, message_id, project, sender, user_name, resubmit)
WHERE l.chat_jid = u.chat_jid AND l.message_id = u.message_id AND l.sender IS NULL;
