"""The alert rules: which incidents an environment's health shows, how the incidents already
announced change, and which message each channel is due. Pure: the adapters keep the incidents
(wa_monitor_alerts) and carry the messages out (core/replies.py's claim-then-post rule).

An incident is announced once per channel and its recovery once per channel that carried the
alert; an incident that is over before any channel carried it is forgotten without a word. A
channel's message is claimed before it is posted: while claimed it is not due again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from wa_monitor.core.replies import speakable


class Incident(enum.StrEnum):
    STOPPED = "stopped"  # no monitor holds the environment's instance lock
    BEHIND = "behind"  # more bridge messages wait than max_behind
    STUCK = "stuck"  # messages wait and the monitor read nothing for max_idle_minutes
    BRIDGE_UNREADABLE = "bridge_unreadable"  # the bridge's file cannot be read
    BRIDGE_QUIET = "bridge_quiet"  # no new message in the bridge for quiet_minutes, working hours
    # One of several bridges is behind the freshest by more than bridge_max_lag_minutes, or its
    # monitor stopped reading it (stopped, or its host is down).
    BRIDGE_BEHIND = "bridge_behind"


OVER = {
    Incident.STOPPED: "a monitor is running again",
    Incident.BEHIND: "the backlog is processed",
    Incident.STUCK: "the monitor reads the bridge again",
    Incident.BRIDGE_UNREADABLE: "the bridge's file can be read again",
    Incident.BRIDGE_QUIET: "the bridge stores new messages again",
    Incident.BRIDGE_BEHIND: "every bridge keeps up again",
}


@dataclass(frozen=True, slots=True)
class Findings:
    """What `wa-monitor status` found, as the rules need it."""

    running: bool | None  # None: the database could not be asked
    behind: int | None  # None: the bridge's file could not be read
    idle_for: timedelta | None  # since the monitor last read the bridge; None: never
    bridge_quiet_for: timedelta | None  # since the bridge's newest message
    problems: tuple[str, ...] = ()
    lagging: tuple[str, ...] = ()  # with several bridges: each one behind or not read (lag())


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_behind: int
    max_idle_minutes: int
    quiet_minutes: int
    working_hours: tuple[str, str]  # "HH:MM" local, start inclusive, end exclusive
    working_days: frozenset[int]  # ISO weekdays, 1 = Monday


def working(rules: Thresholds, now: datetime, tz: tzinfo) -> bool:
    """Whether `now` falls in the working hours of a working day, in the environment's zone."""
    local = now.astimezone(tz)
    start, end = (time.fromisoformat(t) for t in rules.working_hours)
    return local.isoweekday() in rules.working_days and start <= local.time() < end


def incidents(
    health: Findings, rules: Thresholds, now: datetime, tz: tzinfo
) -> dict[Incident, str]:
    """The incidents `health` shows now, each with one line saying what."""
    found: dict[Incident, str] = {}
    if health.running is False:
        found[Incident.STOPPED] = "no wa-monitor is running (its instance lock is free)"
    if health.lagging:
        found[Incident.BRIDGE_BEHIND] = "; ".join(health.lagging)
    if health.behind is None:
        found[Incident.BRIDGE_UNREADABLE] = "; ".join(health.problems) or "bridge unreadable"
        return found
    if health.behind > rules.max_behind:
        found[Incident.BEHIND] = f"{health.behind} bridge messages wait (> {rules.max_behind})"
    idle, limit = health.idle_for, timedelta(minutes=rules.max_idle_minutes)
    if health.running and health.behind > 0 and (idle is None or idle > limit):
        found[Incident.STUCK] = (
            f"{health.behind} bridge messages wait and the monitor has read nothing for "
            f"{minutes(idle)} (> {rules.max_idle_minutes} min)"
        )
    quiet = health.bridge_quiet_for
    if (
        quiet is not None
        and quiet > timedelta(minutes=rules.quiet_minutes)
        and working(rules, now, tz)
    ):
        found[Incident.BRIDGE_QUIET] = (
            f"the bridge stored no new message for {minutes(quiet)} in working hours "
            "(is the bridge connected to WhatsApp?)"
        )
    return found


@dataclass(frozen=True, slots=True)
class BridgeHealth:
    """One of an environment's bridges, as its cursor row shows it."""

    name: str
    newest_at: datetime | None  # the newest message its monitor read from it
    read_at: datetime | None  # when its monitor last read it
    running: bool  # its monitor holds its election


