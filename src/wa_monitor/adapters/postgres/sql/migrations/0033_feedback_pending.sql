-- Version 33: the review list's "feedback pending" filter (judged, feedback not sent) with
-- "resubmitted" beside it, through an index of only the reviews whose feedback is pending, by
-- resubmitted and then in the list's order. Through the list's own index the planner walked
-- the reviews newest first looking for the pair, which are rare together: where none was left
-- it read all of them (1M reviews: 600 ms a page, issue 26). A verdict puts a review in it and
-- the feedback sent takes it out: the monitor's new reviews (not judged) never enter it.
CREATE INDEX IF NOT EXISTS idx_qa_photo_reviews_feedback_pending
    ON {schema}.qa_photo_reviews (resubmitted, (coalesce(whatsapp_message_date, created_at)), id)
    WHERE (completed OR incomplete) AND feedback_sent IS NULL;
