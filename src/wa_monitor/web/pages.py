"""The pages: overview and review list (with its CSV export), and what the review page shares
with them. Each page is one data function: it parses the request, asks the adapters, and
returns a `Page` that `context.page` renders as HTML or as its JSON twin."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wa_monitor.adapters.postgres import dashboard
from wa_monitor.adapters.postgres.dashboard import COLUMNS, Review
from wa_monitor.adapters.postgres.users import User
from wa_monitor.core.records import DailyCount
from wa_monitor.core.steps import Step
from wa_monitor.web import chart, filters
from wa_monitor.web.context import Page, Site, json_value, page
from wa_monitor.web.desk import Desk
from wa_monitor.web.exports import exports_of
from wa_monitor.web.filters import local_midnight

CHART_DAYS = 30
INVALID_SHOWN = 200  # the day's invalid drop numbers listed on the overview (all are counted)


def project_names(site: Site) -> list[str]:
    """Every project the config names (enabled or not), as the filter offers them."""
    return sorted({p.name for p in site.settings.projects})


# -- overview -------------------------------------------------------------------------------


@page
def overview(site: Site, request: Request, user: User) -> Page:
    """The selected day (today by default): cards, drops per project, the 30-day chart,
    invalid drop numbers and the monitor's health."""
    day = filters.parse_day(request.query_params.get("day")) or site.today()
    tz = site.settings.tz
    first = day - timedelta(days=CHART_DAYS - 1)
    # The day's photo figures (a probe per drop: 2,700 for a past day at a million reviews) on
    # a connection of their own, while the rest is read (issue 26: a past day's first view).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="overview") as aside:
        photo_figures = aside.submit(photo_day_counts, site, day)
        with site.desk() as desk:
            counts = chart_history(site, desk, day) + desk.day_totals(day, day)
            start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
            cards = desk.day_cards(day)
            invalid = desk.invalid_posts(start, end, limit=INVALID_SHOWN)
            state = desk.health(datetime.now(tz))
        shot, short = photo_figures.result()
    photo_cards = {"photos": shot, "short_of_photos": short}
    table = day_table(site, counts, day)
    total = sum(n for _, n in table)
    validating = sorted(site.settings.validating)
    invalid_rows = [invalid_json(site, p) for p in invalid.posts]

    def twin() -> dict[str, Any]:
        return {
            "environment": site.settings.environment.value,
            "schema": site.db.schema,
            "day": day.isoformat(),
            "projects": [{"project": p, "drops": n} for p, n in table],
            "total": total,
            "cards": asdict(cards) | photo_cards,
            "health": state.as_json(),
            "daily": [
                {"day": c.day.isoformat(), "project": c.project, "drops": c.drops} for c in counts
            ],
            "invalid": {"total": invalid.total, "validating": validating, "posts": invalid_rows},
            # When these figures were read, in the environment's zone with its offset: the
            # page's refresh note says it (the browser's own zone may be another).
            "read_at": site.clock_with_offset(datetime.now(UTC)),
            # The chart as the page draws it, and its legend: the refresh redraws it with the
            # figures (the same SVG the server rendered, never a second drawing in script).
            "chart": {
                "svg": str(svg),
                "legend": [
                    {"project": p, "colour": chart.colour(i)} for i, p in enumerate(chart_projects)
                ],
            },
        }

    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    chart_projects = sorted({c.project for c in counts})
    svg = chart.stacked_bars(days, chart_projects, {(c.day, c.project): c.drops for c in counts})
    values = {
        "day": day,
        "today": site.today(),
        "table": table,
        "total": total,
        "cards": cards,
        "photo_cards": photo_cards,
        "health": state,
        "chart": svg,
        "chart_projects": chart_projects,
        "card_filters": card_filters(day),
        "invalid": invalid,
        "invalid_rows": invalid_rows,
        "validating": validating,
        "refresh_seconds": site.settings.web.refresh_seconds,
        "active": "overview",
    }
    return Page("overview.html", values, twin)


def photo_day_counts(site: Site, day: date) -> tuple[int, int]:
    """The day's photos in all, and its drops short of 12, on a desk of their own."""
    with site.desk() as desk:
        return desk.photo_day_counts(day)


_REPLY_WORDS = {
    "pending": "waiting to be sent",
    "sending": "being sent",
    "expired": "not sent: the post was older than the reply window",
    "unknown": "outcome unknown: an operator decides (wa-monitor replies)",
    "blocked": "not sent: not a group this environment may answer in",
}


