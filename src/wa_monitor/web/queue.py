"""The reviewers' queue: every review awaiting a verdict, across all days, oldest first (or
newest first), with counts per project and by age; and, from a review opened from the queue,
its previous and next and "save and next". The queue's filters live in the URL and travel with
the review links (`?queue=1&project=…`), so next and previous keep them.

Who has a review open right now is shown beside it (`adapters.postgres.presence`): a mark
that expires on its own and never blocks; the review's version stays the guard of a save."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wa_monitor.adapters.postgres import presence
from wa_monitor.adapters.postgres.dashboard import Review, Status
from wa_monitor.adapters.postgres.presence import Presence
from wa_monitor.adapters.postgres.users import User
from wa_monitor.web import filters
from wa_monitor.web.context import Page, Site, home, json_value, page
from wa_monitor.web.desk import Desk
from wa_monitor.web.filters import ReviewQuery
from wa_monitor.web.pages import review_json

MARKER = "queue"  # a review link's query carries it when the review was opened from the queue
NEWEST = "newest"


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """The queue's filters (the review list's, status always awaiting) and its order."""

    query: ReviewQuery
    oldest_first: bool = True

    def params(self) -> dict[str, str]:
        """The filters as the URL says them (without a page keyset)."""
        values = self.query.params()
        values.pop("status", None)
        if not self.oldest_first:
            values["order"] = NEWEST
        return values

    def link(self, **extra: str) -> str:
        return urlencode(self.params() | extra)

    def review_link(self) -> str:
        """What a review link from the queue carries, so next and previous keep the filters."""
        return urlencode({MARKER: "1"} | self.params())

    def first_page(self) -> QueueQuery:
        return replace(self, query=self.query.first_page())


def parse(site: Site, query: Mapping[str, str]) -> QueueQuery:
    """The queue's query string, read as leniently as the review list's."""
    names = frozenset(p.name for p in site.settings.projects)
    parsed = filters.parse(query, projects=names)
    parsed = replace(parsed, status=Status.AWAITING)
    return QueueQuery(parsed, oldest_first=query.get("order", "").strip().lower() != NEWEST)


@dataclass(frozen=True, slots=True)
class Band:
    """An age band of the queue: its name and the dates it covers, as the filter's from/to."""

    key: str
    label: str
    first: date | None
    last: date | None

    def params(self) -> dict[str, str]:
        dates = {"from": self.first, "to": self.last}
        return {k: v.isoformat() for k, v in dates.items() if v is not None}


def bands(today: date) -> tuple[Band, ...]:
    return (
        Band("today", "Today", today, None),
        Band("days_1_2", "1–2 days", today - timedelta(days=2), today - timedelta(days=1)),
        Band("days_3_7", "3–7 days", today - timedelta(days=7), today - timedelta(days=3)),
        Band("older", "Older", None, today - timedelta(days=8)),
    )


def band_link(project: str | None, band: Band | None) -> str:
    """The queue's query string for one project (None: all) and one age band (None: any)."""
    chosen = {"project": project} if project else {}
    return urlencode(chosen | ({} if band is None else band.params()))


def age_words(site: Site, review: Review) -> str:
    """How long a review has waited, in local days: today, yesterday, 3 days."""
    days = (site.today() - review.sighted_at.astimezone(site.settings.tz).date()).days
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days"


