"""The projects' plan lists in an environment's schema: import, sizes and look-ups for ops."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from wa_monitor.adapters.postgres.db import compose, named_queries, require_current, session
from wa_monitor.core.plans import PlanChange, shrink_refusal
from wa_monitor.settings import Settings

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


def _q(name: str, schema: str) -> sql.Composed:
    return compose(named_queries("plans.sql")[name], schema)


def _session(url: str, settings: Settings) -> AbstractContextManager[psycopg.Connection[Any]]:
    return session(url, schema=settings.schema, env=settings.environment.value, purpose="drops")


def import_drops(
    url: str,
    settings: Settings,
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
    schema = settings.schema
    params = {"project": project}
    with _session(url, settings) as conn:
        require_current(conn, schema, settings.environment.value)
        with conn.transaction():
            conn.execute(_q("create_incoming", schema))
            with conn.cursor().copy(_q("copy_incoming", schema)) as copy:
                for drop in drops:
                    copy.write_row((drop,))
            conn.execute(_q("analyze_incoming", schema))
            change = _change(conn, schema, project)
            refused = None
            if replace and max_shrink is not None:
                refused = shrink_refusal(change, max_shrink=max_shrink)
            if dry_run or refused is not None:
                return Imported(change, False, refused, 0, 0, change.before)
            added = conn.execute(_q("add", schema), params).rowcount
            removed = conn.execute(_q("remove", schema), params).rowcount if replace else 0
            total = _count(conn, _q("count", schema), params)
    return Imported(change, True, None, added, removed, total)


def _change(conn: psycopg.Connection[Any], schema: str, project: str) -> PlanChange:
    params: dict[str, object] = {"project": project, "limit": EXAMPLES}
    row = conn.execute(_q("change", schema), params).fetchone()
    before, adding, missing = (int(n) for n in row) if row else (0, 0, 0)
    adding_examples = conn.execute(_q("adding_examples", schema), params).fetchall()
    missing_examples = conn.execute(_q("missing_examples", schema), params).fetchall()
    return PlanChange(
        project=project,
        before=before,
        adding=adding,
        missing=missing,
        adding_examples=tuple(str(r[0]) for r in adding_examples),
        missing_examples=tuple(str(r[0]) for r in missing_examples),
    )


def sizes(url: str, settings: Settings) -> list[ListSize]:
    """Each project's list size and when it was last added to."""
    with _session(url, settings) as conn:
        require_current(conn, settings.schema, settings.environment.value)
        rows = conn.execute(_q("sizes", settings.schema)).fetchall()
    return [ListSize(str(p), int(n), at) for p, n, at in rows]


def sizes_of(conn: psycopg.Connection[Any], schema: str, projects: Sequence[str]) -> dict[str, int]:
    """The list size of each of `projects` that has a list (an empty one is left out)."""
    rows = conn.execute(_q("sizes_of", schema), {"projects": list(projects)}).fetchall()
    return {str(p): int(n) for p, n in rows}


def check(url: str, settings: Settings, drops: Sequence[str]) -> dict[str, list[str]]:
    """Drop → the projects whose plan lists it (empty: none)."""
    with _session(url, settings) as conn:
        require_current(conn, settings.schema, settings.environment.value)
        rows = conn.execute(_q("check", settings.schema), {"drops": list(drops)}).fetchall()
    return {str(d): [str(p) for p in projects] for d, projects in rows}


def _count(conn: psycopg.Connection[Any], query: sql.Composed, params: dict[str, str]) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0
