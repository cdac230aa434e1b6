"""Sending a reviewer's feedback to the project's group, at most once per saved verdict.

claim (committed) → the bridge's POST /api/send (no database transaction held) → the outcome
recorded, and feedback_sent stamped only when the bridge answered success. A send whose outcome
is unknown is never retried here: a person checks the group and resolves it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import structlog

from wa_monitor.adapters.bridge_api import BridgeApi, SendOutcome, SendResult
from wa_monitor.adapters.postgres import reviewing
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.reviewing import Conn
from wa_monitor.core.feedback_claims import SendState
from wa_monitor.errors import WaMonitorError
from wa_monitor.settings import Environment, Settings

Connect = Callable[[], AbstractContextManager[Conn]]
MAX_TEXT = 4000  # longer than any feedback the 12 steps make; WhatsApp takes far more

log = structlog.get_logger("wa_monitor.feedback")


class SendingOff(WaMonitorError):
    """`[web] send_feedback = false` in this environment."""


class NoGroup(WaMonitorError):
    """The review's project has no group in this environment's config."""


class BadText(WaMonitorError):
    """The feedback text cannot be sent as it is."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a review's feedback would go in this environment, or why it cannot go."""

    project: str | None  # the review's project
    group_jid: str | None  # where the message goes
    group_name: str | None  # that group's project in the config
    sending_on: bool
    dev: bool
    # Whether this environment may post there (core.isolation: dev never where production's
    # config names the group, nor anywhere while production's config is unknown).
    allowed: bool = True
    production_source: str = ""

    @property
    def redirected(self) -> bool:
        """Dev: the message goes to the test group, not to the review's project's group."""
        return self.dev and self.group_jid is not None and self.group_name != self.project

    @property
    def refusal(self) -> str | None:
        """Why Send is refused here; None when it may go."""
        if not self.sending_on:
            return "Sending feedback is turned off in this environment ([web] send_feedback)."
        if self.group_jid is None and self.dev:
            return (
                "Dev sends feedback only to its test group: set [web] feedback_group to that "
                "group's JID (one of dev's [[projects]])."
            )
        if self.group_jid is None:
            return (
                f"Project {self.project or '(none)'} has no WhatsApp group in this "
                "environment's config: feedback cannot be sent."
            )
        if not self.allowed:
            return (
                f"Dev never posts where production lives: production's config names group "
                f"{self.group_jid}, or cannot be read ({self.production_source}). "
                "Nothing is sent."
            )
        return None


class Sent(enum.StrEnum):
    """How a Send ended, as the reviewer is told."""

    SENT = "sent"
    REFUSED = "refused"
    DOWN = "down"
    UNKNOWN = "unknown"
    NOT_RECORDED = "not_recorded"  # the bridge answered but the outcome could not be saved


@dataclass(frozen=True, slots=True)
class SendReport:
    outcome: Sent
    send_id: int
    detail: str  # the bridge's answer or what went wrong
    stamped_at: datetime | None  # feedback_sent, when it was stamped

    @property
    def message(self) -> str:
        return explain(self.outcome, self.detail)


def explain(outcome: Sent, detail: str) -> str:
    """How a send ended, in one plain sentence for the reviewer."""
    match outcome:
        case Sent.SENT:
            return "Feedback sent to the group."
        case Sent.REFUSED:
            return (
                f"The bridge refused the message ({detail}). Nothing was posted; "
                "you can send again."
            )
        case Sent.DOWN:
            return "The WhatsApp bridge is not reachable. Nothing was posted; you can send again."
        case Sent.UNKNOWN:
            return (
                "The bridge gave no clear answer in time: the message may have been posted. "
                "Check the group, then say below whether it arrived."
            )
        case Sent.NOT_RECORDED:
            return (
                f"The bridge answered ({detail}) but the outcome could not be saved. "
                "Check the group before sending again."
            )


def destination(settings: Settings, project: str | None) -> Destination:
    """Where feedback for `project` goes: prod to the project's own group; dev only ever to
    its [web] feedback_group (the test group)."""
    dev = settings.environment is Environment.DEV
    group = settings.web.feedback_group if dev else settings.group_of(project)
    return Destination(
        project=project,
        group_jid=group,
        group_name=settings.project_of(group) if group else None,
        sending_on=settings.web.send_feedback,
        dev=dev,
        allowed=group is None or settings.may_post(group),
        production_source=settings.production.source if settings.production else "not read",
    )


def send(
    *,
    connect: Connect,
    db: Database,
    settings: Settings,
    bridge: BridgeApi,
    review_id: UUID,
    version: int,
    text: str,
    by: str,
) -> SendReport:
    """Post `text` as the feedback of the verdict the page showed at `version`, once.

    Raises SendingOff, NoGroup, BadText, ChangedMeanwhile or NotClaimed
    before anything is posted.
    """
    message = text.strip().replace("\r\n", "\n")
    if not message:
        raise BadText("The feedback text is empty.")
    if len(message) > MAX_TEXT:
        raise BadText(f"The feedback text is longer than {MAX_TEXT} characters.")
    with connect() as conn:
        sheet = reviewing.load(conn, db, review_id)
        where = destination(settings, sheet.project)
        if where.refusal is not None:
            raise (SendingOff if not where.sending_on else NoGroup)(where.refusal)
        assert where.group_jid is not None  # noqa: S101 - refusal is None only with a group
        send_id = reviewing.claim(
            conn,
            db,
            review_id,
            version=version,
            by=by,
            recipient=where.group_jid,
            message=message,
        )
    result = bridge.send(where.group_jid, message)
    log.info(
        "feedback send",
        drop=sheet.drop_number,
        project=sheet.project,
        outcome=result.outcome.value,
        status=result.status,
        elapsed_s=result.elapsed_s,
        by=by,
    )
    return _record(connect, db, review_id, send_id=send_id, result=result, by=by)


def _record(
    connect: Connect, db: Database, review_id: UUID, *, send_id: int, result: SendResult, by: str
) -> SendReport:
    try:
        with db.translated(), connect() as conn:
            stamped = reviewing.finish(
                conn,
                db,
                review_id,
                send_id,
                state=SendState(result.outcome.value),
                status=result.status,
                answer=result.detail,
                by=by,
            )
    except WaMonitorError as exc:
        # The claim stays 'claimed': after a while the page shows it as unknown, to resolve.
        log.error("feedback outcome not recorded", send_id=send_id, error=type(exc).__name__)
        return SendReport(Sent.NOT_RECORDED, send_id, result.detail, None)
    outcome = {
        SendOutcome.SENT: Sent.SENT,
        SendOutcome.REFUSED: Sent.REFUSED,
        SendOutcome.DOWN: Sent.DOWN,
        SendOutcome.UNKNOWN: Sent.UNKNOWN,
    }[result.outcome]
    return SendReport(outcome, send_id, result.detail, stamped)
