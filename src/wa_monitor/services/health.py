"""Is the monitor keeping up? The figures `wa-monitor status` computes (status.measure), judged
with the limits the alerts use ([alerts] max_behind, max_idle_minutes), for the dashboard's
banner and the /metrics gauges."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wa_monitor.services import status
from wa_monitor.settings import Settings


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
    bridges: tuple[status.BridgeStatus, ...] = ()  # with several bridges: each one

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
            "bridges": [
                {
                    "name": b.name,
                    "newest_message_at": iso(b.newest_message_at),
                    "lag_seconds": b.lag_seconds,
                    "last_read_at": iso(b.last_read_at),
                    "running": b.running,
                }
                for b in self.bridges
            ],
        }


def limits(settings: Settings) -> status.Limits:
    """The alerts' limits: the banner warns of what ops would be told."""
    return status.Limits(
        max_behind=settings.alerts.max_behind,
        max_idle=timedelta(minutes=settings.alerts.max_idle_minutes),
    )


def judge(figures: status.EnvStatus, *, within: status.Limits, now: datetime) -> Health:
    """The banner for a set of figures: stopped, behind, unknown or ok, with the reason."""
    waiting, idle = figures.behind, figures.idle_for
    level, message = Level.OK, "The monitor is running and up to date."
    if unknown := [p for p in figures.problems if p not in figures.lagging]:
        level, message = Level.UNKNOWN, "; ".join(unknown)
    if not figures.running:
        level, message = Level.STOPPED, "The monitor is not running: no new drops are recorded."
    elif waiting is not None and within.max_behind is not None and waiting > within.max_behind:
        level, message = Level.BEHIND, f"The monitor is behind: {waiting} messages waiting."
    elif waiting and within.max_idle is not None and (idle is None or idle > within.max_idle):
        since = (
            ""
            if idle is None
            else f"; it last read the bridge {int(idle.total_seconds() // 60)} min ago"
        )
        level = Level.BEHIND
        message = f"The monitor is behind: {waiting} messages waiting{since}."
    elif figures.lagging and level is Level.OK:
        level = Level.BEHIND
        message = "A bridge is behind: " + "; ".join(figures.lagging) + "."
    return Health(
        level=level,
        message=message,
        running=figures.running,
        waiting=waiting,
        last_processed_at=figures.last_processed_at,
        last_message_at=figures.last_processed_message_at,
        last_cycle_at=figures.last_read_at or figures.last_cycle_at,
        checked_at=now,
        bridges=figures.bridges if len(figures.bridges) > 1 else (),
    )


def check(found: status.Figures, settings: Settings, *, now: datetime) -> Health:
    """The environment's health as the dashboard shows it, from `found`."""
    figures = status.measure(found, settings, counts=False)
    return judge(figures, within=limits(settings), now=now)
