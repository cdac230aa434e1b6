"""The Quality page's reads: per project, the failing steps, per agent, the loop's times and a
weekly series, for the drops first seen in a range. Every figure is computed in SQL
(sql/quality.sql, where the definitions are written); this module only names the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from wa_monitor.adapters.postgres.db import Connection, Database
from wa_monitor.core.steps import Step

# A trail entry that is a reviewer's save names a step, the comment, or "saved" (a save that
# changed nothing); a feedback stamp names only feedback_sent.
VERDICT_KEYS = (*(s.column for s in Step), "comment", "saved")
STEP_COLUMNS = tuple(s.column for s in Step)


@dataclass(frozen=True, slots=True)
class ProjectQuality:
    project: str | None  # None: every project together
    drops: int
    reviewed: int
    passed_first: int
    first_time_rate: float | None  # percent of the reviewed; None when none was
    resubmitted: int
    resubmission_rate: float | None  # percent of the drops; None when there were none
    completed: int
    completion_rate: float | None
    awaiting: int
    verdict_p50: float | None  # seconds from the drop to its first verdict
    verdict_p90: float | None


@dataclass(frozen=True, slots=True)
class StepFailures:
    project: str | None  # None: every project together
    step: Step
    missing: int
    wrong: int
    reviewed: int  # first verdicts counted

    @property
    def failed(self) -> int:
        return self.missing + self.wrong


@dataclass(frozen=True, slots=True)
class AgentQuality:
    phone: str
    name: str | None
    drops: int
    reviewed: int
    passed_first: int
    first_time_rate: float | None
    fix_p50: float | None  # seconds from the first feedback to the resubmission
    top_steps: tuple[tuple[Step, int], ...]  # most missed or wrong first, with counts


@dataclass(frozen=True, slots=True)
class LoopTimes:
    """Seconds between the loop's stages, median and 90th percentile (None: no such drop)."""

    project: str | None
    verdict_p50: float | None  # drop → first verdict
    verdict_p90: float | None
    feedback_p50: float | None  # first verdict → feedback sent
    feedback_p90: float | None
    fix_p50: float | None  # feedback sent → resubmission
    fix_p90: float | None
    complete_p50: float | None  # resubmission → complete
    complete_p90: float | None
    total_p50: float | None  # drop → complete
    total_p90: float | None


@dataclass(frozen=True, slots=True)
class Week:
    week: date  # its Monday, local
    drops: int
    reviewed: int
    passed_first: int

    @property
    def first_time_rate(self) -> float | None:
        return None if not self.reviewed else round(100.0 * self.passed_first / self.reviewed, 1)


@dataclass(frozen=True, slots=True)
class Quality:
    projects: tuple[ProjectQuality, ...]  # the total (project None) last
    steps: tuple[StepFailures, ...]
    agents: tuple[AgentQuality, ...]
    loop: tuple[LoopTimes, ...]  # the total (project None) last

    def total(self) -> ProjectQuality | None:
        return next((p for p in self.projects if p.project is None), None)


def _params(start: datetime, end: datetime) -> dict[str, object]:
    return {
        "start": start,
        "end": end,
        "verdict_keys": list(VERDICT_KEYS),
        "step_columns": list(STEP_COLUMNS),
    }


def _rows(
    conn: Connection, db: Database, name: str, params: dict[str, object]
) -> list[tuple[Any, ...]]:
    composed = db.query(f"quality.{name}", facts=db.query("quality.facts"))
    return conn.execute(composed, params).fetchall()


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def quality(conn: Connection, db: Database, start: datetime, end: datetime) -> Quality:
    """Every figure of the drops first seen in [start, end)."""
    params = _params(start, end)
    with conn.transaction():
        conn.execute(db.query("quality.no_jit"))
        return _quality(conn, db, params)


def _quality(conn: Connection, db: Database, params: dict[str, object]) -> Quality:
    projects = tuple(
        ProjectQuality(
            project=r[0],
            drops=int(r[1]),
            reviewed=int(r[2]),
            passed_first=int(r[3]),
            first_time_rate=_number(r[4]),
            resubmitted=int(r[5]),
            resubmission_rate=_number(r[6]),
            completed=int(r[7]),
            completion_rate=_number(r[8]),
            awaiting=int(r[9]),
            verdict_p50=_number(r[10]),
            verdict_p90=_number(r[11]),
        )
        for r in _rows(conn, db, "projects", params)
    )
    steps = tuple(
        StepFailures(r[0], Step(int(r[1])), int(r[2]), int(r[3]), int(r[4]))
        for r in _rows(conn, db, "steps", params)
    )
    agents = tuple(
        AgentQuality(
            phone=str(r[0]),
            name=r[1],
            drops=int(r[2]),
            reviewed=int(r[3]),
            passed_first=int(r[4]),
            first_time_rate=_number(r[5]),
            fix_p50=_number(r[6]),
            top_steps=tuple((Step(int(n)), int(c)) for n, c in r[7]),
        )
        for r in _rows(conn, db, "agents", params)
    )
    loop = tuple(
        LoopTimes(r[0], *(_number(v) for v in r[1:])) for r in _rows(conn, db, "loop", params)
    )
    return Quality(projects, steps, agents, loop)


def weekly(conn: Connection, db: Database, start: datetime, end: datetime, tz: str) -> list[Week]:
    """Drops, first verdicts and first-time passes per local week (Monday first) in the range."""
    with conn.transaction():
        conn.execute(db.query("quality.no_jit"))
        rows = _rows(conn, db, "weekly", _params(start, end) | {"tz": tz})
    return [Week(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
