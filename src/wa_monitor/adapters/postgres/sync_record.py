"""The SharePoint sync's record, in the schema, of each sheet row it wrote (what, when, where),
and the lock that keeps two syncs from running at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg

from wa_monitor.adapters.postgres.db import TABLES, Database, LockBusy
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


def record_write(
    conn: psycopg.Connection[Any],
    db: Database,
    write: Write,
    *,
    kind: TargetKind,
    where: str,
) -> None:
    """Note one row the sheet now holds (autocommit: kept even if a later row fails)."""
    with db.translated():
        _insert(conn, db, write, kind=kind, where=where)


def written_keys(
    conn: psycopg.Connection[Any], db: Database, *, where: str, first: date, last: date
) -> list[tuple[date, str]]:
    """The (day, project) rows the sync wrote to `where` before, for days first..last."""
    with db.translated():
        rows = conn.execute(
            db.query("sync.written_keys"), {"target": where, "first": first, "last": last}
        ).fetchall()
    return [(r[0], str(r[1])) for r in rows]


def _insert(
    conn: psycopg.Connection[Any], db: Database, write: Write, *, kind: TargetKind, where: str
) -> None:
    conn.execute(
        db.query("sync.record_write"),
        {
            "day": write.total.day,
            "project": write.total.project,
            "drops": write.total.drops,
            "previous": write.previous,
            "action": write.kind.value,
            "target_kind": kind.value,
            "target": where,
            "sheet_row": write.row,
        },
    )
