"""The pages: overview, review list (with its CSV export) and one review. Each handler parses
the request, calls the dashboard's queries, and renders HTML or the page's JSON twin."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wa_monitor.adapters.bridge import Bridge, BridgeError
from wa_monitor.adapters.postgres import dashboard
from wa_monitor.adapters.postgres.daily import daily_totals
from wa_monitor.adapters.postgres.dashboard import COLUMNS, Conn, Review
from wa_monitor.adapters.postgres.users import User
from wa_monitor.core.records import BridgeMessage, DailyCount
from wa_monitor.core.steps import Step
from wa_monitor.services import health
from wa_monitor.web import chart, filters
from wa_monitor.web.context import Web, json_value, login_required, wants_json
from wa_monitor.web.exports import exports_of
from wa_monitor.web.filters import local_midnight

CHART_DAYS = 30
INVALID_SHOWN = 200  # the day's invalid drop numbers listed on the overview (all are counted)


def project_names(web: Web) -> list[str]:
    """Every project the config names (enabled or not), as the filter offers them."""
    return sorted({p.name for p in web.settings.projects})


# -- overview -------------------------------------------------------------------------------


@login_required
def overview(web: Web, request: Request, user: User) -> Response:
    day = filters.parse_day(request.query_params.get("day")) or web.today()
    tz = web.settings.tz
    first = day - timedelta(days=CHART_DAYS - 1)
    with web.connection() as conn:
        on_day = daily_totals(conn, web.db, day, day, web.settings.timezone)
        counts = chart_history(web, conn, day) + on_day
        start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
        cards = dashboard.day_cards(conn, web.db, start, end)
        invalid = dashboard.invalid_posts(conn, web.db, start, end, limit=INVALID_SHOWN)
        state = health.check(conn, web.db, web.settings, now=datetime.now(tz))
    table = day_table(web, counts, day)
    total = sum(n for _, n in table)
    if wants_json(request):
        return JSONResponse(
            {
                "environment": web.settings.environment.value,
                "schema": web.db.schema,
                "day": day.isoformat(),
                "projects": [{"project": p, "drops": n} for p, n in table],
                "total": total,
                "cards": asdict(cards),
                "health": state.as_json(),
                "daily": [
                    {"day": c.day.isoformat(), "project": c.project, "drops": c.drops}
                    for c in counts
                ],
                "invalid": {
                    "total": invalid.total,
                    "validating": sorted(web.settings.validating),
                    "posts": [invalid_json(web, p) for p in invalid.posts],
                },
            }
        )
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    chart_projects = sorted({c.project for c in counts})
    svg = chart.stacked_bars(days, chart_projects, {(c.day, c.project): c.drops for c in counts})
    return web.render(
        request,
        "overview.html",
        {
            "day": day,
            "today": web.today(),
            "table": table,
            "total": total,
            "cards": cards,
            "health": state,
            "chart": svg,
            "chart_projects": chart_projects,
            "card_filters": card_filters(day),
            "invalid": invalid,
            "invalid_rows": [invalid_json(web, p) for p in invalid.posts],
            "validating": sorted(web.settings.validating),
            "refresh_seconds": web.settings.web.refresh_seconds,
            "active": "overview",
        },
        user=user,
    )


_REPLY_WORDS = {
    "pending": "waiting to be sent",
    "sending": "being sent",
    "expired": "not sent: the post was older than the reply window",
    "unknown": "outcome unknown: an operator decides (wa-monitor replies)",
    "blocked": "not sent: not a group this environment may answer in",
}


def reply_words(web: Web, post: dashboard.InvalidPost) -> str:
    """What became of the answer in the group, as a reviewer reads it."""
    if post.reply is None:
        return "no answer: replies are off" if not web.settings.replying else "no answer"
    if post.reply == "sent":
        return f"answered at {web.clock(post.replied_at)}" if post.replied_at else "answered"
    return _REPLY_WORDS.get(post.reply, post.reply)


def action_words(post: dashboard.InvalidPost) -> str:
    return "flagged: review created" if post.action == "flag" else "rejected: no review"


def invalid_json(web: Web, post: dashboard.InvalidPost) -> dict[str, Any]:
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
        "time": web.clock(post.posted_at),
        "action_words": action_words(post),
        "reply_words": reply_words(web, post),
    }


def chart_history(web: Web, conn: Conn, day: date, *, fresh: bool = False) -> list[DailyCount]:
    """The chart's days before `day`, reused for a while (see PAST_DAYS_SECONDS)."""
    first, before = day - timedelta(days=CHART_DAYS - 1), day - timedelta(days=1)
    zone = web.settings.timezone
    return web.past_days.get(
        first, before, lambda: daily_totals(conn, web.db, first, before, zone), fresh=fresh
    )


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


