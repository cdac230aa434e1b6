-- Version 34: why a photo is being retried, as the review page says it. 'retrying' meant "the
-- bridge is not answering" for every failure, also for those of this machine (its cache not
-- writable, the database refusing the row) and of the decoder: a reviewer or an operator was
-- sent to look at the bridge for a full disk. NULL before version 34 (read as the bridge).
--   unreachable: no answer from the bridge (refused, timed out, cut)
--   bridge:      the bridge answered with an error (e.g. its WhatsApp link down)
--   decoding:    the file came, and the image decoder failed on it or took too long
--   here:        the file came, and this machine could not keep it (cache, database)
ALTER TABLE {schema}.wa_monitor_photos ADD COLUMN IF NOT EXISTS retry_cause text
    CHECK (retry_cause IN ('unreachable', 'bridge', 'decoding', 'here'));
