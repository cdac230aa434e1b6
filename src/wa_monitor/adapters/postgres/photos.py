"""The drops' photos in PostgreSQL: the fetcher's work list and outcomes, and what the review
pages show. SQL in sql/photos.sql; the drain's writes are in store.py (the batch transaction)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from wa_monitor.adapters.postgres.db import Connection, Database


class RetryCause(enum.StrEnum):
    """Why a photo is being retried (its row's retry_cause): what its placeholder says."""

    UNREACHABLE = "unreachable"  # no answer from the bridge
    BRIDGE = "bridge"  # the bridge answered with an error
    DECODING = "decoding"  # the file came; the decoder failed on it or took too long
    HERE = "here"  # the file came; this machine could not keep it (cache, database)


@dataclass(frozen=True, slots=True)
class DuePhoto:
    id: int
    chat_jid: str
    message_id: str
    file_sha256: bytes | None
    attempts: int
    media_type: str = "image"


@dataclass(frozen=True, slots=True)
class DropPhoto:
    """One photo of a drop as its review page shows it."""

    id: int
    message_id: str
    media_type: str
    sent_at: datetime
    state: str
    content_key: str | None
    width: int | None
    height: int | None
    taken: str | None
    place: str | None
    round_message_id: str | None
    round_at: datetime | None
    step: int | None  # the step this review marks it as showing (1-12), if any
    retry_cause: str | None = None  # a RetryCause's value while retrying (None before v34)


def due(conn: Connection, db: Database, now: datetime, limit: int) -> list[DuePhoto]:
    rows = conn.execute(db.query("photos.due"), {"now": now, "limit": limit}).fetchall()
    return [
        DuePhoto(int(r[0]), r[1], r[2], bytes(r[3]) if r[3] else None, int(r[4]), r[5])
        for r in rows
    ]


def next_due(conn: Connection, db: Database) -> datetime | None:
    row = conn.execute(db.query("photos.next_due")).fetchone()
    return None if row is None else row[0]


def fetched(
    conn: Connection,
    db: Database,
    photo_id: int,
    *,
    now: datetime,
    key: str,
    width: int | None,
    height: int | None,
    taken: str | None,
    place: str | None,
    content_type: str = "image/jpeg",
) -> None:
    conn.execute(
        db.query("photos.fetched"),
        {
            "id": photo_id,
            "now": now,
            "key": key,
            "type": content_type,
            "width": width,
            "height": height,
            "taken": taken,
            "place": place,
        },
    )


def final(
    conn: Connection, db: Database, photo_id: int, *, state: str, now: datetime, error: str
) -> None:
    conn.execute(
        db.query("photos.final"), {"id": photo_id, "state": state, "now": now, "error": error}
    )


def retry(
    conn: Connection,
    db: Database,
    photo_id: int,
    *,
    next_at: datetime,
    error: str,
    cause: RetryCause,
) -> None:
    conn.execute(
        db.query("photos.retry"),
        {"id": photo_id, "next": next_at, "error": error, "cause": cause.value},
    )


def states(conn: Connection, db: Database) -> list[tuple[str, int, datetime | None]]:
    return [(r[0], int(r[1]), r[2]) for r in conn.execute(db.query("photos.states"))]


def waiting(conn: Connection, db: Database) -> int:
    """How many photos no drop message has claimed yet (not fetched until one does)."""
    row = conn.execute(db.query("photos.waiting")).fetchone()
    return 0 if row is None else int(row[0])


def cache_keys(conn: Connection, db: Database) -> set[str]:
    return {r[0] for r in conn.execute(db.query("photos.cache_keys"))}


def of_drop(
    conn: Connection, db: Database, drop_number: str, review_id: UUID | None = None
) -> list[DropPhoto]:
    """The drop's photos, with the steps `review_id` marks them as showing."""
    rows = conn.execute(
        db.query("photos.of_drop"), {"drop": drop_number, "review": review_id}
    ).fetchall()
    return [DropPhoto(*r) for r in rows]


def day_counts(conn: Connection, db: Database, day: date) -> tuple[int, int]:
    """The day's drops' photos: (photos in all, drops with fewer than 12)."""
    with conn.transaction():
        # Costed high enough for JIT compilation, which takes 20 times longer than the query
        # itself (400 ms against 20 ms for a day of 2,300 drops): off for this transaction.
        conn.execute(db.query("quality.no_jit"))
        row = conn.execute(db.query("photos.day_counts"), {"day": day}).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def mark_step(
    conn: Connection, db: Database, review_id: UUID, photo_id: int, step: int | None, *, by: str
) -> None:
    """Record which step the photo shows for this review (None: no step)."""
    params = {"review": review_id, "photo": photo_id, "step": step, "by": by}
    conn.execute(db.query("photos.unmark_step" if step is None else "photos.mark_step"), params)


def counts(conn: Connection, db: Database, drops: Sequence[str]) -> dict[str, int]:
    """How many photos each of `drops` has (a page of the review list)."""
    if not drops:
        return {}
    with conn.transaction():
        # Costed above the JIT threshold (its index probes are estimated high): compiling took
        # 500 ms, the query 2 ms, on every page of the review list.
        conn.execute(db.query("quality.no_jit"))
        rows = conn.execute(db.query("photos.counts"), {"drops": list(drops)}).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def servable(conn: Connection, db: Database, key: str) -> str | None:
    """The content type of the copies named `key`, if this environment serves them."""
    row = db.prepared(conn, "photos.servable", {"key": key}).fetchone()  # every thumbnail
    return None if row is None else str(row[0] or "image/jpeg")
