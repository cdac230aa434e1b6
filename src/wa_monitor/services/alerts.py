"""`wa-monitor alerts check`: when a monitor stops, falls behind, is stuck, or the bridge goes
quiet in working hours, tell ops (WhatsApp group through the bridge's API, and/or e-mail), once
per incident and once when it is over. The incidents live in the schema (wa_monitor_alerts), so
a restart, a second check or the systemd OnFailure= hook never announces one twice.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from wa_monitor.adapters.bridge_api import BridgeApi, SendOutcome
from wa_monitor.adapters.mail import MailError, send_mail
from wa_monitor.adapters.postgres import incidents as table
from wa_monitor.adapters.postgres.db import Connection, Database
from wa_monitor.errors import ConfigError, TransientError
from wa_monitor.services.status import EnvStatus, Limits, assess
from wa_monitor.settings import Settings


class Incident(enum.StrEnum):
    STOPPED = "stopped"  # no monitor holds the environment's instance lock
    BEHIND = "behind"  # more bridge messages wait than max_behind
    STUCK = "stuck"  # messages wait and the monitor read nothing for max_idle_minutes
    BRIDGE_UNREADABLE = "bridge_unreadable"  # the bridge's file cannot be read
    BRIDGE_QUIET = "bridge_quiet"  # no new message in the bridge for quiet_minutes, working hours


OVER = {
    Incident.STOPPED: "a monitor is running again",
    Incident.BEHIND: "the backlog is processed",
    Incident.STUCK: "the monitor reads the bridge again",
    Incident.BRIDGE_UNREADABLE: "the bridge's file can be read again",
    Incident.BRIDGE_QUIET: "the bridge stores new messages again",
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to one channel: an incident's alert, or its recovery."""

    kind: Incident
    channel: str
    recovery: bool
    ok: bool
    detail: str


# channel name → send(subject, text), raising DeliveryFailed when it certainly did not go.
Send = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class _Known:
    """An incident as the schema keeps it."""

    kind: Incident
    detail: str
    opened_at: datetime
    opened_via: tuple[str, ...]
    resolved_at: datetime | None
    resolved_via: tuple[str, ...]


class DeliveryFailed(TransientError):
    """The channel did not take the message; the next check tries it again."""


class AlertsDatabaseDown(TransientError):
    """The incidents cannot be read or written: nothing is sent, so nothing is sent twice."""


def incidents(status: EnvStatus, settings: Settings, now: datetime) -> dict[Incident, str]:
    """The incidents the environment's status shows now, each with one line saying what."""
    rules = settings.alerts
    found: dict[Incident, str] = {}
    if status.running is False:
        found[Incident.STOPPED] = "no wa-monitor is running (its instance lock is free)"
    if status.behind is None:
        found[Incident.BRIDGE_UNREADABLE] = "; ".join(status.problems) or "bridge unreadable"
        return found
    if status.behind > rules.max_behind:
        found[Incident.BEHIND] = f"{status.behind} bridge messages wait (> {rules.max_behind})"
    idle, limit = status.idle_for, timedelta(minutes=rules.max_idle_minutes)
    if status.running and status.behind > 0 and (idle is None or idle > limit):
        found[Incident.STUCK] = (
            f"{status.behind} bridge messages wait and the monitor has read nothing for "
            f"{_minutes(idle)} (> {rules.max_idle_minutes} min)"
        )
    quiet = status.bridge_quiet_for
    if (
        quiet is not None
        and quiet > timedelta(minutes=rules.quiet_minutes)
        and _working(settings, now)
    ):
        found[Incident.BRIDGE_QUIET] = (
            f"the bridge stored no new message for {_minutes(quiet)} in working hours "
            "(is the bridge connected to WhatsApp?)"
        )
    return found


def _working(settings: Settings, now: datetime) -> bool:
    local = now.astimezone(settings.tz)
    start, end = (time.fromisoformat(t) for t in settings.alerts.working_hours)
    return local.isoweekday() in settings.alerts.working_days and start <= local.time() < end


def _minutes(span: timedelta | None) -> str:
    return "ever" if span is None else f"{span.total_seconds() / 60:.0f} min"


def channels(settings: Settings) -> dict[str, Send]:
    """The configured channels as senders."""
    rules = settings.alerts
    out: dict[str, Send] = {}
    if rules.whatsapp_recipient:
        recipient, url = rules.whatsapp_recipient, rules.bridge_api_url

        def whatsapp(subject: str, text: str) -> None:
            with BridgeApi(url) as api:
                result = api.send(recipient, text)
            # UNKNOWN may have been posted: never sent again, so never posted twice.
            if result.outcome not in {SendOutcome.SENT, SendOutcome.UNKNOWN}:
                raise DeliveryFailed(f"bridge API {result.outcome}: {result.detail}")

        out["whatsapp"] = whatsapp
    if rules.email_to:

        def email(subject: str, text: str) -> None:
            try:
                send_mail(
                    host=rules.smtp_host,
                    port=rules.smtp_port,
                    sender=rules.email_from,
                    recipients=rules.email_to,
                    subject=subject,
                    text=text,
                )
            except MailError as exc:
                raise DeliveryFailed(str(exc)) from None

        out["email"] = email
    return out


