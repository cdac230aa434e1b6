"""The figures `status`, `doctor`, the alerts and the dashboard's health read from an
environment's schema: review counts, the newest ledger entry, the cursor, the flawed rows, the
skipped messages and the day's replies. SQL in sql/ops.sql (status_*) and sql/outbox.sql
(status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from wa_monitor.adapters.postgres.db import Connection, Database


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    total: int
    today: int
    latest_created_at: datetime | None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the monitor got: its newest ledger entry and its saved position."""

    last_processed_at: datetime | None  # when the newest ledger entry was applied
    last_processed_message_at: datetime | None  # that message's time in the bridge
    cursor_rowid: int | None
    last_cycle_at: datetime | None  # when the saved position last moved
    last_read_at: datetime | None  # when the monitor last read the bridge


@dataclass(frozen=True, slots=True)
class SkippedSender:
    """Drop messages of one sender skipped for one reason (a bot number, the own account)."""

    sender: str
    reason: str  # 'bot_sender' or 'own_account'
    count: int
    last_sent_at: datetime


@dataclass(frozen=True, slots=True)
class RepliesDay:
    invalid: int | None  # invalid drop numbers posted in the day
    waiting: int | None  # replies waiting to be posted
    unknown: int | None  # replies the bridge gave no clear answer for


def review_counts(conn: Connection, db: Database, today: date) -> ReviewCounts:
    """Every review, those of `today` (review_date), and the newest one's created_at: a scan
    of the whole table."""
    row = conn.execute(db.query("ops.status_reviews"), {"today": today}).fetchone()
    total, on_day, latest = row if row else (0, 0, None)
    return ReviewCounts(int(total), int(on_day), latest)


def progress(conn: Connection, db: Database, bridge: str) -> Progress:
    """The newest ledger entry (any bridge's) and `bridge`'s saved position."""
    ledger = conn.execute(db.query("ops.status_ledger")).fetchone() or (None, None)
    cursor = conn.execute(db.query("ops.status_cursor"), {"bridge": bridge}).fetchone() or (
        None,
        None,
        None,
    )
    return Progress(ledger[0], ledger[1], cursor[0], cursor[1], cursor[2])


@dataclass(frozen=True, slots=True)
class BridgeProgress:
    """One bridge's cursor row: how far its monitor read, and whether that monitor runs."""

    name: str
    cursor_rowid: int
    newest_at: datetime | None  # the newest message time read from it
    read_at: datetime | None  # its monitor's last read (the heartbeat)
    running_pid: int | None  # its monitor's election session (PostgreSQL's pid), if it runs
    running_since: datetime | None


def bridges(conn: Connection, db: Database) -> list[BridgeProgress]:
    """Every bridge a monitor has read for this schema, by name."""
    rows = conn.execute(db.query("ops.status_bridges"), {"schema": db.schema}).fetchall()
    return [BridgeProgress(str(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def flawed_rows(conn: Connection, db: Database) -> int:
    """How many bridge rows were processed with something in place of their time or id."""
    row = conn.execute(db.query("ops.status_flawed")).fetchone()
    return int(row[0]) if row else 0


def skipped_since(conn: Connection, db: Database, since: datetime) -> list[SkippedSender]:
    """The drop messages skipped for their sender since `since`, per sender, newest first."""
    rows = conn.execute(db.query("ops.status_skipped"), {"since": since}).fetchall()
    return [SkippedSender(str(s), str(r), int(n), t) for s, r, n, t in rows]


def replies_day(conn: Connection, db: Database, start: datetime, until: datetime) -> RepliesDay:
    """The invalid drops posted in [start, until), and the outbox's waiting and unknown."""
    row = conn.execute(db.query("outbox.status"), {"since": start, "until": until}).fetchone()
    invalid, waiting, unknown = row if row else (None, None, None)
    return RepliesDay(invalid, waiting, unknown)
