"""A reviewer's Send through in-memory fakes of its ports (the feedback sends' claim store, the
bridge's send API, messages.db): claimed before the post, posted once, settled once, stamped
only when the bridge took it for the version it was composed from. No database, in
milliseconds; tests/integration/test_reviewing.py drives the same path on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.fakes import FakeEchoes, FakeFeedbackSends, FakePoster, FakeReview
from tests.unit.test_feedback_destination import LAWLEY, VELO, settings
from wa_monitor.core.feedback_claims import Blocked, ChangedMeanwhile, NotClaimed
from wa_monitor.core.records import Delivery
from wa_monitor.core.replies import Route
from wa_monitor.errors import TransientError
from wa_monitor.services.feedback import BadText, NoGroup, SendReport, send
from wa_monitor.settings import Settings

NOON = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
TEXT = "DR1234567\nNEEDS CORRECTION\n\nMissing items:\n• 1. House Photo"


class Desk:
    """One reviewed drop in Lawley, a clock, and the fakes a Send goes through."""

    def __init__(self, *outcomes: Delivery, echoes: FakeEchoes | None = None) -> None:
        self.now = NOON
        self.sends = FakeFeedbackSends(now=lambda: self.now)
        self.bridge = FakePoster(*outcomes)
        self.echoes = echoes or FakeEchoes()
        self.review = self.sends.add(
            FakeReview(version=2, project="Lawley", drop_number="DR1234567", reviewed_at=NOON)
        )

    def send(
        self, text: str = TEXT, *, version: int = 2, where: Settings | None = None
    ) -> SendReport:
        return send(
            sends=self.sends,
            settings=where or settings("prod"),
            routes=[Route("main", self.bridge, self.echoes)],
            review_id=self.review,
            version=version,
            text=text,
            by="thandi",
        )

    def states(self) -> list[Delivery | None]:
        return [s.delivery for s in self.sends.of(self.review)]


def test_a_send_is_claimed_posted_once_settled_and_stamped() -> None:
    desk = Desk(Delivery.SENT)
    report = desk.send()
    assert (report.outcome, report.message) == (Delivery.SENT, "Feedback sent to the group.")
    assert desk.bridge.posted == [(LAWLEY, TEXT)]
    assert desk.states() == [Delivery.SENT]
    assert report.stamped_at == NOON
    assert desk.sends.reviews[desk.review].version == 3  # the stamp is a change of its own


def test_a_second_send_of_the_same_verdict_is_refused_before_the_bridge() -> None:
    desk = Desk(Delivery.SENT, Delivery.SENT)
    desk.send()
    with pytest.raises(NotClaimed) as refused:
        desk.send(version=3)  # the page after the stamp: feedback already went out
    assert refused.value.reason is Blocked.ALREADY_SENT
    assert len(desk.bridge.posted) == 1


def test_a_send_from_a_page_that_is_behind_posts_nothing() -> None:
    desk = Desk(Delivery.SENT)
    with pytest.raises(ChangedMeanwhile):
        desk.send(version=1)
    assert desk.bridge.posted == []
    assert desk.states() == []


@pytest.mark.parametrize(
    ("outcome", "stamped", "again"),
    [
        (Delivery.REFUSED, False, True),  # certainly not posted: Send may go again
        (Delivery.DOWN, False, True),
        (Delivery.UNKNOWN, False, False),  # perhaps posted: a person says, never code
    ],
)
def test_an_outcome_other_than_sent_is_recorded_and_only_a_safe_one_may_be_retried(
    outcome: Delivery, *, stamped: bool, again: bool
) -> None:
    desk = Desk(outcome, Delivery.SENT)
    report = desk.send()
    assert report.outcome is outcome
    assert (report.stamped_at is not None) is stamped
    assert desk.states() == [outcome]
    if again:
        assert desk.send().outcome is Delivery.SENT
        assert len(desk.bridge.posted) == 2
    else:
        with pytest.raises(NotClaimed) as refused:
            desk.send()
        assert refused.value.reason is Blocked.UNKNOWN
        assert len(desk.bridge.posted) == 1


def test_an_unknown_post_found_in_messages_db_is_settled_as_sent() -> None:
    desk = Desk(Delivery.UNKNOWN, echoes=FakeEchoes(TEXT))
    report = desk.send()
    assert report.outcome is Delivery.SENT
    assert report.detail.endswith("; found in messages.db")
    assert report.stamped_at == NOON


def test_an_echo_another_sent_send_accounts_for_proves_nothing() -> None:
    desk = Desk(Delivery.SENT, Delivery.UNKNOWN, echoes=FakeEchoes(TEXT))
    other = desk.sends.add(
        FakeReview(version=1, project="Lawley", drop_number="DR7654321", reviewed_at=NOON)
    )
    desk.review, first = other, desk.review
    assert desk.send(version=1).outcome is Delivery.SENT  # the same text, the echo is its own
    desk.review = first
    desk.now += timedelta(seconds=1)
    assert desk.send().outcome is Delivery.UNKNOWN


def test_an_outcome_that_cannot_be_saved_is_said_and_the_claim_stays() -> None:
    desk = Desk(Delivery.SENT)
    desk.sends.fail_settle = TransientError("the database went away")
    report = desk.send()
    assert report.outcome is None
    assert "the outcome could not be saved" in report.message
    assert desk.states() == [None]  # claimed: shown as unknown after a while, to resolve
    assert desk.bridge.posted == [(LAWLEY, TEXT)]


def test_dev_posts_only_to_its_test_group_and_never_where_production_lives() -> None:
    desk = Desk(Delivery.SENT)
    assert desk.send(where=settings("dev", feedback_group=VELO)).outcome is Delivery.SENT
    assert desk.bridge.posted == [(VELO, TEXT)]
    desk = Desk(Delivery.SENT)
    with pytest.raises(NoGroup, match="Dev never posts where production lives"):
        desk.send(where=settings("dev", feedback_group=LAWLEY))
    assert desk.bridge.posted == []
    assert desk.states() == []  # refused before anything was claimed


@pytest.mark.parametrize(
    ("typed", "posted"),
    [
        ("DR1234567\r\nfix\u202e the photo\x00", "DR1234567\nfix the photo"),
        ("  DR1234567 fix it  ", "DR1234567 fix it"),
    ],
)
def test_the_text_is_made_speakable_before_it_is_claimed(typed: str, posted: str) -> None:
    desk = Desk(Delivery.SENT)
    desk.send(typed)
    assert desk.bridge.posted == [(LAWLEY, posted)]
    assert [s.message for s in desk.sends.of(desk.review)] == [posted]


@pytest.mark.parametrize("typed", ["", " \u202e\x00 ", "x" * 4001])
def test_an_empty_or_overlong_text_is_refused_before_anything(typed: str) -> None:
    desk = Desk(Delivery.SENT)
    with pytest.raises(BadText):
        desk.send(typed)
    assert desk.states() == []


def test_the_first_bridge_is_written_with_the_claim_and_a_next_one_before_its_own_post() -> None:
    desk = Desk(Delivery.SENT)
    desk.send()
    # The claim's own transaction named "main": no second round trip before the post.
    assert desk.sends.routes == []
    assert desk.bridge.posted == [(LAWLEY, TEXT)]

    desk = Desk()
    down, other = FakePoster(Delivery.DOWN), FakePoster(Delivery.SENT)
    report = send(
        sends=desk.sends,
        settings=settings("prod"),
        routes=[Route("main", down, FakeEchoes()), Route("host-b", other, FakeEchoes())],
        review_id=desk.review,
        version=2,
        text=TEXT,
        by="thandi",
    )
    assert report.outcome is Delivery.SENT
    assert desk.sends.routes == [(report.send_id, "host-b")]  # recorded, then posted
    assert other.posted == [(LAWLEY, TEXT)]
