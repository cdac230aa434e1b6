"""The dashboard's own database role: `schema grant --web` gives it exactly what its pages need,
every page works with it, it can read nothing of the other environment, and doctor --web says so."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import sql

from tests.integration.test_doctor import doctor
from tests.support.env import LAWLEY, sast
from tests.support.ops import Envs, Roles
from tests.support.web import SECRET, Row, add_user, dashboard, seed
from wa_monitor.settings import load_settings

pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture(autouse=True)
def prod_ran(envs: Envs) -> None:
    """One review in prod, written by the monitor."""
    envs.say("A1", "DR1111111", sast(11, 9, 30), chat=LAWLEY)
    assert envs.run("prod") == 0


def test_the_prod_dashboard_works_on_its_web_role_and_cannot_read_dev(
    envs: Envs, roles: Roles, db: psycopg.Connection[Any], database_url: str
) -> None:
    seed(db, "dev", [Row("DR9000001", sast(11, 10), project="Velo Test")])
    add_user(database_url, "public", "ayanda")
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    settings = load_settings(envs.folder / "prod.toml")
    with dashboard(settings, url) as dash:
        assert dash.login("ayanda", "wrong password!").status_code == 401  # throttle: INSERT
        assert dash.login("ayanda").status_code == 303  # users: UPDATE; throttle: DELETE
        listed = dash.json("/wa-monitor/reviews")
        review_id = listed["reviews"][0]["id"]
        for path in (
            "/wa-monitor",
            "/wa-monitor?format=json",
            "/wa-monitor/reviews?format=csv",
            f"/wa-monitor/reviews/{review_id}",
            "/metrics",
            "/healthz",
        ):
            assert dash.client.get(path).status_code == 200, path
        assert dash.json("/wa-monitor")["health"]["level"] == "stopped"
    assert [r["drop_number"] for r in listed["reviews"]] == ["DR1111111"]
    with psycopg.connect(url, autocommit=True) as web:
        for statement in (
            "SELECT count(*) FROM dev.qa_photo_reviews",
            "SELECT count(*) FROM dev.wa_monitor_users",
            "DELETE FROM public.qa_photo_reviews",
            "DELETE FROM public.wa_monitor_ledger",
            "INSERT INTO public.wa_monitor_users (username, display_name, role, password_hash) "
            "VALUES ('x', 'x', 'reviewer', 'x')",
            "CREATE TABLE public.sneaky (id int)",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                web.execute(statement)


def test_doctor_web_checks_the_secret_and_the_web_roles_privileges(
    envs: Envs,
    roles: Roles,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    # Production's alerts must name a channel (doctor checks it; nothing is sent here).
    prod = envs.folder / "prod.toml"
    prod.write_text(prod.read_text() + '\n[alerts]\nemail_to = ["ops@example.com"]\n')
    monkeypatch.delenv("WA_MONITOR_WEB_SECRET", raising=False)
    code, checks = doctor(envs, capsys, env="prod", url=url)
    assert "web secret" not in checks  # only asked for with --web
    assert checks["role privileges"].startswith("FAIL")  # the monitor's rights, not the web's

    capsys.readouterr()
    code = envs.wa("doctor", "--env", "prod", "--web", url=url)
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  web secret: no dashboard session secret" in out
    assert f"PASS  role privileges: role {role}" in out

    monkeypatch.setenv("WA_MONITOR_WEB_SECRET", SECRET)
    assert envs.wa("doctor", "--env", "prod", "--web", url=url) == 0
    out = capsys.readouterr().out
    assert "PASS  web secret" in out
    assert SECRET not in out


def test_an_upgrade_to_version_8_lets_a_granted_web_role_read_the_invalid_drops(
    envs: Envs,
    roles: Roles,
    db: psycopg.Connection[Any],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A web role granted before version 8 gets the overview's new reads from the migration."""
    add_user(database_url, "public", "ayanda")
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    # As before the upgrade: version 7, and no right on the invalid drops or the outbox.
    db.execute(
        sql.SQL(
            "REVOKE ALL ON public.invalid_drop_submissions, public.wa_monitor_outbox FROM {}"
        ).format(sql.Identifier(role))
    )
    # (Migrations are idempotent: the later ones run again harmlessly.)
    db.execute("DELETE FROM public.wa_monitor_migrations WHERE version >= 8")
    with (
        psycopg.connect(url, autocommit=True) as web,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        web.execute("SELECT count(*) FROM public.invalid_drop_submissions")
    assert envs.wa("schema", "migrate", "--env", "prod") == 0
    settings = load_settings(envs.folder / "prod.toml")
    with dashboard(settings, url) as dash:
        assert dash.login("ayanda").status_code == 303
        assert dash.json("/wa-monitor")["invalid"]["total"] == 0
    monkeypatch.setenv("WA_MONITOR_WEB_SECRET", SECRET)
    capsys.readouterr()
    envs.wa("doctor", "--env", "prod", "--web", url=url)
    assert f"PASS  role privileges: role {role}" in capsys.readouterr().out
    # Read, and no more.
    with (
        psycopg.connect(url, autocommit=True) as web,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        web.execute("DELETE FROM public.invalid_drop_submissions")
