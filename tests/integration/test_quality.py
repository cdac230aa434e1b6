"""The Quality page against a real PostgreSQL: a seeded history (hundreds of drops, several
agents, feedback rounds, resubmissions, some made by the real review workflow), every figure of
its JSON twin computed again here in Python from the raw rows, independently of quality.sql."""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.support.database import Server
from tests.support.web import SAST, Dashboard, Row, add_user, dashboard, environment, seed
from wa_monitor.adapters.postgres import reviewing
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.quality import WAIT_RESOLUTION, AgentQuality
from wa_monitor.core.records import Delivery
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict, changes
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod")

FIRST, LAST = date(2025, 11, 3), date(2025, 11, 16)  # two weeks, Monday to Sunday
PROJECTS = ("Lawley", "Mohadin", "Velo Test")
AGENTS = {  # phone: (name, how often their first try passes)
    "27820000001": ("Thandi Mokoena", 0.7),
    "27820000002": ("Sipho Dlamini", 0.4),
    "27820000003": ("=cmd|' /C calc'!A0", 0.55),  # a spreadsheet formula for a name
    "27820000004": ("Lerato Nkosi", 0.2),
    "27820000005": ("Pieter van Wyk", 0.85),
    "27820000006": ("Ayesha Patel", 0.5),
}
BLANK = Verdict.stored(ticked=(), reasons={})
STAMP = {"feedback_sent": {"from": "", "to": "sent to the group"}}


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SAST)


@dataclass
class Drop:
    """One review's life, written as the monitor and the review workflow write it."""

    row: Row
    trail: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    verdict: Verdict = BLANK
    reviewed_at: datetime | None = None
    resubmitted_at: datetime | None = None
    feedback_at: datetime | None = None

    def judge(self, at: datetime, verdict: Verdict) -> None:
        self.trail.append((at, dict(changes(self.verdict, verdict)) or {"saved": "no change"}))
        self.verdict, self.reviewed_at, self.feedback_at = verdict, at, None

    def send(self, at: datetime) -> None:
        self.trail.append((at, STAMP))
        self.feedback_at = at

    def resubmit(self, at: datetime) -> None:
        self.resubmitted_at, self.feedback_at = at, None


def failing(rng: random.Random) -> Verdict:
    """A first try that fails: one to four steps missing or wrong, the often-missed ones more
    often (the UPS serial and the customer's signature)."""
    weights = [3 if s in (Step.UPS_SERIAL, Step.CUSTOMER_SIGNATURE) else 1 for s in Step]
    bad = set(rng.choices(list(Step), weights=weights, k=rng.randint(1, 4)))
    wrong = {s: f"blurry {s.label.lower()}" for s in bad if rng.random() < 0.4}
    return Verdict.stored(ticked=(s for s in Step if s not in bad), reasons=wrong)


ALL_OK = Verdict.stored(ticked=tuple(Step), reasons={})


def history(seed_value: int = 24) -> list[Drop]:  # noqa: PLR0912  one story, told in order
    """About 600 drops from 6 October to 20 November: the range, the two weeks before it, and
    some outside both; reviewed or not, feedback, resubmissions, second verdicts."""
    rng = random.Random(seed_value)
    drops = []
    start = local(date(2025, 10, 6))
    for n in range(600):
        sighted = start + timedelta(minutes=rng.randint(0, 45 * 24 * 60))
        if n < 4:  # on the range's edges: the first minute in, the last minute in and out
            sighted = [
                local(FIRST),
                local(LAST, 23, 59),
                local(LAST + timedelta(1)),
                local(FIRST) - timedelta(minutes=1),
            ][n]
        phone = rng.choice(list(AGENTS))
        name, good = AGENTS[phone]
        row = Row(
            f"DR{3000000 + n}", sighted, project=rng.choice(PROJECTS), phone=phone, user_name=name
        )
        drop = Drop(row)
        drops.append(drop)
        at = sighted
        if rng.random() < 0.25:  # posted again before anyone looked
            drop.resubmit(at + timedelta(minutes=rng.randint(1, 30)))
        if rng.random() < 0.15:
            continue  # never reviewed
        at += timedelta(minutes=rng.randint(3, 2 * 24 * 60))
        if rng.random() < 0.03:
            drop.judge(at, BLANK)  # saved with nothing ticked: all 12 missing
        else:
            drop.judge(at, ALL_OK if rng.random() < good else failing(rng))
        if rng.random() < 0.1:  # a comment added later
            again = Verdict(drop.verdict.passed, drop.verdict.wrong, "checked again")
            drop.judge(at + timedelta(minutes=5), again)
        if drop.verdict.completed:
            if rng.random() < 0.5:
                drop.send(at + timedelta(minutes=rng.randint(1, 120)))
            continue
        if rng.random() < 0.2:
            continue  # no feedback yet
        at += timedelta(minutes=rng.randint(1, 600))
        drop.send(at)
        for _round in range(2):
            if rng.random() < 0.3:
                break  # the agent has not fixed it
            at += timedelta(minutes=rng.randint(10, 3 * 24 * 60))
            drop.resubmit(at)
            if rng.random() < 0.25:
                break  # awaiting the second look
            at += timedelta(minutes=rng.randint(5, 24 * 60))
            drop.judge(at, ALL_OK if rng.random() < 0.7 else failing(rng))
            if drop.verdict.completed:
                break
            at += timedelta(minutes=rng.randint(1, 300))
            drop.send(at)
    return drops


