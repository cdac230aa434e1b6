"""Whether a reviewer's feedback may be sent, and what the reviewer is told when it may not.

A verdict's feedback is one message: it is claimed before the bridge is called, and a claim
that holds it (sent, being sent, or perhaps posted) refuses every other. These are the rules
and the sentences; the adapter (adapters/postgres/reviewing.py) reads and writes the rows.
Pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from wa_monitor.core.records import Delivery
from wa_monitor.errors import WaMonitorError

# A claim with no outcome after this long was cut off (the web process died mid-send): it is
# shown as unknown and a person may resolve it. Well above the bridge client's 7 s bound.
STALE_CLAIM = timedelta(minutes=2)


class Resolution(enum.StrEnum):
    """What a reviewer found in the group for a send whose outcome was unknown."""

    POSTED = "posted"
    NOT_POSTED = "not_posted"


@dataclass(frozen=True, slots=True)
class FeedbackSend:
    id: int
    review_version: int
    sent_by: str
    claimed_at: datetime
    recipient: str
    message: str
    # What came of it: nothing yet, as claimed (committed before the bridge was called).
    finished_at: datetime | None = None
    delivery: Delivery | None = None
    bridge_status: int | None = None
    bridge_answer: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: Resolution | None = None

    @property
    def state(self) -> str:
        """As the table keeps it: 'claimed', or the delivery's value."""
        return "claimed" if self.delivery is None else self.delivery.value

    def unresolved(self, now: datetime) -> bool:
        """Perhaps posted and nobody has checked the group yet: no new Send until resolved."""
        if self.resolution is not None:
            return False
        return self.delivery is Delivery.UNKNOWN or (
            self.delivery is None and now - self.claimed_at > STALE_CLAIM
        )


class How(enum.StrEnum):
    """What made a review's current version."""

    SAVED = "saved"  # a reviewer saved a verdict
    SENT = "sent"  # a reviewer's feedback went out (feedback_sent stamped)
    RESUBMITTED = "resubmitted"  # the monitor applied the agent's resubmission
    CHANGED = "changed"  # something else (an ops copy replaced the row)


class ChangedMeanwhile(WaMonitorError):
    """Someone changed the review after the page was loaded: nothing was written.

    `by`, `at` and `how` say who made the current version, when and how.
    """

    def __init__(self, *, version: int, by: str, at: datetime, how: How) -> None:
        self.version, self.by, self.at, self.how = version, by, at, how
        super().__init__(self.describe(UTC))

    @classmethod
    def by_reviewer(
        cls, *, version: int, by: str, at: datetime, sent_feedback: bool
    ) -> ChangedMeanwhile:
        """A reviewer made the current version: saved a verdict, or sent its feedback."""
        return cls(version=version, by=by, at=at, how=How.SENT if sent_feedback else How.SAVED)

    @classmethod
    def by_monitor(
        cls,
        *,
        version: int,
        agent: str | None,
        submitted_by: str | None,
        last_submitted_at: datetime | None,
        updated_at: datetime,
        resubmitted: bool,
    ) -> ChangedMeanwhile:
        """No person's change made the current version: the monitor applied the agent's
        resubmission (or an ops copy replaced the row)."""
        return cls(
            version=version,
            by=agent or submitted_by or "the agent",
            at=last_submitted_at or updated_at,
            how=How.RESUBMITTED if resubmitted else How.CHANGED,
        )

    @property
    def resubmission(self) -> bool:
        return self.how is How.RESUBMITTED

    def describe(self, tz: tzinfo) -> str:
        when = _clock(self.at, tz)
        what = {
            How.SAVED: f"{self.by} saved a verdict at {when}",
            How.SENT: f"{self.by} sent feedback at {when}",
            How.RESUBMITTED: f"{self.by} resubmitted the drop at {when}",
            How.CHANGED: f"it was changed at {when}",
        }[self.how]
        return f"This review changed after you opened it: {what}."


class Blocked(enum.StrEnum):
    NOT_REVIEWED = "not_reviewed"  # no verdict saved yet: nothing to compose feedback from
    ALREADY_SENT = "already_sent"  # this verdict's message went out
    IN_FLIGHT = "in_flight"  # another request is sending it right now
    UNKNOWN = "unknown"  # a send may have been posted; a person must check the group first


class NotClaimed(WaMonitorError):
    """A send could not be claimed; `send` is the one that holds this verdict's message."""

    def __init__(self, reason: Blocked, *, send: FeedbackSend | None = None) -> None:
        self.reason, self.send = reason, send
        super().__init__(self.describe(UTC))

    def describe(self, tz: tzinfo) -> str:
        who = self.send.sent_by if self.send else "someone"
        when = _clock(self.send.claimed_at, tz) if self.send else "earlier"
        match self.reason:
            case Blocked.NOT_REVIEWED:
                return "Save a verdict before sending feedback."
            case Blocked.ALREADY_SENT:
                return (
                    f"Feedback for this verdict was already sent ({who}, {when}). Change and "
                    "save the verdict to send new feedback."
                )
            case Blocked.IN_FLIGHT:
                return f"{who} is sending this feedback right now (started {when})."
            case Blocked.UNKNOWN:
                return (
                    f"The send by {who} at {when} may have been posted: the bridge gave no "
                    "clear answer. Check the group, then say whether it arrived."
                )


def blocked_by(holder: FeedbackSend, now: datetime) -> Blocked:
    """Why `holder`, a send that holds the verdict's message, refuses another claim."""
    if holder.delivery is Delivery.SENT or holder.resolution is Resolution.POSTED:
        return Blocked.ALREADY_SENT
    if holder.delivery is None and now - holder.claimed_at <= STALE_CLAIM:
        return Blocked.IN_FLIGHT
    return Blocked.UNKNOWN


def claim_refusal(
    *,
    reviewed_at: datetime | None,
    feedback_sent: datetime | None,
    holder: FeedbackSend | None,
    now: datetime,
) -> NotClaimed | None:
    """Why the feedback of the review's current verdict may not be claimed; None if it may.

    `reviewed_at` is when the verdict was saved, `feedback_sent` when feedback last went out,
    `holder` the send that already holds this verdict's message, if any.
    """
    if reviewed_at is None:
        return NotClaimed(Blocked.NOT_REVIEWED)
    if holder is not None:
        return NotClaimed(blocked_by(holder, now), send=holder)
    if feedback_sent is not None and reviewed_at <= feedback_sent:
        return NotClaimed(Blocked.ALREADY_SENT)
    return None


def _clock(moment: datetime, tz: tzinfo) -> str:
    """A moment as the reviewer's sentences give it: `2025-11-11 12:25:30`, in `tz`."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
