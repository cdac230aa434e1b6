"""Whether a verdict's feedback may be claimed, and the sentences a reviewer reads when it may
not or when the review changed under the page: one message per verdict, and a refusal that says
who, when and what to do."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from wa_monitor.core.feedback_claims import (
    STALE_CLAIM,
    Blocked,
    ChangedMeanwhile,
    FeedbackSend,
    How,
    NotClaimed,
    Resolution,
    blocked_by,
    claim_refusal,
)
from wa_monitor.core.records import Delivery

NOW = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
SAST = timezone(timedelta(hours=2))
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)

SEND = FeedbackSend(
    id=7,
    review_version=3,
    sent_by="Thandi",
    claimed_at=NOW - MINUTE,
    recipient="120363418298130331@g.us",
    message="DR1234567\nAll items complete! ✅",
)


def send(
    delivery: Delivery | None, *, age: timedelta = MINUTE, resolution: Resolution | None = None
) -> FeedbackSend:
    return replace(SEND, delivery=delivery, claimed_at=NOW - age, resolution=resolution)


@pytest.mark.parametrize(
    ("holder", "reason"),
    [
        (send(Delivery.SENT), Blocked.ALREADY_SENT),
        # a person found the unknown send in the group: it went out
        (send(Delivery.UNKNOWN, resolution=Resolution.POSTED), Blocked.ALREADY_SENT),
        # another request claimed it and is waiting on the bridge
        (send(None, age=SECOND), Blocked.IN_FLIGHT),
        (send(None, age=STALE_CLAIM), Blocked.IN_FLIGHT),
        # a claim older than the bridge could take: its request died mid-send, perhaps posted
        (send(None, age=STALE_CLAIM + SECOND), Blocked.UNKNOWN),
        (send(Delivery.UNKNOWN), Blocked.UNKNOWN),
    ],
)
def test_a_send_that_holds_the_message_blocks_another_and_says_why(
    holder: FeedbackSend, reason: Blocked
) -> None:
    assert blocked_by(holder, NOW) is reason
    refusal = claim_refusal(reviewed_at=NOW - MINUTE, feedback_sent=None, holder=holder, now=NOW)
    assert refusal is not None
    assert (refusal.reason, refusal.send) == (reason, holder)


@pytest.mark.parametrize(
    ("reviewed_at", "feedback_sent", "holder", "reason"),
    [
        # nothing saved: no verdict to compose feedback from, whatever else is there
        (None, None, None, Blocked.NOT_REVIEWED),
        (None, NOW - MINUTE, send(Delivery.SENT), Blocked.NOT_REVIEWED),
        # a saved verdict, never sent: the claim may go ahead
        (NOW - MINUTE, None, None, None),
        # feedback went out before this verdict was saved: the new verdict may be sent
        (NOW - MINUTE, NOW - 2 * MINUTE, None, None),
        # feedback went out after (or at) this verdict: already sent (e.g. marked posted)
        (NOW - 2 * MINUTE, NOW - MINUTE, None, Blocked.ALREADY_SENT),
        (NOW - MINUTE, NOW - MINUTE, None, Blocked.ALREADY_SENT),
        # a holding send answers first, with who and when
        (NOW - 2 * MINUTE, NOW - MINUTE, send(Delivery.UNKNOWN), Blocked.UNKNOWN),
    ],
)
def test_a_verdict_s_feedback_is_claimed_once(
    reviewed_at: datetime | None,
    feedback_sent: datetime | None,
    holder: FeedbackSend | None,
    reason: Blocked | None,
) -> None:
    refusal = claim_refusal(
        reviewed_at=reviewed_at, feedback_sent=feedback_sent, holder=holder, now=NOW
    )
    assert (refusal.reason if refusal else None) is reason


@pytest.mark.parametrize(
    ("refusal", "sentence"),
    [
        (NotClaimed(Blocked.NOT_REVIEWED), "Save a verdict before sending feedback."),
        (
            NotClaimed(Blocked.ALREADY_SENT, send=send(Delivery.SENT)),
            "Feedback for this verdict was already sent (Thandi, 2025-11-11 11:59:00). Change "
            "and save the verdict to send new feedback.",
        ),
        (
            NotClaimed(Blocked.ALREADY_SENT),
            "Feedback for this verdict was already sent (someone, earlier). Change and save "
            "the verdict to send new feedback.",
        ),
        (
            NotClaimed(Blocked.IN_FLIGHT, send=send(None, age=SECOND)),
            "Thandi is sending this feedback right now (started 2025-11-11 11:59:59).",
        ),
        (
            NotClaimed(Blocked.IN_FLIGHT),
            "someone is sending this feedback right now (started earlier).",
        ),
        (
            NotClaimed(Blocked.UNKNOWN, send=send(Delivery.UNKNOWN)),
            "The send by Thandi at 2025-11-11 11:59:00 may have been posted: the bridge gave "
            "no clear answer. Check the group, then say whether it arrived.",
        ),
    ],
)
def test_a_refused_send_tells_the_reviewer_who_when_and_what_to_do(
    refusal: NotClaimed, sentence: str
) -> None:
    assert refusal.describe(SAST) == sentence


def test_a_refusal_s_own_message_is_in_utc() -> None:
    refusal = NotClaimed(Blocked.IN_FLIGHT, send=send(None))
    assert (
        str(refusal) == "Thandi is sending this feedback right now (started 2025-11-11 09:59:00)."
    )


AT = datetime(2025, 11, 11, 8, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changed", "how", "sentence"),
    [
        (
            ChangedMeanwhile.by_reviewer(version=4, by="Thandi", at=AT, sent_feedback=False),
            How.SAVED,
            "Thandi saved a verdict at 2025-11-11 10:30:05",
        ),
        (
            ChangedMeanwhile.by_reviewer(version=4, by="Thandi", at=AT, sent_feedback=True),
            How.SENT,
            "Thandi sent feedback at 2025-11-11 10:30:05",
        ),
        # the monitor applied the agent's resubmission: the agent's name, the post's time
        (
            ChangedMeanwhile.by_monitor(
                version=4,
                agent="Sipho",
                submitted_by="27821234567",
                last_submitted_at=AT,
                updated_at=NOW,
                resubmitted=True,
            ),
            How.RESUBMITTED,
            "Sipho resubmitted the drop at 2025-11-11 10:30:05",
        ),
        # no name: the number, and failing that "the agent"
        (
            ChangedMeanwhile.by_monitor(
                version=4,
                agent=None,
                submitted_by="27821234567",
                last_submitted_at=AT,
                updated_at=NOW,
                resubmitted=True,
            ),
            How.RESUBMITTED,
            "27821234567 resubmitted the drop at 2025-11-11 10:30:05",
        ),
        (
            ChangedMeanwhile.by_monitor(
                version=4,
                agent=None,
                submitted_by=None,
                last_submitted_at=None,
                updated_at=AT,
                resubmitted=True,
            ),
            How.RESUBMITTED,
            "the agent resubmitted the drop at 2025-11-11 10:30:05",
        ),
        # neither a person nor a resubmission (an ops copy replaced the row): when, not who
        (
            ChangedMeanwhile.by_monitor(
                version=4,
                agent="Sipho",
                submitted_by=None,
                last_submitted_at=None,
                updated_at=AT,
                resubmitted=False,
            ),
            How.CHANGED,
            "it was changed at 2025-11-11 10:30:05",
        ),
    ],
)
def test_a_refused_save_says_who_changed_the_review_and_when(
    changed: ChangedMeanwhile, how: How, sentence: str
) -> None:
    assert changed.how is how
    assert changed.resubmission is (how is How.RESUBMITTED)
    assert changed.describe(SAST) == f"This review changed after you opened it: {sentence}."


@pytest.mark.parametrize(
    ("held", "unresolved"),
    [
        (send(Delivery.UNKNOWN), True),
        (send(None, age=STALE_CLAIM + SECOND), True),
        (send(None, age=STALE_CLAIM), False),  # still within the bridge's time
        (send(Delivery.SENT), False),
        (send(Delivery.REFUSED), False),
        (send(Delivery.DOWN), False),
        (send(Delivery.UNKNOWN, resolution=Resolution.POSTED), False),
        (send(Delivery.UNKNOWN, resolution=Resolution.NOT_POSTED), False),
        (send(None, age=STALE_CLAIM * 2, resolution=Resolution.POSTED), False),
    ],
)
def test_a_send_waits_for_a_person_only_while_it_may_have_been_posted(
    held: FeedbackSend, *, unresolved: bool
) -> None:
    assert held.unresolved(NOW) is unresolved