@page
def queue_page(site: Site, request: Request, user: User) -> Page:
    """Every review awaiting a verdict, across all days, oldest first unless asked otherwise;
    counts per project and by age; who has each open now."""
    asked = parse(site, request.query_params)
    query = asked.query
    today = site.today()
    tz = site.settings.tz
    with site.desk() as desk:
        found = desk.review_page(
            query.where(tz),
            size=query.size,
            older=query.older,
            newer=query.newer,
            oldest_first=asked.oldest_first,
        )
        counts = desk.queue_counts(today)
        open_now = desk.present([r.id for r in found.reviews])
    first = asked.first_page()
    older = first.link(older=found.older.token()) if found.older else None
    newer = first.link(newer=found.newer.token()) if found.newer else None
    age_bands = bands(today)
    totals = {b.key: sum(getattr(c, b.key) for c in counts) for b in age_bands}

    def twin() -> dict[str, Any]:
        return {
            "environment": site.settings.environment.value,
            "filters": asked.params(),
            "problems": list(query.problems),
            "order": "oldest" if asked.oldest_first else NEWEST,
            "counts": [
                {"project": c.project, **{b.key: getattr(c, b.key) for b in age_bands}}
                for c in counts
            ],
            "total": sum(c.total for c in counts),
            "reviews": [
                review_json(r) | {"open_by": [p.username for p in open_now.get(r.id, [])]}
                for r in found.reviews
            ],
            "next": older,
            "previous": newer,
        }

    values = {
        "asked": asked,
        "query": query,
        "projects": sorted({p.name for p in site.settings.projects}),
        "page": found,
        "older": older,
        "newer": newer,
        "counts": counts,
        "bands": age_bands,
        "band_totals": totals,
        "total": sum(c.total for c in counts),
        "open_now": open_now,
        "age": lambda r: age_words(site, r),
        "review_link": asked.review_link(),
        "band_link": band_link,
        "done": request.query_params.get("done") == "1",
        "active": "queue",
    }
    return Page("queue.html", values, twin)


# -- from a review page ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueNav:
    """A review opened from the queue: the queue's previous and next, and the way back."""

    back: str  # the queue's URL, with its filters
    previous: str | None  # the previous review's URL, with the filters
    next: str | None
    carried: str  # the query string the review links (and "save and next") carry


def nav(
    site: Site, desk: Desk, request: Request, review: Review, carried: str | None = None
) -> QueueNav | None:
    """The queue's previous and next around `review`, when it was opened from the queue: its
    query string says so, or `carried` (the verdict form's copy, for a refused save) does."""
    params: Mapping[str, str] = (
        request.query_params if carried is None else dict(parse_qsl(carried))
    )
    if params.get(MARKER) != "1":
        return None
    asked = parse(site, params)
    before, after = desk.neighbours(
        asked.query.where(site.settings.tz), review.keyset, oldest_first=asked.oldest_first
    )
    base = home(request)
    link = asked.review_link()

    def url(r: Review | None) -> str | None:
        return None if r is None else f"{base}/reviews/{r.id}?{link}"

    return QueueNav(f"{base}/queue?{asked.link()}", url(before), url(after), link)


def next_after_save(
    site: Site, request: Request, review_id: UUID, carried: str, user: User
) -> str | None:
    """Where "save and next" goes once the verdict is saved: the queue's next review after this
    one (with the queue's filters), or the queue itself when this was the last."""
    params = dict(parse_qsl(carried))
    if params.get(MARKER) != "1":
        return None
    asked = parse(site, params)
    base = home(request)
    with site.desk() as desk:
        review = desk.review(review_id)
        if review is None:
            return None
        _, after = desk.neighbours(
            asked.query.where(site.settings.tz), review.keyset, oldest_first=asked.oldest_first
        )
        desk.leave(review_id, user.username)  # moving on: not open any more
    if after is None:
        return f"{base}/queue?{asked.link(done='1')}"
    return f"{base}/reviews/{after.id}?{asked.review_link()}"


# -- presence -----------------------------------------------------------------------------------


def others(marks: Mapping[UUID, list[Presence]], review_id: UUID, user: User) -> list[Presence]:
    """Who else has the review open now (not the user looking)."""
    return [p for p in marks.get(review_id, []) if p.username != user.username]


def seen_open(desk: Desk, review_id: UUID, user: User) -> list[Presence]:
    """Mark the review open by `user` (a reviewer), and say who else has it open now."""
    desk.mark_open(review_id, user.username)
    return others(desk.present([review_id]), review_id, user)


def presence_answer(site: Site, review_id: UUID, user: User) -> Response:
    """The page's renewal of its mark: who else has the review open now, as JSON."""
    with site.desk() as desk:
        there = seen_open(desk, review_id, user)
    return JSONResponse(
        {
            "others": [{"username": p.username, "seen_at": json_value(p.seen_at)} for p in there],
            "renew_seconds": presence.RENEW_SECONDS,
        }
    )
