"""The SharePoint sync's record, in the schema, of each sheet row it wrote (what, when, where),
and the lock that keeps two syncs of one target from running at once."""

from __future__ import annotations

from typing import Any

import psycopg

from wa_monitor.adapters.postgres.db import compose, named_queries, translate
from wa_monitor.core.sheet import TargetKind, Write
from wa_monitor.errors import WaMonitorError


class SyncBusy(WaMonitorError):
    """Another sync of the same target is running: this one wrote nothing."""


def lock_target(conn: psycopg.Connection[Any], schema: str, where: str, *, env: str) -> None:
    """Hold the target's sync lock for this connection's life, or raise SyncBusy."""
    try:
        row = conn.execute(
            compose(named_queries("sync.sql")["sync_lock"], schema), {"target": where}
        ).fetchone()
    except psycopg.Error as exc:
        raise translate(exc, schema=schema, env=env) from None
    if not row or not row[0]:
        raise SyncBusy(
            f"another sync of {where} is running (the timer's, or one started by hand): this "
            "run wrote nothing; run it again when that one is done"
        )


def record_write(
    conn: psycopg.Connection[Any],
    schema: str,
    write: Write,
    *,
    kind: TargetKind,
    where: str,
    env: str,
) -> None:
    """Note one row the sheet now holds (autocommit: kept even if a later row fails)."""
    try:
        _insert(conn, schema, write, kind=kind, where=where)
    except psycopg.Error as exc:
        raise translate(exc, schema=schema, env=env) from None


def _insert(
    conn: psycopg.Connection[Any], schema: str, write: Write, *, kind: TargetKind, where: str
) -> None:
    conn.execute(
        compose(named_queries("sync.sql")["record_write"], schema),
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
