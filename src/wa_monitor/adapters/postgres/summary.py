"""The per-day summary (migrations 0019, 0024): per local day x project x agent's phone, and per
local day x project, the counts the overview, the queue, the Quality page and the SharePoint
totals read, and histograms of the loop's waits; kept by triggers in the transaction of every
write. Its days are local to the zone it was built in: a read in
another zone is refused (SummaryZone) rather than answered with the wrong days, and
`schema migrate` (or `schema summarize`) rebuilds it in the config's zone."""

from __future__ import annotations

from datetime import date
from typing import Any

from wa_monitor.adapters.postgres.db import TABLES, Connection, Database
from wa_monitor.errors import NotMigrated


class SummaryZone(NotMigrated):
    """The summary's days are local to another zone than the config's."""


def zone(conn: Connection, db: Database) -> str:
    row = conn.execute(db.query("summary.zone")).fetchone()
    return str(row[0]) if row else ""


def needs_rebuild(conn: Connection, db: Database, tz: str) -> bool:
    """The summary's days are in another zone than `tz` (False for a session that may not read
    it: a service's role, which could not rebuild it either)."""
    params = {"schema": db.schema, "table": TABLES["daily_zone"]}
    readable = conn.execute(db.query("summary.zone_readable"), params).fetchone()
    return bool(readable and readable[0]) and zone(conn, db) != tz


def require_zone(conn: Connection, db: Database, tz: str) -> None:
    """SummaryZone (with the fix) unless the summary's days are local to `tz`."""
    built = zone(conn, db)
    if built != tz:
        raise SummaryZone(
            f"the per-day summary of schema {db.schema!r} counts days in {built!r}, the config "
            f"says {tz!r}: run `wa-monitor schema summarize --env {db.environment}`"
        )


def rebuild(conn: Connection, db: Database, tz: str) -> int:
    """Recompute the summary from the reviews and their trail, its days local to `tz`; the
    number of reviews counted. Writers wait for it (a SHARE lock on the reviews)."""
    with conn.transaction():
        row = conn.execute(db.query("summary.rebuild"), {"zone": tz}).fetchone()
    return int(row[0]) if row else 0


def rows(
    conn: Connection,
    db: Database,
    name: str,
    first: date,
    last: date,
    *,
    tz: str,
    **params: object,
) -> list[tuple[Any, ...]]:
    """The named summary query over the local days first..last (inclusive), in zone `tz`, with
    the query's other parameters."""
    require_zone(conn, db, tz)
    return read(conn, db, name, first, last, **params)


def read(
    conn: Connection, db: Database, name: str, first: date, last: date, **params: object
) -> list[tuple[Any, ...]]:
    """`rows` for a caller that has checked the zone (require_zone) on this connection already:
    a page that reads several of the summary's queries checks it once, not once a query."""
    return conn.execute(
        db.query(f"summary.{name}"), params | {"first": first, "last": last}
    ).fetchall()