def check(
    settings: Settings,
    url: str,
    *,
    send: dict[str, Send] | None = None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Compare the environment's incidents with those already announced; send what is new."""
    if not settings.alerts_on:
        raise ConfigError(
            f"alerts are off for {settings.environment.value}: [alerts] enabled = true turns "
            "them on"
        )
    if not settings.alerts.channels:
        raise ConfigError(
            f"alerts for {settings.environment.value} have nowhere to go: set whatsapp_recipient "
            "and/or email_to in its [alerts] table (or enabled = false)"
        )
    recipient = settings.alerts.whatsapp_recipient
    if recipient and not settings.may_post(recipient):
        where = settings.production.source if settings.production else "not read"
        raise ConfigError(
            f"alerts for {settings.environment.value} may not go to WhatsApp {recipient}: dev "
            f"never posts where production's config names the recipient, nor while that config "
            f"is unknown ({where}); name dev's own ops group, or e-mail only"
        )
    senders = channels(settings) if send is None else send
    limits = Limits(
        max_behind=settings.alerts.max_behind,
        max_idle=timedelta(minutes=settings.alerts.max_idle_minutes),
    )
    status = assess(settings, url=url, limits=limits)
    if status.running is None:  # the database did not answer: nowhere to keep the state
        raise AlertsDatabaseDown("; ".join(status.problems))
    now = now or status.checked_at
    found = incidents(status, settings, now)
    db = Database(url, settings.schema, settings.environment.value)
    with db.session("alerts") as conn, conn.transaction():
        return _Round(conn, db, settings, senders).run(found)


class _Round:
    """One check, in one transaction that holds the alerts lock."""

    def __init__(
        self, conn: Connection, db: Database, settings: Settings, senders: dict[str, Send]
    ) -> None:
        self.conn, self.db, self.settings, self.senders = conn, db, settings, senders
        self.deliveries: list[Delivery] = []

    def _known(self) -> dict[Incident, _Known]:
        return {
            Incident(r.kind): _Known(
                Incident(r.kind), r.detail, r.opened_at, r.opened_via, r.resolved_at, r.resolved_via
            )
            for r in table.known(self.conn, self.db)
        }

    def run(self, found: dict[Incident, str]) -> list[Delivery]:
        conn, db = self.conn, self.db
        table.lock(conn, db)
        known = self._known()
        for kind, detail in found.items():
            if kind not in known:
                table.open_incident(conn, db, kind.value, detail)
            elif known[kind].resolved_at is not None and not known[kind].resolved_via:
                table.reopen(conn, db, kind.value)
        for kind, was in known.items():
            if kind not in found and was.resolved_at is None:
                table.resolve(conn, db, kind.value)
        for incident in self._known().values():
            self._announce(incident)
        return self.deliveries

    def _announce(self, incident: _Known) -> None:
        env, tz, kind = self.settings.environment.value, self.settings.tz, incident.kind
        since = incident.opened_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        if incident.resolved_at is None:
            subject = f"wa-monitor {env}: {kind.value.replace('_', ' ')}"
            text = (
                f"🔴 wa-monitor {env}: {incident.detail} (since {since}; see `wa-monitor status`)"
            )
            left = [c for c in self.senders if c not in incident.opened_via]
            self._send(kind, left, subject, text)
            return
        if not incident.opened_via:  # over before anyone was told: nothing to take back
            table.close(self.conn, self.db, kind.value)
            return
        opened_via, resolved_via = incident.opened_via, incident.resolved_via
        lasted = _minutes(incident.resolved_at - incident.opened_at)
        subject = f"wa-monitor {env}: recovered ({kind.value.replace('_', ' ')})"
        text = f"✅ wa-monitor {env}: recovered, {OVER[kind]} (incident since {since}, {lasted})"
        left = [c for c in opened_via if c not in resolved_via and c in self.senders]
        self._send(kind, left, subject, text, recovery=True)
        if all(d.ok for d in self.deliveries if d.kind is kind and d.recovery):
            table.close(self.conn, self.db, kind.value)

    def _send(
        self, kind: Incident, names: list[str], subject: str, text: str, *, recovery: bool = False
    ) -> None:
        for name in names:
            try:
                self.senders[name](subject, text)
            except DeliveryFailed as exc:
                self.deliveries.append(Delivery(kind, name, recovery, False, str(exc)))
                continue
            table.told(self.conn, self.db, kind.value, name, recovery=recovery)
            self.deliveries.append(Delivery(kind, name, recovery, True, text))
