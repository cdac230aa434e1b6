-- Version 32: the messages that named several drops, in an index of their own. A photo count
-- (the overview's day, the review list's page, a review's photos) looks, for each drop, for the
-- messages that named it and other drops too (whose photos it shares): through the ledger's
-- index of every message (0002) that was a probe and a heap visit per drop, almost all of them
-- a single-drop message thrown away: 28 ms of a past day's 2,700 drops at a million reviews.
-- This index holds only those few messages (the queries' own `strpos(drops, ' ') > 0`), so a
-- probe finds nothing in a tiny index; the monitor's insert of a one-drop message skips it.
CREATE INDEX IF NOT EXISTS idx_wa_monitor_ledger_shared_drops
    ON {schema}.wa_monitor_ledger USING gin (string_to_array(drops, ' '))
    WHERE strpos(drops, ' ') > 0;