def write(db: psycopg.Connection[Any], drops: Sequence[Drop]) -> None:
    """The reviews as they stand after their history, and their change trail."""
    ids = seed(db, "public", [d.row for d in drops])
    for review_id, d in zip(ids, drops, strict=True):
        v = d.verdict
        judged = d.reviewed_at is not None and (
            d.resubmitted_at is None or d.resubmitted_at < d.reviewed_at
        )
        db.execute(
            "UPDATE public.qa_photo_reviews SET "
            + ", ".join(f"{s.column} = %({s.column})s" for s in Step)
            + ", completed = %(completed)s, incomplete = %(incomplete)s, "
            "resubmitted = %(resubmitted)s, last_submitted_at = %(last)s, "
            "feedback_sent = %(feedback)s, reviewed_at = %(reviewed_at)s, "
            "wrong_steps = %(wrong)s WHERE id = %(id)s",
            {s.column: s in v.passed for s in Step}
            | {
                "id": review_id,
                "completed": judged and v.completed,
                "incomplete": judged and not v.completed,
                "resubmitted": d.resubmitted_at is not None,
                "last": d.resubmitted_at or d.row.at,
                "feedback": d.feedback_at,
                "reviewed_at": d.reviewed_at,
                "wrong": Jsonb(v.wrong_steps()),
            },
        )
        for version, (at, what) in enumerate(d.trail, start=2):
            db.execute(
                "INSERT INTO public.wa_monitor_review_changes "
                "(review_id, version, changed_by, changed_at, changes) "
                "VALUES (%s, %s, 'nomsa', %s, %s)",
                (review_id, version, at, Jsonb(what)),
            )


def through_the_workflow(db: psycopg.Connection[Any], url: str) -> None:
    """Three drops judged by the real workflow functions (their trail is what reviewing.py
    writes, at the clock's time): one passed first, one failed then fixed with feedback sent
    between, one failed and left."""
    ids = seed(
        db,
        "public",
        [
            Row("DR3900001", local(FIRST, 9), project="Lawley", phone="27820000009"),
            Row("DR3900002", local(FIRST, 10), project="Lawley", phone="27820000009"),
            Row("DR3900003", local(FIRST, 11), project="Mohadin", phone="27820000009"),
        ],
    )
    handle = Database(url, "public", "prod")
    bad = Verdict.stored(
        ticked=(s for s in Step if s not in (Step.ONT_BARCODE, Step.GREEN_LIGHTS)),
        reasons={Step.GREEN_LIGHTS: "LOS light is red"},
    )
    with psycopg.connect(url, autocommit=True) as conn:
        reviewing.save(conn, handle, ids[0], verdict=ALL_OK, version=1, by="nomsa")
        v = reviewing.save(conn, handle, ids[1], verdict=bad, version=1, by="nomsa")
        book = reviewing.FeedbackBook(handle, lambda: nullcontext(conn))
        asked = reviewing.FeedbackRequest(ids[1], v, "nomsa", "x")
        book.settle(book.claim(asked, lambda _: "group@g.us"), Delivery.SENT, "ok", 200)
        db.execute(  # the monitor's resubmission (queries.resubmit_reviews)
            "UPDATE public.qa_photo_reviews SET resubmitted = true, incomplete = false, "
            "feedback_sent = NULL, last_submitted_at = now(), version = version + 1 "
            "WHERE id = %s",
            (ids[1],),
        )
        version = int(reviewing.load(conn, handle, ids[1]).version)
        reviewing.save(conn, handle, ids[1], verdict=ALL_OK, version=version, by="nomsa")
        reviewing.save(conn, handle, ids[2], verdict=bad, version=1, by="nomsa")


