"""The dashboard's reads of one environment's schema: day figures, review pages, one review, a
drop's history and the day's invalid drop numbers. SQL in sql/dashboard.sql; every table
through the configured schema."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

from psycopg import sql

from wa_monitor.adapters.postgres import summary
from wa_monitor.adapters.postgres.db import AsyncConnection, Connection, Database
from wa_monitor.adapters.postgres.quality import VERDICT_KEYS
from wa_monitor.core.steps import Step

_FIELDS = (
    "id",
    "drop_number",
    "review_date",
    "project",
    "user_name",
    "submitted_by",
    "whatsapp_message_date",
    "last_submitted_at",
)
_FLAGS = (
    "completed",
    "incomplete",
    "resubmitted",
    "feedback_sent",
    "comment",  # the reviewer's
    "monitor_note",  # the monitor's, on a review it created (migration 0018)
    "completed_photos",
    "outstanding_photos",
    "created_at",
    "updated_at",
)
# Every column the pages show and the CSV carries, in the table's order.
COLUMNS: tuple[str, ...] = (*_FIELDS, *(s.column for s in Step), *_FLAGS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
EXPORT_FETCH = 2_000  # rows per round trip of the CSV export's server-side cursor


class Status(enum.StrEnum):
    """Where a review is in QA: all 12 steps ticked, sent back, or nobody has judged it yet."""

    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    AWAITING = "awaiting"


class Feedback(enum.StrEnum):
    PENDING = "pending"  # judged (complete or incomplete), feedback not sent yet
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class Review:
    id: UUID
    drop_number: str
    review_date: date
    project: str | None
    user_name: str | None
    submitted_by: str | None
    whatsapp_message_date: datetime | None
    last_submitted_at: datetime | None
    steps: tuple[bool, ...]  # in Step order
    completed: bool
    incomplete: bool
    resubmitted: bool
    feedback_sent: datetime | None
    comment: str | None
    monitor_note: str | None
    completed_photos: int
    outstanding_photos: int
    created_at: datetime
    updated_at: datetime
    sighted_at: datetime  # whatsapp_message_date, else created_at: the list's order

    @property
    def status(self) -> Status:
        if self.completed:
            return Status.COMPLETE
        return Status.INCOMPLETE if self.incomplete else Status.AWAITING

    @property
    def keyset(self) -> Keyset:
        return Keyset(self.sighted_at, self.id)

    def values(self) -> tuple[object, ...]:
        """The row's columns in COLUMNS order (for the CSV export)."""
        head = (
            self.id,
            self.drop_number,
            self.review_date,
            self.project,
            self.user_name,
            self.submitted_by,
            self.whatsapp_message_date,
            self.last_submitted_at,
        )
        tail = (
            self.completed,
            self.incomplete,
            self.resubmitted,
            self.feedback_sent,
            self.comment,
            self.monitor_note,
            self.completed_photos,
            self.outstanding_photos,
            self.created_at,
            self.updated_at,
        )
        return (*head, *self.steps, *tail)


@dataclass(frozen=True, slots=True)
class Keyset:
    """A review's place in the newest-first order: where the next or previous page starts."""

    at: datetime
    id: UUID

    def token(self) -> str:
        return f"{(self.at - _EPOCH) // _MICROSECOND}_{self.id}"

    @classmethod
    def parse(cls, token: str) -> Keyset | None:
        """The keyset of a page link; None for anything that is not one."""
        micros, _, ident = token.partition("_")
        try:
            return cls(_EPOCH + int(micros) * _MICROSECOND, UUID(ident))
        except (ValueError, OverflowError):
            return None


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    """The reviews a list or an export shows. None means "any"."""

    start: datetime | None = None  # inclusive, an instant (a local day's midnight)
    end: datetime | None = None  # exclusive
    project: str | None = None
    status: Status | None = None
    resubmitted: bool | None = None
    feedback: Feedback | None = None
    drop_prefix: str | None = None  # "DR12": drop numbers starting with it
    agent: str | None = None  # the phone the drop was last posted from
    failed: Step | None = None  # the step the review's first verdict marked missing or wrong
    failed_mark: str | None = None  # only "missing" or only "wrong" of those

    def params(self) -> dict[str, object]:
        return {
            "agent": self.agent,
            "failed": None if self.failed is None else self.failed.column,
            "failed_mark": self.failed_mark,
            "verdict_keys": list(VERDICT_KEYS),
            "start": self.start,
            "end": self.end,
            "project": self.project,
            "status": None if self.status is None else self.status.value,
            "resubmitted": self.resubmitted,
            "feedback": None if self.feedback is None else self.feedback.value,
            "drop_from": self.drop_prefix,
            "drop_to": None if self.drop_prefix is None else f"{self.drop_prefix}Z",
            "drop_like": None if self.drop_prefix is None else f"{self.drop_prefix}%",
        }


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """One page of the review list, with where the pages before and after it start."""

    reviews: tuple[Review, ...]
    older: Keyset | None  # the next page's start, when there are older reviews
    newer: Keyset | None  # the previous page's start, when there are newer reviews


