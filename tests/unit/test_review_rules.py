"""The review rules (docs/OPERATIONS.md, "What it does with a message"), case by case, with no
database.

sightings() turns bridge rows into (message, drop) pairs; plan() folds them over the reviews
that exist. Each case names the rule it pins down: change a rule and a case breaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tests.support.env import AGENT, GROUPS, LAWLEY, MOHADIN, OTHER, sast
from tests.support.fakes import JOHANNESBURG, message
from wa_monitor.core.records import BridgeMessage, Outcome, Plan, ReviewState, Sighting
from wa_monitor.core.reviews import plan, sightings

DROP = "DR1234567"
OTHER_AGENT = "27820000001"
BOT = "27711558396"
BOT_LID = "112233445566778"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Known:
    """A review that already exists for a drop."""

    last_submitted_at: datetime
    feedback_sent: datetime | None = None


def rows(*posts: tuple[str | None, datetime]) -> list[BridgeMessage]:
    return [message(n, text, at) for n, (text, at) in enumerate(posts, start=1)]


def found(messages: Sequence[BridgeMessage], bots: frozenset[str] = frozenset()) -> list[Sighting]:
    return sightings(messages, projects=GROUPS, bot_senders=bots, tz=JOHANNESBURG)


def states(known: dict[str, Known]) -> dict[str, ReviewState]:
    return {
        drop: ReviewState(
            id=uuid.uuid5(uuid.NAMESPACE_OID, drop),
            drop_number=drop,
            last_submitted_at=k.last_submitted_at,
            feedback_sent=k.feedback_sent,
        )
        for drop, k in known.items()
    }


def decide(posts: Sequence[tuple[str | None, datetime]], known: dict[str, Known]) -> Plan:
    return plan(found(rows(*posts)), states(known), JOHANNESBURG)


def outcomes(result: Plan) -> list[tuple[str, Outcome]]:
    return [(d.sighting.drop_number, d.outcome) for d in result.decisions]


# -- plan(): what each sighting does -----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rule: str
    posts: tuple[tuple[str | None, datetime], ...]  # (text, sent at), in bridge order
    expect: tuple[tuple[str, Outcome], ...]  # (drop, outcome) per sighting
    known: tuple[tuple[str, Known], ...] = ()


CREATED, REPEAT, RESUBMITTED, STALE = (
    Outcome.CREATED,
    Outcome.REPEAT,
    Outcome.RESUBMITTED,
    Outcome.STALE,
)

CASES = [
    Case("first sighting creates a review", ((DROP, sast(11, 9)),), ((DROP, CREATED),)),
    Case(
        "a plain repeat the same local day changes nothing",
        ((DROP, sast(11, 9)), (f"{DROP} photos", sast(11, 17))),
        ((DROP, CREATED), (DROP, REPEAT)),
    ),
    Case(
        "the next local day is a resubmission, even twenty minutes later",
        ((DROP, sast(11, 23, 50)), (DROP, sast(12, 0, 10))),
        ((DROP, CREATED), (DROP, RESUBMITTED)),
    ),
    Case(
        "a later day resubmits a review that already exists",
        ((DROP, sast(14, 8)),),
        ((DROP, RESUBMITTED),),
        known=((DROP, Known(sast(11, 9))),),
    ),
    Case(
        "the same instant again is a repeat, not late history",
        ((DROP, sast(11, 9)), (DROP, sast(11, 9))),
        ((DROP, CREATED), (DROP, REPEAT)),
    ),
    Case(
        "the same day as an existing review is a repeat",
        ((DROP, sast(11, 15)),),
        ((DROP, REPEAT),),
        known=((DROP, Known(sast(11, 9))),),
    ),
    Case(
        "after feedback was sent, a plain repost is a resubmission",
        ((DROP, sast(11, 11)),),
        ((DROP, RESUBMITTED),),
        known=((DROP, Known(sast(11, 9), feedback_sent=sast(11, 10))),),
    ),
    Case(
        "a repost before the feedback was sent is a repeat",
        ((DROP, sast(11, 10)),),
        ((DROP, REPEAT),),
        known=((DROP, Known(sast(11, 9), feedback_sent=sast(11, 12))),),
    ),
    Case(
        "a resubmission clears the feedback: the next plain repost is a repeat",
        ((DROP, sast(11, 11)), (DROP, sast(11, 11, 30))),
        ((DROP, RESUBMITTED), (DROP, REPEAT)),
        known=((DROP, Known(sast(11, 9), feedback_sent=sast(11, 10))),),
    ),
    Case(
        "older than the last submission (late history) is stale",
        ((DROP, sast(11, 8)),),
        ((DROP, STALE),),
        known=((DROP, Known(sast(11, 9))),),
    ),
    Case(
        "stale wins over a resubmission word and over feedback",
        ((f"{DROP} done", sast(10, 8)),),
        ((DROP, STALE),),
        known=((DROP, Known(sast(11, 9), feedback_sent=sast(9, 10))),),
    ),
    Case(
        "late history within one batch is folded in the messages' own time order",
        ((DROP, sast(11, 12)), (DROP, sast(11, 9))),
        ((DROP, REPEAT), (DROP, CREATED)),
    ),
    Case(
        "several drops in one message each get a review",
        (("DR1111111, dr2222222 and Dr 33333333", sast(11, 9)),),
        (("DR1111111", CREATED), ("DR2222222", CREATED), ("DR33333333", CREATED)),
    ),
    Case(
        "one message's drops are judged each on its own review",
        (("DR1111111 DR2222222", sast(11, 15)),),
        (("DR1111111", REPEAT), ("DR2222222", CREATED)),
        known=(("DR1111111", Known(sast(11, 9))),),
    ),
    Case(
        "the same drop twice in one message is one sighting",
        (("DR1111111 ... DR1111111", sast(11, 9)),),
        (("DR1111111", CREATED),),
    ),
    Case(
        "offset change across midnight: the same local day is a repeat",
        # 22:10 UTC on the 11th and 00:20 SAST on the 12th are both the 12th in Johannesburg;
        # as text ("2025-11-11 …" vs "2025-11-12 …") they look a day apart.
        (
            (DROP, utc(11, 22, 10)),
            (DROP, sast(12, 0, 20)),
        ),
        ((DROP, CREATED), (DROP, REPEAT)),
    ),
    Case(
        "offset change across midnight: the next local day is a resubmission",
        (
            (DROP, utc(11, 21, 50)),
            (DROP, sast(12, 0, 5)),
        ),
        ((DROP, CREATED), (DROP, RESUBMITTED)),
    ),
    Case(
        "offset change: an instant before the other comes first though its text sorts later",
        (
            (DROP, utc(11, 23, 30)),
            (DROP, sast(12, 0, 45)),  # 22:45 UTC
        ),
        ((DROP, REPEAT), (DROP, CREATED)),
    ),
    Case(
        "messages without a drop make no sighting",
        (("photos attached", sast(11, 9)), (None, sast(11, 9)), ("DR1234 XDR1234567", sast(11, 9))),
        (),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_review_rules(case: Case) -> None:
    assert outcomes(decide(case.posts, dict(case.known))) == list(case.expect)


RESUBMISSION_WORDS = [
    "done",
    "fixed",
    "updated",
    "completed",
    "uploaded",
    "finished",
    "finish",
    "DONE",
    "Fixed.",
    "(done)",
]


@pytest.mark.parametrize("word", RESUBMISSION_WORDS)
def test_a_resubmission_word_resubmits_the_same_day(word: str) -> None:
    result = decide([(f"{DROP} {word}", sast(11, 15))], {DROP: Known(sast(11, 9))})
    assert outcomes(result) == [(DROP, RESUBMITTED)]
    assert [r.last_submitted_at for r in result.resubmissions] == [sast(11, 15)]


@pytest.mark.parametrize("text", ["undone", "prefixed", "completely", "finishing", "uploads"])
def test_a_word_that_only_contains_a_resubmission_word_is_a_repeat(text: str) -> None:
    result = decide([(f"{DROP} {text}", sast(11, 15))], {DROP: Known(sast(11, 9))})
    assert outcomes(result) == [(DROP, REPEAT)]


# -- plan(): what gets written -----------------------------------------------------------------


def test_a_new_review_carries_the_first_sighting() -> None:
    [new] = decide([(DROP, sast(11, 9))], {}).new_reviews
    assert (new.drop_number, new.review_date, new.project) == (DROP, date(2025, 11, 11), "Lawley")
    assert (new.user_name, new.submitted_by) == (AGENT, AGENT)
    assert new.whatsapp_message_date == new.last_submitted_at == sast(11, 9)
    assert new.resubmitted is False


def test_a_new_review_is_dated_by_the_local_day_not_the_utc_day() -> None:
    [new] = decide([(DROP, utc(11, 22, 30))], {}).new_reviews
    assert new.review_date == date(2025, 11, 12)


def test_a_drop_resubmitted_in_the_batch_that_creates_it_is_one_resubmitted_review() -> None:
    first = message(1, DROP, sast(11, 23, 50), name="Thabo")
    again = message(2, DROP, sast(12, 0, 10), sender=OTHER_AGENT, name="Sipho")
    result = plan(found([first, again]), {}, JOHANNESBURG)
    assert result.resubmissions == ()
    [new] = result.new_reviews
    assert new.review_date == date(2025, 11, 11)  # the first sighting's date stays
    assert new.whatsapp_message_date == sast(11, 23, 50)
    assert new.resubmitted is True
    assert (new.user_name, new.submitted_by, new.last_submitted_at) == (
        "Sipho",
        OTHER_AGENT,
        sast(12, 0, 10),
    )


def test_an_existing_review_resubmitted_twice_in_a_batch_gets_one_update_with_the_last() -> None:
    first = message(1, f"{DROP} fixed", sast(12, 9), name="Thabo")
    again = message(2, f"{DROP} done", sast(12, 10), sender=OTHER_AGENT, name="Sipho")
    known = states({DROP: Known(sast(11, 9), feedback_sent=sast(11, 10))})
    result = plan(found([first, again]), known, JOHANNESBURG)
    assert outcomes(result) == [(DROP, RESUBMITTED), (DROP, RESUBMITTED)]
    assert result.new_reviews == ()
    [sub] = result.resubmissions
    assert sub.review_id == known[DROP].id
    assert (sub.user_name, sub.submitted_by, sub.last_submitted_at) == (
        "Sipho",
        OTHER_AGENT,
        sast(12, 10),
    )


def test_repeats_and_stale_sightings_write_nothing() -> None:
    result = decide([(DROP, sast(11, 10)), (DROP, sast(11, 8))], {DROP: Known(sast(11, 9, 30))})
    assert outcomes(result) == [(DROP, REPEAT), (DROP, STALE)]
    assert (result.new_reviews, result.resubmissions) == ((), ())


def test_decisions_follow_bridge_order_across_drops() -> None:
    result = decide(
        [("DR2222222", sast(11, 9)), ("DR1111111", sast(11, 9)), ("DR2222222 done", sast(11, 10))],
        {},
    )
    assert outcomes(result) == [
        ("DR2222222", CREATED),
        ("DR1111111", CREATED),
        ("DR2222222", RESUBMITTED),
    ]
    assert [r.drop_number for r in result.new_reviews] == ["DR2222222", "DR1111111"]


# -- sightings(): from bridge rows to (message, drop) pairs -----------------------------------


@pytest.mark.parametrize(
    ("sent_at", "review_date"),
    [
        (utc(11, 21, 59), date(2025, 11, 11)),  # 23:59 in Johannesburg
        (utc(11, 22, 0), date(2025, 11, 12)),  # midnight in Johannesburg, still the 11th in UTC
        (sast(12, 0, 30), date(2025, 11, 12)),
        (datetime(2025, 11, 12, 1, 0, tzinfo=timezone(timedelta(hours=5))), date(2025, 11, 11)),
    ],
)
def test_review_date_is_the_local_date_of_the_message(sent_at: datetime, review_date: date) -> None:
    [s] = found([message(1, DROP, sent_at)])
    assert s.review_date == review_date
    assert s.sent_at == sent_at


def test_every_drop_of_a_message_is_a_sighting_of_that_message() -> None:
    m = message(7, "DR1111111 and DR2222222 fixed", sast(11, 9), chat=MOHADIN, name="Thabo")
    got = found([m])
    assert [s.drop_number for s in got] == ["DR1111111", "DR2222222"]
    for s in got:
        assert (s.chat_jid, s.message_id, s.rowid) == (MOHADIN, m.message_id, 7)
        assert (s.project, s.user_name, s.phone) == ("Mohadin", "Thabo", AGENT)
        assert s.says_resubmitted is True


def test_bot_senders_are_skipped_by_number_or_by_lid() -> None:
    posts = [
        message(1, "DR1111111", sast(11, 9), sender=BOT),
        # A LID the bridge resolved to a bot's number (resolution is the bridge adapter's job).
        message(2, "DR2222222", sast(11, 9), sender="998877665544332", phone=BOT),
        message(3, "DR3333333", sast(11, 9), sender=BOT_LID, phone="27600000000"),
        message(4, "DR4444444", sast(11, 9)),
    ]
    got = found(posts, bots=frozenset({BOT, BOT_LID}))
    assert [s.drop_number for s in got] == ["DR4444444"]


def test_the_sender_is_the_resolved_phone_and_named_when_the_bridge_knows_the_name() -> None:
    lid = message(1, "DR1111111", sast(11, 9), sender="998877665544332", phone=OTHER_AGENT)
    named = message(2, "DR2222222", sast(11, 9), name="Thabo")
    a, b = found([lid, named])
    assert (a.phone, a.user_name) == (OTHER_AGENT, OTHER_AGENT)
    assert (b.phone, b.user_name) == (AGENT, "Thabo")


def test_messages_of_groups_without_a_project_are_left_out() -> None:
    posts = [message(1, "DR1111111", sast(11, 9), chat=OTHER), message(2, "DR2222222", sast(11, 9))]
    assert [(s.chat_jid, s.drop_number) for s in found(posts)] == [(LAWLEY, "DR2222222")]


# A review whose drop's history is known, and a message older than its last submission: the
# drop's messages are folded again in time order (what one bridge holding everything does).
REFOLDS = [
    pytest.param(
        [("DR1234567", sast(11, 12))],
        ("DR1234567", sast(11, 9)),
        (date(2025, 11, 11), sast(11, 9), False, sast(11, 9), False),
        id="an older first sighting becomes the review's first; the later one a repeat",
    ),
    pytest.param(
        [("DR1234567", sast(12, 9))],
        ("DR1234567", sast(11, 9)),
        (date(2025, 11, 11), sast(11, 9), True, sast(12, 9), False),
        id="an older first sighting on an earlier day makes the known one a resubmission",
    ),
    pytest.param(
        [("DR1234567", sast(11, 9)), ("DR1234567", sast(12, 15))],
        ("DR1234567", sast(12, 10)),
        (date(2025, 11, 11), sast(11, 9), True, sast(12, 10), False),
        id="a message between: the later day's first message is the resubmission",
    ),
]


@pytest.mark.parametrize(("history", "late", "expected"), REFOLDS)
def test_a_late_message_folds_its_drop_again_in_time_order(
    history: list[tuple[str, datetime]],
    late: tuple[str, datetime],
    expected: tuple[date, datetime, bool, datetime, bool],
) -> None:
    old = found(rows(*history))
    last = max(s.sent_at for s in old)
    resubmitted = len(old) > 1
    known = ReviewState(
        id=uuid.uuid4(),
        drop_number=DROP,
        last_submitted_at=last,
        feedback_sent=None,
        resubmitted=resubmitted,
        history=tuple(old),
    )
    (new,) = found([message(99, *late)])
    result = plan([new], {DROP: known}, JOHANNESBURG)
    (refold,) = result.corrections
    assert refold.who is not None
    day, first, resub, last_at, reopen = expected
    assert (refold.review_date, refold.whatsapp_message_date) == (day, first)
    assert (refold.resubmitted, refold.who[2], refold.reopen) == (resub, last_at, reopen)
    assert result.new_reviews == ()
    assert result.resubmissions == ()


def test_without_its_history_a_late_message_stays_stale() -> None:
    known = states({DROP: Known(sast(12, 9))})
    (new,) = found([message(1, DROP, sast(11, 9))])
    result = plan([new], known, JOHANNESBURG)
    assert [d.outcome for d in result.decisions] == [Outcome.STALE]
    assert result.corrections == ()
