"""The projects' plan lists in an environment's schema: import, sizes and look-ups for ops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from wa_monitor.adapters.postgres.db import Database


@dataclass(frozen=True, slots=True)
class Imported:
    added: int
    unchanged: int
    removed: int
    kept: int  # in the list but not in the file, left there (no --replace)
    total: int  # the project's list afterwards


@dataclass(frozen=True, slots=True)
class ListSize:
    project: str
    drops: int
    imported_at: datetime | None


def import_drops(db: Database, project: str, drops: Sequence[str], *, replace: bool) -> Imported:
    """Make `project`'s list hold `drops` (and, with `replace`, nothing else), in one
    transaction: COPY into a temporary table, then one INSERT … ON CONFLICT and one DELETE."""
    params = {"project": project}
    with db.session("drops") as conn:
        db.require_current(conn)
        with conn.transaction():
            conn.execute(db.query("plans.create_incoming"))
            with conn.cursor().copy(db.query("plans.copy_incoming")) as copy:
                for drop in drops:
                    copy.write_row((drop,))
            conn.execute(db.query("plans.analyze_incoming"))
            added = conn.execute(db.query("plans.add"), params).rowcount
            if replace:
                removed, kept = conn.execute(db.query("plans.remove"), params).rowcount, 0
            else:
                removed, kept = 0, _count(conn, db.query("plans.not_in_file"), params)
            total = _count(conn, db.query("plans.count"), params)
    return Imported(
        added=added, unchanged=len(drops) - added, removed=removed, kept=kept, total=total
    )


def sizes(db: Database) -> list[ListSize]:
    """Each project's list size and when it was last added to."""
    with db.session("drops") as conn:
        db.require_current(conn)
        rows = conn.execute(db.query("plans.sizes")).fetchall()
    return [ListSize(str(p), int(n), at) for p, n, at in rows]


def sizes_of(
    conn: psycopg.Connection[Any], db: Database, projects: Sequence[str]
) -> dict[str, int]:
    """The list size of each of `projects` that has a list (an empty one is left out)."""
    rows = conn.execute(db.query("plans.sizes_of"), {"projects": list(projects)}).fetchall()
    return {str(p): int(n) for p, n in rows}


def check(db: Database, drops: Sequence[str]) -> dict[str, list[str]]:
    """Drop → the projects whose plan lists it (empty: none)."""
    with db.session("drops") as conn:
        db.require_current(conn)
        rows = conn.execute(db.query("plans.check"), {"drops": list(drops)}).fetchall()
    return {str(d): [str(p) for p in projects] for d, projects in rows}


def _count(conn: psycopg.Connection[Any], query: sql.Composed, params: dict[str, str]) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0
