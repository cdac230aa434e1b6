"""The dashboard as an ASGI application: routes, middleware, error pages, the pool's lifetime.

Starlette, because the dashboard is a few server-rendered pages over SQL we already write by
hand: it is small, well kept and ASGI (uvicorn serves it in production), its TestClient drives
real requests in the tests, and it brings no ORM, no form framework and no front-end build.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wa_monitor.adapters.bridge_api import BridgeRoutes
from wa_monitor.adapters.postgres import dashboard
from wa_monitor.adapters.postgres.db import Database, StoreUnavailable, one_line
from wa_monitor.adapters.postgres.reviewing import FeedbackBook
from wa_monitor.errors import WaMonitorError
from wa_monitor.settings import Settings
from wa_monitor.web import (
    auth,
    metrics,
    pages,
    photo_steps,
    photos,
    quality,
    queue,
    reviewing,
)
from wa_monitor.web.context import (
    BASE,
    HERE,
    PAST_DAYS_SECONDS,
    Site,
    current_user,
    home,
    make_templates,
    wants_json,
)
from wa_monitor.web.exports import STALL_SECONDS, Exports, PgExportRows
from wa_monitor.web.limits import KB, BodyLimit, BodyRule, ClientAddress
from wa_monitor.web.security import SecurityHeaders

MIN_SECRET_LENGTH = 32
# Request bodies: the login's two fields and a token; a verdict's twelve reasons (300
# characters each) and its comment (2,000), or a feedback text (4,000), every character of them
# percent-encoded at up to 9 bytes; anything else (logout, resolve) is a token and a word or two.
FORM_LIMIT = 16 * KB
BODY_RULES = (
    BodyRule(re.compile(r"/login$"), 4 * KB),
    BodyRule(re.compile(r"/reviews/[^/]+/(verdict|send)$"), 64 * KB),
)
log = logging.getLogger("uvicorn.error")


class ChartWarmer:
    """Counts today's chart days ahead of the overview, every few minutes, so its default view
    never waits for them; a failure here only means the next page counts them itself."""

    def __init__(self, web: Site) -> None:
        self._web = web
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chart-warmer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                with self._web.desk() as desk:
                    pages.chart_history(self._web, desk, self._web.today(), fresh=True)
            except WaMonitorError:  # the database's, translated by the handle
                pass
            if self._stop.wait(PAST_DAYS_SECONDS * 0.8):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


class HealthCheck:
    """/healthz's own capacity: a connection and a thread of its own, so that pages holding
    every pooled connection and every threadpool worker (slow queries, a flood of requests)
    cannot make the reverse proxy think the database is gone."""

    def __init__(self, db: Database, application_name: str) -> None:
        self._db = db
        self._pool = db.pool(application_name, max_size=1)
        self._threads: anyio.CapacityLimiter | None = None  # made on the event loop, in open()

    def open(self) -> None:
        self._pool.open(wait=False)
        self._threads = anyio.CapacityLimiter(1)

    def close(self) -> None:
        self._pool.close()

    async def database_answers(self) -> bool:
        """True when the database answered a ping within the pool's 2 s, on its own thread."""
        return await anyio.to_thread.run_sync(self._ping, limiter=self._threads)

    def _ping(self) -> bool:
        try:
            with self._db.borrowed(self._pool, timeout=2) as conn:
                dashboard.ping(conn, self._db)
        except WaMonitorError:  # the database's, translated by the handle
            return False
        return True


@contextmanager
def _start_up_frozen() -> Iterator[None]:
    """What start-up made (modules, settings, the templates' environment, the driver's types)
    lives as long as the service: frozen, no collection walks it again. A page that makes many
    objects (the Quality page's hundreds of agents) set off full collections that walked all of
    it, a tail of its p95 (issue 26). Put back for a caller that goes on in the same process
    (the tests); one that froze its own objects keeps them frozen and nothing more is frozen
    then (unfreeze() cannot tell theirs from ours)."""
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    try:
        yield
    finally:
        if freezing:
            gc.unfreeze()


