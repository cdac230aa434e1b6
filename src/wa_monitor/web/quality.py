"""The managers' Quality page (and its JSON twin and CSV): per project, the steps that fail, per
agent, the loop's times and the trend, over a range of local days in the URL. The figures come
through the site's QualityReads (web/quality_reads.py: computed in SQL by
adapters/postgres/quality.py; FakeQualityReads in unit tests); this module parses the range,
compares it with the period before, and lays the figures out."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from wa_monitor.adapters.postgres.quality import AgentQuality, Quality, Span, StepFailures, Week
from wa_monitor.adapters.postgres.users import User
from wa_monitor.core.steps import Step
from wa_monitor.web import chart
from wa_monitor.web.context import Page, Site, closed_bidi, home, page
from wa_monitor.web.filters import local_midnight, parse_day

RANGES = {
    "this-week": "This week",
    "last-week": "Last week",
    "this-month": "This month",
    "custom": "Custom",
}
WEEKS = 12
AGENT_SORTS = {"drops", "rate", "fix", "name", "phone"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "kind",
    "project",
    "agent",
    "phone",
    "step",
    "drops",
    "reviewed",
    "passed_first",
    "first_time_rate",
    "resubmission_rate",
    "completion_rate",
    "awaiting",
    "drop_to_verdict_p50_s",
    "drop_to_verdict_p90_s",
    "feedback_to_fix_p50_s",
    "missing",
    "wrong",
)


@dataclass(frozen=True, slots=True)
class Period:
    """The range the page shows: local days, both inclusive."""

    kind: str
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def before(self) -> Period:
        """The period of the same length just before this one."""
        return Period("previous", self.first - timedelta(days=self.days), self.first - timedelta(1))

    def params(self) -> dict[str, str]:
        if self.kind == "custom":
            return {"from": self.first.isoformat(), "to": self.last.isoformat()}
        return {"range": self.kind}


def period(query: Mapping[str, str], today: date) -> Period:
    """The range the query string asks for: from/to (a custom range), or a named range; this
    week (Monday first) by default. An impossible day is a 400 (OutOfRange)."""
    first, last = parse_day(query.get("from"), key="from"), parse_day(query.get("to"), key="to")
    kind = query.get("range", "")
    if first or last:
        first, last = first or last or today, last or today
        return Period("custom", min(first, last), max(first, last))
    monday = today - timedelta(days=today.weekday())
    if kind == "last-week":
        return Period(kind, monday - timedelta(days=7), monday - timedelta(days=1))
    if kind == "this-month":
        return Period(kind, today.replace(day=1), today)
    return Period("this-week", monday, monday + timedelta(days=6))


def duration(seconds: float | None) -> str:
    """4260.0 → '1 h 11 min': a wait as a manager reads it."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 48 * 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s / 86400:.1f} days"


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def change(now: float | None, before: float | None, *, unit: str = "") -> str:
    """The difference to the previous period, signed ('+3', a minus sign for less); '' when
    either is missing."""
    if now is None or before is None:
        return ""
    diff = now - before
    if diff == 0:
        return "±0"
    text = f"{abs(diff):.1f}".removesuffix(".0")
    return f"{'+' if diff > 0 else '−'}{text}{unit}"


def _agent_value(sort: str) -> Any:
    """What the agents are ordered by; None: no value (no first verdict yet, no fix)."""

    def value(a: AgentQuality) -> Any:
        if sort == "rate":
            return a.first_time_rate
        if sort == "fix":
            return a.fix_p50
        if sort == "name":
            return ((a.name or "").lower(), a.phone)
        if sort == "phone":
            return a.phone
        return a.drops

    return value


def sorted_agents(agents: Sequence[AgentQuality], sort: str, order: str) -> list[AgentQuality]:
    """The agents in the order the URL asks for (drops, most first, by default); those without
    the figure come last in either order, so that a descending rate starts with a rate."""
    if sort not in AGENT_SORTS:
        sort = "drops"
    descending = order == "desc" if order in {"asc", "desc"} else sort == "drops"
    value = _agent_value(sort)
    shown = sorted(agents, key=lambda a: a.phone)
    valued = [a for a in shown if value(a) is not None]
    return sorted(valued, key=value, reverse=descending) + [a for a in shown if value(a) is None]


def ranked(steps: Sequence[StepFailures], project: str | None) -> list[StepFailures]:
    """The 12 steps of one project (None: all), most often missing or wrong first."""
    mine = [s for s in steps if s.project == project]
    return sorted(mine, key=lambda s: (-s.failed, -s.missing, s.step))


