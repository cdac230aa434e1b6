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
WHERE l.locktype = 'relation' AND l.granted AND l.mode IN ('ExclusiveLock', 'RowExclusiveLock')
  AND l.relation = to_regclass(format('%%I.%%I', %(schema)s::text, %(table)s::text))
  -- Relation oids are per database: another database's table of the same oid is not ours.
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1;

-- name: load_position
SELECT bridge_rowid, anchor_chat_jid, anchor_message_id, bridge_file, groups, anchor_fingerprint,
       newest_at
FROM {cursor} WHERE bridge = %(bridge)s;

-- name: save_position
-- One row per bridge. read_at: the monitor read the bridge just now (status's liveness; saved at
-- least once a minute while idle). updated_at moves only when the position does; newest_at
-- (the newest message time read from the bridge) only forward.
INSERT INTO {cursor} (
    bridge, bridge_rowid, anchor_chat_jid, anchor_message_id, bridge_file, groups,
    anchor_fingerprint, newest_at, read_at)
VALUES (%(bridge)s, %(rowid)s, %(anchor_chat)s, %(anchor_id)s, %(file)s, %(groups)s::text[],
    %(fingerprint)s, %(newest_at)s, now())
ON CONFLICT (bridge) DO UPDATE SET
    bridge_rowid = excluded.bridge_rowid,
    anchor_chat_jid = excluded.anchor_chat_jid,
    anchor_message_id = excluded.anchor_message_id,
    bridge_file = excluded.bridge_file,
    groups = excluded.groups,
    anchor_fingerprint = excluded.anchor_fingerprint,
    newest_at = greatest({cursor}.newest_at, excluded.newest_at),
    read_at = now(),
    updated_at = CASE
        WHEN ({cursor}.bridge_rowid, {cursor}.anchor_chat_jid, {cursor}.anchor_message_id,
              {cursor}.bridge_file, {cursor}.groups)
             IS NOT DISTINCT FROM (excluded.bridge_rowid, excluded.anchor_chat_jid,
              excluded.anchor_message_id, excluded.bridge_file, excluded.groups)
        THEN {cursor}.updated_at ELSE now() END;

-- name: my_backend
SELECT pg_backend_pid(), backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid();

-- name: bridge_holder
-- The live monitor of a bridge: the session its cursor row names, if it still exists and still
-- holds the environment's instance table (locks.sql: monitor_lock).
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'),
       a.backend_start
FROM {cursor} c
JOIN pg_stat_activity a ON a.pid = c.holder_pid
    AND (a.backend_start IS NULL OR a.backend_start = c.holder_started)
WHERE c.bridge = %(bridge)s
  AND EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.pid = a.pid AND l.locktype = 'relation' AND l.granted
      AND l.mode = 'RowExclusiveLock'
      AND l.relation = to_regclass(format('%%I.%%I', %(schema)s::text, 'wa_monitor_instance'))
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()));

