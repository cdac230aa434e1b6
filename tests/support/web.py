"""What the dashboard's tests share: a migrated environment, users, seeded reviews, a logged-in
HTTP client, and the dashboard served by uvicorn for the browser."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.support.env import AGENT, LAWLEY, MOHADIN, VELO, write_config
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role, UserBook
from wa_monitor.core.steps import Step
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.services import accounts
from wa_monitor.settings import PROD_SCHEMA, Settings, load_settings
from wa_monitor.web.app import create_app

if TYPE_CHECKING:  # the unit tests import this module: its HTTP client and server load on use
    import httpx2

    from wa_monitor.devtools.bridge_api import SimulatedBridgeApi

SAST = ZoneInfo("Africa/Johannesburg")
SECRET = "a test secret that is long enough to sign with"
PASSWORD = "correct horse battery"
PROD_GROUPS = {LAWLEY: "Lawley", MOHADIN: "Mohadin"}
DEV_GROUPS = {VELO: "Velo Test", LAWLEY: "Lawley"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Row:
    """A review as the tests seed it (straight into the table, as the monitor would write it)."""

    drop: str
    at: datetime
    project: str = "Lawley"
    completed: bool = False
    incomplete: bool = False
    resubmitted: bool = False
    feedback_sent: datetime | None = None
    user_name: str = "Thandi Agent"
    phone: str = AGENT
    steps: int = 0  # how many of the 12 steps are ticked (the first n)


def environment(
    folder: Path, env: str, *, bridge: BridgeWriter, url: str, extra: str = ""
) -> Settings:
    """The env's config (prod: Lawley and Mohadin; dev: Velo Test and Lawley), on a database
    migrated for it (mark the test `migrated("prod")`)."""
    groups = PROD_GROUPS if env == "prod" else DEV_GROUPS
    folder.mkdir(parents=True, exist_ok=True)
    path = write_config(folder, env, bridge_db=bridge.path, groups=groups, extra=extra)
    return load_settings(path, expect=env)


def refreshing_every_second(folder: Path, *, bridge: BridgeWriter, url: str) -> Settings:
    """Production whose overview refreshes every second, and its reviewer ayanda."""
    settings = environment(
        folder, "prod", bridge=bridge, url=url, extra="[web]\nrefresh_seconds = 1"
    )
    add_user(url, "public", "ayanda")
    return settings


def add_user(url: str, schema: str, username: str, role: Role = Role.REVIEWER) -> None:
    db = Database(url, schema, "prod" if schema == PROD_SCHEMA else "dev")
    with psycopg.connect(url, autocommit=True) as conn:
        accounts.add_user(
            UserBook(conn, db),
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
        )


def seed(db: psycopg.Connection[Any], schema: str, rows: Sequence[Row]) -> list[UUID]:
    """Insert the rows; their ids in the same order."""
    ids = []
    for r in rows:
        columns: dict[str, object] = {
            "drop_number": r.drop,
            "review_date": r.at.astimezone(SAST).date(),
            "project": r.project,
            "user_name": r.user_name,
            "submitted_by": r.phone,
            "whatsapp_message_date": r.at,
            "last_submitted_at": r.at,
            "completed": r.completed,
            "incomplete": r.incomplete,
            "resubmitted": r.resubmitted,
            "feedback_sent": r.feedback_sent,
        } | {s.column: True for s in list(Step)[: r.steps]}
        names, values = list(columns), list(columns.values())
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
            sql.Identifier(schema, "qa_photo_reviews"),
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        )
        row = db.execute(query, values).fetchone()
        assert row is not None
        ids.append(row[0])
    return ids


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match[1]


@dataclass
class Dashboard:
    """An HTTP client of one environment's dashboard."""

    client: TestClient
    settings: Settings
    url: str
    cookies: dict[str, str] = field(default_factory=dict)

    def login(
        self, username: str, password: str = PASSWORD, *, next_url: str = ""
    ) -> httpx2.Response:
        page = self.client.get("/wa-monitor/login")
        form = {"csrf": csrf_of(page.text), "username": username, "password": password}
        if next_url:
            form["next"] = next_url
        return self.client.post("/wa-monitor/login", data=form, follow_redirects=False)

    def csrf(self) -> str:
        return csrf_of(self.client.get("/wa-monitor").text)

    def json(self, path: str, **params: str) -> Any:
        response = self.client.get(path, params={**params, "format": "json"})
        assert response.status_code == 200, response.text
        return response.json()


def make_app(settings: Settings, url: str) -> Starlette:
    return create_app(settings, database_url=url, secret=SECRET)


@contextmanager
def dashboard(settings: Settings, url: str) -> Iterator[Dashboard]:
    with TestClient(make_app(settings, url), base_url="http://testserver") as client:
        yield Dashboard(client, settings, url)


@dataclass
class ReviewDesk:
    """A reviewer (ayanda) logged in on one prod review (DR1234567, Lawley), its bridge's API
    simulated."""

    dash: Dashboard
    api: SimulatedBridgeApi
    review: UUID
    url: str  # the review's page


@contextmanager
def review_desk(
    folder: Path, *, bridge: BridgeWriter, url: str, db: psycopg.Connection[Any]
) -> Iterator[ReviewDesk]:
    from tests.support.env import sast
    from wa_monitor.devtools.bridge_api import SimulatedBridgeApi

    with SimulatedBridgeApi(bridge_db=bridge.path, bot_number="27640412391") as api:
        extra = f'bridge_api_url = "{api.url}"'
        settings = environment(folder, "prod", bridge=bridge, url=url, extra=extra)
        add_user(url, "public", "ayanda", Role.REVIEWER)
        [review] = seed(db, "public", [Row("DR1234567", sast(11, 9), project="Lawley")])
        with dashboard(settings, url) as dash:
            assert dash.login("ayanda").status_code == 303
            yield ReviewDesk(dash, api, review, f"/wa-monitor/reviews/{review}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Starlette) -> Iterator[str]:
    """The app under a real uvicorn on a free port, in a thread; its base URL."""
    port = free_port()
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
