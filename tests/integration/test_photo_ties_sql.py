"""The drain ties photos in the database (photos.sql: `record_drop_posts`, then
`record_photos`, which ties each new photo as it inserts it and ties again the recorded photos
near the batch's drop messages); core/photos.py's `associate` is the rule's reference. Both get
the same photos and drop messages, and must give the same ties: every case of
tests/unit/test_photo_rules.py, whichever batch brings the photo and which its drop messages,
and a crowd of random ones in random batches."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any

import psycopg
import pytest

from tests.unit.test_photo_rules import AGENT, CASES, GROUP, OTHER_AGENT, OTHER_GROUP, at
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.photos import (
    DEFAULT_AFTER,
    DEFAULT_BEFORE,
    DropPost,
    PhotoPost,
    PhotoWindow,
    associate,
)

pytestmark = pytest.mark.migrated("prod")

Batch = tuple[Sequence[PhotoPost], Sequence[DropPost]]


def _as_row(i: int, p: PhotoPost) -> list[object]:
    """A photo as the daemon sends an odd row (store.py, _photo_row)."""
    at_ = p.sent_at.astimezone(UTC).isoformat()
    return [p.chat_jid, p.message_id, i, p.sender, at_, "image", "", None, None, p.caption_drop]


def _as_plain(i: int, p: PhotoPost) -> dict[str, object]:
    """A photo as the bridge's SQLite hands over a plain row (bridge.sql, photo_rows)."""
    at_ = p.sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    return {
        "c": p.chat_jid,
        "i": p.message_id,
        "r": i,
        "s": p.sender,
        "t": at_,
        "m": "image",
        "f": "",
    }


def tie_in_sql(
    conn: psycopg.Connection[Any],
    url: str,
    batches: Sequence[Batch],
    *,
    before: timedelta = DEFAULT_BEFORE,
    after: timedelta = DEFAULT_AFTER,
) -> dict[tuple[str, str], str | None]:
    """Record each batch's drop messages and photos as the drain does (store.py, _send_photos),
    one batch after the other, and read the ties back. Every other photo that could be a plain
    row (no caption, an id of ASCII letters and digits) goes in as one, the rest as odd rows:
    both ways are tied alike."""
    conn.execute(
        "TRUNCATE public.wa_monitor_photos, public.wa_monitor_photos_waiting,"
        " public.wa_monitor_drop_posts CASCADE"
    )
    db = Database(url, "public", "prod")
    rowid = 0
    for photos, posts in batches:
        rows: list[list[object]] = []
        plain: list[dict[str, object]] = []
        for p in photos:
            rowid += 1
            if (
                p.caption_drop is None
                and p.message_id.isalnum()
                and p.message_id.isascii()
                and rowid % 2
            ):
                plain.append(_as_plain(rowid, p))
            else:
                rows.append(_as_row(rowid, p))
        conn.execute(
            db.query("photos.record_drop_posts"),
            {
                "chats": [d.chat_jid for d in posts],
                "ids": [d.message_id for d in posts],
                "senders": [d.sender for d in posts],
                "at": [d.sent_at for d in posts],
                "drops": [d.drop_number for d in posts],
            },
        )
        conn.execute(
            db.query("photos.record_photos"),
            {
                "rows": json.dumps(rows),
                "plain": json.dumps(plain),
                "lids": [],
                "phones": [],
                "skip_chats": [],
                "skip_senders": [],
                "post_chats": [d.chat_jid for d in posts],
                "post_senders": [d.sender for d in posts],
                "post_at": [d.sent_at for d in posts],
                "before": before,
                "after": after,
                "stride": PhotoWindow(before, after).stride,
            },
        )
    # Every photo, recorded or still waiting for a drop message (photos.sql, seen).
    rows_ = conn.execute(db.query("photos.seen")).fetchall()
    return {
        (r[0], r[1]): None if r[10] is None else f"{r[10]} {r[11]} {r[12].isoformat()}"
        for r in rows_
    }


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


def _ways(photos: Sequence[PhotoPost], posts: Sequence[DropPost]) -> dict[str, list[Batch]]:
    """The batches that can bring them: all in one, the photos before their drop messages
    (each drop message in a batch of its own, after), and the drop messages first."""
    return {
        "one batch": [(photos, posts)],
        "photos first": [(photos, []), *(([], [d]) for d in posts)],
        "drop messages first": [([], posts), (photos, [])],
    }


@pytest.mark.parametrize(
    ("posts", "the_photo"), [pytest.param(p, ph, id=name) for name, p, ph, _ in CASES]
)
def test_the_database_ties_each_case_as_the_rule_does_whichever_batch_brings_what(
    db: psycopg.Connection[Any],
    database_url: str,
    posts: list[DropPost],
    the_photo: PhotoPost,
) -> None:
    expected = tie_in_core([the_photo], posts)
    for way, batches in _ways([the_photo], posts).items():
        assert tie_in_sql(db, database_url, batches) == expected, way


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
    # The same messages in 7 batches, in a random order (a bridge's rowids need not follow
    # the times): a photo may come before or after the drop messages that claim it.
    messages: list[PhotoPost | DropPost] = [*photos, *posts]
    rng.shuffle(messages)
    batches: list[Batch] = [
        (
            [m for m in messages[k::7] if isinstance(m, PhotoPost)],
            [m for m in messages[k::7] if isinstance(m, DropPost)],
        )
        for k in range(7)
    ]

    for before, after in windows:
        expected = tie_in_core(photos, posts, before=before, after=after)
        for shape in ([(photos, posts)], batches):
            got = tie_in_sql(db, database_url, shape, before=before, after=after)
            assert got == expected
        assert sum(t is not None for t in expected.values()) > len(photos) // 3  # a real crowd
