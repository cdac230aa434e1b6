"""Isolation enforced by the database: two real roles, each granted by `schema grant`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.support.env import VELO, sast
from tests.support.ops import Envs, Roles, drops, make_envs, row_versions
from wa_monitor.adapters.postgres.db import Database, migrations
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture
def granted(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, roles: Roles
) -> tuple[Envs, dict[str, str]]:
    """Both environments migrated by the owner; a role per service, granted by wa-monitor."""
    envs = make_envs(tmp_path / "config", bridge, database_url)
    # Prod watches Lawley; here dev watches only the test group.
    envs.configure("dev", groups={VELO: "Velo Test"})
    # Production's alerts are on and must go somewhere (doctor checks it; nothing is sent here).
    envs.configure("prod", extra='[alerts]\nemail_to = ["ops@example.com"]')
    urls = {}
    for env in ("prod", "dev"):
        role, urls[env] = roles.make(env)
        assert envs.wa("schema", "grant", "--env", env, "--role", role) == 0
    return envs, urls


def denied(url: str, statement: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except pg_errors.InsufficientPrivilege:
            return True
    return False


DEV_DENIED = [
    "SELECT count(*) FROM public.qa_photo_reviews",
    "INSERT INTO public.qa_photo_reviews (drop_number, review_date) VALUES ('DR1', now())",
    "UPDATE public.qa_photo_reviews SET completed = true",
    "DELETE FROM public.qa_photo_reviews",
    "TRUNCATE public.qa_photo_reviews",
    "SELECT count(*) FROM public.wa_monitor_ledger",
    "CREATE TABLE public.dev_was_here (x int)",
    "CREATE TABLE dev.extra (x int)",
    "CREATE SCHEMA dev_was_here",
    "DROP TABLE dev.qa_photo_reviews",
    # Production's instance election: holding its row would make production stand by.
    "SELECT * FROM public.wa_monitor_instance FOR UPDATE NOWAIT",
    "BEGIN; LOCK TABLE public.wa_monitor_instance; COMMIT",
]
PROD_DENIED = [
    "SELECT count(*) FROM dev.qa_photo_reviews",
    "DELETE FROM public.qa_photo_reviews",
    "TRUNCATE public.qa_photo_reviews",
    "CREATE TABLE public.prod_was_here (x int)",
    "CREATE SCHEMA prod_was_here",
    "SELECT * FROM dev.wa_monitor_instance FOR UPDATE NOWAIT",
]


def test_each_role_is_denied_everything_its_service_does_not_need(
    granted: tuple[Envs, dict[str, str]],
) -> None:
    _, urls = granted
    for env, statements in (("dev", DEV_DENIED), ("prod", PROD_DENIED)):
        allowed = [s for s in statements if not denied(urls[env], s)]
        assert allowed == [], f"the {env} role may: {allowed}"


def test_each_service_on_its_own_role_writes_only_its_own_schema(
    granted: tuple[Envs, dict[str, str]],
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs, urls = granted
    envs.say("A1", "DR1111111", sast(11, 9))
    envs.say("V1", "DR9999999 test", sast(11, 9), chat=VELO)
    envs.say("A2", "DR1111111 fixed", sast(11, 10))  # a resubmission: UPDATE and FOR UPDATE
    assert envs.run("prod", url=urls["prod"]) == 0
    assert envs.run("dev", url=urls["dev"]) == 0
    assert drops(db, "public") == ["DR1111111"]
    assert drops(db, "dev") == ["DR9999999"]
    # A service may run `schema migrate` (e.g. before it starts) once the owner has migrated.
    for env in ("prod", "dev"):
        assert envs.wa("schema", "migrate", "--env", env, url=urls[env]) == 0
    # Both ran with least privilege, and both pass doctor's exactly-these-privileges check.
    for env in ("prod", "dev"):
        capsys.readouterr()
        assert envs.wa("doctor", "--env", env, url=urls[env]) == 0, capsys.readouterr().out
    # Status with one URL per environment, as ops run it.
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL_PROD", urls["prod"])
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL_DEV", urls["dev"])
    assert envs.wa("status", url="postgresql://nobody@127.0.0.1:1/none") == 0
    # Dev's own URL can reset dev, and still cannot touch production.
    before = row_versions(db, "public")
    assert envs.wa("schema", "reset", "--env", "dev", "--yes", url=urls["dev"]) == 0
    assert drops(db, "dev") == []
    assert row_versions(db, "public") == before


def test_a_service_role_with_too_much_or_too_little_fails_doctor(
    granted: tuple[Envs, dict[str, str]],
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs, urls = granted
    role = sql.Identifier(str(conninfo_to_dict(urls["dev"])["user"]))
    db.execute(sql.SQL("GRANT SELECT ON public.qa_photo_reviews TO {}").format(role))
    db.execute(sql.SQL("GRANT DELETE ON dev.qa_photo_reviews TO {}").format(role))
    db.execute(sql.SQL("REVOKE UPDATE ON dev.wa_monitor_cursor FROM {}").format(role))
    capsys.readouterr()
    assert envs.wa("doctor", "--env", "dev", url=urls["dev"]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("FAIL  role privileges"))
    assert "lacks UPDATE on dev.wa_monitor_cursor" in line
    assert "DELETE on dev.qa_photo_reviews" in line
    assert "SELECT on public.qa_photo_reviews" in line
    name = role.as_string(None)[1:-1]
    assert f"wa-monitor schema grant --env dev --role {name}" in out
    assert f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {name}" in out
    # Rights in production's schema make it look like prod's role: grant alone refuses.
    assert envs.wa("schema", "grant", "--env", "dev", "--role", name) == 2
    # The fixes it names put things right.
    db.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role))
    assert envs.wa("schema", "grant", "--env", "dev", "--role", name) == 0
    capsys.readouterr()
    assert envs.wa("doctor", "--env", "dev", url=urls["dev"]) == 0, capsys.readouterr().out


def test_a_prod_role_that_can_reach_dev_fails_doctor_with_the_revoke(
    granted: tuple[Envs, dict[str, str]],
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs, urls = granted
    name = str(conninfo_to_dict(urls["prod"])["user"])
    db.execute(sql.SQL("GRANT USAGE ON SCHEMA dev TO {}").format(sql.Identifier(name)))
    db.execute(sql.SQL("GRANT SELECT ON dev.qa_photo_reviews TO {}").format(sql.Identifier(name)))
    capsys.readouterr()
    assert envs.wa("doctor", "--env", "prod", url=urls["prod"]) == 1
    out = capsys.readouterr().out
    assert "may also SELECT on dev.qa_photo_reviews" in out
    assert "USAGE on schema dev" in out
    assert f"REVOKE ALL ON ALL TABLES IN SCHEMA dev FROM {name}" in out
    assert f"REVOKE USAGE ON SCHEMA dev FROM {name}" in out


def test_grant_refuses_roles_it_cannot_limit(
    granted: tuple[Envs, dict[str, str]], pg_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    envs, _ = granted
    owner = str(conninfo_to_dict(pg_server).get("user") or "postgres")
    assert envs.wa("schema", "grant", "--env", "dev", "--role", owner) == 2
    assert "is a superuser: grants cannot limit it" in capsys.readouterr().err


def test_grant_print_needs_no_database(
    tmp_path: Path,
    bridge: BridgeWriter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs = make_envs(tmp_path / "config", bridge, "unused")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert envs.wa("schema", "grant", "--env", "dev", "--role", "wa-dev", "--print", url="") == 0
    out = capsys.readouterr().out.splitlines()
    assert 'REVOKE ALL ON ALL TABLES IN SCHEMA "public" FROM "wa-dev";' in out
    assert 'GRANT SELECT, INSERT, UPDATE, TRUNCATE ON "dev"."qa_photo_reviews" TO "wa-dev";' in out
    assert not [line for line in out if line.startswith("GRANT") and '"public"' in line]
    assert envs.wa("schema", "grant", "--env", "prod", "--role", "wa-prod", "--print", url="") == 0
    out = capsys.readouterr().out.splitlines()
    assert 'GRANT SELECT, INSERT ON "public"."wa_monitor_ledger" TO "wa-prod";' in out
    assert not [line for line in out if "TRUNCATE" in line]


def test_an_upgrade_to_version_6_keeps_the_service_roles_working(
    granted: tuple[Envs, dict[str, str]],
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Roles granted before version 6 get its new tables' rights from the migration itself."""
    envs, urls = granted
    [six] = [m for m in migrations() if m.version == 6]
    for schema in ("public", "dev"):
        # As before the upgrade: the tables 0006 makes, and no right on them.
        db.execute(
            sql.SQL(
                "DROP TABLE {}.wa_monitor_instance, {}.wa_monitor_flawed_rows; "
                "ALTER TABLE {}.wa_monitor_cursor DROP COLUMN anchor_fingerprint"
            ).format(*[sql.Identifier(schema)] * 3)
        )
        with db.transaction():
            db.execute(Database("", schema, "dev").compose(six.text))
    envs.say("A1", "DR1111111", sast(11, 9))
    assert envs.run("prod", url=urls["prod"]) == 0
    assert drops(db, "public") == ["DR1111111"]
    for env in ("prod", "dev"):
        capsys.readouterr()
        assert envs.wa("doctor", "--env", env, url=urls[env]) == 0, capsys.readouterr().out
