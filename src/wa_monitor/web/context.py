"""What every handler shares: the environment's `Site` (settings, connection pool, templates,
bridge), kept in `request.app.state`; the current user (or the redirect to the login page); and
`page`, which renders a page's one data function as HTML or as its JSON twin."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from jinja2 import StrictUndefined
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from wa_monitor.adapters.postgres.db import Connection, Database, Pool
from wa_monitor.adapters.postgres.users import User
from wa_monitor.core.records import DailyCount
from wa_monitor.core.replies import Route
from wa_monitor.services.feedback import FeedbackSends
from wa_monitor.settings import Environment, Settings
from wa_monitor.web import chart
from wa_monitor.web.desk import Desk, pooled_desk
from wa_monitor.web.filters import EARLIEST, LATEST, OutOfRange
from wa_monitor.web.quality_reads import PgQualityReads, QualityReads
from wa_monitor.web.security import csrf_token, session_user

BASE = "/wa-monitor"
HERE = Path(__file__).parent


# How long the chart's past days are reused. Counting 30 days of a table with a million rows
# takes a few hundred milliseconds; the past changes only by late history, which shows within
# this. The selected day's own counts (the table, the cards) are read on every request.
PAST_DAYS_SECONDS = 300.0
_PAST_DAYS_KEPT = 64


@dataclass
class PastDays:
    """The chart's days before the selected one, per (first, last), for PAST_DAYS_SECONDS."""

    _kept: dict[tuple[date, date], tuple[float, list[DailyCount]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(
        self, first: date, last: date, read: Callable[[], list[DailyCount]], *, fresh: bool = False
    ) -> list[DailyCount]:
        """The kept counts of first..last, or `read()` when they are older (or `fresh`)."""
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get((first, last))
        if kept is not None and now - kept[0] < PAST_DAYS_SECONDS and not fresh:
            return kept[1]
        counts = read()
        with self._lock:
            if len(self._kept) >= _PAST_DAYS_KEPT:
                self._kept.pop(min(self._kept, key=lambda k: self._kept[k][0]))
            self._kept[(first, last)] = (now, counts)
        return counts


@dataclass(frozen=True, slots=True)
class Site:
    """One environment's dashboard: its settings, connections and templates. The app keeps the
    one instance in `app.state.site`; handlers reach it with `site_of(request)`."""

    settings: Settings
    db: Database  # the environment's database: its schema, its queries, its errors
    pool: Pool  # the handle's pool (Database.pool), opened and closed with the app
    templates: Jinja2Templates
    # The bridges' HTTP APIs where reviewers' feedback is posted: this host's first, then the
    # others (adapters/bridge_api.BridgeRoutes), each with its messages.db.
    routes: tuple[Route, ...]
    feedback_sends: FeedbackSends  # where a Send is claimed and settled (its own connections)
    past_days: PastDays = field(default_factory=PastDays)
    # How a request opens its desk (web/desk.py): a pooled connection's, or a test's fake.
    opens: Callable[[Site], AbstractContextManager[Desk]] = pooled_desk
    # How the Quality page reads its figures (web/quality_reads.py): on the pool, or a fake.
    quality_reads: Callable[[Site], QualityReads] = PgQualityReads

    def desk(self) -> AbstractContextManager[Desk]:
        """The reviews, sends, photos and users a request reads and writes, on one connection."""
        return self.opens(self)

    @property
    def dev(self) -> bool:
        return self.settings.environment is Environment.DEV

    @contextmanager
    def connection(self, *, timeout: float | None = None) -> Iterator[Connection]:
        """A pooled connection; a database error comes out as ours (StoreUnavailable when the
        database is away: the 503 page)."""
        with self.db.borrowed(self.pool, timeout=timeout) as conn:
            yield conn

    def local(self, moment: datetime | None) -> datetime | None:
        return None if moment is None else moment.astimezone(self.settings.tz)

    def clock(self, moment: datetime) -> str:
        """A moment's local time of day, 14:05:09."""
        return moment.astimezone(self.settings.tz).strftime("%H:%M:%S")

    def clock_with_offset(self, moment: datetime) -> str:
        """A moment's local time of day with the zone's offset, 14:05:09 +02:00."""
        local = moment.astimezone(self.settings.tz)
        return f"{local:%H:%M:%S} {local.isoformat()[-6:]}"

    def today(self) -> date:
        return datetime.now(self.settings.tz).date()

    def render(
        self,
        request: Request,
        template: str,
        values: Mapping[str, Any],
        *,
        user: User | None,
        status_code: int = 200,
    ) -> Response:
        context = {
            "user": user,
            "env": self.settings.environment.value,
            "schema": self.db.schema,
            "dev": self.dev,
            "base": home(request),
            "csrf": csrf_token(request.session),
            "timezone": self.settings.timezone,
            # The zone's offset now, said once on the page beside its name (every time shown
            # is in this zone).
            "utc_offset": datetime.now(self.settings.tz).isoformat(timespec="seconds")[19:],
            "active": "",
            **values,
        }
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)

    def respond(self, request: Request, shown: Page, *, user: User) -> Response:
        """The page in the format the query asks for."""
        asked = request.query_params.get("format")
        if asked == "json":
            return JSONResponse(shown.twin(), status_code=shown.status_code)
        return self.render(
            request, shown.template, shown.values, user=user, status_code=shown.status_code
        )


def make_templates(tz: tzinfo) -> Jinja2Templates:
    """Plain Jinja2 templates, autoescaped; a missing value is an error, not an empty cell."""
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.autoescape = True
    env.undefined = StrictUndefined

    def when(moment: datetime | None) -> str:
        return "—" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["isolated"] = closed_bidi
    env.globals["colour"] = chart.colour
    env.globals["urlencode"] = urlencode
    env.globals["first_day"], env.globals["last_day"] = EARLIEST.isoformat(), LATEST.isoformat()
    return templates


# The explicit bidi controls a person's text may hold: embeddings and overrides (closed by PDF)
# and isolates (closed by PDI).
_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE, RLE, LRO, RLO
_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
_PDF, _PDI = "\u202c", "\u2069"
_BIDI = _EMBEDDINGS | _ISOLATES | {_PDF, _PDI}


def closed_bidi(text: object) -> object:
    """A person's text with every embedding, override and isolate it opens and leaves open
    closed at its end, as <bdi> contents must be: an isolate left open takes the PDI that ends
    the <bdi>'s own isolation, and the rest of the line (the phone number beside a name) is
    drawn inside it, reordered. What it shows is the text as typed; other values pass."""
    if type(text) is not str or _BIDI.isdisjoint(text):
        return text
    open_: list[str] = []  # PDF or PDI, the closer each open control needs
    for c in text:
        if c in _EMBEDDINGS:
            open_.append(_PDF)
        elif c in _ISOLATES:
            open_.append(_PDI)
        elif c == _PDF and open_ and open_[-1] == _PDF:  # never across an isolate
            open_.pop()
        elif c == _PDI and _PDI in open_:  # closes its isolate and what opened inside it
            while open_.pop() != _PDI:
                pass
    return text + "".join(reversed(open_))


def ago(seconds: float | None) -> str:
    """1234.5 → '20 min ago': an age as people read it on a status board."""
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 90:
        return f"{s} s ago"
    if s < 90 * 60:
        return f"{s // 60} min ago"
    if s < 48 * 3600:
        return f"{s // 3600} h {s % 3600 // 60} min ago"
    return f"{s // 86400} days ago"


def home(request: Request) -> str:
    """The overview's path, under the prefix the proxy mounts us at (uvicorn --root-path)."""
    return str(request.scope.get("root_path", "")) + BASE


def wants_json(request: Request) -> bool:
    return request.query_params.get("format") == "json"


def site_of(request: Request) -> Site:
    """The environment's dashboard the app was made for."""
    site: Site = request.app.state.site
    return site


def current_user(site: Site, request: Request) -> User | None:
    """The logged-in user, if the session is signed, young enough, and still matches the
    user's row (not disabled, password not changed since); otherwise the session is ended."""
    ids = session_user(request.session, env=site.settings.environment.value)
    if ids is None:
        return None
    with site.desk() as desk:
        user = desk.user(ids[0])
    if user is None or not user.active or user.session_epoch != ids[1]:
        request.session.clear()
        return None
    return user


@dataclass(frozen=True, slots=True)
class Page:
    """What one page shows, computed once: the template and its values for the HTML, and the
    same page as JSON (the twin, computed only when asked for)."""

    template: str
    values: Mapping[str, Any]
    twin: Callable[[], Mapping[str, Any]]
    status_code: int = 200


PageData = Callable[[Site, Request, User], Page]
FileData = Callable[[Site, Request, User], Response]


def page(data: PageData, *, csv: FileData | None = None) -> Callable[[Request], Response]:
    """The route of a page for a logged-in user (others get the login page, or 401 for JSON):
    its one data function, rendered in the format the query asks for (`?format=json` for the
    twin, HTML otherwise), or its `csv` file for `?format=csv` where it has one. A day outside
    what the pages can show is a 400 with the reason, in any format."""

    @functools.wraps(data)
    def endpoint(request: Request) -> Response:  # sync: Starlette runs it in its threadpool
        site = site_of(request)
        user = current_user(site, request)
        if user is None:
            if wants_json(request):
                return JSONResponse({"error": "login required"}, status_code=401)
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            login = home(request) + "/login"
            return RedirectResponse(f"{login}?{urlencode({'next': target})}", status_code=303)
        try:
            if csv is not None and request.query_params.get("format") == "csv":
                return csv(site, request, user)
            shown = data(site, request, user)
        except OutOfRange as exc:
            raise HTTPException(400, str(exc)) from None
        return site.respond(request, shown, user=user)

    return endpoint


def json_value(value: object) -> object:
    """A field of a record as JSON carries it: instants and days in ISO 8601, ids as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
