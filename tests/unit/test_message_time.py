"""Which message times the monitor believes: a time it cannot read, one dated ahead of the
read time by more than the allowed skew, or one from before WhatsApp existed is replaced by the
read time and flagged (the flawed-rows record and the log say which)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wa_monitor.core.message_time import DEFAULT_MAX_AHEAD, EARLIEST, sent_time
from wa_monitor.core.records import Flaw

NOW = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
SAST = timezone(timedelta(hours=2))
TICK = timedelta(microseconds=1)
SKEW = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("moment", "max_ahead", "taken", "flaw"),
    [
        # an ordinary message, a minute old, in the bridge host's zone
        (
            datetime(2025, 11, 11, 11, 59, tzinfo=SAST),
            SKEW,
            datetime(2025, 11, 11, 11, 59, tzinfo=SAST),
            None,
        ),
        # history synced late: a year old is still its own time
        (NOW - timedelta(days=365), SKEW, NOW - timedelta(days=365), None),
        # the bridge's text could not be read
        (None, SKEW, NOW, Flaw.UNREADABLE_TIME),
        # ahead of the read time by exactly the allowed skew: a drifting clock, believed
        (NOW + SKEW, SKEW, NOW + SKEW, None),
        # one tick more: the message is dated in the future
        (NOW + SKEW + TICK, SKEW, NOW, Flaw.FUTURE_TIME),
        # the same instant written in another zone is the same instant (2 h "ahead" on the dial)
        (
            datetime(2025, 11, 11, 12, 4, tzinfo=SAST),
            SKEW,
            datetime(2025, 11, 11, 12, 4, tzinfo=SAST),
            None,
        ),
        (datetime(2025, 11, 11, 12, 6, tzinfo=SAST), SKEW, NOW, Flaw.FUTURE_TIME),
        # the default skew is a day
        (NOW + DEFAULT_MAX_AHEAD, DEFAULT_MAX_AHEAD, NOW + DEFAULT_MAX_AHEAD, None),
        (NOW + DEFAULT_MAX_AHEAD + TICK, DEFAULT_MAX_AHEAD, NOW, Flaw.FUTURE_TIME),
        # the day WhatsApp's clock starts is believed; a tick before it is not
        (EARLIEST, SKEW, EARLIEST, None),
        (EARLIEST - TICK, SKEW, NOW, Flaw.ANCIENT_TIME),
        # Go's zero time and Unix 0, what a bridge writes for a missing time
        (datetime(1, 1, 1, tzinfo=UTC), SKEW, NOW, Flaw.ANCIENT_TIME),
        (datetime(1970, 1, 1, tzinfo=UTC), SKEW, NOW, Flaw.ANCIENT_TIME),
    ],
)
def test_a_message_time_is_its_own_or_the_read_time_and_why(
    moment: datetime | None, max_ahead: timedelta, taken: datetime, flaw: Flaw | None
) -> None:
    assert sent_time(moment, now=NOW, max_ahead=max_ahead) == (taken, flaw)


def test_every_flag_is_a_time_flaw() -> None:
    # A time flaw marks the message's time as not its own (timestamp_ok false on the record).
    flags = {sent_time(m, now=NOW)[1] for m in (None, NOW + timedelta(days=2), EARLIEST - TICK)}
    assert flags == {Flaw.UNREADABLE_TIME, Flaw.FUTURE_TIME, Flaw.ANCIENT_TIME}
    assert all(f is not None and f.of_time for f in flags)
