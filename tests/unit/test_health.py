"""The dashboard's health banner, from the figures status measured: what a reviewer reads
at the top of every page (stopped, behind, unknown, or running and up to date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wa_monitor.services.health import Level, judge
from wa_monitor.services.status import EnvStatus, Limits

NOW = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
LIMITS = Limits(max_behind=500, max_idle=timedelta(minutes=10))


def figures(**kw: object) -> EnvStatus:
    base: dict[str, object] = {"running": True, "behind": 0, "checked_at": NOW}
    return EnvStatus(env="prod", config="/etc/wa-monitor/prod.toml", **(base | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "level", "message"),
    [
        ({}, Level.OK, "The monitor is running and up to date."),
        (
            {"running": False},
            Level.STOPPED,
            "The monitor is not running: no new drops are recorded.",
        ),
        (  # not running outranks every other finding
            {"running": False, "behind": 9000, "problems": ("schema not migrated",)},
            Level.STOPPED,
            "The monitor is not running: no new drops are recorded.",
        ),
        ({"behind": 501}, Level.BEHIND, "The monitor is behind: 501 messages waiting."),
        (  # at the limit, and reading: not yet behind
            {"behind": 500, "last_read_at": NOW - timedelta(minutes=1)},
            Level.OK,
            "The monitor is running and up to date.",
        ),
        (  # a few waiting while it reads: ordinary
            {"behind": 3, "last_read_at": NOW - timedelta(minutes=2)},
            Level.OK,
            "The monitor is running and up to date.",
        ),
        (  # a few waiting and it has not read for longer than max_idle: stuck
            {"behind": 3, "last_read_at": NOW - timedelta(minutes=25)},
            Level.BEHIND,
            "The monitor is behind: 3 messages waiting; it last read the bridge 25 min ago.",
        ),
        (  # messages wait and it never read the bridge
            {"behind": 3},
            Level.BEHIND,
            "The monitor is behind: 3 messages waiting.",
        ),
        (
            {"problems": ("cursor missing", "flawed rows")},
            Level.UNKNOWN,
            "cursor missing; flawed rows",
        ),
    ],
)
def test_the_banner_says_what_is_wrong_and_only_then(
    kw: dict[str, object], level: Level, message: str
) -> None:
    health = judge(figures(**kw), within=LIMITS, now=NOW)
    assert (health.level, health.message) == (level, message)


def test_without_limits_a_backlog_alone_is_no_warning() -> None:
    health = judge(figures(behind=9000), within=Limits(), now=NOW)
    assert health.level is Level.OK
    assert health.waiting == 9000
