-- Version 20: which step a photo shows. A reviewer marks, on a review's page, which of the 12
-- steps a photo of the drop shows; the step's row then shows that photo. A mark is the
-- review's (a photo a message shares between two drops is marked per review), it outlives the
-- verdict's saves and the agent's resubmissions, and goes with the review or the photo.
CREATE TABLE IF NOT EXISTS {schema}.wa_monitor_photo_steps (
    review_id uuid NOT NULL REFERENCES {schema}.qa_photo_reviews (id) ON DELETE CASCADE,
    photo_id bigint NOT NULL REFERENCES {schema}.wa_monitor_photos (id) ON DELETE CASCADE,
    step smallint NOT NULL CHECK (step BETWEEN 1 AND 12),
    marked_by text NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (review_id, photo_id)
);
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photo_steps_photo
    ON {schema}.wa_monitor_photo_steps (photo_id);

-- A thumbnail's request finds its photo by the cache's key (photos.servable): an index, so it
-- stays one lookup however many photos the environment holds.
CREATE INDEX IF NOT EXISTS idx_wa_monitor_photos_content_key
    ON {schema}.wa_monitor_photos (content_key) WHERE content_key IS NOT NULL;

-- The roles that serve this environment's dashboard (those that may read its users, as `schema
-- grant --service web` made them; never the tables' owner) write and read the marks: an upgrade
-- needs no new grant. A role that may empty the reviews' change trail (dev's own, for `schema
-- reset`) may empty the marks too: they are emptied with the reviews.
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
                       '{schema}.wa_monitor_photo_steps', web.rolname);
    END LOOP;
    FOR web IN
        SELECT rolname FROM pg_roles
        WHERE rolname NOT LIKE 'pg\_%' AND NOT rolsuper
          AND has_table_privilege(oid, '{schema}.wa_monitor_review_changes', 'TRUNCATE')
          AND NOT pg_has_role(oid, (SELECT relowner FROM pg_class
                                    WHERE oid = '{schema}.wa_monitor_review_changes'::regclass),
                              'USAGE')
    LOOP
        EXECUTE format('GRANT TRUNCATE ON %s TO %I', '{schema}.wa_monitor_photo_steps',
                       web.rolname);
    END LOOP;
END
$$;