def day_table(web: Web, counts: list[DailyCount], day: date) -> list[tuple[str, int]]:
    """Drops per project on `day`: every enabled project (0 when it had none), and any other
    project that had drops that day."""
    drops = {c.project: c.drops for c in counts if c.day == day}
    for name in web.settings.enabled_projects.values():
        drops.setdefault(name, 0)
    return sorted(drops.items())


# -- the review list ------------------------------------------------------------------------


@login_required
def reviews(web: Web, request: Request, user: User) -> Response:
    query = filters.parse(request.query_params, projects=frozenset(project_names(web)))
    where = query.where(web.settings.tz)
    if request.query_params.get("format") == "csv":
        name = f"wa-monitor-{web.settings.environment.value}-reviews-{web.today()}.csv"
        return exports_of(request).response(user.id, where, filename=name)
    with web.connection() as conn:
        page = dashboard.review_page(
            conn, web.db, where, size=query.size, older=query.older, newer=query.newer
        )
    older = query.first_page().link(older=page.older.token()) if page.older else None
    newer = query.first_page().link(newer=page.newer.token()) if page.newer else None
    if wants_json(request):
        return JSONResponse(
            {
                "environment": web.settings.environment.value,
                "filters": query.params(),
                "problems": list(query.problems),
                "reviews": [review_json(r) for r in page.reviews],
                "older": older,
                "newer": newer,
            }
        )
    return web.render(
        request,
        "reviews.html",
        {
            "query": query,
            "projects": project_names(web),
            "page": page,
            "older": older,
            "newer": newer,
            "csv": query.first_page().link(format="csv"),
            "active": "reviews",
        },
        user=user,
    )


# -- one review -----------------------------------------------------------------------------


def review_and_events(web: Web, conn: Conn, review_id: UUID) -> tuple[Review, list[dict[str, Any]]]:
    """One review and the WhatsApp messages that named its drop; 404 when there is none."""
    found = dashboard.review(conn, web.db, review_id)
    if found is None:
        raise HTTPException(404, "There is no such review in this environment.")
    history = dashboard.drop_history(conn, web.db, found.drop_number)
    groups = {p.group_jid: p.name for p in web.settings.projects}
    posted = bridge_messages(web, [(h.chat_jid, h.message_id) for h in history])
    events = []
    for i, h in enumerate(history):
        message = posted.get((h.chat_jid, h.message_id))
        events.append(
            {
                "what": "First sighting" if i == 0 else "Posted again",
                "sent_at": h.sent_at,
                "processed_at": h.processed_at,
                "project": groups.get(h.chat_jid, h.chat_jid),
                "sender": None if message is None else message.phone,
                "sender_name": None if message is None else message.sender_name,
                "text": None
                if message is None or message.content is None
                else message.content[:300],
                "chat_jid": h.chat_jid,
                "message_id": h.message_id,
            }
        )
    return found, events


def bridge_messages(web: Web, keys: list[tuple[str, str]]) -> dict[tuple[str, str], BridgeMessage]:
    """Who posted each message of a drop's history, and what, as the bridge still holds it;
    nothing when the bridge file cannot be read (the ledger's times still show)."""
    settings = web.settings
    try:
        with Bridge(
            settings.bridge_db, groups=(), tz=settings.tz, span=1, lid_map=settings.lid_map_db
        ) as bridge:
            return bridge.messages(keys)
    except BridgeError:
        return {}


def review_json(r: Review) -> dict[str, Any]:
    body = {c: json_value(v) for c, v in zip(COLUMNS, r.values(), strict=True)}
    body["status"] = r.status.value
    body["steps"] = [
        {"number": s.number, "name": s.label, "column": s.column, "done": done}
        for s, done in zip(Step, r.steps, strict=True)
    ]
    return body
