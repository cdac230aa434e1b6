-- Named queries of the presence marks (adapters/postgres/presence.py): who has a review open
-- right now. A mark older than two minutes means nothing; a mark never blocks a save.

-- name: mark
-- A reviewer's page opened the review, or is still open on it.
INSERT INTO {presence} (review_id, username, seen_at)
VALUES (%(review)s, %(username)s, now())
ON CONFLICT (review_id, username) DO UPDATE SET seen_at = excluded.seen_at;

-- name: forget_expired
-- The marks nobody renewed: the reads already ignore them, this keeps the table small.
DELETE FROM {presence} WHERE seen_at < now() - interval '10 minutes';

-- name: leave
-- A reviewer's page closed (or went to the next review).
DELETE FROM {presence} WHERE review_id = %(review)s AND username = %(username)s;

-- name: present
-- Who has each of these reviews open now, the most recent first.
SELECT review_id, username, seen_at
FROM {presence}
WHERE review_id = ANY(%(reviews)s::uuid[]) AND seen_at > now() - interval '2 minutes'
ORDER BY seen_at DESC, username;
