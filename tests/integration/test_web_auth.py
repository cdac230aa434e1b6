"""Who may see the dashboard: login, logout, sessions that end, CSRF, throttling, headers.
(What needs no database, such as where a logged-out visitor is sent, is in
tests/unit/test_web_handlers.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.web import Dashboard, add_user, csrf_of, dashboard, environment
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role, UserBook
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.services import accounts
from wa_monitor.web.security import MAX_SESSION_SECONDS

pytestmark = pytest.mark.migrated("prod")


@pytest.fixture
def dash(tmp_path: Path, bridge: BridgeWriter, database_url: str) -> Iterator[Dashboard]:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    add_user(database_url, "public", "ayanda", Role.REVIEWER)
    add_user(database_url, "public", "sipho", Role.VIEWER)
    with dashboard(settings, database_url) as d:
        yield d


def test_healthz_and_metrics_need_no_login(dash: Dashboard) -> None:
    assert dash.client.get("/healthz").json() == {"ok": True, "environment": "prod"}
    assert "wa_monitor_database_up" in dash.client.get("/metrics").text


def test_login_goes_back_to_the_page_asked_for_and_logout_ends_the_session(
    dash: Dashboard,
) -> None:
    wrong = dash.login("ayanda", "not the password")
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text
    assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303

    ok = dash.login("ayanda", next_url="/wa-monitor/reviews?status=complete")
    assert ok.status_code == 303
    assert ok.headers["location"] == "/wa-monitor/reviews?status=complete"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "max-age=" in cookie
    page = dash.client.get("/wa-monitor")
    assert page.status_code == 200
    assert "Ayanda" in page.text
    assert "reviewer" in page.text

    out = dash.client.post(
        "/wa-monitor/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert (out.status_code, out.headers["location"]) == (303, "/wa-monitor/login")
    assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303


def test_login_never_sends_a_person_to_another_site(dash: Dashboard) -> None:
    for target in ("https://evil.example/", "//evil.example/wa-monitor", "/elsewhere"):
        response = dash.login("ayanda", next_url=target)
        assert response.headers["location"] == "/wa-monitor"
        dash.client.cookies.clear()


def test_a_post_without_the_csrf_token_is_refused(dash: Dashboard) -> None:
    dash.client.get("/wa-monitor/login")
    login = dash.client.post(
        "/wa-monitor/login", data={"username": "ayanda", "password": "correct horse battery"}
    )
    assert login.status_code == 403
    assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303

    assert dash.login("ayanda").status_code == 303
    forged = dash.client.post("/wa-monitor/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert dash.client.get("/wa-monitor").status_code == 200  # still logged in


def test_failed_logins_are_throttled_per_user_and_address(dash: Dashboard, db: Any) -> None:
    for _ in range(accounts.MAX_FAILURES - 1):
        assert dash.login("ayanda", "wrong password!").status_code == 401
    last = dash.login("ayanda", "wrong password!")
    assert last.status_code == 429
    assert "Too many failed logins" in last.text
    # Now even the right password is refused, without being checked, until the window ends.
    assert dash.login("ayanda").status_code == 429
    # Another user from the same address is not locked out.
    assert dash.login("sipho").status_code == 303
    failures = db.execute(
        "SELECT username, failures FROM public.wa_monitor_login_throttle WHERE username <> ''"
    ).fetchall()
    # Every attempt is counted before its password is checked, the refused one too.
    assert failures == [("ayanda", accounts.MAX_FAILURES + 1)]
    db.execute(
        "UPDATE public.wa_monitor_login_throttle SET window_started_at = now() - interval '16 min'"
    )
    dash.client.cookies.clear()
    assert dash.login("ayanda").status_code == 303


def test_a_spray_of_usernames_from_one_address_is_throttled_too(dash: Dashboard, db: Any) -> None:
    # As if 29 usernames had each been tried once from this address (the test client's): the
    # address's own count, over every username, is the row with no username.
    db.execute(
        "INSERT INTO public.wa_monitor_login_throttle (username, client, failures, "
        "window_started_at) VALUES ('', 'testclient', %s, now())",
        (accounts.MAX_CLIENT_FAILURES - 1,),
    )
    assert dash.login("nobody", "wrong password!").status_code == 401
    assert dash.login("ayanda").status_code == 429  # the right password, but from a sprayer
    db.execute(
        "UPDATE public.wa_monitor_login_throttle SET window_started_at = now() - interval '16 min'"
    )
    assert dash.login("ayanda").status_code == 303


def test_a_new_password_or_a_disable_ends_open_sessions(dash: Dashboard, database_url: str) -> None:
    prod = Database(database_url, "public", "prod")
    assert dash.login("ayanda").status_code == 303
    assert dash.client.get("/wa-monitor").status_code == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        accounts.change_password(
            UserBook(conn, prod), username="ayanda", password="a brand new secret"
        )
    assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303
    assert dash.login("ayanda", "a brand new secret").status_code == 303
    with psycopg.connect(database_url, autocommit=True) as conn:
        accounts.disable_user(UserBook(conn, prod), username="ayanda")
    assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303
    assert dash.login("ayanda", "a brand new secret").status_code == 401


def test_passwords_are_stored_as_argon2id_hashes(dash: Dashboard, db: Any) -> None:
    stored = db.execute("SELECT password_hash FROM public.wa_monitor_users").fetchall()
    assert all(h.startswith("$argon2id$") for (h,) in stored)
    assert not any("correct horse" in h for (h,) in stored)


def test_every_response_forbids_framing_and_inline_script(dash: Dashboard) -> None:
    dash.login("ayanda")
    for path in ("/wa-monitor", "/wa-monitor/reviews", "/wa-monitor/login", "/healthz"):
        headers = dash.client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
    page = dash.client.get("/wa-monitor").text
    assert "<script>" not in page
    assert " style=" not in page
    assert "onclick" not in page


def test_a_database_that_cannot_be_reached_is_a_503_that_names_no_host(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    away = "postgresql://wa_web:secret-pw@127.0.0.1:9/wa"  # nothing listens on port 9
    with dashboard(settings, away) as d:
        health = d.client.get("/healthz")
        page = d.client.get("/wa-monitor/login")
        tried = d.client.post(
            "/wa-monitor/login",
            data={"csrf": csrf_of(page.text), "username": "ayanda", "password": "whatever1234"},
        )
    assert (health.status_code, health.json()) == (503, {"ok": False, "database": "unreachable"})
    assert page.status_code == 200  # the login form needs no database
    assert tried.status_code == 503
    assert "Database unavailable" in tried.text
    assert "127.0.0.1" not in tried.text
    assert "secret-pw" not in tried.text


def test_a_cookie_replayed_after_logout_is_refused(dash: Dashboard) -> None:
    assert dash.login("ayanda").status_code == 303
    page = dash.client.get("/wa-monitor")
    copied = dict(dash.client.cookies)
    out = dash.client.post(
        "/wa-monitor/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    # The cookie the browser held, sent again: the session ended on the server.
    dash.client.cookies.clear()
    dash.client.cookies.update(copied)
    assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303
    answer = dash.client.get("/wa-monitor/reviews", params={"format": "json"})
    assert answer.status_code == 401
    # Logging in again works.
    assert dash.login("ayanda").status_code == 303
    assert dash.client.get("/wa-monitor").status_code == 200


def test_requests_renew_the_idle_window_but_not_past_the_absolute_cap(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle = dash.settings.web.session_minutes * 60  # 8 h by default; the cap is 12 h
    start = time.time()
    clock = {"now": start}
    monkeypatch.setattr(time, "time", lambda: clock["now"])
    assert dash.login("ayanda").status_code == 303

    def at(seconds: float) -> int:
        clock["now"] = start + seconds
        return dash.client.get("/wa-monitor", follow_redirects=False).status_code

    assert at(idle * 0.6) == 200
    # Longer after the login than the idle window, but not after the last request.
    assert at(idle * 1.2) == 200
    assert at(MAX_SESSION_SECONDS - 60) == 200
    # Active all along, the session still ends 12 hours after its login.
    assert at(MAX_SESSION_SECONDS + 60) == 303
    # And a session left alone for longer than the idle window ends too.
    assert dash.login("ayanda").status_code == 303
    assert at(MAX_SESSION_SECONDS + 120 + idle + 5) == 303