-- name: claim_bridge
-- The election's winner writes its election session into the bridge's cursor row (a new
-- bridge's row starts at rowid 0: read from the start).
INSERT INTO {cursor} (bridge, bridge_rowid, bridge_file, holder_pid, holder_started)
VALUES (%(bridge)s, 0, '', %(pid)s, %(started)s)
ON CONFLICT (bridge) DO UPDATE SET
    holder_pid = excluded.holder_pid, holder_started = excluded.holder_started;

-- name: batch_lock
-- A batch's first statement: the batches of one environment's monitors (one per bridge) take
-- turns. Without it, two bridges' batches could each plan a new review for one drop from
-- different messages, and the later message's could win. SHARE ROW EXCLUSIVE conflicts with
-- itself and needs UPDATE on the environment's own cursor (no other role can take or block it);
-- a reader (status, the dashboard) never waits for it.
LOCK TABLE {cursor} IN SHARE ROW EXCLUSIVE MODE;

-- name: count_known
-- With several bridges, before a batch: how many of its messages the ledger holds, and of its
-- photos the photos table or the waiting photos (every one: another bridge's monitor applied
-- the batch already). The waiting rows are looked for in the bins of the photos' times
-- (photos.sql, record_photos: a row per window's length), one probe of their index a bin.
WITH plain AS MATERIALIZED (
    -- its plain photo rows (photos.record_photos), the skipped senders' left out
    SELECT x.c, x.i, x.t
    FROM json_to_recordset(%(plain)s::json) AS x(c text, i text, s text, t timestamptz)
    WHERE %(photos)s AND NOT EXISTS (
        SELECT 1 FROM unnest(%(skip_chats)b::text[], %(skip_senders)b::text[]) AS k(c, s)
        WHERE k.c = x.c AND k.s = x.s)
),
odd AS MATERIALIZED (
    SELECT * FROM unnest(%(photo_chats)b::text[], %(photo_ids)b::text[],
                         %(photo_at)b::timestamptz[]) AS u(c, i, t)
    WHERE %(photos)s
),
waiting AS MATERIALIZED (
    SELECT x.c, x.i
    FROM (SELECT DISTINCT date_bin(%(stride)s::interval, z.t,
                                   timestamptz '2000-01-01 00:00+00') AS bin
          FROM (SELECT t FROM plain UNION ALL SELECT t FROM odd) AS z) AS b
    CROSS JOIN LATERAL (
        SELECT w.photos FROM {photos_waiting} AS w
        WHERE w.last_at >= b.bin AND w.last_at < b.bin + %(stride)s::interval
        OFFSET 0
    ) AS w
    CROSS JOIN LATERAL json_to_recordset(w.photos) AS x(c text, i text)
)
SELECT
    (SELECT count(*) FROM unnest(%(chats)b::text[], %(ids)b::text[]) AS u(chat_jid, message_id)
     WHERE EXISTS (SELECT 1 FROM {ledger} l
                   WHERE l.chat_jid = u.chat_jid AND l.message_id = u.message_id)),
    (SELECT count(*) FROM (SELECT c, i FROM odd UNION ALL SELECT c, i FROM plain) AS u
     WHERE EXISTS (SELECT 1 FROM {photos} p WHERE p.chat_jid = u.c AND p.message_id = u.i)
        -- IN: one hashed look-up (an EXISTS under OR is a scan of `waiting` per photo)
        OR (u.c, u.i) IN (SELECT w.c, w.i FROM waiting AS w));

-- name: claim_messages
-- Keyed by chat and message id whichever bridge delivered the message: the second bridge's
-- sighting of it finds it here and is a replay. Inserted in key order, so that two bridges'
-- batches holding the same messages wait for each other rather than deadlock.
INSERT INTO {ledger} (
    chat_jid, message_id, bridge_rowid, drops, sent_at, project, sender, user_name, resubmit,
    bridge)
SELECT u.*, %(bridge)s FROM unnest(
    %(chats)b::text[], %(ids)b::text[], %(rowids)b::bigint[], %(drops)b::text[],
    %(sent)b::timestamptz[], %(projects)b::text[], %(senders)b::text[], %(names)b::text[],
    %(resubmit)b::boolean[])
    AS u(chat_jid, message_id, bridge_rowid, drops, sent_at, project, sender, user_name,
         resubmit)
ORDER BY u.chat_jid, u.message_id
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
       feedback_sent, resubmitted
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

-- name: drop_history
-- The messages already applied that named these drops (a batch's message older than its drop's
-- last submission: the drop is folded again in time order). The batch's own claimed messages
-- come back too; a message whose drop was rejected (not in its project's plan) does not.
SELECT d.drop_number, l.chat_jid, l.message_id, l.sent_at, l.project, l.sender, l.user_name,
       l.resubmit
FROM unnest(%(drops)b::text[]) AS d(drop_number)
JOIN {ledger} l ON string_to_array(l.drops, ' ') @> ARRAY[d.drop_number]
WHERE NOT EXISTS (
    SELECT 1 FROM {invalid} i
    WHERE i.chat_jid = l.chat_jid AND i.message_id = l.message_id
      AND i.drop_number = d.drop_number AND i.action = 'reject');

-- name: correct_reviews
-- A review folded again from all its drop's messages in time order (core.reviews: Refold).
-- Its first message's day becomes its review_date unless another review of the drop has that
-- day; the verdict is reset only when a message newer than the last submission resubmitted it.
UPDATE {reviews} AS r SET
    whatsapp_message_date = u.first_at,
    project = u.project,
    monitor_note = u.note,
    review_date = CASE
        WHEN u.day = r.review_date OR EXISTS (
            SELECT 1 FROM {reviews} o WHERE o.drop_number = r.drop_number AND o.review_date = u.day)
        THEN r.review_date ELSE u.day END,
    resubmitted = r.resubmitted OR u.resubmitted,
    user_name = coalesce(u.name, r.user_name),
    submitted_by = coalesce(u.phone, r.submitted_by),
    last_submitted_at = coalesce(u.last_at, r.last_submitted_at),
    incomplete = r.incomplete AND NOT u.reopen,
    feedback_sent = CASE WHEN u.reopen THEN NULL ELSE r.feedback_sent END,
    updated_at = now(),
    version = r.version + 1
FROM unnest(%(ids)b::uuid[], %(first)b::timestamptz[], %(days)b::date[],
            %(resubmitted)b::boolean[], %(names)b::text[], %(phones)b::text[],
            %(last)b::timestamptz[], %(reopen)b::boolean[], %(projects)b::text[],
            %(notes)b::text[])
    AS u(id, first_at, day, resubmitted, name, phone, last_at, reopen, project, note)
WHERE r.id = u.id;

-- name: lookup_plan_lists
-- One indexed query per batch: the batch's (project, drop) pairs that are in a plan, then the
-- batch's validating projects whose list is not empty (with a NULL drop).
-- Each pair probes the key on its own (LATERAL ... LIMIT 1 is never turned into a join): as an
-- EXISTS, the planner, which cannot see how many pairs the array holds, hashed the whole of a
-- list of 125,000 drops for every batch of ~2,000 pairs (20 ms, against 4 ms of probes).
SELECT q.project, q.drop_number
FROM unnest(%(projects)b::text[], %(drops)b::text[]) AS q(project, drop_number)
CROSS JOIN LATERAL (
    SELECT 1 FROM {valid_drops} v
    WHERE v.project = q.project AND v.drop_number = q.drop_number
    LIMIT 1) AS listed
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
