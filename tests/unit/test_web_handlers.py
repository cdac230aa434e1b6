"""The dashboard's handlers that need no database, driven through Starlette's test client in
milliseconds: who is sent to the login, what the login page carries, what a forged POST gets.

The app is built on a database nothing listens on, and its lifespan never runs (no `with`), so
its pool is never opened: a handler that reached for the database would fail the test."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.support.env import LAWLEY, write_config
from tests.support.web import csrf_of, make_app
from wa_monitor.settings import load_settings

NOWHERE = "postgresql://wa_web:secret-pw@127.0.0.1:9/wa"  # nothing listens on port 9
PAGES = (
    "/wa-monitor",
    "/wa-monitor/reviews",
    "/wa-monitor/reviews/6f1c0c9e-1d7e-4f0e-9d55-1a4f2b3c4d5e",
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    folder = tmp_path_factory.mktemp("config")
    config = write_config(
        folder, "prod", bridge_db=folder / "messages.db", groups={LAWLEY: "Lawley"}
    )
    return make_app(load_settings(config, expect="prod"), NOWHERE)


@pytest.fixture
def client(app: Starlette) -> TestClient:
    """A visitor of their own (their own cookies)."""
    return TestClient(app, base_url="http://testserver")


@pytest.mark.parametrize("path", PAGES)
def test_a_page_sends_a_logged_out_visitor_to_the_login(client: TestClient, path: str) -> None:
    response = client.get(path, params={"day": "2025-11-11"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/wa-monitor/login?next=")
    assert "day%3D2025-11-11" in response.headers["location"]  # back to the same page after
    twin = client.get(path, params={"format": "json"})
    assert (twin.status_code, twin.json()) == (401, {"error": "login required"})


def test_the_login_page_has_its_csrf_field_and_forbids_framing_and_inline_script(
    client: TestClient,
) -> None:
    page = client.get("/wa-monitor/login")
    assert page.status_code == 200
    assert csrf_of(page.text)
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text


def test_a_login_without_the_csrf_token_is_refused_before_any_password_is_checked(
    client: TestClient,
) -> None:
    client.get("/wa-monitor/login")
    refused = client.post(
        "/wa-monitor/login",
        data={"username": "ayanda", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    forged = client.post(
        "/wa-monitor/login",
        data={"csrf": "forged", "username": "ayanda", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
