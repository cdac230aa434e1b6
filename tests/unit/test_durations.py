"""The window of `schema copy-from-prod --since`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wa_monitor.adapters.postgres.admin import parse_duration
from wa_monitor.errors import Refused


def test_durations() -> None:
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("24h") == timedelta(days=1)
    assert parse_duration("7d") == timedelta(weeks=1)
    assert parse_duration("1d12h") == timedelta(hours=36)
    assert parse_duration(" 2W ") == timedelta(weeks=2)
    with pytest.raises(Refused, match="too long"):
        parse_duration("9" * 20 + "w")