def create_app(
    settings: Settings,
    *,
    database_url: str,
    secret: str,
    export_stall_seconds: float = STALL_SECONDS,
) -> Starlette:
    """One environment's dashboard, reading only its configured schema. An export whose client
    reads nothing for `export_stall_seconds` is ended (web/exports.py)."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the session secret must be at least {MIN_SECRET_LENGTH} characters")
    env = settings.environment.value
    db = Database(database_url, settings.schema, env)
    pool = db.pool(f"wa-monitor-web-{env}")
    bridges = BridgeRoutes(settings)  # the bridges feedback goes through, this host's first
    web = Site(
        settings=settings,
        db=db,
        pool=pool,
        templates=make_templates(settings.tz),
        routes=bridges.routes,
        feedback_sends=FeedbackBook(db, lambda: db.borrowed(pool)),
    )
    registry = metrics.registry(web)
    health = HealthCheck(db, f"wa-monitor-web-{env}-health")

    async def healthz(request: Request) -> Response:
        """For the reverse proxy: 200 while the database answers, 503 when it does not."""
        if not await health.database_answers():
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True, "environment": env})

    def scrape(request: Request) -> Response:
        return metrics.metrics(registry, request)

    def root(request: Request) -> Response:
        return RedirectResponse(home(request), status_code=307)

    routes = [
        Route("/", root),
        Route("/healthz", healthz),
        Route("/metrics", scrape),
        Route(BASE, pages.overview),
        Route(f"{BASE}/", pages.overview),
        Route(f"{BASE}/reviews", pages.reviews),
        Route(f"{BASE}/queue", queue.queue_page),
        Route(f"{BASE}/quality", quality.quality),
        Route(BASE + "/reviews/{id:uuid}", reviewing.review_page),
        Route(BASE + "/reviews/{id:uuid}/verdict", reviewing.save_verdict, methods=["POST"]),
        Route(BASE + "/reviews/{id:uuid}/send", reviewing.send_feedback, methods=["POST"]),
        Route(BASE + "/reviews/{id:uuid}/drop", reviewing.correct_drop, methods=["POST"]),
        Route(BASE + "/reviews/{id:uuid}/presence", reviewing.renew_presence, methods=["POST"]),
        Route(
            BASE + "/reviews/{id:uuid}/sends/{send}/resolve",
            reviewing.resolve_send,
            methods=["POST"],
        ),
        Route(
            BASE + "/reviews/{id:uuid}/photos/{photo:int}/step",
            photo_steps.mark_step,
            methods=["POST"],
        ),
        Route(BASE + "/reviews/{id:uuid}/photos/{photo:int}/step", photo_steps.back_to_the_review),
        Route(BASE + "/photos/{key}/{kind}", photos.serve),
        Route(f"{BASE}/login", auth.login_page, methods=["GET"]),
        Route(f"{BASE}/login", auth.login, methods=["POST"]),
        Route(f"{BASE}/logout", auth.logout, methods=["POST"]),
        Mount(f"{BASE}/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    def error_page(request: Request, status: int, title: str, detail: str) -> Response:
        if wants_json(request):
            return JSONResponse({"error": detail}, status_code=status)
        try:
            user = current_user(web, request)
        except WaMonitorError:  # the database's, translated by the handle
            user = None
        values = {"title": title, "detail": detail}
        return web.render(request, "error.html", values, user=user, status_code=status)

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101  registered for HTTPException only
        title = {404: "Not found", 405: "Not allowed"}.get(exc.status_code, "Error")
        return error_page(request, exc.status_code, title, str(exc.detail))

    def database_error(request: Request, exc: Exception) -> Response:
        # The driver's words stay in the service's log (uvicorn's error line), not on the page:
        # the handle's translation ("database unavailable (unreachable): …"), in one line.
        log.warning("%s", one_line(exc))
        detail = "The database cannot be reached right now; the page will work again once it can."
        return error_page(request, 503, "Database unavailable", detail)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        web.pool.open(wait=False)  # the pages say so while the database is away
        health.open()
        warmer = ChartWarmer(web)
        try:
            with _start_up_frozen():
                yield
        finally:
            warmer.stop()
            health.close()
            web.pool.close()
            bridges.close()

    web_settings = settings.web
    handlers: dict[Any, Callable[[Request, Exception], Response]] = {
        HTTPException: http_error,
        StoreUnavailable: database_error,
    }
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SecurityHeaders, static_prefix=f"{BASE}/static", hsts=web_settings.secure_cookies
            ),
            Middleware(ClientAddress, trusted=web_settings.trusted_proxies),
            Middleware(BodyLimit, rules=BODY_RULES, default=FORM_LIMIT),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=f"wa_monitor_{env}_session",
                max_age=web_settings.session_minutes * 60,
                same_site="lax",
                https_only=web_settings.secure_cookies,
            ),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.site = web  # what every handler shares: see context.site_of
    app.state.exports = Exports(settings, PgExportRows(db), stall_seconds=export_stall_seconds)
    return app
