"""The figures `status`, `doctor`, the alerts and the dashboard's health read from an
environment's schema (review counts, the newest ledger entry, the cursor, the flawed rows, the
skipped messages and the day's replies) and from its bridge's file: PgFigures, the Figures port
of services/status.py. SQL in sql/ops.sql (status_*) and sql/outbox.sql
(status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from wa_monitor.adapters.bridge import Bridge
from wa_monitor.adapters.postgres.db import Connection, Database, LockHolder, SchemaState
from wa_monitor.settings import Settings


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


@dataclass(frozen=True, slots=True)
class BridgeProgress:
    """One bridge's cursor row: how far its monitor read, and whether that monitor runs."""

    name: str
    cursor_rowid: int
    newest_at: datetime | None  # the newest message time read from it
    read_at: datetime | None  # its monitor's last read (the heartbeat)
    running_pid: int | None  # its monitor's election session (PostgreSQL's pid), if it runs
    running_since: datetime | None


class PgFigures:
    """services/status.Figures on one connection of the environment's database, and its
    bridge's file: what status, the alerts and the dashboard's health read."""

    def __init__(self, conn: Connection, db: Database, settings: Settings) -> None:
        self._conn, self._db, self._settings = conn, db, settings

    def schema_state(self) -> SchemaState:
        return self._db.state(self._conn)

    def lock_holder(self) -> LockHolder | None:
        """The running monitor: the holder of the environment's instance lock."""
        return self._db.lock_holder(self._conn)

    def review_counts(self, today: date) -> ReviewCounts:
        """Every review, those of `today` (review_date), and the newest one's created_at: a
        scan of the whole table."""
        row = self._conn.execute(self._db.query("ops.status_reviews"), {"today": today})
        total, on_day, latest = row.fetchone() or (0, 0, None)
        return ReviewCounts(int(total), int(on_day), latest)

    def progress(self, bridge: str) -> Progress:
        """The newest ledger entry (any bridge's) and `bridge`'s saved position."""
        conn, db = self._conn, self._db
        ledger = conn.execute(db.query("ops.status_ledger")).fetchone() or (None, None)
        cursor = conn.execute(db.query("ops.status_cursor"), {"bridge": bridge}).fetchone()
        cursor = cursor or (None, None, None)
        return Progress(ledger[0], ledger[1], cursor[0], cursor[1], cursor[2])

    def bridges(self) -> list[BridgeProgress]:
        """Every bridge a monitor has read for this schema, by name."""
        params = {"schema": self._db.schema}
        rows = self._conn.execute(self._db.query("ops.status_bridges"), params).fetchall()
        return [BridgeProgress(str(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def flawed_rows(self) -> int:
        return flawed_rows(self._conn, self._db)

    def skipped_since(self, since: datetime) -> list[SkippedSender]:
        """The drop messages skipped for their sender since `since`, per sender, newest first."""
        rows = self._conn.execute(self._db.query("ops.status_skipped"), {"since": since})
        return [SkippedSender(str(s), str(r), int(n), t) for s, r, n, t in rows.fetchall()]

    def replies_day(self, start: datetime, until: datetime) -> RepliesDay:
        """The invalid drops posted in [start, until), and the outbox's waiting and unknown."""
        params = {"since": start, "until": until}
        row = self._conn.execute(self._db.query("outbox.status"), params).fetchone()
        invalid, waiting, unknown = row or (None, None, None)
        return RepliesDay(invalid, waiting, unknown)

    def backlog(self, cursor_rowid: int) -> tuple[int, datetime | None]:
        """The bridge file's messages of enabled groups after the cursor, and its newest
        message's time; BridgeError when the file cannot be read."""
        s = self._settings
        with Bridge(s.bridge_db, groups=list(s.enabled_projects), tz=s.tz, span=1) as bridge:
            return bridge.pending(cursor_rowid), bridge.newest_message_time()


def flawed_rows(conn: Connection, db: Database) -> int:
    """How many bridge rows were processed with something in place of their time or id."""
    row = conn.execute(db.query("ops.status_flawed")).fetchone()
    return int(row[0]) if row else 0
