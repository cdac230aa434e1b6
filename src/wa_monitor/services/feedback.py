"""Sending a reviewer's feedback to the project's group, at most once per saved verdict.

The one poster (core/replies.post_once): claim (committed) → the bridge's POST /api/send (no
database transaction held; the next bridge's while one is DOWN, each recorded on the claim
before its post) → the outcome recorded, and feedback_sent stamped only when the bridge
answered success and the review is still at the version the message was composed from. A send
whose outcome is unknown is settled by the messages.db of the bridge it went through when the
bot's message is there (core/replies.py: reconcile), else never retried here: a person checks
the group and resolves it. The text is made speakable (no control or bidi character) before it
is claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol
from uuid import UUID

import structlog

from wa_monitor.adapters.postgres.reviewing import Claimed, FeedbackRequest
from wa_monitor.core.ports import ClaimStore
from wa_monitor.core.records import Delivery
from wa_monitor.core.replies import Route, Unsettled, Withdrawn, post_once, speakable
from wa_monitor.errors import WaMonitorError
from wa_monitor.settings import Environment, Settings

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


@dataclass(frozen=True, slots=True)
class SendReport:
    outcome: Delivery | None  # None: the bridge answered but the outcome could not be saved
    send_id: int
    detail: str  # the bridge's answer or what went wrong
    stamped_at: datetime | None  # feedback_sent, when it was stamped

    @property
    def message(self) -> str:
        return explain(self.outcome, self.detail)


def explain(outcome: Delivery | None, detail: str) -> str:
    """How a send ended, in one plain sentence for the reviewer (None: not recorded)."""
    match outcome:
        case Delivery.SENT:
            return "Feedback sent to the group."
        case Delivery.REFUSED:
            return (
                f"The bridge refused the message ({detail}). Nothing was posted; "
                "you can send again."
            )
        case Delivery.DOWN:
            return (
                f"The WhatsApp bridge cannot send right now ({detail}). Nothing was posted; "
                "you can send again."
            )
        case Delivery.UNKNOWN:
            return (
                "The bridge gave no clear answer in time: the message may have been posted. "
                "Check the group, then say below whether it arrived."
            )
        case None:
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


def group_for(settings: Settings, project: str | None) -> str:
    """The group `project`'s feedback goes to here; SendingOff or NoGroup when it cannot go."""
    where = destination(settings, project)
    if where.refusal is not None:
        raise (SendingOff if not where.sending_on else NoGroup)(where.refusal)
    assert where.group_jid is not None  # noqa: S101 - refusal is None only with a group
    return where.group_jid


class FeedbackSends(ClaimStore[Claimed, datetime | None], Protocol):
    """Where feedback sends are claimed and settled (stamping feedback_sent when sent):
    adapters/postgres/reviewing.FeedbackBook, or the in-memory one in tests/support/fakes.py."""

    def claim(self, request: FeedbackRequest, route: Callable[[str | None], str]) -> Claimed:
        """Claim the verdict's one message, committed; refused (NotClaimed, ChangedMeanwhile,
        or what `route` raises) before anything is posted."""
        ...

    def route(self, claim: Claimed, bridge: str) -> bool:
        """Record, committed, that the claimed send is about to go through `bridge`; False
        when it is no longer claimed."""
        ...


def send(
    *,
    sends: FeedbackSends,
    settings: Settings,
    routes: Sequence[Route],
    review_id: UUID,
    version: int,
    text: str,
    by: str,
) -> SendReport:
    """Post `text` as the feedback of the verdict the page showed at `version`, once.

    Raises SendingOff, NoGroup, BadText, ChangedMeanwhile or NotClaimed
    before anything is posted.
    """
    message = speakable(text).strip()
    if not message:
        raise BadText("The feedback text is empty.")
    if len(message) > MAX_TEXT:
        raise BadText(f"The feedback text is longer than {MAX_TEXT} characters.")
    first = routes[0].bridge if routes else None
    request = FeedbackRequest(review_id, version, by, message, first)
    claim = sends.claim(request, partial(group_for, settings))
    try:
        settled = post_once(claim, routes, store=sends, record=sends.route)
    except Withdrawn:  # settled elsewhere between the claim and the post: nothing posted
        log.error("feedback claim changed before its post: not posted", send_id=claim.send_id)
        return SendReport(None, claim.send_id, "the claim changed before the post", None)
    except Unsettled as exc:  # a database error, translated
        # The claim stays 'claimed': after a while the page shows it as unknown, to resolve.
        log.error(
            "feedback outcome not recorded",
            send_id=claim.send_id,
            outcome=exc.posted.outcome.value,
            error=type(exc.__cause__).__name__,
        )
        return SendReport(None, claim.send_id, exc.posted.detail, None)
    posted = settled.posted
    log.info(
        "feedback send",
        drop=claim.drop_number,
        project=claim.project,
        outcome=settled.delivery.value,
        status=None if posted is None else posted.status,
        elapsed_s=None if posted is None else posted.elapsed_s,
        bridge=settled.bridge,
        by=by,
    )
    if settled.delivery is Delivery.SENT and settled.recorded is None:
        log.info(
            "feedback sent for a version since resubmitted: not stamped", send_id=claim.send_id
        )
    return SendReport(settled.delivery, claim.send_id, settled.detail, settled.recorded)
