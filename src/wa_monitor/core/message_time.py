"""When a message was sent, as the monitor takes it: the bridge's own time when it is
believable, else the read time and the flaw that says why. Pure: the bridge adapter parses the
file's text and asks this module what the time may be taken as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wa_monitor.core.records import Flaw

# No WhatsApp message was sent before WhatsApp existed: an older time (Go's zero time
# 0001-01-01, a Unix 0) is a missing one.
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)
# How far ahead of the read time a message's time may be and still be its time (clocks drift).
DEFAULT_MAX_AHEAD = timedelta(days=1)


def sent_time(
    moment: datetime | None, *, now: datetime, max_ahead: timedelta = DEFAULT_MAX_AHEAD
) -> tuple[datetime, Flaw | None]:
    """A message's submission time: `moment` (its own time as read from the bridge, None when
    it could not be read), or `now` and the flaw that says why its own cannot be."""
    if moment is None:
        return now, Flaw.UNREADABLE_TIME
    if moment > now + max_ahead:
        return now, Flaw.FUTURE_TIME
    if moment < EARLIEST:
        return now, Flaw.ANCIENT_TIME
    return moment, None
