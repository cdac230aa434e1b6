-- Version 18: the monitor's note kept apart from the reviewer's comment. The monitor wrote
-- "Created from WhatsApp message in <project> group" into `comment`, the column a reviewer's
-- save writes, so the review page showed the note as the review's comment, the comment box
-- started empty, and the first save erased the note. The note now has its own column, which
-- the monitor writes and the dashboard's roles may read but not update (their column grants,
-- migration 0011, name `comment` and not this one): `comment` is the reviewer's alone.
ALTER TABLE {schema}.qa_photo_reviews ADD COLUMN IF NOT EXISTS monitor_note text;

-- The notes written before: moved out of the reviewer's column (a note a save already replaced
-- is gone; the trail has the reviewer's comment that replaced it).
UPDATE {schema}.qa_photo_reviews
SET monitor_note = comment, comment = NULL
WHERE monitor_note IS NULL
  AND comment = 'Created from WhatsApp message in ' || project || ' group';
