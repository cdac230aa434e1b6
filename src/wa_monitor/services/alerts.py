"""`wa-monitor alerts check`: when a monitor stops, falls behind, is stuck, or the bridge goes
quiet in working hours, tell ops (WhatsApp through the bridge's API, and/or e-mail), once per
incident and once when it is over. The rules are core/alerts.py's; the incidents live in the
schema (wa_monitor_alerts), so a restart, a second check or the systemd OnFailure= hook never
announces one twice.

Each message follows the poster's rule (core/replies.py): claimed in a short transaction that
holds the alerts lock, posted after it committed (never an HTTP or SMTP call inside a
transaction), settled in the next. A post certainly not made (DOWN, REFUSED) is due again at the
next check; one that may have been made (UNKNOWN) is never repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from wa_monitor.adapters.postgres.alerts import book
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.replies import BridgeEchoes
from wa_monitor.core import alerts as rules
from wa_monitor.core.alerts import ClaimedAlert, Findings, Incident, Thresholds
from wa_monitor.core.ports import Echoes, NoEchoes
from wa_monitor.core.records import Delivery
from wa_monitor.core.replies import settle_once
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


# channel name → post(subject, text): one attempt, its Delivery and a one-line detail.
Post = Callable[[str, str], tuple[Delivery, str]]


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


def channels(settings: Settings) -> dict[str, Post]:
    """The configured channels as posters."""
    a = settings.alerts
    out: dict[str, Post] = {}
    if a.whatsapp_recipient:
        recipient, url = a.whatsapp_recipient, a.bridge_api_url

        def whatsapp(subject: str, text: str) -> tuple[Delivery, str]:
            # Imported when a message goes: most checks have nothing to say, and the HTTP
            # client's import was a sixth of the check (a process of its own, 30 an hour).
            from wa_monitor.adapters.bridge_api import BridgeApi  # noqa: PLC0415

            with BridgeApi(url) as api:
                delivery, detail = api.post(recipient, text)
            if delivery.retry_is_safe:
                return delivery, f"bridge API {delivery}: {detail}"
            return delivery, detail

        out["whatsapp"] = whatsapp
    if a.email_to:

        def email(subject: str, text: str) -> tuple[Delivery, str]:
            from wa_monitor.adapters.mail import post_mail  # noqa: PLC0415 - as BridgeApi above

            return post_mail(
                host=a.smtp_host,
                port=a.smtp_port,
                sender=a.email_from,
                recipients=a.email_to,
                subject=subject,
                text=text,
            )

        out["email"] = email
    return out


def check(
    settings: Settings,
    url: str,
    *,
    post: Mapping[str, Post] | None = None,
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
    posters = channels(settings) if post is None else dict(post)
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
    env, tz, names = settings.environment.value, settings.tz, list(posters)
    with book(Database(url, settings.schema, env)) as incidents:
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
        posted = [  # post: no transaction open
            (claim, *posters[claim.message.channel](claim.message.subject, claim.text))
            for claim in claimed
        ]
        with incidents.turn() as turn:  # settle, each once (an unknown post: messages.db)
            done = [
                (
                    claim.message,
                    settle_once(
                        claim,
                        delivery,
                        detail,
                        store=turn,
                        echoes=echoes.get(claim.message.channel, NoEchoes()),
                    ),
                )
                for claim, delivery, detail in posted
            ]
            for incident in turn.known().values():
                if rules.due(incident, names, env, tz).close:
                    turn.close(incident.kind)
    return [
        Announcement(m.kind, m.channel, m.recovery, settled.delivery, settled.detail)
        for m, settled in done
    ]
