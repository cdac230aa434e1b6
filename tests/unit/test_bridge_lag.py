"""Several bridges: which one is behind the freshest or no longer read (core.alerts.lag), and
the incident it makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wa_monitor.core.alerts import (
    BridgeHealth,
    Findings,
    Incident,
    Thresholds,
    incidents,
    lag,
)

NOW = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
LIMIT = timedelta(minutes=15)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def bridge(
    name: str, newest: float | None, read: float | None, running: bool = True
) -> BridgeHealth:
    return BridgeHealth(
        name=name,
        newest_at=None if newest is None else ago(newest),
        read_at=None if read is None else ago(read),
        running=running,
    )


@pytest.mark.parametrize(
    ("bridges", "expected"),
    [
        pytest.param([bridge("a", 1, 0)], [], id="one bridge alone is never lagging"),
        pytest.param([bridge("a", 1, 0), bridge("b", 10, 0)], [], id="ten minutes behind: ok"),
        pytest.param(
            [bridge("a", 1, 0), bridge("b", 61, 0)],
            ["bridge b: its newest message is 60 min behind the freshest bridge's"],
            id="an hour behind the other (a stalled bridge)",
        ),
        pytest.param(
            [bridge("a", 1, 0), bridge("b", 1, 30, running=False)],
            ["bridge b: its monitor is not running, its monitor last read it 30 min ago"],
            id="its monitor stopped (a host down)",
        ),
        pytest.param(
            [bridge("a", 1, 0), bridge("b", None, None, running=False)],
            [
                "bridge b: its monitor is not running, its monitor never read it, "
                "no message read from it yet"
            ],
            id="never read at all",
        ),
        pytest.param(
            [bridge("a", 1, 0), bridge("b", 1, 20)],
            ["bridge b: its monitor last read it 20 min ago"],
            id="running but not reading (stuck)",
        ),
    ],
)
def test_which_bridge_is_behind(bridges: list[BridgeHealth], expected: list[str]) -> None:
    assert lag(bridges, max_lag=LIMIT, now=NOW) == expected


RULES = Thresholds(
    max_behind=500,
    max_idle_minutes=10,
    quiet_minutes=120,
    working_hours=("07:00", "19:00"),
    working_days=frozenset({1, 2, 3, 4, 5, 6}),
)


def test_a_lagging_bridge_is_an_incident_even_where_the_bridge_file_is_unreadable() -> None:
    lines = ("bridge b: its monitor is not running",)
    found = Findings(running=True, behind=0, idle_for=None, bridge_quiet_for=None, lagging=lines)
    assert incidents(found, RULES, NOW, UTC) == {Incident.BRIDGE_BEHIND: lines[0]}
    unreadable = Findings(
        running=True, behind=None, idle_for=None, bridge_quiet_for=None, lagging=lines
    )
    assert Incident.BRIDGE_BEHIND in incidents(unreadable, RULES, NOW, UTC)
    ok = Findings(running=True, behind=0, idle_for=None, bridge_quiet_for=None)
    assert Incident.BRIDGE_BEHIND not in incidents(ok, RULES, NOW, UTC)
