"""Is the monitor keeping up? The figures `wa-monitor status` computes, judged for the
dashboard's banner and the /metrics gauges."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from wa_monitor.adapters.postgres.db import instance_holder
from wa_monitor.services import status
from wa_monitor.settings import Settings

# More bridge messages than this waiting is "behind" even while the monitor runs; so is any
# message waiting longer than STALE after the monitor last wrote its position.
BEHIND_MESSAGES = 500
STALE = timedelta(minutes=2)


class Level(enum.StrEnum):
    OK = "ok"
    BEHIND = "behind"
    STOPPED = "stopped"
    UNKNOWN = "unknown"  # the figures could not be read: the reason is in `message`


@dataclass(frozen=True, slots=True)
class Health:
    level: Level
    message: str  # one line for the banner
    running: bool | None
    waiting: int | None  # bridge messages of watched groups not yet processed
    last_processed_at: datetime | None  # when the monitor applied its newest message
    last_message_at: datetime | None  # that message's time in the bridge
    last_cycle_at: datetime | None
    checked_at: datetime

    @property
    def age_seconds(self) -> float | None:
        """How long ago the newest processed message was applied."""
        if self.last_processed_at is None:
            return None
        return max((self.checked_at - self.last_processed_at).total_seconds(), 0.0)

    def as_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "level": self.level.value,
            "message": self.message,
            "running": self.running,
            "waiting": self.waiting,
            "last_processed_at": iso(self.last_processed_at),
            "last_message_at": iso(self.last_message_at),
            "last_processed_age_seconds": self.age_seconds,
            "last_cycle_at": iso(self.last_cycle_at),
            "checked_at": iso(self.checked_at),
        }


def judge(figures: status.EnvStatus, *, running: bool, now: datetime) -> Health:
    """The banner for a set of figures: stopped, behind, unknown or ok, with the reason."""
    waiting = figures.behind
    cycle = figures.last_cycle_at
    level, message = Level.OK, "The monitor is running and up to date."
    if figures.problems:
        level, message = Level.UNKNOWN, "; ".join(figures.problems)
    if not running:
        level, message = Level.STOPPED, "The monitor is not running: no new drops are recorded."
    elif waiting is not None and waiting > BEHIND_MESSAGES:
        level, message = Level.BEHIND, f"The monitor is behind: {waiting} messages waiting."
    elif waiting and (cycle is None or now - cycle > STALE):
        minutes = "" if cycle is None else f" for {int((now - cycle).total_seconds() // 60)} min"
        level = Level.BEHIND
        message = f"The monitor is behind: {waiting} messages waiting{minutes}."
    return Health(
        level=level,
        message=message,
        running=running,
        waiting=waiting,
        last_processed_at=figures.last_processed_at,
        last_message_at=figures.last_processed_message_at,
        last_cycle_at=cycle,
        checked_at=now,
    )


def check(conn: psycopg.Connection[Any], settings: Settings, *, now: datetime) -> Health:
    """The environment's health as the dashboard shows it, read on `conn`."""
    figures = status.measure(conn, settings, counts=False)
    running = instance_holder(conn, settings.schema) is not None
    return judge(figures, running=running, now=now)
