"""One environment's dashboard on in-memory fakes, for unit tests of its handlers: the app as
create_app makes it, its Site's ports replaced (the desk, the Quality page's reads, the feedback
sends, the bridge's send API and messages.db) and a database URL no page may reach. Driven
through Starlette's test client: no database, no server, no sleep."""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import itsdangerous
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.support.env import LAWLEY, VELO, write_config
from tests.support.fakes import (
    FakeDesk,
    FakeEchoes,
    FakeExportRows,
    FakeFeedbackSends,
    FakePoster,
    FakeQualityReads,
)
from wa_monitor.adapters.postgres.users import Role, User
from wa_monitor.core.records import Delivery
from wa_monitor.core.replies import Route
from wa_monitor.core.steps import Step
from wa_monitor.settings import load_settings
from wa_monitor.web.app import create_app
from wa_monitor.web.context import PastDays, Site
from wa_monitor.web.exports import Exports

NOWHERE = "postgresql://wa_web:secret-pw@127.0.0.1:9/wa"  # a page that reached it would fail
SECRET = "a unit test's secret, long enough to sign sessions with"
NOON = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
DROP = "DR1234567"
CSRF = "a-csrf-token-as-long-as-the-sessions-own-are"  # 32 characters or more


@dataclass
class FakeDashboard:
    """One environment's dashboard on fakes: a review of DROP in Lawley, a reviewer and a
    viewer, the bridge's send API answering `outcomes` in order, the Quality page's figures
    those a test gives `quality`."""

    client: TestClient
    desk: FakeDesk
    bridge: FakePoster
    review: UUID
    env: str
    quality: FakeQualityReads

    def login(self, user: User) -> None:
        """A signed session of `user`, as a login leaves it (without Argon2's second)."""
        session = {"uid": user.id, "epoch": user.session_epoch, "env": self.env}
        session |= {"since": int(datetime.now(UTC).timestamp()), "csrf": CSRF}
        cookie = itsdangerous.TimestampSigner(SECRET).sign(b64encode(json.dumps(session).encode()))
        self.client.cookies.clear()  # the anonymous session's cookie, if a request left one
        self.client.cookies.set(f"wa_monitor_{self.env}_session", cookie.decode())

    @property
    def url(self) -> str:
        return f"/wa-monitor/reviews/{self.review}"

    def page(self) -> dict[str, Any]:
        answer = self.client.get(self.url, params={"format": "json"})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def post(self, action: str, **form: str) -> tuple[int, str, str]:
        """A POST from the review page: status, where it redirects, the page it shows."""
        answer = self.client.post(
            f"{self.url}/{action}", data={"csrf": CSRF, **form}, follow_redirects=False
        )
        return answer.status_code, answer.headers.get("location", ""), answer.text

    def verdict(self, version: int, **marks: str) -> dict[str, str]:
        """The verdict form: every step OK but those in `marks` (column → 'wrong: why')."""
        form = {"version": str(version), "comment": ""}
        for step in Step:
            mark = marks.get(step.column, "passed")
            form[f"mark_{step.column}"] = mark.split(":", 1)[0]
            form[f"why_{step.column}"] = mark.split(":", 1)[1].strip() if ":" in mark else ""
        return form


Apps = dict[str, tuple[Starlette, Site]]
Make = Callable[..., FakeDashboard]


def make_apps(folder: Path) -> Apps:
    """prod's and dev's dashboards, made once (their templates compile once)."""
    made = {}
    for env, groups in (("prod", {LAWLEY: "Lawley"}), ("dev", {VELO: "Velo Test"})):
        config = write_config(
            folder / env,
            env,
            bridge_db=folder / "messages.db",
            groups=groups,
            extra=f'photos_cache_dir = "{folder / env / "photos"}"',
        )
        app = create_app(load_settings(config, expect=env), database_url=NOWHERE, secret=SECRET)
        made[env] = (app, app.state.site)
    return made


def on_fakes(apps: Apps, *outcomes: Delivery, env: str = "prod") -> FakeDashboard:
    """The environment's dashboard on fakes of its own: a review of DROP in Lawley sighted at
    NOON, the bridge's send API answering `outcomes` in order."""
    app, site = apps[env]
    desk = FakeDesk(FakeFeedbackSends(now=lambda: NOON))
    review = desk.add_review(DROP, "Lawley")
    bridge = FakePoster(*outcomes)
    quality = FakeQualityReads()
    app.state.site = replace(
        site,
        opens=lambda _: nullcontext(desk),
        quality_reads=lambda _: quality,
        routes=(Route("main", bridge, FakeEchoes()),),
        feedback_sends=desk.feedback,
        past_days=PastDays(),  # the chart's kept days are this test's own
    )
    app.state.exports = Exports(site.settings, FakeExportRows(desk))
    client = TestClient(app, base_url="http://testserver")
    return FakeDashboard(client, desk, bridge, review, env, quality)


def viewer(make: Make) -> FakeDashboard:
    """The dashboard on fakes with a viewer (vusi) logged in."""
    d = make()
    d.login(d.desk.add_user("vusi", Role.VIEWER))
    return d


def json_twin(d: FakeDashboard, path: str, **query: str) -> dict[str, Any]:
    """The JSON twin of the page at `path` with the query given, which must answer 200."""
    answer = d.client.get(path, params={"format": "json", **query})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
