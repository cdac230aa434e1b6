"""The dashboard's own database role: `schema grant --web` gives it exactly what its pages need,
every page works with it, it can read nothing of the other environment, and doctor --web says so."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import errors as pg_errors
from psycopg import sql

from tests.integration.test_doctor import doctor
from tests.support.env import LAWLEY, sast
from tests.support.ops import Envs, Roles
from tests.support.web import PASSWORD, SECRET, Row, add_user, dashboard, seed
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
            "/wa-monitor/reviews?step=3&agent=27820000000",
            f"/wa-monitor/reviews/{review_id}",  # a reviewer's: writes the presence mark
            "/wa-monitor/queue",
            "/wa-monitor/queue?format=json",
            "/wa-monitor/quality?from=2025-11-01&to=2025-11-30",
            "/wa-monitor/quality?range=last-week&format=json",
            "/wa-monitor/quality?format=csv",
            "/metrics",
            "/healthz",
        ):
            assert dash.client.get(path).status_code == 200, path
        assert dash.json("/wa-monitor")["health"]["level"] == "stopped"
        renewed = dash.client.post(
            f"/wa-monitor/reviews/{review_id}/presence", data={"csrf": dash.csrf()}
        )
        assert renewed.status_code == 200, renewed.text  # presence: UPDATE, DELETE
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


def test_the_web_role_writes_only_the_columns_its_pages_write(
    envs: Envs, roles: Roles, db: psycopg.Connection[Any], database_url: str
) -> None:
    """Not the user's role, password or disable, not a review's drop number, project or
    creation time: none of them has a change-trail row, so the web role may not write them. A
    reviewer's save and a send's outcome still work, and a login notes itself (and rehashes)
    through the one function the role may execute."""
    add_user(database_url, "public", "ayanda")
    [review] = seed(db, "public", [Row("DR8000001", sast(11, 10), project="Lawley")])
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    with psycopg.connect(url, autocommit=True) as web:
        for statement in (
            "UPDATE public.wa_monitor_users SET role = 'reviewer'",
            "UPDATE public.wa_monitor_users SET password_hash = 'x'",
            "UPDATE public.wa_monitor_users SET disabled_at = NULL",
            "UPDATE public.wa_monitor_users SET last_login_at = now()",
            "UPDATE public.qa_photo_reviews SET drop_number = 'DR1'",
            "UPDATE public.qa_photo_reviews SET project = 'Mohadin'",
            "UPDATE public.qa_photo_reviews SET created_at = now()",
            "UPDATE public.wa_monitor_feedback_sends SET message = 'x'",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                web.execute(statement)
        # What the pages write, they may.
        web.execute(
            "UPDATE public.qa_photo_reviews SET comment = 'ok', version = version + 1, "
            "updated_at = now() WHERE id = %s",
            (review,),
        )
        web.execute("SELECT id FROM public.qa_photo_reviews WHERE id = %s FOR UPDATE", (review,))
    # The function takes only the hash the login checked, and only an argon2id one.
    checked = db.execute(
        "SELECT password_hash FROM public.wa_monitor_users WHERE username = 'ayanda'"
    ).fetchone()
    assert checked is not None
    with psycopg.connect(url, autocommit=True) as web:
        user_id = web.execute("SELECT id FROM public.wa_monitor_users").fetchone()
        assert user_id is not None
        for old, new in (("not the stored hash", "$argon2id$v=19$x"), (checked[0], "plain")):
            web.execute("SELECT public.wa_monitor_logged_in(%s, %s, %s)", (user_id[0], old, new))
    after = db.execute(
        "SELECT password_hash, last_login_at IS NOT NULL FROM public.wa_monitor_users"
    ).fetchone()
    assert after == (checked[0], True)
    # No other role may execute it: not the monitor's, not PUBLIC.
    monitor, monitor_url = roles.make("monitor")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", monitor) == 0
    with (
        psycopg.connect(monitor_url, autocommit=True) as other,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        other.execute("SELECT public.wa_monitor_logged_in(1, 'x', '$argon2id$x')")


def test_a_login_rehashes_an_old_hash_through_the_function(
    envs: Envs, roles: Roles, db: psycopg.Connection[Any], database_url: str
) -> None:
    add_user(database_url, "public", "ayanda")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    db.execute("UPDATE public.wa_monitor_users SET password_hash = %s", (weak,))
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    with dashboard(load_settings(envs.folder / "prod.toml"), url) as dash:
        assert dash.login("ayanda").status_code == 303
    row = db.execute("SELECT password_hash FROM public.wa_monitor_users").fetchone()
    assert row is not None
    assert row[0] != weak
    assert row[0].startswith("$argon2id$")
    assert PasswordHasher().verify(row[0], PASSWORD)


def test_an_upgrade_to_version_11_trades_a_web_roles_table_updates_for_its_columns(
    envs: Envs,
    roles: Roles,
    db: psycopg.Connection[Any],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A web role granted before version 11 held UPDATE on the whole users, reviews and sends
    tables; the migration leaves it the columns and the function, and doctor --web passes."""
    add_user(database_url, "public", "ayanda")
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    # As version 10 granted it.
    ident = sql.Identifier(role)
    db.execute(
        sql.SQL(
            "GRANT UPDATE ON public.wa_monitor_users, public.qa_photo_reviews, "
            "public.wa_monitor_feedback_sends TO {}"
        ).format(ident)
    )
    db.execute(sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {}").format(ident))
    db.execute("DELETE FROM public.wa_monitor_migrations WHERE version >= 11")
    assert envs.wa("schema", "migrate", "--env", "prod") == 0
    with (
        psycopg.connect(url, autocommit=True) as web,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        web.execute("UPDATE public.wa_monitor_users SET role = 'reviewer'")
    with dashboard(load_settings(envs.folder / "prod.toml"), url) as dash:
        assert dash.login("ayanda").status_code == 303
    monkeypatch.setenv("WA_MONITOR_WEB_SECRET", SECRET)
    capsys.readouterr()
    envs.wa("doctor", "--env", "prod", "--web", url=url)
    assert f"PASS  role privileges: role {role}" in capsys.readouterr().out


def test_doctor_names_a_column_or_function_the_web_role_should_not_hold(
    envs: Envs,
    roles: Roles,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    ident = sql.Identifier(role)
    db.execute(sql.SQL("GRANT UPDATE (role) ON public.wa_monitor_users TO {}").format(ident))
    db.execute(sql.SQL("REVOKE UPDATE (comment) ON public.qa_photo_reviews FROM {}").format(ident))
    monkeypatch.setenv("WA_MONITOR_WEB_SECRET", SECRET)
    capsys.readouterr()
    assert envs.wa("doctor", "--env", "prod", "--web", url=url) == 1
    out = capsys.readouterr().out
    assert "lacks UPDATE (comment) on public.qa_photo_reviews" in out
    assert "may also UPDATE (role) on public.wa_monitor_users" in out
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    capsys.readouterr()
    envs.wa("doctor", "--env", "prod", "--web", url=url)
    assert f"PASS  role privileges: role {role}" in capsys.readouterr().out


def test_the_web_role_corrects_a_drop_and_logs_out_only_through_its_functions(
    envs: Envs, roles: Roles, db: psycopg.Connection[Any], database_url: str
) -> None:
    add_user(database_url, "public", "ayanda")
    [review] = seed(db, "public", [Row("DR8000001", sast(11, 10), project="Lawley")])
    role, url = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    settings = load_settings(envs.folder / "prod.toml")
    with dashboard(settings, url) as dash:
        assert dash.login("ayanda").status_code == 303
        page = f"/wa-monitor/reviews/{review}"
        form = {"csrf": dash.csrf(), "version": "1", "drop_number": "DR8000002"}
        done = dash.client.post(
            f"{page}/drop", data=form | {"drop_reason": "typo"}, follow_redirects=False
        )
        assert done.status_code == 303
        assert dash.json(page)["drop_number"] == "DR8000002"
        out = dash.client.post("/wa-monitor/logout", data={"csrf": dash.csrf()})
        assert out.status_code == 200  # the login page, after the redirect
    trail = db.execute(
        "SELECT changed_by, changes FROM public.wa_monitor_review_changes WHERE review_id = %s",
        (review,),
    ).fetchall()
    assert trail == [
        ("ayanda", {"drop_number": {"from": "DR8000001", "to": "DR8000002"}, "reason": "typo"})
    ]
    epoch = db.execute("SELECT session_epoch FROM public.wa_monitor_users").fetchone()
    assert epoch == (1,)
    # Not the monitor's role, nor PUBLIC.
    monitor, monitor_url = roles.make("monitor")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", monitor) == 0
    with psycopg.connect(monitor_url, autocommit=True) as other:
        for statement in (
            "SELECT public.wa_monitor_logged_out(1, 0)",
            f"SELECT * FROM public.wa_monitor_correct_drop('{review}', 2, 'DR8000003', 'x', "
            "'x', false)",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                other.execute(statement)


def test_an_upgrade_lets_an_existing_web_role_record_the_bridge_a_send_went_through(
    envs: Envs, roles: Roles, db: psycopg.Connection[Any]
) -> None:
    """A dashboard role granted before version 27 gets the one new column it writes (the
    bridge a feedback send went through) from the migration, without a new `schema grant`."""
    role, _ = roles.make("web")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", role, "--service", "web") == 0
    db.execute(
        sql.SQL("REVOKE UPDATE (bridge) ON public.wa_monitor_feedback_sends FROM {}").format(
            sql.Identifier(role)
        )
    )
    db.execute("DELETE FROM public.wa_monitor_migrations WHERE version = 27")  # as at 26

    def may_record() -> bool:
        row = db.execute(
            "SELECT has_column_privilege(%s, 'public.wa_monitor_feedback_sends', 'bridge', "
            "'UPDATE')",
            (role,),
        ).fetchone()
        return bool(row and row[0])

    assert not may_record()
    assert envs.wa("schema", "migrate", "--env", "prod") == 0
    assert may_record()
