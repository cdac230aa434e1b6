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
from wa_monitor.settings import Settings


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


def _q(name: str, schema: str) -> sql.Composed:
    return compose(named_queries("plans.sql")[name], schema)


def _session(url: str, settings: Settings) -> AbstractContextManager[psycopg.Connection[Any]]:
    return session(url, schema=settings.schema, env=settings.environment.value, purpose="drops")


def import_drops(
    url: str, settings: Settings, project: str, drops: Sequence[str], *, replace: bool
) -> Imported:
    """Make `project`'s list hold `drops` (and, with `replace`, nothing else), in one
    transaction: COPY into a temporary table, then one INSERT … ON CONFLICT and one DELETE."""
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
            added = conn.execute(_q("add", schema), params).rowcount
            if replace:
                removed, kept = conn.execute(_q("remove", schema), params).rowcount, 0
            else:
                removed, kept = 0, _count(conn, _q("not_in_file", schema), params)
            total = _count(conn, _q("count", schema), params)
    return Imported(
        added=added, unchanged=len(drops) - added, removed=removed, kept=kept, total=total
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