def reply_words(site: Site, post: dashboard.InvalidPost) -> str:
    """What became of the answer in the group, as a reviewer reads it."""
    if post.reply is None:
        return "no answer: replies are off" if not site.settings.replying else "no answer"
    if post.reply == "sent":
        return f"answered at {site.clock(post.replied_at)}" if post.replied_at else "answered"
    return _REPLY_WORDS.get(post.reply, post.reply)


def action_words(post: dashboard.InvalidPost) -> str:
    return "flagged: review created" if post.action == "flag" else "rejected: no review"


def invalid_json(site: Site, post: dashboard.InvalidPost) -> dict[str, Any]:
    return {
        "posted_at": json_value(post.posted_at),
        "project": post.project,
        "drop_number": post.drop_number,
        "user_name": post.user_name,
        "submitted_by": post.phone,
        "reason": post.reason,
        "action": post.action,
        "reply": post.reply,
        "replied_at": json_value(post.replied_at),
        "time": site.clock(post.posted_at),
        "action_words": action_words(post),
        "reply_words": reply_words(site, post),
    }


def chart_history(site: Site, desk: Desk, day: date, *, fresh: bool = False) -> list[DailyCount]:
    """The chart's days before `day`, reused for a while (see PAST_DAYS_SECONDS)."""
    first, before = day - timedelta(days=CHART_DAYS - 1), day - timedelta(days=1)
    return site.past_days.get(first, before, lambda: desk.day_totals(first, before), fresh=fresh)


def card_filters(day: date) -> dict[str, dict[str, str]]:
    """Each card's review list: the day's reviews, narrowed as the card counts them."""
    one_day = {"from": day.isoformat(), "to": day.isoformat()}
    return {
        "total": one_day,
        "complete": one_day | {"status": "complete"},
        "incomplete": one_day | {"status": "incomplete"},
        "awaiting": one_day | {"status": "awaiting"},
        "feedback_sent": one_day | {"feedback": "sent"},
        "resubmitted": one_day | {"resubmitted": "yes"},
    }


def day_table(site: Site, counts: list[DailyCount], day: date) -> list[tuple[str, int]]:
    """Drops per project on `day`: every enabled project (0 when it had none), and any other
    project that had drops that day."""
    drops = {c.project: c.drops for c in counts if c.day == day}
    for name in site.settings.enabled_projects.values():
        drops.setdefault(name, 0)
    return sorted(drops.items())


# -- the review list ------------------------------------------------------------------------


def _reviews(site: Site, request: Request, user: User) -> Page:
    """The review list: filtered by the query string, newest first, a page at a time."""
    query = filters.parse(request.query_params, projects=frozenset(project_names(site)))
    where = query.where(site.settings.tz)
    with site.desk() as desk:
        found = desk.review_page(where, size=query.size, older=query.older, newer=query.newer)
        counted = desk.photo_counts([r.drop_number for r in found.reviews])
    older = query.first_page().link(older=found.older.token()) if found.older else None
    newer = query.first_page().link(newer=found.newer.token()) if found.newer else None

    def twin() -> dict[str, Any]:
        return {
            "environment": site.settings.environment.value,
            "filters": query.params(),
            "problems": list(query.problems),
            "reviews": [
                review_json(r) | {"photos": counted.get(r.drop_number, 0)} for r in found.reviews
            ],
            "older": older,
            "newer": newer,
        }

    values = {
        "query": query,
        "projects": project_names(site),
        "page": found,
        "older": older,
        "newer": newer,
        "csv": query.first_page().link(format="csv"),
        "active": "reviews",
        "photo_counts": counted,
    }
    return Page("reviews.html", values, twin)


def _reviews_csv(site: Site, request: Request, user: User) -> Response:
    """Every review the list's filter selects, as a CSV file (see web/exports)."""
    query = filters.parse(request.query_params, projects=frozenset(project_names(site)))
    where = query.where(site.settings.tz)
    name = f"wa-monitor-{site.settings.environment.value}-reviews-{site.today()}.csv"
    return exports_of(request).response(user.id, where, filename=name)


reviews = page(_reviews, csv=_reviews_csv)


# -- shared with the review page -------------------------------------------------------------------


def review_json(r: Review) -> dict[str, Any]:
    body = {c: json_value(v) for c, v in zip(COLUMNS, r.values(), strict=True)}
    body["status"] = r.status.value
    body["steps"] = [
        {"number": s.number, "name": s.label, "column": s.column, "done": done}
        for s, done in zip(Step, r.steps, strict=True)
    ]
    return body
