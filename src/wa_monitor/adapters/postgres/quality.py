"""The Quality page's reads: per project, the failing steps, per agent, the loop's times and a
weekly series, for the drops first seen in a range. Every figure is computed in SQL from the
per-day summary (sql/summary.sql; the definitions are written in sql/quality.sql): the counts as
sums, the times as medians and 90th percentiles of its histograms, within WAIT_RESOLUTION of the
exact figure. This module only names the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from wa_monitor.adapters.postgres import summary
from wa_monitor.adapters.postgres.db import Connection, Database
from wa_monitor.core.steps import Step

# A trail entry that is a reviewer's save names a step, the comment, or "saved" (a save that
# changed nothing); a feedback stamp names only feedback_sent.
VERDICT_KEYS = (*(s.column for s in Step), "comment", "saved")
# How close a time read from the summary's histograms is to the exact figure: a bucket spans an
# eighth of a doubling, and a wait is read at its bucket's middle (migration 0024), so within a
# factor 2^(1/16) of it (and within a second for waits under a second, which count as 0).
WAIT_RESOLUTION = 2 ** (1 / 16) - 1  # 0.044
# The rows of summary.times: grouping(project, phone).
LEVEL_PROJECT, LEVEL_PHONE, LEVEL_ALL = 1, 2, 3


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


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Span:
    """The range a figure covers: local days first..last (inclusive) in zone `tz`, and the
    instants they start and end at."""

    first: date
    last: date
    start: datetime
    end: datetime
    tz: str


def times(conn: Connection, db: Database, span: Span, *, agents: bool) -> list[tuple[Any, ...]]:
    """The loop's times per project and overall, and (`agents`) feedback to fix per phone
    (sql/summary.sql: times). JIT compilation, which takes longer than these statements run, is
    off in the web service's sessions (dashboard.session)."""
    summary.require_zone(conn, db, span.tz)
    return summary.read(conn, db, "times", span.first, span.last, agents=agents)


# The summary's counts of a span, by query name (projects, steps, agents).
Counts = dict[str, list[tuple[Any, ...]]]


def counts(conn: Connection, db: Database, span: Span, *, detail: bool = True) -> Counts:
    """The span's counts per project (and, with `detail`, per step and per agent): the zone
    checked once, then a statement each."""
    summary.require_zone(conn, db, span.tz)
    asked = ("projects", "steps", "agents") if detail else ("projects",)
    return {
        name: summary.read(conn, db, name, span.first, span.last) if name in asked else []
        for name in ("projects", "steps", "agents")
    }


# The steps in their numbers' order: an agent's failures are an array in that order.
STEPS = tuple(Step)


def _top(failures: list[int]) -> tuple[tuple[Step, int], ...]:
    """An agent's three most missed or wrong steps, most first (then by number): the counts
    ranked as numbers, a Step made only for the three kept (400 agents x 12 steps each made
    one before: a third of the figures' Python time at a million reviews)."""
    ranked = sorted((-int(count), n) for n, count in enumerate(failures) if count)
    return tuple((STEPS[n], -count) for count, n in ranked[:3])


def quality(conn: Connection, db: Database, span: Span, *, detail: bool = True) -> Quality:
    """Every figure of the drops first seen in the span, from the per-day summary; without
    `detail`, only the projects' figures and the loop's times (the failing steps and the agents
    left empty: what the period before is compared on)."""
    return combine(counts(conn, db, span, detail=detail), times(conn, db, span, agents=detail))


def combine(counts: Counts, waits: list[tuple[Any, ...]]) -> Quality:
    """The figures from a span's counts and its loop's times (each read on its own connection
    if need be: web/quality.py reads them side by side)."""
    by_project = {r[1]: r[3:] for r in waits if r[0] == LEVEL_PROJECT}
    by_project[None] = next((r[3:] for r in waits if r[0] == LEVEL_ALL), (None,) * 10)
    by_phone = {r[2]: r[3:] for r in waits if r[0] == LEVEL_PHONE}
    none = (None,) * 10
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
            verdict_p50=_number(by_project.get(r[0], none)[0]),
            verdict_p90=_number(by_project.get(r[0], none)[1]),
        )
        for r in counts["projects"]
    )
    steps = tuple(
        StepFailures(project, step, int(missing[n]), int(wrong[n]), int(reviewed))
        for project, missing, wrong, reviewed in counts["steps"]
        for n, step in enumerate(STEPS)
    )
    agents = tuple(
        AgentQuality(
            phone=str(phone),
            name=name,
            drops=int(drops),
            reviewed=int(reviewed),
            passed_first=int(passed),
            first_time_rate=_number(rate),
            fix_p50=_number(by_phone.get(phone, none)[4]),
            top_steps=_top(failures),
        )
        for phone, name, drops, reviewed, passed, rate, failures in counts["agents"]
    )
    loop = tuple(
        LoopTimes(p.project, *(_number(v) for v in by_project.get(p.project, none)))
        for p in projects
    )
    return Quality(projects, steps, agents, loop)


def weekly(conn: Connection, db: Database, first: date, last: date, tz: str) -> list[Week]:
    """Drops, first verdicts and first-time passes per local week (Monday first), days
    first..last."""
    rows = summary.rows(conn, db, "weekly", first, last, tz=tz)
    return [Week(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
