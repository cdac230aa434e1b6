"""Privilege tooling that cannot take prod down, and doctor that names the real cause."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.ops import Envs, Roles, doctor

INSERT_PROD = "INSERT INTO public.wa_monitor_ledger VALUES ('c', 'm', 1, 'DR1', now(), now())"


pytestmark = pytest.mark.migrated("prod", "dev")


def may(url: str, statement: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


def user_of(url: str) -> str:
    return str(conninfo_to_dict(url)["user"])


def test_granting_prods_role_to_dev_is_refused_and_prod_keeps_its_rights(
    envs: Envs, roles: Roles, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_role, prod_url = roles.make("prod")
    assert envs.wa("schema", "grant", "--env", "prod", "--role", prod_role) == 0
    capsys.readouterr()
    # The one-word slip: dev instead of prod.
    assert envs.wa("schema", "grant", "--env", "dev", "--role", prod_role) == 2
    err = capsys.readouterr().err
    assert "holds privileges in schema public, another wa-monitor environment's" in err
    assert "--allow-other-env" in err
    assert may(prod_url, INSERT_PROD), "prod's role lost its rights in public"
    assert not may(prod_url, "SELECT 1 FROM dev.qa_photo_reviews")
    # Told explicitly, the role serves both, and prod still works.
    assert envs.wa("schema", "grant", "--env", "dev", "--role", prod_role, "--allow-other-env") == 0
    out = capsys.readouterr().out
    assert "as --allow-other-env allowed, privileges in schema public" in out
    assert may(prod_url, "SELECT 1 FROM dev.qa_photo_reviews")
    assert may(prod_url, "DELETE FROM public.wa_monitor_ledger WHERE false") is False
    assert may(prod_url, INSERT_PROD.replace("'m'", "'m2'"))


def test_granting_devs_role_to_prod_is_refused_too(
    envs: Envs, roles: Roles, capsys: pytest.CaptureFixture[str]
) -> None:
    dev_role, dev_url = roles.make("dev")
    assert envs.wa("schema", "grant", "--env", "dev", "--role", dev_role) == 0
    capsys.readouterr()
    assert envs.wa("schema", "grant", "--env", "prod", "--role", dev_role) == 2
    assert "holds privileges in schema dev" in capsys.readouterr().err
    assert may(dev_url, "TRUNCATE dev.wa_monitor_ledger")
    assert not may(dev_url, "SELECT 1 FROM public.qa_photo_reviews")


def test_the_role_another_environment_names_is_refused_before_it_holds_anything(
    envs: Envs, roles: Roles, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_role, _ = roles.make("prod")
    envs.configure("prod", extra=f'service_role = "{prod_role}"')
    assert envs.wa("schema", "grant", "--env", "dev", "--role", prod_role) == 2
    assert f"role '{prod_role}' is environment prod's service role" in capsys.readouterr().err


def test_grant_says_exactly_only_when_it_is_and_names_what_remains(
    envs: Envs, roles: Roles, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    role, _ = roles.make("dev")
    name = sql.Identifier(role)
    db.execute("CREATE SCHEMA reports; CREATE TABLE reports.totals (x int)")
    db.execute(sql.SQL("GRANT USAGE ON SCHEMA reports TO {}").format(name))
    db.execute(sql.SQL("GRANT SELECT ON reports.totals TO {}").format(name))
    db.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(name))
    capsys.readouterr()
    assert envs.wa("schema", "grant", "--env", "dev", "--role", role) == 1
    out = capsys.readouterr().out
    assert "holds exactly" not in out
    assert "SELECT on reports.totals" in out
    assert f"REVOKE ALL ON ALL TABLES IN SCHEMA reports FROM {role}" in out
    assert f"ALTER ROLE {role} NOCREATEDB NOCREATEROLE" in out
    db.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA reports FROM {}").format(name))
    db.execute(sql.SQL("REVOKE USAGE ON SCHEMA reports FROM {}").format(name))
    db.execute(sql.SQL("ALTER ROLE {} NOCREATEDB").format(name))
    assert envs.wa("schema", "grant", "--env", "dev", "--role", role) == 0
    assert "holds exactly what wa-monitor-dev needs in schema dev and nothing in another" in (
        capsys.readouterr().out
    )


def test_drop_and_copy_with_a_service_url_say_they_need_the_owner(
    envs: Envs, roles: Roles, capsys: pytest.CaptureFixture[str]
) -> None:
    role, url = roles.make("dev")
    assert envs.wa("schema", "grant", "--env", "dev", "--role", role) == 0
    capsys.readouterr()
    for args in (
        ["schema", "drop", "--env", "dev", "--yes"],
        ["schema", "copy-from-prod", "--since", "1d"],
    ):
        assert envs.wa(*args, url=url) == 2
        err = capsys.readouterr().err.strip()
        assert "needs the database owner's URL" in err, err
        assert "schema grant" not in err  # a grant cannot make a service role the owner
        assert "--print" not in err
        assert "\n" not in err


def test_doctor_tells_unreachable_login_privilege_and_schema_apart(
    envs: Envs, roles: Roles, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, checks = doctor(envs, capsys, url="postgresql://u:pw@127.0.0.1:1/wa")
    assert "unreachable" in checks["database reachable"]
    assert "listen_addresses" in checks["database reachable"]
    assert "pg_hba" not in checks["database reachable"]

    _, checks = doctor(envs, capsys, url=make_conninfo(database_url, user="nobody_at_all"))
    assert "refused the login" in checks["database reachable"]
    assert "password" in checks["database reachable"]
    assert "listen_addresses" not in checks["database reachable"]

    # drop + migrate without grant: reachable, and the other checks still run with their fix.
    role, url = roles.make("dev")
    assert envs.wa("schema", "grant", "--env", "dev", "--role", role) == 0
    assert envs.wa("schema", "drop", "--env", "dev", "--yes") == 0
    assert envs.wa("schema", "migrate", "--env", "dev") == 0
    code, checks = doctor(envs, capsys, url=url)
    assert code == 1
    assert checks["database reachable"].startswith("PASS")
    assert "permission denied for schema dev" in checks["schema migrated"]
    assert "pg_hba" not in checks["schema migrated"]
    assert "lacks USAGE on dev" in checks["role privileges"]
    assert f"wa-monitor schema grant --env dev --role {role}" in checks["role privileges"]

    # The schema gone altogether: migrate is the fix, and privileges are still checked.
    assert envs.wa("schema", "drop", "--env", "dev", "--yes") == 0
    _, checks = doctor(envs, capsys, url=url)
    assert checks["database reachable"].startswith("PASS")
    assert "do not exist" in checks["schema migrated"]
    assert "wa-monitor schema migrate --env dev" in checks["schema migrated"]
    assert "role privileges" in checks


def test_doctor_never_suggests_granting_a_superuser(
    envs: Envs, pg_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    superuser = str(conninfo_to_dict(pg_server).get("user") or "postgres")
    _, checks = doctor(envs, capsys, url=envs.url)
    assert "is a superuser" in checks["role privileges"]
    assert f"--role {superuser}" not in checks["role privileges"]
    assert "create a dedicated role for wa-monitor-dev" in checks["role privileges"]


@pytest.mark.parametrize(
    ("table", "version", "granted"),
    [
        # 0017: the skipped drop messages, which the drain records.
        ("wa_monitor_skipped", 17, ["INSERT", "SELECT", "TRUNCATE"]),
        # 0035: the photos no drop message claims yet; 0036: the drain lets them go.
        ("wa_monitor_photos_waiting", 35, ["DELETE", "INSERT", "SELECT", "TRUNCATE"]),
    ],
)
def test_upgrading_to_a_table_the_monitor_writes_grants_it_to_the_monitors_role(
    envs: Envs,
    roles: Roles,
    db: psycopg.Connection[Any],
    table: str,
    version: int,
    granted: list[str],
) -> None:
    """A migration that adds a table the monitor writes: the roles already granted for `run`
    get it with the upgrade, so the daemon never stalls on a table it may not write."""
    role, _ = roles.make("dev")
    assert envs.wa("schema", "grant", "--env", "dev", "--role", role) == 0
    # As before that version: no table, no privilege on it.
    db.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("dev", table)))
    db.execute("DELETE FROM dev.wa_monitor_migrations WHERE version >= %s", (version,))
    assert envs.wa("schema", "migrate", "--env", "dev") == 0
    held = db.execute(
        "SELECT privilege_type FROM information_schema.role_table_grants "
        "WHERE table_schema = 'dev' AND table_name = %s AND grantee = %s ORDER BY 1",
        (table, role),
    ).fetchall()
    assert [p for (p,) in held] == granted
