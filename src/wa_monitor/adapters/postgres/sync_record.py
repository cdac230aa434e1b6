"""The SharePoint sync's record, in the schema, of each sheet row it wrote (what, when, where),
and the lock that keeps two syncs from running at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg

from wa_monitor.adapters.postgres.daily import daily_totals
from wa_monitor.adapters.postgres.db import TABLES, Database, LockBusy
from wa_monitor.core.records import DailyCount
from wa_monitor.core.sheet import TargetKind, Write
from wa_monitor.errors import WaMonitorError


class SyncBusy(WaMonitorError):
    """Another sync of the environment is running: this one wrote nothing."""


@contextmanager
def sync_lock(db: Database) -> Iterator[None]:
    """Hold the environment's sync lock until the block ends, on a connection of its own (the
    sync's writes commit one by one on theirs); SyncBusy if another sync holds it."""
    conn = db.connect("sync-lock")
    try:
        try:
            db.hold_table_lock(conn, TABLES["sync_lock"])
        except LockBusy as busy:
            raise SyncBusy(
                f"another sync of environment {db.environment} is running{busy.who()}: the "
                "timer's, or one started by hand; this run wrote nothing: run it again when that "
                "one is done"
            ) from None
        yield
    finally:
        conn.close()


class PgSyncBook:
    """services/sharepoint.SyncBook on the sync's session: the daily counts in the zone `tz`,
    the rows written before, each new one recorded (autocommit: kept even if a later row
    fails)."""

    def __init__(self, conn: psycopg.Connection[Any], db: Database, tz: str) -> None:
        self._conn, self._db, self._tz = conn, db, tz

    def counts(self, first: date, last: date) -> list[DailyCount]:
        return daily_totals(self._conn, self._db, first, last, self._tz)

    def written(self, where: str, first: date, last: date) -> list[tuple[date, str]]:
        params = {"target": where, "first": first, "last": last}
        with self._db.translated():
            rows = self._conn.execute(self._db.query("sync.written_keys"), params).fetchall()
        return [(r[0], str(r[1])) for r in rows]

    def record(self, write: Write, *, kind: TargetKind, where: str) -> None:
        params = {
            "day": write.total.day,
            "project": write.total.project,
            "drops": write.total.drops,
            "previous": write.previous,
            "action": write.kind.value,
            "target_kind": kind.value,
            "target": where,
            "sheet_row": write.row,
        }
        with self._db.translated():
            self._conn.execute(self._db.query("sync.record_write"), params)
