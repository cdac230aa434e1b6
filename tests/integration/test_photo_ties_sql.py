"""The drain ties photos in the database (photos.sql, `tie_near`); core/photos.py's `associate`
is the rule's reference. Both get the same photos and drop messages, and must give the same
ties: every case of tests/unit/test_photo_rules.py, and a crowd of random ones."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.unit.test_photo_rules import AGENT, CASES, GROUP, OTHER_AGENT, OTHER_GROUP, at
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.photos import DEFAULT_AFTER, DEFAULT_BEFORE, DropPost, PhotoPost, associate

pytestmark = pytest.mark.migrated("prod")


def tie_in_sql(
    conn: psycopg.Connection[Any],
    url: str,
    photos: Sequence[PhotoPost],
    posts: Sequence[DropPost],
    *,
    before: timedelta = DEFAULT_BEFORE,
    after: timedelta = DEFAULT_AFTER,
) -> dict[tuple[str, str], str | None]:
    """Store the photos and drop messages as the drain does, run the drain's tie, read back."""
    conn.execute("TRUNCATE public.wa_monitor_photos, public.wa_monitor_drop_posts CASCADE")
    for i, p in enumerate(photos):
        conn.execute(
            "INSERT INTO public.wa_monitor_photos (chat_jid, message_id, bridge_rowid, sender,"
            " sent_at, media_type, caption_drop) VALUES (%s, %s, %s, %s, %s, 'image', %s)",
            (p.chat_jid, p.message_id, i, p.sender, p.sent_at, p.caption_drop),
        )
    for d in posts:
        conn.execute(
            "INSERT INTO public.wa_monitor_drop_posts (chat_jid, message_id, sender, sent_at,"
            " drop_number) VALUES (%s, %s, %s, %s, %s)",
            (d.chat_jid, d.message_id, d.sender, d.sent_at, d.drop_number),
        )
    pairs = sorted({(p.chat_jid, p.sender) for p in photos})
    conn.execute(
        Database(url, "public", "prod").query("photos.tie_near"),
        {
            "chats": [c for c, _ in pairs],
            "senders": [s for _, s in pairs],
            "lo": min(p.sent_at for p in photos),
            "hi": max(p.sent_at for p in photos),
            "before": before,
            "after": after,
        },
    )
    rows = conn.execute(
        "SELECT chat_jid, message_id, drop_number, round_message_id, round_at"
        " FROM public.wa_monitor_photos"
    ).fetchall()
    return {(c, m): None if d is None else f"{d} {r} {t.isoformat()}" for c, m, d, r, t in rows}


def tie_in_core(
    photos: Sequence[PhotoPost],
    posts: Sequence[DropPost],
    *,
    before: timedelta = DEFAULT_BEFORE,
    after: timedelta = DEFAULT_AFTER,
) -> dict[tuple[str, str], str | None]:
    ties = associate(photos, posts, before=before, after=after)
    return {
        key: None if t is None else f"{t.drop_number} {t.message_id} {t.round_at.isoformat()}"
        for key, t in ties.items()
    }


@pytest.mark.parametrize(
    ("posts", "the_photo"), [pytest.param(p, ph, id=name) for name, p, ph, _ in CASES]
)
def test_the_database_ties_each_case_as_the_rule_does(
    db: psycopg.Connection[Any],
    database_url: str,
    posts: list[DropPost],
    the_photo: PhotoPost,
) -> None:
    assert tie_in_sql(db, database_url, [the_photo], posts) == tie_in_core([the_photo], posts)


def test_the_database_ties_a_crowd_of_photos_as_the_rule_does(
    db: psycopg.Connection[Any], database_url: str
) -> None:
    rng = random.Random(26)
    people = [(GROUP, AGENT), (GROUP, OTHER_AGENT), (OTHER_GROUP, AGENT)]
    posts: list[DropPost] = []
    photos: list[PhotoPost] = []
    for i in range(300):
        chat, sender = rng.choice(people)
        minute = rng.randrange(0, 24 * 60) + rng.choice([0, 0.5])  # some share an instant
        # Ids that differ only in case, and that a server's collation may sort otherwise than
        # bytes do (this one's, C.UTF-8, does not).
        mid = rng.choice(["a", "B", "_", "Z", "é"]) + f"{i:04d}"
        if rng.random() < 0.3:
            posts.append(DropPost(chat, sender, mid, at(minute), f"DR{1_000_000 + i}"))
        else:
            caption = f"DR{2_000_000 + i}" if rng.random() < 0.05 else None
            photos.append(PhotoPost(chat, sender, mid, at(minute), caption))
    windows = [(DEFAULT_BEFORE, DEFAULT_AFTER), (timedelta(minutes=20), timedelta(minutes=45))]

    for before, after in windows:
        expected = tie_in_core(photos, posts, before=before, after=after)
        got = tie_in_sql(db, database_url, photos, posts, before=before, after=after)
        assert got == expected
        assert sum(t is not None for t in got.values()) > len(photos) // 3  # a real crowd
