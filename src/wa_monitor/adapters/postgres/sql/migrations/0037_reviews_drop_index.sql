-- Version 37: one index less for the drain to keep. idx_qa_photo_reviews_drop_number (from
-- version 1) indexes what the unique key (drop_number, review_date) already indexes first: every
-- look-up by drop number (the batch's row locks, a drop's history, the review page) is served
-- by the key as well, and every new review and every resubmission (an UPDATE of indexed
-- columns, so a new entry in every index) wrote an entry in both. Measured on a drained
-- database of 14,454 reviews: 1,450 new reviews 27-33 -> 22-26 ms, 650 resubmissions
-- 28-32 -> 21-27 ms, triggers off; the row locks' plan reads the key.
DROP INDEX IF EXISTS {schema}.idx_qa_photo_reviews_drop_number;
