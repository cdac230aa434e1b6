-- Version 14: the reviewers' queue. The reviews awaiting a verdict, across all days, in the
-- order the queue walks them (oldest first, or newest first): a partial index that holds only
-- them, so the first page of the queue, its next and previous, and its counts stay an index
-- range however deep the reviewed history grows. It carries the project and the columns of the
-- order's expression, so the counts per project and age read the index alone (an index-only
-- scan: ~1 ms for 5,000 awaiting among a million, where visiting the rows took ~40 ms).
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_awaiting
    ON {schema}.qa_photo_reviews ((coalesce(whatsapp_message_date, created_at)), id)
    INCLUDE (project, whatsapp_message_date, created_at)
    WHERE NOT completed AND NOT incomplete;

-- Who has a review open right now: a mark a reviewer's page writes when it opens the review and
-- renews while it stays open. A mark older than two minutes means nothing (the reads ignore it,
-- and the writes delete it): it expires on its own. It never blocks a save; the review's version
-- stays the guard.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_review_presence (
    review_id uuid NOT NULL,
    username text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (review_id, username)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_review_presence_seen
    ON {schema}.wa_monitor_review_presence (seen_at);

-- The roles that serve this environment's dashboard (those that may read its users, as `schema
-- grant --service web` made them; never the tables' owner) write and read the marks: an upgrade
-- needs no new grant.
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
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I',
                       '{schema}.wa_monitor_review_presence', web.rolname);
    END LOOP;
END
$$;
