-- Named queries of the store and of the handle (adapters/postgres/db.py), as `queries.NAME`.
-- {reviews}, {ledger}, {cursor}, {migrations} and {schema} are composed with
-- psycopg.sql.Identifier; everything else is a bound parameter. Arrays go in binary (%(x)b):
-- psycopg's text dumping of 100,000 timestamps costs ten times as much.

-- name: session
-- Every connection wa-monitor makes (the web's pool and exports too): a dashboard transaction
-- holding a review row must not stall the monitor for ever.
SET lock_timeout = '30s'; SET idle_in_transaction_session_timeout = '5min';

-- name: schema_exists
SELECT to_regnamespace(%(schema)s) IS NOT NULL;

-- name: migrations_table_exists
-- From the catalog, not to_regclass(): a role without USAGE on the schema may still ask.
SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %(schema)s AND c.relname = 'wa_monitor_migrations');

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS {migrations} (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: applied_versions
SELECT version FROM {migrations} ORDER BY version;

-- name: record_migration
INSERT INTO {migrations} (version, name) VALUES (%(version)s, %(name)s);

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS {schema};

-- name: migration_lock
SELECT pg_advisory_xact_lock(hashtext('wa-monitor migrate ' || %(schema)s));

-- name: daemon_session
-- The daemon's own bounds, well inside the service's 30 s stop timeout: a batch waiting for a row
-- or table another session holds gives up within seconds and is retried, so SIGTERM is answered
-- in seconds, not when the other session lets go.
SET lock_timeout = '3s'; SET statement_timeout = '20s';

-- name: instance_table_exists
SELECT to_regclass(format('%%I.%%I', %(schema)s::text, 'wa_monitor_instance')) IS NOT NULL;

-- name: instance_lock_holder
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'),
       a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'ExclusiveLock'
  AND l.relation = to_regclass(format('%%I.%%I', %(schema)s::text, %(table)s::text))
  -- Relation oids are per database: another database's table of the same oid is not ours.
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1;

-- name: load_position
SELECT bridge_rowid, anchor_chat_jid, anchor_message_id, bridge_file, groups, anchor_fingerprint
FROM {cursor};

-- name: save_position
-- read_at: the monitor read the bridge just now (status's liveness; saved at least once a
-- minute while idle). updated_at moves only when the position does.
INSERT INTO {cursor} (
    singleton, bridge_rowid, anchor_chat_jid, anchor_message_id, bridge_file, groups,
    anchor_fingerprint, read_at)
VALUES (true, %(rowid)s, %(anchor_chat)s, %(anchor_id)s, %(file)s, %(groups)s::text[],
    %(fingerprint)s, now())
ON CONFLICT (singleton) DO UPDATE SET
    bridge_rowid = excluded.bridge_rowid,
    anchor_chat_jid = excluded.anchor_chat_jid,
    anchor_message_id = excluded.anchor_message_id,
    bridge_file = excluded.bridge_file,
    groups = excluded.groups,
    anchor_fingerprint = excluded.anchor_fingerprint,
    read_at = now(),
    updated_at = CASE
        WHEN ({cursor}.bridge_rowid, {cursor}.anchor_chat_jid, {cursor}.anchor_message_id,
              {cursor}.bridge_file, {cursor}.groups)
             IS NOT DISTINCT FROM (excluded.bridge_rowid, excluded.anchor_chat_jid,
              excluded.anchor_message_id, excluded.bridge_file, excluded.groups)
        THEN {cursor}.updated_at ELSE now() END;

-- name: claim_messages
INSERT INTO {ledger} (chat_jid, message_id, bridge_rowid, drops, sent_at)
SELECT * FROM unnest(
    %(chats)b::text[], %(ids)b::text[], %(rowids)b::bigint[], %(drops)b::text[],
    %(sent)b::timestamptz[])
ON CONFLICT (chat_jid, message_id) DO NOTHING
RETURNING bridge_rowid;

-- name: record_flawed
-- Sent only for a batch that has such rows; a replayed message finds its row already there.
INSERT INTO {flawed} (chat_jid, message_id, bridge_rowid, flaw, bridge_time, detail)
SELECT * FROM unnest(
    %(chats)b::text[], %(ids)b::text[], %(rowids)b::bigint[], %(flaws)b::text[],
    %(times)b::text[], %(details)b::text[])
ON CONFLICT (chat_jid, message_id, flaw) DO UPDATE SET
    detail = excluded.detail, seen_at = excluded.seen_at;

-- name: lock_reviews
SELECT id, drop_number, coalesce(last_submitted_at, whatsapp_message_date, created_at),
       feedback_sent
FROM {reviews}
WHERE drop_number = ANY(%(drops)b::text[])
ORDER BY drop_number, review_date, created_at
FOR UPDATE;

-- name: insert_reviews
INSERT INTO {reviews} (
    drop_number, review_date, project, user_name, submitted_by,
    whatsapp_message_date, last_submitted_at, resubmitted, monitor_note, drop_not_in_plan)
SELECT * FROM unnest(
    %(drops)b::text[], %(dates)b::date[], %(projects)b::text[], %(names)b::text[],
    %(phones)b::text[], %(first)b::timestamptz[], %(last)b::timestamptz[],
    %(resubmitted)b::boolean[], %(notes)b::text[], %(flagged)b::boolean[])
ON CONFLICT (drop_number, review_date) DO NOTHING
RETURNING drop_number;

-- name: resubmit_reviews
UPDATE {reviews} AS r SET
    resubmitted = true,
    incomplete = false,
    feedback_sent = NULL,
    submitted_by = u.phone,
    user_name = u.name,
    last_submitted_at = u.at,
    updated_at = now(),
    -- A reviewer with this review open must not save over the resubmission unseen.
    version = r.version + 1
FROM unnest(%(ids)b::uuid[], %(phones)b::text[], %(names)b::text[], %(at)b::timestamptz[])
    AS u(id, phone, name, at)
WHERE r.id = u.id;

-- name: lookup_plan_lists
-- One indexed query per batch: the batch's (project, drop) pairs that are in a plan, then the
-- batch's validating projects whose list is not empty (with a NULL drop).
SELECT q.project, q.drop_number
FROM unnest(%(projects)b::text[], %(drops)b::text[]) AS q(project, drop_number)
WHERE EXISTS (
    SELECT 1 FROM {valid_drops} v WHERE v.project = q.project AND v.drop_number = q.drop_number)
UNION ALL
SELECT p.project, NULL
FROM unnest(%(validating)b::text[]) AS p(project)
WHERE EXISTS (SELECT 1 FROM {valid_drops} v WHERE v.project = p.project);

-- name: insert_invalid
INSERT INTO {invalid} (
    chat_jid, message_id, drop_number, project, submitted_by, user_name,
    whatsapp_message_date, reason, action)
SELECT * FROM unnest(
    %(chats)b::text[], %(ids)b::text[], %(drops)b::text[], %(projects)b::text[],
    %(phones)b::text[], %(names)b::text[], %(at)b::timestamptz[], %(reasons)b::text[],
    %(actions)b::text[])
ON CONFLICT (chat_jid, message_id, drop_number) DO NOTHING;

-- name: insert_replies
INSERT INTO {outbox} (kind, chat_jid, message_id, drop_number, project, text, message_at, sender)
SELECT * FROM unnest(
    %(kinds)b::text[], %(chats)b::text[], %(ids)b::text[], %(drops)b::text[],
    %(projects)b::text[], %(texts)b::text[], %(at)b::timestamptz[], %(senders)b::text[])
ON CONFLICT (kind, chat_jid, message_id, drop_number) DO NOTHING;

-- name: missing_tables
SELECT t FROM unnest(%(tables)s::text[]) AS t
WHERE NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = %(schema)s AND c.relname = t)
ORDER BY 1;

-- name: whoami
SELECT current_user::text, current_database()::text, current_setting('server_version');

-- name: record_skips
-- Messages that name a drop but were skipped (a bot number, the bridge's own account): once
-- each, so a rescan or a retried batch counts none twice.
INSERT INTO {skipped} (chat_jid, message_id, sender, reason, sent_at)
SELECT * FROM unnest(
    %(chats)s::text[], %(ids)s::text[], %(senders)s::text[], %(reasons)s::text[],
    %(sent)s::timestamptz[])
ON CONFLICT (chat_jid, message_id) DO NOTHING;
