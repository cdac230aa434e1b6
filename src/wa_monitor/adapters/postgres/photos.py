"""The drops' photos in PostgreSQL: the fetcher's work list and outcomes, and what the review
pages show. SQL in sql/photos.sql; the drain's writes are in store.py (the batch transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wa_monitor.adapters.postgres.db import Connection, Database


@dataclass(frozen=True, slots=True)
class DuePhoto:
    id: int
    chat_jid: str
    message_id: str
    file_sha256: bytes | None
    attempts: int


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


def due(conn: Connection, db: Database, now: datetime, limit: int) -> list[DuePhoto]:
    rows = conn.execute(db.query("photos.due"), {"now": now, "limit": limit}).fetchall()
    return [DuePhoto(int(r[0]), r[1], r[2], bytes(r[3]) if r[3] else None, int(r[4])) for r in rows]


def fetched(
    conn: Connection,
    db: Database,
    photo_id: int,
    *,
    now: datetime,
    key: str,
    width: int,
    height: int,
    taken: str | None,
    place: str | None,
) -> None:
    conn.execute(
        db.query("photos.fetched"),
        {
            "id": photo_id,
            "now": now,
            "key": key,
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


def retry(conn: Connection, db: Database, photo_id: int, *, next_at: datetime, error: str) -> None:
    conn.execute(db.query("photos.retry"), {"id": photo_id, "next": next_at, "error": error})


def states(conn: Connection, db: Database) -> list[tuple[str, int, datetime | None]]:
    return [(r[0], int(r[1]), r[2]) for r in conn.execute(db.query("photos.states"))]


def cache_keys(conn: Connection, db: Database) -> set[str]:
    return {r[0] for r in conn.execute(db.query("photos.cache_keys"))}


def of_drop(conn: Connection, db: Database, drop_number: str) -> list[DropPhoto]:
    rows = conn.execute(db.query("photos.of_drop"), {"drop": drop_number}).fetchall()
    return [DropPhoto(*r) for r in rows]


def counts(conn: Connection, db: Database, drops: Sequence[str]) -> dict[str, int]:
    if not drops:
        return {}
    rows = conn.execute(db.query("photos.counts"), {"drops": list(drops)}).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def servable(conn: Connection, db: Database, key: str) -> bool:
    return conn.execute(db.query("photos.servable"), {"key": key}).fetchone() is not None
