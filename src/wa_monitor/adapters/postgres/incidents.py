"""The alerts' incidents as the schema keeps them (wa_monitor_alerts): one row per open kind,
deleted once its recovery went out on every channel its alert went to. SQL in sql/alerts.sql;
every function runs on the caller's connection, in the check's one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wa_monitor.adapters.postgres.db import Connection, Database


@dataclass(frozen=True, slots=True)
class IncidentRow:
    kind: str
    detail: str
    opened_at: datetime
    opened_via: tuple[str, ...]  # the channels its alert went to
    resolved_at: datetime | None
    resolved_via: tuple[str, ...]  # the channels its recovery went to


def lock(conn: Connection, db: Database) -> None:
    """One check at a time per environment, until the transaction ends (alerts.sql says why)."""
    conn.execute(db.query("alerts.lock"))


def known(conn: Connection, db: Database) -> list[IncidentRow]:
    rows = conn.execute(db.query("alerts.incidents")).fetchall()
    return [IncidentRow(r[0], r[1], r[2], tuple(r[3]), r[4], tuple(r[5])) for r in rows]


def open_incident(conn: Connection, db: Database, kind: str, detail: str) -> None:
    conn.execute(db.query("alerts.open"), {"kind": kind, "detail": detail})


def reopen(conn: Connection, db: Database, kind: str) -> None:
    """Back before its recovery went anywhere: the incident goes on."""
    conn.execute(db.query("alerts.reopen"), {"kind": kind})


def resolve(conn: Connection, db: Database, kind: str) -> None:
    conn.execute(db.query("alerts.resolve"), {"kind": kind})


def told(conn: Connection, db: Database, kind: str, channel: str, *, recovery: bool) -> None:
    """Note that the alert (or, with `recovery`, the recovery) went out on `channel`."""
    name = "alerts.resolved_via" if recovery else "alerts.opened_via"
    conn.execute(db.query(name), {"kind": kind, "channel": channel})


def close(conn: Connection, db: Database, kind: str) -> None:
    conn.execute(db.query("alerts.close"), {"kind": kind})