@dataclass(frozen=True, slots=True)
class DayCards:
    total: int
    complete: int
    incomplete: int
    awaiting: int
    feedback_sent: int
    resubmitted: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One message of the bridge that named the drop, as the monitor's ledger recorded it."""

    chat_jid: str
    message_id: str
    sent_at: datetime
    processed_at: datetime


@dataclass(frozen=True, slots=True)
class InvalidPost:
    """A drop posted in a validating project's group that was not in the project's plan."""

    posted_at: datetime
    project: str
    drop_number: str
    user_name: str | None
    phone: str | None
    reason: str
    action: str  # reject (no review) or flag (a review marked drop_not_in_plan)
    reply: str | None  # the outbox's state of the answer in the group; None: no answer written
    replied_at: datetime | None  # when the bridge took the answer (state sent)


@dataclass(frozen=True, slots=True)
class InvalidDay:
    posts: tuple[InvalidPost, ...]  # newest first, at most the limit asked for
    total: int  # all of the day's, past the limit


@cache
def query(
    db: Database, name: str, direction: str = "DESC", *, by_drop: bool = False
) -> sql.Composed:
    """A named query of dashboard.sql for the environment, as the pages run it (and the
    benchmark explains it)."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    return db.query(
        f"dashboard.{name}",
        columns=columns,
        direction=sql.SQL("ASC" if direction == "ASC" else "DESC"),
        order=db.query("dashboard.sighted_unindexed" if by_drop else "dashboard.sighted"),
    )


def _review(row: tuple[Any, ...]) -> Review:
    n_fields, n_steps = len(_FIELDS), len(Step)
    steps = tuple(bool(v) for v in row[n_fields : n_fields + n_steps])
    rest = row[n_fields + n_steps :]
    values = (*row[:n_fields], steps, *rest)
    return Review(*values)


def day_cards(conn: Connection, db: Database, day: date, tz: str) -> DayCards:
    """The cards of the reviews first seen on the local `day` (zone `tz`), from the per-day
    summary."""
    (row,) = summary.rows(conn, db, "day_cards", day, day, tz=tz) or [(0, 0, 0, 0, 0, 0)]
    return DayCards(*(int(n) for n in row))


def review_page(
    conn: Connection,
    db: Database,
    where: ReviewFilter,
    *,
    size: int,
    older: Keyset | None = None,
    newer: Keyset | None = None,
    oldest_first: bool = False,
) -> ReviewPage:
    """One page of the filtered reviews, newest first (or oldest first: the queue), continuing
    from a keyset: each page is an index range scan, as fast a million rows deep as on the
    first page. `older` is where the next page in the order starts and `newer` where the
    previous one ends, whichever way the order runs."""
    ahead, back = ("ASC", "DESC") if oldest_first else ("DESC", "ASC")
    if newer is not None:
        rows = _walk(conn, db, where, size + 1, back, past=newer)
        if len(rows) <= size:  # back at the top: show the first page as it is now
            return review_page(conn, db, where, size=size, oldest_first=oldest_first)
        shown = rows[:size][::-1]
        return ReviewPage(tuple(shown), older=shown[-1].keyset, newer=shown[0].keyset)
    rows = _walk(conn, db, where, size + 1, ahead, past=older)
    shown = rows[:size]
    return ReviewPage(
        tuple(shown),
        older=shown[-1].keyset if len(rows) > size else None,
        newer=shown[0].keyset if older is not None and shown else None,
    )


def neighbours(
    conn: Connection, db: Database, where: ReviewFilter, at: Keyset, *, oldest_first: bool
) -> tuple[Review | None, Review | None]:
    """The reviews just before and just after the place `at` in the filtered order (the queue's
    previous and next from a review page, whether or not that review still matches)."""
    ahead, back = ("ASC", "DESC") if oldest_first else ("DESC", "ASC")
    before = _walk(conn, db, where, 1, back, past=at)
    after = _walk(conn, db, where, 1, ahead, past=at)
    return (before[0] if before else None), (after[0] if after else None)


def _walk(
    conn: Connection,
    db: Database,
    where: ReviewFilter,
    limit: int,
    direction: str,
    *,
    past: Keyset | None,
) -> list[Review]:
    """Up to `limit` reviews from `past` (exclusive) on in `direction` (ASC: later ones)."""
    if direction == "ASC":
        return _fetch(conn, db, where, limit, newer=past, direction="ASC")
    return _fetch(conn, db, where, limit, older=past, direction="DESC")


def _fetch(
    conn: Connection,
    db: Database,
    where: ReviewFilter,
    limit: int | None,
    *,
    direction: str,
    older: Keyset | None = None,
    newer: Keyset | None = None,
) -> list[Review]:
    params = where.params() | keyset_params(older=older, newer=newer) | {"limit": limit}
    composed = query(db, "review_page", direction, by_drop=where.drop_prefix is not None)
    return [_review(r) for r in conn.execute(composed, params)]


@dataclass(frozen=True, slots=True)
class QueueCount:
    """The reviews awaiting a verdict in one project, by how long ago they were posted."""

    project: str | None
    today: int
    days_1_2: int
    days_3_7: int
    older: int

    @property
    def total(self) -> int:
        return self.today + self.days_1_2 + self.days_3_7 + self.older


def queue_counts(conn: Connection, db: Database, today: date, tz: str) -> list[QueueCount]:
    """Every review awaiting a verdict, counted per project and by age in local days (zone
    `tz`): from `today` on, the two days before, the five before those, and older; from the
    per-day summary (a row per day and project, however many await)."""
    params = {
        "today": today,
        "two_days": today - timedelta(days=2),
        "week": today - timedelta(days=7),
    }
    summary.require_zone(conn, db, tz)
    rows = conn.execute(db.query("summary.queue_counts"), params)
    return [QueueCount(*r) for r in rows]


def keyset_params(*, older: Keyset | None, newer: Keyset | None) -> dict[str, object]:
    return {
        "older_at": None if older is None else older.at,
        "older_id": None if older is None else older.id,
        "newer_at": None if newer is None else newer.at,
        "newer_id": None if newer is None else newer.id,
    }


@asynccontextmanager
async def export_connection(
    db: Database, *, application_name: str
) -> AsyncIterator[AsyncConnection]:
    """A connection of its own for one CSV export, never one of the pages' pool: an export a
    client does not read holds it, and nothing else. Its statements and its idle transaction
    are bounded (export_session); it is closed on the way out, cancelled or not."""
    conn = await db.connect_async(application_name)
    try:
        await conn.execute(query(db, "export_session"))
        yield conn
    finally:
        await conn.close()  # libpq's finish: no round trip, so a cancellation cannot stop it


async def export(
    conn: AsyncConnection, db: Database, where: ReviewFilter
) -> AsyncGenerator[list[Review], None]:
    """Every filtered review, newest first, EXPORT_FETCH at a time through a server-side
    cursor: memory stays the same whether the filter keeps ten rows or a million."""
    params = where.params() | keyset_params(older=None, newer=None) | {"limit": None}
    composed = query(db, "review_page", by_drop=where.drop_prefix is not None)
    async with conn.transaction(), conn.cursor(name="wa_monitor_export") as cursor:
        await cursor.execute(composed, params)
        while rows := await cursor.fetchmany(EXPORT_FETCH):
            yield [_review(r) for r in rows]


def review(conn: Connection, db: Database, review_id: UUID) -> Review | None:
    row = conn.execute(query(db, "review"), {"id": review_id}).fetchone()
    return None if row is None else _review(row)


def drop_history(conn: Connection, db: Database, drop_number: str) -> list[HistoryEntry]:
    """The ledger entries of the messages that named `drop_number`, oldest first."""
    rows = conn.execute(query(db, "drop_history"), {"drop": drop_number})
    return [HistoryEntry(*r) for r in rows]


def invalid_posts(
    conn: Connection, db: Database, start: datetime, end: datetime, *, limit: int
) -> InvalidDay:
    """The invalid drop numbers posted in [start, end) (one local day on the overview)."""
    rows = conn.execute(
        query(db, "invalid_day"), {"start": start, "end": end, "limit": limit}
    ).fetchall()
    return InvalidDay(tuple(InvalidPost(*r[:-1]) for r in rows), rows[0][-1] if rows else 0)


def ping(conn: Connection, db: Database) -> None:
    """Raise the driver's error unless the database answers."""
    conn.execute(query(db, "ping"))