def _read(site: Site, span: Period) -> tuple[Quality, Quality, list[Week]]:
    """The range's figures, the period before's, and the 12 weeks up to the range's last day
    (a week without drops counted as none), through the site's QualityReads."""
    tz, zone = site.settings.tz, site.settings.timezone
    previous = span.before()
    last_monday = span.last - timedelta(days=span.last.weekday())
    first_week = last_monday - timedelta(weeks=WEEKS - 1)

    def spanning(first: date, last: date) -> Span:
        return Span(
            first, last, local_midnight(first, tz), local_midnight(last + timedelta(1), tz), zone
        )

    read = site.quality_reads(site).figures(
        spanning(span.first, span.last),
        spanning(previous.first, previous.last),
        spanning(first_week, last_monday + timedelta(6)),
    )
    kept = {w.week: w for w in read.weeks}
    series = [
        kept.get(first_week + timedelta(weeks=i), Week(first_week + timedelta(weeks=i), 0, 0, 0))
        for i in range(WEEKS)
    ]
    return read.now, read.before, series


def _reviews_links(span: Period) -> Callable[..., str]:
    """The review list's query string for the span and some filters (`agent=`, `step=`...):
    the span's part encoded once, as a page links to the list two thousand times (five links
    for each of hundreds of agents)."""
    spanned = urlencode({"from": span.first.isoformat(), "to": span.last.isoformat()})

    def link(**extra: str) -> str:
        chosen = {k: v for k, v in extra.items() if v}
        return f"{spanned}&{urlencode(chosen)}" if chosen else spanned

    return link


# Each step's label as HTML, escaped once, not once per agent.
_LABELS = {step: escape(step.label) for step in Step}


def agent_rows(agents: Sequence[AgentQuality], link: Callable[..., str], base: str) -> list[Markup]:
    """The agents' rows of the page's table, made here, each one string: a page holds hundreds,
    and the template's output, filters and escapes per cell cost more than the rows' figures
    (issue 26: the page's p95 at a million reviews). Every value from a person or a query is
    escaped; the rest are numbers and the steps' own labels (escaped too)."""
    rows = []
    # Each agent's link is the span's with agent= added: quote_plus is what urlencode does to a
    # value, and what it leaves holds nothing HTML escapes.
    theirs_from = escape(f"{base}/reviews?{link()}&agent=")
    for a in agents:
        theirs = f"{theirs_from}{quote_plus(a.phone)}"
        steps = ", ".join(
            f'<a href="{theirs}&amp;step={step.number}">{_LABELS[step]}</a> ({count})'
            for step, count in a.top_steps
        )
        rows.append(
            Markup(  # noqa: S704  every value from outside is escaped above or here
                f'<tr>\n<td><a href="{theirs}"><bdi>{escape(closed_bidi(a.name or "—"))}</bdi>'
                f'</a></td>\n<td><a href="{theirs}">{escape(a.phone or "—")}</a></td>\n'
                f'<td class="num">{a.drops}</td>\n<td class="num">{rate(a.first_time_rate)} '
                f'<span class="muted small">({a.passed_first}/{a.reviewed})</span></td>\n'
                f'<td>{steps or "—"}</td>\n<td class="num">{duration(a.fix_p50)}</td>\n</tr>'
            )
        )
    return rows


def _quality(site: Site, request: Request, user: User) -> Page:
    """The Quality page of the range the URL names."""
    q = request.query_params
    span = period(q, site.today())
    now, before, series = _read(site, span)
    sort, order = q.get("sort", "drops"), q.get("order", "")
    agents = sorted_agents(now.agents, sort, order)
    previous_by_project = {p.project: p for p in before.projects}
    previous_loop = {p.project: p for p in before.loop}
    project_names = [p.project for p in now.projects if p.project is not None]
    steps = {None: ranked(now.steps, None)} | {p: ranked(now.steps, p) for p in project_names}
    reviews_link = _reviews_links(span)

    def twin() -> dict[str, Any]:
        return {
            "environment": site.settings.environment.value,
            "range": {
                "kind": span.kind,
                "from": span.first.isoformat(),
                "to": span.last.isoformat(),
            },
            "previous": {
                "from": span.before().first.isoformat(),
                "to": span.before().last.isoformat(),
            },
            "projects": [asdict(p) for p in now.projects],
            "previous_projects": [asdict(p) for p in before.projects],
            "steps": [
                {
                    "project": s.project,
                    "step": s.step.number,
                    "name": s.step.label,
                    "missing": s.missing,
                    "wrong": s.wrong,
                    "reviewed": s.reviewed,
                }
                for s in now.steps
            ],
            # Each field named, not asdict: its deep copy of 400 agents was a fifth of the
            # twin's time at a million reviews (in-process, 30 days: p50 55 -> 44 ms; issue 26).
            "agents": [
                {
                    "phone": a.phone,
                    "name": a.name,
                    "drops": a.drops,
                    "reviewed": a.reviewed,
                    "passed_first": a.passed_first,
                    "first_time_rate": a.first_time_rate,
                    "fix_p50": a.fix_p50,
                    "top_steps": [[s.number, n] for s, n in a.top_steps],
                }
                for a in agents
            ],
            "loop": [asdict(t) for t in now.loop],
            "previous_loop": [asdict(t) for t in before.loop],
            "weekly": [
                {
                    "week": w.week.isoformat(),
                    "drops": w.drops,
                    "reviewed": w.reviewed,
                    "passed_first": w.passed_first,
                    "first_time_rate": w.first_time_rate,
                }
                for w in series
            ],
        }

    values = {
        "span": span,
        "previous": span.before(),
        "ranges": RANGES,
        "now": now,
        "total": now.total(),
        "before_total": before.total(),
        "previous_by_project": previous_by_project,
        "previous_loop": previous_loop,
        "steps": steps,
        # Made when the HTML is rendered (the template calls it), not for the JSON twin.
        "agent_rows": lambda: agent_rows(agents, reviews_link, home(request)),
        "sort": sort if sort in AGENT_SORTS else "drops",
        "order": order,
        "chart": weekly_chart(series),
        "series": series,
        "duration": duration,
        "rate": rate,
        "change": change,
        "reviews_link": reviews_link,
        "sort_link": lambda key: urlencode(
            span.params() | {"sort": key, "order": "asc" if key in {"name", "phone"} else "desc"}
        ),
        "csv": urlencode(span.params() | {"format": "csv"}),
        "active": "quality",
    }
    return Page("quality.html", values, twin)


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START) and not text.lstrip("+-").replace(".", "", 1).isdigit():
        return "'" + text
    return text


