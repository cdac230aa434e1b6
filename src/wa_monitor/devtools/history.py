"""The demo's past weeks: reviews judged, sent back, fixed and judged again, with their change
trail at the times it happened, so that the Quality page and the overview's chart have
something to show the moment the demo starts. Written straight into the environment's tables
(the monitor would have written the reviews, the review workflow the rest); the per-day
summary's triggers count them as they go in."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.sqlfiles import named_queries
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict, changes

# The agents' first tries: how often each passes all 12 steps.
FIRST_TRY = (0.75, 0.45, 0.6, 0.3, 0.85)
# The steps agents miss most in the field: the UPS serial and the customer's signature.
OFTEN_MISSED = (Step.UPS_SERIAL, Step.CUSTOMER_SIGNATURE)
BLANK = Verdict.stored(ticked=(), reasons={})
ALL_OK = Verdict.stored(ticked=tuple(Step), reasons={})
STAMP = {"feedback_sent": {"from": "", "to": "sent to the group"}}


@dataclass
class PastDrop:
    """One review's life, as the monitor and the reviewers wrote it."""

    drop: str
    project: str
    phone: str
    name: str
    sighted: datetime
    last: datetime
    verdict: Verdict = BLANK
    reviewed_at: datetime | None = None
    feedback: datetime | None = None
    resubmitted: bool = False
    trail: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)

    def judge(self, at: datetime, verdict: Verdict) -> None:
        self.trail.append((at, dict(changes(self.verdict, verdict)) or {"saved": "no change"}))
        self.verdict, self.reviewed_at, self.feedback = verdict, at, None

    def send(self, at: datetime) -> None:
        self.trail.append((at, STAMP))
        self.feedback = at

    def resubmit(self, at: datetime) -> None:
        self.resubmitted, self.last, self.feedback = True, at, None

    @property
    def judged(self) -> bool:
        """A verdict stands (not reset by a later resubmission)."""
        return self.reviewed_at is not None and self.reviewed_at >= self.last


def failing(rng: random.Random) -> Verdict:
    weights = [3 if s in OFTEN_MISSED else 1 for s in Step]
    bad = set(rng.choices(list(Step), weights=weights, k=rng.randint(1, 3)))
    wrong = {s: f"{s.label.lower()} not readable" for s in bad if rng.random() < 0.4}
    return Verdict.stored(ticked=(s for s in Step if s not in bad), reasons=wrong)


def story(
    rng: random.Random,
    now: datetime,
    *,
    projects: list[str],
    agents: dict[str, str],
    days: int = 42,
    per_day: int = 18,
    first_drop: int = 1_600_000,
) -> list[PastDrop]:
    """Drops posted over the `days` before today, reviewed within hours to two days, a failed
    first try sent back and fixed; the last day's drops mostly still awaiting review."""
    drops = []
    phones = list(agents)
    start = (now - timedelta(days=days)).replace(hour=7, minute=0, second=0, microsecond=0)
    last_day = start + timedelta(days=days - 1)
    for n in range(days * per_day):
        sighted = start + timedelta(days=n // per_day, minutes=rng.randint(0, 11 * 60))
        index = rng.randrange(len(phones))
        phone = phones[index]
        d = PastDrop(
            f"DR{first_drop + n}", rng.choice(projects), phone, agents[phone], sighted, sighted
        )
        drops.append(d)
        at = sighted + timedelta(minutes=rng.randint(20, 36 * 60))
        # Not looked at yet: most of the last day's drops at any hour of today (late in the
        # evening every review time drawn for them could lie in the past), and any later one.
        if at > now - timedelta(hours=2) or (sighted >= last_day and rng.random() < 0.7):
            continue
        good = FIRST_TRY[index % len(FIRST_TRY)]
        d.judge(at, ALL_OK if rng.random() < good else failing(rng))
        at += timedelta(minutes=rng.randint(2, 90))
        if at < now and (d.verdict.incomplete or rng.random() < 0.6):
            d.send(at)
        for _round in range(2):
            if d.verdict.completed or d.feedback is None or rng.random() < 0.25:
                break
            at += timedelta(minutes=rng.randint(30, 30 * 60))
            if at > now:
                break
            d.resubmit(at)
            at += timedelta(minutes=rng.randint(15, 20 * 60))
            if at > now:
                break
            d.judge(at, ALL_OK if rng.random() < 0.75 else failing(rng))
            at += timedelta(minutes=rng.randint(2, 60))
            if at < now:
                d.send(at)
    return drops


def _row(d: PastDrop) -> dict[str, Any]:
    judged = d.judged
    return {
        "drop": d.drop,
        "project": d.project,
        "name": d.name,
        "phone": d.phone,
        "sighted": d.sighted.isoformat(),
        "last": d.last.isoformat(),
        "resubmitted": d.resubmitted,
        "completed": judged and d.verdict.completed,
        "incomplete": judged and d.verdict.incomplete,
        "feedback": d.feedback.isoformat() if judged and d.feedback else None,
        "reviewed_at": d.reviewed_at.isoformat() if d.reviewed_at else None,
        "wrong": d.verdict.wrong_steps(),
        "version": len(d.trail) + 1,
        "passed": [s in d.verdict.passed for s in Step],
    }


def seed_history(
    url: str,
    db: Database,
    *,
    projects: list[str],
    agents: dict[str, str],
    tz: str = "Africa/Johannesburg",
    seed: int = 24,
) -> int:
    """Write the past weeks into the environment's tables; the number of reviews written."""
    rng = random.Random(seed)  # noqa: S311  a made-up history, the same each time
    drops = story(rng, datetime.now(ZoneInfo(tz)), projects=projects, agents=agents)
    trail = [
        {"drop": d.drop, "version": version, "at": at.isoformat(), "changes": what}
        for d in drops
        for version, (at, what) in enumerate(d.trail, start=2)
    ]
    queries = named_queries(__package__, "demo.sql")
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        params = {"drops": Jsonb([_row(d) for d in drops]), "tz": tz}
        written = conn.execute(db.compose(queries["history_reviews"]), params).rowcount
        conn.execute(db.compose(queries["history_changes"]), {"changes": Jsonb(trail)})
    return written