@dataclass(frozen=True)
class Seeded:
    dash: Dashboard
    db: psycopg.Connection[Any]


@pytest.fixture(scope="module")
def seeded(postgres: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    folder = tmp_path_factory.mktemp("quality")
    with (
        postgres.database("prod") as url,
        BridgeWriter(folder / "messages.db") as bridge,
        psycopg.connect(url, autocommit=True) as db,
    ):
        settings = environment(folder, "prod", bridge=bridge, url=url)
        add_user(url, "public", "ayanda")
        write(db, history())
        through_the_workflow(db, url)
        with dashboard(settings, url) as dash:
            assert dash.login("ayanda").status_code == 303
            yield Seeded(dash, db)


# -- the figures again, in Python, from the raw rows -------------------------------------------


def bucket(seconds: float) -> int:
    """Migration 0024's bucket of a wait: an eighth of a doubling, 0 under a second (computed
    in the same floating-point steps as its SQL)."""
    if abs(seconds) < 1:
        return 0
    return int(math.copysign(1 + math.floor(8 * math.log(abs(seconds)) / math.log(2)), seconds))


def middle(k: int) -> float:
    """The wait read for bucket k: its middle (0 for waits under a second)."""
    return math.copysign(2 ** ((abs(k) - 0.5) / 8), k) if k else 0.0


@dataclass(frozen=True)
class Wait:
    """A median or 90th percentile of waits: the exact figure, and the figure the page reads
    from the summary's histograms (each rank's wait at its bucket's middle)."""

    exact: float
    read: float


def interpolate(ordered: Sequence[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear between the two nearest ranks."""
    pos = fraction * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def percentile(values: Sequence[float], fraction: float) -> Wait | None:
    if not values:
        return None
    ordered = sorted(values)
    read = [middle(bucket(v)) for v in ordered]  # a bucket's order is its waits' order
    return Wait(interpolate(ordered, fraction), interpolate(read, fraction))


def share(part: int, whole: int) -> float | None:
    if not whole:
        return None
    exact = Decimal(100 * part) / Decimal(whole)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


STEP_KEYS = {s.column for s in Step}


@dataclass
class Fact:
    id: UUID
    project: str
    phone: str
    name: str | None
    sighted: datetime
    completed: bool
    incomplete: bool
    resubmitted: bool
    last_submitted_at: datetime
    reviewed_at: datetime | None
    verdict_at: datetime | None = None
    marks: dict[Step, str] | None = None
    feedback_at: datetime | None = None

    @property
    def passed_first(self) -> bool:
        return self.marks is not None and all(m == "passed" for m in self.marks.values())

    def seconds(self, a: datetime | None, b: datetime | None) -> float | None:
        return None if a is None or b is None else (b - a).total_seconds()

    @property
    def to_verdict(self) -> float | None:
        return self.seconds(self.sighted, self.verdict_at)

    @property
    def to_feedback(self) -> float | None:
        return self.seconds(self.verdict_at, self.feedback_at)

    @property
    def to_fix(self) -> float | None:
        if self.resubmitted and self.feedback_at and self.last_submitted_at > self.feedback_at:
            return self.seconds(self.feedback_at, self.last_submitted_at)
        return None

    @property
    def to_complete(self) -> float | None:
        r = self.reviewed_at
        if self.completed and self.resubmitted and r and r > self.last_submitted_at:
            return self.seconds(self.last_submitted_at, r)
        return None

    @property
    def drop_to_complete(self) -> float | None:
        return self.seconds(self.sighted, self.reviewed_at) if self.completed else None


def facts(db: psycopg.Connection[Any], first: date, last: date) -> list[Fact]:
    start, end = local(first), local(last + timedelta(1))
    cur = db.cursor(row_factory=dict_row)
    reviews = cur.execute("SELECT * FROM public.qa_photo_reviews").fetchall()
    trail: dict[UUID, list[dict[str, Any]]] = {}
    for c in cur.execute("SELECT * FROM public.wa_monitor_review_changes ORDER BY id"):
        trail.setdefault(c["review_id"], []).append(c)
    found = []
    for r in reviews:
        sighted = r["whatsapp_message_date"] or r["created_at"]
        if not start <= sighted < end:
            continue
        f = Fact(
            r["id"],
            r["project"] or "",
            r["submitted_by"] or "",
            r["user_name"],
            sighted,
            r["completed"],
            r["incomplete"],
            r["resubmitted"],
            r["last_submitted_at"],
            r["reviewed_at"],
        )
        entries = trail.get(r["id"], [])
        saves = [c for c in entries if set(c["changes"]) & (STEP_KEYS | {"comment", "saved"})]
        if saves:
            first_save = saves[0]
            f.verdict_at = first_save["changed_at"]
            f.marks = {}
            for s in Step:
                to = first_save["changes"].get(s.column, {}).get("to", "missing")
                f.marks[s] = (
                    "passed"
                    if to == "passed"
                    else ("wrong" if to.startswith("wrong") else "missing")
                )
        stamps = [c for c in entries if "feedback_sent" in c["changes"]]
        if stamps:
            f.feedback_at = stamps[0]["changed_at"]
        found.append(f)
    return found


def project_figures(group: Sequence[Fact], project: str | None) -> dict[str, Any]:
    reviewed = [f for f in group if f.marks is not None]
    passed = [f for f in reviewed if f.passed_first]
    waits = [f.to_verdict for f in group if f.to_verdict is not None]
    return {
        "project": project,
        "drops": len(group),
        "reviewed": len(reviewed),
        "passed_first": len(passed),
        "first_time_rate": share(len(passed), len(reviewed)),
        "resubmitted": sum(f.resubmitted for f in group),
        "resubmission_rate": share(sum(f.resubmitted for f in group), len(group)),
        "completed": sum(f.completed for f in group),
        "completion_rate": share(sum(f.completed for f in group), len(group)),
        "awaiting": sum(not f.completed and not f.incomplete for f in group),
        "verdict_p50": percentile(waits, 0.5),
        "verdict_p90": percentile(waits, 0.9),
    }


def by_project(found: Sequence[Fact]) -> dict[str | None, list[Fact]]:
    groups: dict[str | None, list[Fact]] = {}
    for f in found:
        groups.setdefault(f.project, []).append(f)
    groups[None] = list(found)
    return groups


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-6) if isinstance(value, float) else value


def same(page: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(page) >= set(expected)
    for key, want in expected.items():
        if isinstance(want, Wait):
            # The histograms' reading, to the last digit; and within their resolution of the
            # exact figure (and a second: waits under a second count as 0).
            assert page[key] == approx(want.read), (key, page, expected)
            assert abs(page[key] - want.exact) <= WAIT_RESOLUTION * abs(want.exact) + 1, want
        else:
            assert page[key] == approx(want), (key, page, expected)


# -- the tests -------------------------------------------------------------------------------------


def quality(dash: Dashboard, **params: str) -> dict[str, Any]:
    doc: dict[str, Any] = dash.json("/wa-monitor/quality", **params)
    return doc


RANGE = {"from": FIRST.isoformat(), "to": LAST.isoformat()}


def test_the_history_is_worth_measuring(seeded: Seeded) -> None:
    found = facts(seeded.db, FIRST, LAST)
    assert len(found) > 150
    assert len({f.phone for f in found}) >= 6
    assert sum(f.passed_first for f in found) > 30
    assert sum(f.resubmitted for f in found) > 30
    assert sum(f.to_fix is not None for f in found) > 20
    assert sum(f.to_complete is not None for f in found) > 10
    assert sum(f.marks is None for f in found) > 10


def test_per_project_figures_equal_an_independent_count(seeded: Seeded) -> None:
    doc = quality(seeded.dash, **RANGE)
    assert doc["range"] == {"kind": "custom", "from": "2025-11-03", "to": "2025-11-16"}
    groups = by_project(facts(seeded.db, FIRST, LAST))
    page = {p["project"]: p for p in doc["projects"]}
    assert set(page) == set(groups)
    for project, group in groups.items():
        same(page[project], project_figures(group, project))
    # The previous period: the 14 days before, the same way.
    previous = by_project(facts(seeded.db, FIRST - timedelta(14), FIRST - timedelta(1)))
    assert doc["previous"] == {"from": "2025-10-20", "to": "2025-11-02"}
    before = {p["project"]: p for p in doc["previous_projects"]}
    for project, group in previous.items():
        same(before[project], project_figures(group, project))


def test_the_failing_steps_equal_an_independent_count(seeded: Seeded) -> None:
    doc = quality(seeded.dash, **RANGE)
    groups = by_project(facts(seeded.db, FIRST, LAST))
    page = {(s["project"], s["step"]): s for s in doc["steps"]}
    for project, group in groups.items():
        judged = [f for f in group if f.marks is not None]
        for step in Step:
            marks = [f.marks[step] for f in judged if f.marks]
            assert page[(project, step.number)] == {
                "project": project,
                "step": step.number,
                "name": step.label,
                "missing": marks.count("missing"),
                "wrong": marks.count("wrong"),
                "reviewed": len(judged),
            }
    # The seeded agents miss the UPS serial and the signature most: they lead the ranking.
    html = seeded.dash.client.get("/wa-monitor/quality", params=RANGE).text
    table = html[html.index('id="quality-steps"') :]
    assert table.index("Customer Signature") < table.index("House Photo")
    assert table.index("UPS Serial") < table.index("House Photo")


def test_a_step_lists_its_reviews(seeded: Seeded) -> None:
    """The step's link: the reviews whose first verdict marked it missing or wrong."""
    found = facts(seeded.db, FIRST, LAST)
    for step in (Step.UPS_SERIAL, Step.GREEN_LIGHTS):
        for mark in ("", "missing", "wrong"):
            want = {
                f.id
                for f in found
                if f.marks and f.marks[step] != "passed" and (not mark or f.marks[step] == mark)
            }
            listed = seeded.dash.json(
                "/wa-monitor/reviews", step=str(step.number), mark=mark, size="200", **RANGE
            )
            assert listed["problems"] == []
            assert {UUID(r["id"]) for r in listed["reviews"]} == want, (step, mark)
    html = seeded.dash.client.get("/wa-monitor/quality", params=RANGE).text
    assert "/wa-monitor/reviews?from=2025-11-03&amp;to=2025-11-16&amp;step=9" in html


def test_per_agent_figures_equal_an_independent_count_and_sort(seeded: Seeded) -> None:
    doc = quality(seeded.dash, **RANGE)
    found = facts(seeded.db, FIRST, LAST)
    agents: dict[str, list[Fact]] = {}
    for f in found:
        agents.setdefault(f.phone, []).append(f)
    page = {a["phone"]: a for a in doc["agents"]}
    assert set(page) == set(agents)
    # The twin names each field itself (web/quality.py): every field of the record, no other.
    assert all(a.keys() == {f.name for f in fields(AgentQuality)} for a in doc["agents"])
    for phone, group in agents.items():
        reviewed = [f for f in group if f.marks is not None]
        passed = [f for f in reviewed if f.passed_first]
        latest = max(group, key=lambda f: f.sighted)
        failed: dict[Step, int] = {}
        for f in reviewed:
            for step, mark in (f.marks or {}).items():
                if mark != "passed":
                    failed[step] = failed.get(step, 0) + 1
        top = sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        same(
            page[phone],
            {
                "name": latest.name,
                "drops": len(group),
                "reviewed": len(reviewed),
                "passed_first": len(passed),
                "first_time_rate": share(len(passed), len(reviewed)),
                "fix_p50": percentile([f.to_fix for f in group if f.to_fix is not None], 0.5),
                "top_steps": [[s.number, n] for s, n in top],
            },
        )
    # Sorted as the URL says: most drops first by default; the worst pass rate first on asking.
    assert [a["drops"] for a in doc["agents"]] == sorted(
        (a["drops"] for a in doc["agents"]), reverse=True
    )
    worst = quality(seeded.dash, sort="rate", order="asc", **RANGE)["agents"]
    rates = [a["first_time_rate"] for a in worst if a["first_time_rate"] is not None]
    assert rates == sorted(rates)
    # Each agent links to their reviews: the list filtered by their phone holds their drops.
    phone = doc["agents"][0]["phone"]
    listed = seeded.dash.json("/wa-monitor/reviews", agent=phone, size="200", **RANGE)
    assert {UUID(r["id"]) for r in listed["reviews"]} == {f.id for f in agents[phone]}


def test_the_loops_times_equal_an_independent_count(seeded: Seeded) -> None:
    doc = quality(seeded.dash, **RANGE)
    page = {t["project"]: t for t in doc["loop"]}
    for project, group in by_project(facts(seeded.db, FIRST, LAST)).items():
        expected: dict[str, Any] = {"project": project}
        for name in ("verdict", "feedback", "fix", "complete"):
            values = [v for f in group if (v := getattr(f, f"to_{name}")) is not None]
            expected[f"{name}_p50"] = percentile(values, 0.5)
            expected[f"{name}_p90"] = percentile(values, 0.9)
        totals = [f.drop_to_complete for f in group if f.drop_to_complete is not None]
        expected["total_p50"], expected["total_p90"] = (
            percentile(totals, 0.5),
            percentile(totals, 0.9),
        )
        same(page[project], expected)


def test_the_weekly_series_covers_12_weeks_to_the_ranges_last(seeded: Seeded) -> None:
    doc = quality(seeded.dash, **RANGE)
    weeks = doc["weekly"]
    assert len(weeks) == 12
    assert weeks[-1]["week"] == "2025-11-10"
    assert weeks[0]["week"] == "2025-08-25"
    for w in weeks:
        monday = date.fromisoformat(w["week"])
        group = facts(seeded.db, monday, monday + timedelta(6))
        reviewed = [f for f in group if f.marks is not None]
        passed = sum(f.passed_first for f in reviewed)
        assert (w["drops"], w["reviewed"], w["passed_first"]) == (
            len(group),
            len(reviewed),
            passed,
        ), w
        assert w["first_time_rate"] == (
            None if not reviewed else round(100.0 * passed / len(reviewed), 1)
        )
    html = seeded.dash.client.get("/wa-monitor/quality", params=RANGE).text
    assert '<svg class="chart"' in html
    assert "Week of 2025-11-10:" in html


def test_the_ranges_and_the_definitions_on_the_page(seeded: Seeded) -> None:
    html = seeded.dash.client.get("/wa-monitor/quality", params=RANGE).text
    for words in ("Passed first time", "The first verdict marked all 12 steps OK", "Resubmission"):
        assert words in html
    assert 'href="/wa-monitor/quality" aria-current="page"' in html
    for kind in ("this-week", "last-week", "this-month"):
        doc = quality(seeded.dash, range=kind)
        first, last = (
            date.fromisoformat(doc["range"]["from"]),
            date.fromisoformat(doc["range"]["to"]),
        )
        assert doc["range"]["kind"] == kind
        assert first <= last
        if kind != "this-month":
            assert first.weekday() == 0
            assert (last - first).days == 6
    assert (
        seeded.dash.client.get("/wa-monitor/quality", params={"from": "1999-01-01"}).status_code
        == 400
    )


def test_the_csv_carries_the_figures_and_defuses_formulas(seeded: Seeded) -> None:
    doc = quality(seeded.dash, **RANGE)
    response = seeded.dash.client.get("/wa-monitor/quality", params=RANGE | {"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    total = next(r for r in rows if r["kind"] == "project" and r["project"] == "(all)")
    want = next(p for p in doc["projects"] if p["project"] is None)
    assert int(total["drops"]) == want["drops"]
    assert float(total["first_time_rate"]) == want["first_time_rate"]
    names = {r["agent"] for r in rows if r["kind"] == "agent"}
    assert "'=cmd|' /C calc'!A0" in names
    assert len([r for r in rows if r["kind"] == "step"]) == 12


def test_a_page_without_drops_says_so(seeded: Seeded) -> None:
    doc = quality(seeded.dash, **{"from": "2024-01-01", "to": "2024-01-31"})
    total = next(p for p in doc["projects"] if p["project"] is None)
    assert total["drops"] == 0
    assert total["first_time_rate"] is None
    html = seeded.dash.client.get(
        "/wa-monitor/quality", params={"from": "2024-01-01", "to": "2024-01-31"}
    ).text
    assert "No drops in this range." in html