def lag(bridges: Sequence[BridgeHealth], *, max_lag: timedelta, now: datetime) -> list[str]:
    """With several bridges: a line for each one whose newest message is more than `max_lag`
    behind the freshest bridge's, whose monitor does not run, or has not read it for longer
    than `max_lag`. One bridge alone is the other incidents' business."""
    if len(bridges) < 2:
        return []
    times = [b.newest_at for b in bridges if b.newest_at is not None]
    freshest = max(times) if times else None
    lines = []
    for b in bridges:
        why = []
        if not b.running:
            why.append("its monitor is not running")
        if b.read_at is None:
            why.append("its monitor never read it")
        elif now - b.read_at > max_lag:
            why.append(f"its monitor last read it {minutes(now - b.read_at)} ago")
        if freshest is not None and b.newest_at is None:
            why.append("no message read from it yet")
        elif freshest is not None and b.newest_at is not None and freshest - b.newest_at > max_lag:
            behind = freshest - b.newest_at
            why.append(f"its newest message is {minutes(behind)} behind the freshest bridge's")
        if why:
            lines.append(f"bridge {b.name}: {', '.join(why)}")
    return lines


def minutes(span: timedelta | None) -> str:
    return "ever" if span is None else f"{span.total_seconds() / 60:.0f} min"


@dataclass(frozen=True, slots=True)
class Known:
    """An incident as the schema keeps it."""

    kind: Incident
    detail: str
    opened_at: datetime
    opened_via: tuple[str, ...] = ()  # channels that carried its alert (or perhaps did)
    resolved_at: datetime | None = None
    resolved_via: tuple[str, ...] = ()  # channels that carried its recovery
    opening: tuple[str, ...] = ()  # channels whose alert is claimed, being posted
    recovering: tuple[str, ...] = ()  # channels whose recovery is claimed, being posted

    @property
    def in_flight(self) -> bool:
        return bool(self.opening or self.recovering)


class IncidentChange(enum.StrEnum):
    OPEN = "open"  # a new incident
    REOPEN = "reopen"  # back before its recovery went anywhere: it goes on, said once
    RESOLVE = "resolve"  # over


def changes(
    found: Mapping[Incident, str], known: Mapping[Incident, Known]
) -> list[tuple[IncidentChange, Incident]]:
    """How the incidents kept must change for what the check found."""
    out: list[tuple[IncidentChange, Incident]] = []
    for kind in found:
        was = known.get(kind)
        if was is None:
            out.append((IncidentChange.OPEN, kind))
        elif was.resolved_at is not None and not was.resolved_via and not was.recovering:
            out.append((IncidentChange.REOPEN, kind))
    out += [
        (IncidentChange.RESOLVE, kind)
        for kind, was in known.items()
        if kind not in found and was.resolved_at is None
    ]
    return out


@dataclass(frozen=True, slots=True)
class Message:
    """One incident's alert, or its recovery, to one channel."""

    kind: Incident
    channel: str
    recovery: bool
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class ClaimedAlert:
    """An alert claimed for its channel (committed before the post): a Claim (core/ports.py),
    settled by core/replies.settle_once like a reply or a reviewer's feedback."""

    message: Message
    recipient: str  # the WhatsApp group, or the e-mail addresses
    claimed_at: datetime
    bridge: str | None = None  # one route each: none recorded

    @property
    def text(self) -> str:
        """As it is posted (and looked for in messages.db): speakable."""
        return speakable(self.message.text)


@dataclass(frozen=True, slots=True)
class Due:
    """What an incident needs now: messages to claim and post, or to be forgotten (closed)."""

    messages: tuple[Message, ...] = ()
    close: bool = False


def due(incident: Known, channels: Sequence[str], env: str, tz: tzinfo) -> Due:
    """The messages `incident` is due on the configured `channels`, none twice."""
    kind = incident.kind
    since = incident.opened_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    name = kind.value.replace("_", " ")
    if incident.resolved_at is None:
        subject = f"wa-monitor {env}: {name}"
        text = f"🔴 wa-monitor {env}: {incident.detail} (since {since}; see `wa-monitor status`)"
        left = [c for c in channels if c not in incident.opened_via and c not in incident.opening]
        return Due(tuple(Message(kind, c, False, subject, text) for c in left))
    lasted = minutes(incident.resolved_at - incident.opened_at)
    subject = f"wa-monitor {env}: recovered ({name})"
    text = f"✅ wa-monitor {env}: recovered, {OVER[kind]} (incident since {since}, {lasted})"
    left = [
        c
        for c in incident.opened_via
        if c in channels and c not in incident.resolved_via and c not in incident.recovering
    ]
    if left:
        return Due(tuple(Message(kind, c, True, subject, text) for c in left))
    # Nothing left to say and nothing being said: the incident is over for good.
    return Due(close=not incident.in_flight)
