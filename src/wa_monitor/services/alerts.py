"""`wa-monitor alerts check`: when a monitor stops, falls behind, is stuck, or the bridge goes
quiet in working hours, tell ops (WhatsApp through the bridge's API, and/or e-mail), once per
incident and once when it is over. The rules are core/alerts.py's; the incidents live in the
schema (wa_monitor_alerts), so a restart, a second check or the systemd OnFailure= hook never
announces one twice.

Each message goes through the one poster (core/replies.post_once): claimed in a short
transaction that holds the alerts lock, posted after it committed (never an HTTP or SMTP call
inside a transaction), settled in a turn of its own. A post certainly not made (DOWN, REFUSED)
is due again at the next check; one that may have been made (UNKNOWN) is never repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from wa_monitor.adapters.postgres.alerts import book
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.replies import BridgeEchoes
from wa_monitor.core import alerts as rules
from wa_monitor.core.alerts import (
    ClaimedAlert,
    Findings,
    Incident,
    IncidentChange,
    Known,
    Message,
    Thresholds,
)
from wa_monitor.core.ports import ClaimStore, Echoes, NoEchoes, Poster
from wa_monitor.core.records import Delivery, SendResult
from wa_monitor.core.replies import Route, Settled, post_once
from wa_monitor.errors import ConfigError, TransientError
from wa_monitor.services.status import EnvStatus, Limits, assess
from wa_monitor.settings import Settings


@dataclass(frozen=True, slots=True)
class Announcement:
    """One message to one channel (an incident's alert, or its recovery) and what it came to."""

    kind: Incident
    channel: str
    recovery: bool
    delivery: Delivery
    detail: str

    @property
    def ok(self) -> bool:
        """Carried, or perhaps carried (never repeated): nothing left to do on this channel."""
        return not self.delivery.retry_is_safe


# channel name → the channel's Poster for a message of that subject (the subject is e-mail's).
Channel = Callable[[str], Poster]


class AlertsDatabaseDown(TransientError):
    """The incidents cannot be read or written: nothing is sent, so nothing is sent twice."""


def health(status: EnvStatus) -> Findings:
    return Findings(
        running=status.running,
        behind=status.behind,
        idle_for=status.idle_for,
        bridge_quiet_for=status.bridge_quiet_for,
        problems=status.problems,
        lagging=status.lagging,
    )


def thresholds(settings: Settings) -> Thresholds:
    a = settings.alerts
    return Thresholds(
        max_behind=a.max_behind,
        max_idle_minutes=a.max_idle_minutes,
        quiet_minutes=a.quiet_minutes,
        working_hours=(a.working_hours[0], a.working_hours[1]),
        working_days=frozenset(a.working_days),
    )


def channels(settings: Settings, bridge: Poster) -> dict[str, Channel]:
    """The configured channels: WhatsApp through `bridge` (the alerts' bridge API), e-mail
    through the relay."""
    a = settings.alerts
    out: dict[str, Channel] = {}
    if a.whatsapp_recipient:
        out["whatsapp"] = lambda subject: bridge
    if a.email_to:

        def email(subject: str) -> Poster:
            from wa_monitor.adapters.mail import Mail  # noqa: PLC0415 - as _BridgeOnUse's

            return Mail(a.smtp_host, a.smtp_port, a.email_from, subject)

        out["email"] = email
    return out


class _BridgeOnUse:
    """The alerts' bridge API, its client made at the first post and closed with `stack`. Most
    checks post nothing, and the HTTP client's import (click and rich with it) was a sixth of
    a check, a process of its own 30 times an hour."""

    def __init__(self, url: str, stack: ExitStack) -> None:
        self._url, self._stack = url, stack
        self._api: Poster | None = None

    def send(self, recipient: str, text: str) -> SendResult:
        if self._api is None:
            from wa_monitor.adapters.bridge_api import BridgeApi  # noqa: PLC0415 - see above

            self._api = self._stack.enter_context(BridgeApi(self._url))
        return self._api.send(recipient, text)


def check(
    settings: Settings,
    url: str,
    *,
    post: Mapping[str, Channel] | None = None,
    now: datetime | None = None,
) -> list[Announcement]:
    """Compare the environment's incidents with those already announced; post what is due."""
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
    recipients = {"whatsapp": recipient or "", "email": ", ".join(settings.alerts.email_to)}
    # Only WhatsApp shows what the bot posted (messages.db); e-mail has nowhere to look.
    echoes: dict[str, Echoes] = {"whatsapp": BridgeEchoes(settings.bridge_db)}
    limits = Limits(
        max_behind=settings.alerts.max_behind,
        max_idle=timedelta(minutes=settings.alerts.max_idle_minutes),
    )
    status = assess(settings, url=url, limits=limits)
    if status.running is None:  # the database did not answer: nowhere to keep the state
        raise AlertsDatabaseDown("; ".join(status.problems))
    now = now or status.checked_at
    found = rules.incidents(health(status), thresholds(settings), now, settings.tz)
    with ExitStack() as opened:
        if post is None:
            posters = channels(settings, _BridgeOnUse(settings.alerts.bridge_api_url, opened))
        else:
            posters = dict(post)
        env = settings.environment.value
        incidents = opened.enter_context(book(Database(url, settings.schema, env)))
        return announce(
            found,
            incidents,
            posters=posters,
            recipients=recipients,
            echoes=echoes,
            env=env,
            tz=settings.tz,
        )


class IncidentsTurn(Protocol):
    """One short transaction on the incidents, holding the environment's alerts lock."""

    def settle_stale(self) -> None:
        """Claims no check settled (it died around its post): perhaps posted, never again."""
        ...

    def known(self) -> dict[Incident, Known]: ...

    def apply(self, change: IncidentChange, kind: Incident, detail: str) -> None: ...

    def claim(self, message: Message) -> None: ...

    def close(self, kind: Incident) -> None: ...


class Incidents(ClaimStore[ClaimedAlert, None], Protocol):
    """The incidents announced (adapters/postgres/alerts.AlertsBook, or FakeIncidents in
    tests/support/fakes.py): turns to claim in, each claim settled in a turn of its own."""

    def turn(self) -> AbstractContextManager[IncidentsTurn]: ...


def announce(
    found: Mapping[Incident, str],
    incidents: Incidents,
    *,
    posters: Mapping[str, Channel],
    recipients: Mapping[str, str],
    echoes: Mapping[str, Echoes],
    env: str,
    tz: tzinfo,
) -> list[Announcement]:
    """What the incidents `found` now change in those kept, and each message that is due,
    claimed in one turn, posted by the one poster with no transaction open and settled once."""
    names = list(posters)
    with incidents.turn() as turn:  # claim
        turn.settle_stale()
        known = turn.known()
        for change, kind in rules.changes(found, known):
            turn.apply(change, kind, found.get(kind, ""))
        claimed: list[ClaimedAlert] = []
        for incident in turn.known().values():
            due = rules.due(incident, names, env, tz)
            if due.close:
                turn.close(incident.kind)
            for message in due.messages:
                turn.claim(message)
                to = recipients.get(message.channel, message.channel)
                claimed.append(ClaimedAlert(message, to, datetime.now().astimezone()))
    # Post, no transaction open; each settled once, in a turn of its own (an unknown post:
    # looked for in messages.db).
    done = [
        (
            claim.message,
            post_once(
                claim,
                [
                    Route(
                        claim.message.channel,
                        posters[claim.message.channel](claim.message.subject),
                        echoes.get(claim.message.channel, NoEchoes()),
                    )
                ],
                store=incidents,
            ),
        )
        for claim in claimed
    ]
    with incidents.turn() as turn:
        for incident in turn.known().values():
            if rules.due(incident, names, env, tz).close:
                turn.close(incident.kind)
    return [
        Announcement(m.kind, m.channel, m.recovery, settled.delivery, _detail(m, settled))
        for m, settled in done
    ]


def _detail(message: Message, settled: Settled[None]) -> str:
    """What a post came to, for ops: a WhatsApp post not made names the bridge's API (an
    e-mail's detail names its relay already)."""
    if message.channel == "whatsapp" and settled.delivery.retry_is_safe:
        return f"bridge API {settled.delivery}: {settled.detail}"
    return settled.detail
