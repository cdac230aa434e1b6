"""The SharePoint sync's record, in the schema, of each sheet row it wrote (what, when, where),
and the lock that keeps two syncs from running at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg

from wa_monitor.adapters.postgres.db import (
    TABLES,
    LockBusy,
    compose,
    connect,
    from_pg_error,
    hold_table_lock,
    named_queries,
)
from wa_monitor.core.sheet import TargetKind, Write
from wa_monitor.errors import WaMonitorError


class SyncBusy(WaMonitorError):
    """Another sync of the environment is running: this one wrote nothing."""


@contextmanager
def sync_lock(url: str, *, schema: str, env: str) -> Iterator[None]:
    """Hold the environment's sync lock until the block ends, on a connection of its own (the
    sync's writes commit one by one on theirs); SyncBusy if another sync holds it."""
    conn = connect(url, schema=schema, env=env, purpose="sync-lock")
    try:
        try:
            hold_table_lock(conn, schema, TABLES["sync_lock"], env=env)
        except LockBusy as busy:
            raise SyncBusy(
                f"another sync of environment {env} is running{busy.who()}: the timer's, or one "
                "started by hand; this run wrote nothing: run it again when that one is done"
            ) from None
        yield
    finally:
        conn.close()


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
        raise from_pg_error(exc, schema=schema, env=env) from None


def written_keys(
    conn: psycopg.Connection[Any], schema: str, *, where: str, first: date, last: date, env: str
) -> list[tuple[date, str]]:
    """The (day, project) rows the sync wrote to `where` before, for days first..last."""
    try:
        rows = conn.execute(
            compose(named_queries("sync.sql")["written_keys"], schema),
            {"target": where, "first": first, "last": last},
        ).fetchall()
    except psycopg.Error as exc:
        raise from_pg_error(exc, schema=schema, env=env) from None
    return [(r[0], str(r[1])) for r in rows]


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
