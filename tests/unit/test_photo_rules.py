"""Which drop a photo belongs to (core/photos.py), case by case: each case names the rule it pins.

Times are minutes after 12:00; the defaults are 3 h before and 30 min after a drop message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wa_monitor.core.photos import DropPost, PhotoPost, Tie, associate

GROUP, OTHER_GROUP = "120363418298130331@g.us", "120363421532174586@g.us"
AGENT, OTHER_AGENT = "27821234567", "27820000001"


def at(minute: float) -> datetime:
    return datetime(2025, 11, 11, 12, tzinfo=UTC) + timedelta(minutes=minute)


def post(mid: str, minute: float, drop: str, sender: str = AGENT, chat: str = GROUP) -> DropPost:
    return DropPost(chat, sender, mid, at(minute), drop)


def photo(mid: str, minute: float, sender: str = AGENT, chat: str = GROUP) -> PhotoPost:
    return PhotoPost(chat, sender, mid, at(minute))


CASES: list[tuple[str, list[DropPost], PhotoPost, str | None]] = [
    ("photos before the drop message, within 3 h", [post("d", 0, "DR1")], photo("p", -170), "d"),
    ("more than 3 h before: nobody's", [post("d", 0, "DR1")], photo("p", -181), None),
    ("exactly 3 h before still counts", [post("d", 0, "DR1")], photo("p", -180), "d"),
    ("after the drop message, within 30 min", [post("d", 0, "DR1")], photo("p", 29), "d"),
    ("more than 30 min after: nobody's", [post("d", 0, "DR1")], photo("p", 31), None),
    ("at the same second as the drop message", [post("d", 0, "DR1")], photo("p", 0), "d"),
    (
        "between two drops: the nearest wins (the earlier)",
        [post("a", 0, "DR1"), post("b", 60, "DR2")],
        photo("p", 10),
        "a",
    ),
    (
        "between two drops: the nearest wins (the later)",
        [post("a", 0, "DR1"), post("b", 20, "DR2")],
        photo("p", 15),
        "b",
    ),
    (
        "a tie goes to the later drop message",
        [post("a", 0, "DR1"), post("b", 20, "DR2")],
        photo("p", 10),
        "b",
    ),
    (
        "the previous drop is too far behind: the next one takes it",
        [post("a", 0, "DR1"), post("b", 150, "DR2")],
        photo("p", 40),
        "b",
    ),
    (
        "another sender's drop message never claims it",
        [post("d", 0, "DR1", sender=OTHER_AGENT)],
        photo("p", 5),
        None,
    ),
    (
        "another group's drop message never claims it",
        [post("d", 0, "DR1", chat=OTHER_GROUP)],
        photo("p", 5),
        None,
    ),
    (
        "a resubmission opens a new round: photos after it are its own",
        [post("first", 0, "DR1"), post("again", 100, "DR1")],
        photo("p", 105),
        "again",
    ),
    (
        "photos of the first round stay with it",
        [post("first", 0, "DR1"), post("again", 100, "DR1")],
        photo("p", 5),
        "first",
    ),
]


@pytest.mark.parametrize(
    ("posts", "the_photo", "expected"),
    [pytest.param(p, ph, e, id=name) for name, p, ph, e in CASES],
)
def test_a_photo_belongs_to_the_nearest_drop_message_in_its_window(
    posts: list[DropPost], the_photo: PhotoPost, expected: str | None
) -> None:
    tie = associate([the_photo], posts)[(the_photo.chat_jid, the_photo.message_id)]

    assert (tie.message_id if tie else None) == expected
    if tie is not None:
        chosen = next(p for p in posts if p.message_id == expected)
        assert tie == Tie(chosen.drop_number, chosen.message_id, chosen.sent_at)


def test_a_caption_naming_a_drop_ties_the_photo_to_it_directly() -> None:
    captioned = PhotoPost(GROUP, AGENT, "p", at(1), caption_drop="DR9")

    ties = associate([captioned], [post("d", 0, "DR1")])

    assert ties[(GROUP, "p")] == Tie("DR9", "p", at(1))


def test_the_windows_are_settings() -> None:
    ties = associate(
        [photo("p", 50)],
        [post("d", 0, "DR1")],
        before=timedelta(minutes=5),
        after=timedelta(hours=1),
    )
    early = associate([photo("q", -10)], [post("d", 0, "DR1")], before=timedelta(minutes=5))

    assert ties[(GROUP, "p")] is not None
    assert early[(GROUP, "q")] is None
