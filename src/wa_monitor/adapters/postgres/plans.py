"""The projects' plan lists in an environment's schema: import, sizes and look-ups for ops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.plans import PlanChange, shrink_refusal

EXAMPLES = 5  # drops named of each kind a change would add or remove


@dataclass(frozen=True, slots=True)
class Imported:
    change: PlanChange  # what the file would change, counted before any write
    written: bool  # False: a dry run, or refused (then `refused` says why)
    refused: str | None
    added: int
    removed: int
    total: int  # the project's list afterwards (unchanged when not written)


@dataclass(frozen=True, slots=True)
class ListSize:
    project: str
    drops: int
    imported_at: datetime | None


def import_drops(
    db: Database,
    project: str,
    drops: Sequence[str],
    *,
    replace: bool,
    dry_run: bool = False,
    max_shrink: float | None = None,
) -> Imported:
    """Make `project`'s list hold `drops` (and, with `replace`, nothing else), in one
    transaction: COPY into a temporary table, count what would change, then one INSERT … ON
    CONFLICT and one DELETE. Nothing is written on a `dry_run`, nor when `replace` would
    remove more than `max_shrink` of the list (None: no limit)."""
    params = {"project": project}
    with db.session("drops") as conn:
        db.require_current(conn)
        with conn.transaction():
            conn.execute(db.query("plans.create_incoming"))
            with conn.cursor().copy(db.query("plans.copy_incoming")) as copy:
                for drop in drops:
                    copy.write_row((drop,))
            conn.execute(db.query("plans.analyze_incoming"))
            change = _change(conn, db, project)
            refused = None
            if replace and max_shrink is not None:
                refused = shrink_refusal(change, max_shrink=max_shrink)
            if dry_run or refused is not None:
                return Imported(change, False, refused, 0, 0, change.before)
            added = conn.execute(db.query("plans.add"), params).rowcount
            removed = conn.execute(db.query("plans.remove"), params).rowcount if replace else 0
            total = _count(conn, db.query("plans.count"), params)
    return Imported(change, True, None, added, removed, total)


def _change(conn: psycopg.Connection[Any], db: Database, project: str) -> PlanChange:
    params: dict[str, object] = {"project": project, "limit": EXAMPLES}
    row = conn.execute(db.query("plans.change"), params).fetchone()
    before, adding, missing = (int(n) for n in row) if row else (0, 0, 0)
    adding_examples = conn.execute(db.query("plans.adding_examples"), params).fetchall()
    missing_examples = conn.execute(db.query("plans.missing_examples"), params).fetchall()
    return PlanChange(
        project=project,
        before=before,
        adding=adding,
        missing=missing,
        adding_examples=tuple(str(r[0]) for r in adding_examples),
        missing_examples=tuple(str(r[0]) for r in missing_examples),
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