def _quality_csv(site: Site, request: Request, user: User) -> Response:
    """The page's figures as one CSV: a row per project (and the total), per agent and per
    failing step of all projects."""
    span = period(request.query_params, site.today())
    now, _, _ = _read(site, span)
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="")
    w.writeheader()
    for p in now.projects:
        w.writerow(
            {
                "kind": "project",
                "project": "(all)" if p.project is None else _cell(p.project),
                "drops": p.drops,
                "reviewed": p.reviewed,
                "passed_first": p.passed_first,
                "first_time_rate": _cell(p.first_time_rate),
                "resubmission_rate": p.resubmission_rate,
                "completion_rate": p.completion_rate,
                "awaiting": p.awaiting,
                "drop_to_verdict_p50_s": _cell(p.verdict_p50),
                "drop_to_verdict_p90_s": _cell(p.verdict_p90),
            }
        )
    for a in now.agents:
        w.writerow(
            {
                "kind": "agent",
                "agent": _cell(a.name),
                "phone": _cell(a.phone),
                "drops": a.drops,
                "reviewed": a.reviewed,
                "passed_first": a.passed_first,
                "first_time_rate": _cell(a.first_time_rate),
                "feedback_to_fix_p50_s": _cell(a.fix_p50),
            }
        )
    for s in ranked(now.steps, None):
        w.writerow(
            {
                "kind": "step",
                "project": "(all)",
                "step": s.step.display,
                "reviewed": s.reviewed,
                "missing": s.missing,
                "wrong": s.wrong,
            }
        )
    name = (
        f"wa-monitor-{site.settings.environment.value}-quality-"
        f"{span.first.isoformat()}-{span.last.isoformat()}.csv"
    )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


quality = page(_quality, csv=_quality_csv)


def weekly_chart(weeks: Sequence[Week]) -> Markup:
    """Drops per week as bars, and the first-time pass rate as a line on a 0-100 % scale."""
    width, height = chart.WIDTH, chart.HEIGHT
    left, right, top_pad, bottom = chart.LEFT, 40, chart.TOP, chart.BOTTOM
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = chart.nice_top(max((w.drops for w in weeks), default=0) or 1)
    slot = plot_w / max(len(weeks), 1)
    bar = slot * 0.6
    title = "Drops per week (bars) and first-time pass rate (line)"
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="quality-chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="quality-chart-title">{title}</title>',
    ]
    step = top // 5 if top >= 10 else 1
    for value in range(0, top + 1, step):
        y = top_pad + plot_h - plot_h * value / top
        share = round(100 * value / top)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d4d9" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{value}</text>'
            f'<text x="{width - right + 6}" y="{y + 4:.1f}" font-size="11" '
            f'fill="{chart.colour(5)}">{share}%</text>'
        )
    points = []
    for i, week in enumerate(weeks):
        x = left + slot * i + (slot - bar) / 2
        h = plot_h * week.drops / top
        y = top_pad + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{chart.colour(0)}"><title>Week of {week.week.isoformat()}: '
            f"{week.drops} drops, {rate(week.first_time_rate)} first time</title></rect>"
        )
        if week.first_time_rate is not None:
            py = top_pad + plot_h - plot_h * week.first_time_rate / 100
            points.append((x + bar / 2, py, week))
        if i % 2 == (len(weeks) - 1) % 2:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'font-size="11" fill="#555">{week.week:%d %b}</text>'
            )
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{chart.colour(5)}" stroke-width="2"/>'
        )
        for x, y, week in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{chart.colour(5)}">'
                f"<title>{escape(week.week.isoformat())}: {rate(week.first_time_rate)} "
                f"passed first time</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  every value above is a number or a date


STEPS = tuple(Step)
