"""The privilege audit's rules: a service's role holds exactly what the service needs in its
environment's schema, nothing in another environment's, and every problem comes with the
command that fixes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pytest

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.privileges import Audit, Privilege, RoleGrants, Service, audit_role

SELECT, INSERT, UPDATE = Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE
DELETE = Privilege.DELETE
REVIEWS, LEDGER = "qa_photo_reviews", "wa_monitor_ledger"
NEEDED = {REVIEWS: frozenset({SELECT, INSERT, UPDATE}), LEDGER: frozenset({SELECT, INSERT})}
# Dev's handle, as the adapter passes it: the audit reads the environment and schema from it.
DEV = Database("postgresql://wa@db.invalid/qa", "dev", "dev")
GRANT = "as the database owner: wa-monitor schema grant --env dev --role wa_dev"

EXACT = RoleGrants(
    role="wa_dev",
    database="qa",
    tables=frozenset({("dev", t, p) for t, ps in NEEDED.items() for p in ps}),
    schemas=frozenset({("dev", "USAGE"), ("public", "USAGE")}),
    wa_monitor_schemas=frozenset({"dev", "public"}),
)


def holding(
    *,
    add: Iterable[tuple[str, str, Privilege]] = (),
    remove: Iterable[tuple[str, str, Privilege]] = (),
    schemas: Iterable[tuple[str, str]] | None = None,
    superuser: bool = False,
    owns_tables: bool = False,
    create_databases: bool = False,
    create_roles: bool = False,
    create_schemas: bool = False,
) -> RoleGrants:
    """EXACT with some table privileges added or removed, other schema privileges or flags."""
    return replace(
        EXACT,
        superuser=superuser,
        owns_tables=owns_tables,
        create_databases=create_databases,
        create_roles=create_roles,
        create_schemas=create_schemas,
        tables=(EXACT.tables | frozenset(add)) - frozenset(remove),
        schemas=EXACT.schemas if schemas is None else frozenset(schemas),
    )


@pytest.mark.parametrize(
    ("grants", "problems", "fixes"),
    [
        # exactly what it needs; USAGE on public comes from PUBLIC and opens nothing
        (EXACT, [], []),
        (holding(schemas={("dev", "USAGE")}), [], []),
        (
            holding(remove={("dev", REVIEWS, UPDATE)}),
            ["role wa_dev lacks UPDATE on dev.qa_photo_reviews"],
            [GRANT],
        ),
        # missing ones are grouped per table, tables and privileges in a stable order
        (
            holding(
                remove={("dev", LEDGER, INSERT), ("dev", LEDGER, SELECT), ("dev", REVIEWS, SELECT)}
            ),
            [
                "role wa_dev lacks SELECT on dev.qa_photo_reviews; "
                "INSERT, SELECT on dev.wa_monitor_ledger"
            ],
            [GRANT],
        ),
        (
            holding(schemas={("public", "USAGE")}),
            ["role wa_dev lacks USAGE on dev"],
            [GRANT],
        ),
        (
            holding(schemas={("public", "USAGE")}, remove={("dev", REVIEWS, UPDATE)}),
            ["role wa_dev lacks USAGE on dev; UPDATE on dev.qa_photo_reviews"],
            [GRANT],
        ),
        # more than it needs in its own schema: the grant command revokes first
        (
            holding(add={("dev", REVIEWS, DELETE)}),
            ["role wa_dev may also DELETE on dev.qa_photo_reviews"],
            [GRANT],
        ),
        # anything in production's schema (or any other) is revoked there
        (
            holding(add={("public", REVIEWS, SELECT), ("public", REVIEWS, UPDATE)}),
            ["role wa_dev may also SELECT, UPDATE on public.qa_photo_reviews"],
            ["REVOKE ALL ON ALL TABLES IN SCHEMA public FROM wa_dev"],
        ),
        (
            holding(add={("dev", REVIEWS, DELETE), ("other_app", "orders", SELECT)}),
            ["role wa_dev may also DELETE on dev.qa_photo_reviews; SELECT on other_app.orders"],
            ["REVOKE ALL ON ALL TABLES IN SCHEMA other_app FROM wa_dev", GRANT],
        ),
        (
            holding(schemas={("dev", "USAGE"), ("dev", "CREATE"), ("public", "CREATE")}),
            ["role wa_dev may also CREATE on schema dev, CREATE on schema public"],
            [
                "REVOKE CREATE ON SCHEMA dev FROM wa_dev (and FROM PUBLIC)",
                "REVOKE CREATE ON SCHEMA public FROM wa_dev (and FROM PUBLIC)",
            ],
        ),
        (
            holding(create_schemas=True),
            ["role wa_dev may create schemas in database qa"],
            ["REVOKE CREATE ON DATABASE qa FROM wa_dev (and FROM PUBLIC)"],
        ),
        (
            holding(create_roles=True),
            ["role wa_dev may create databases or roles"],
            ["ALTER ROLE wa_dev NOCREATEDB NOCREATEROLE"],
        ),
        (
            holding(create_databases=True, create_roles=True),
            ["role wa_dev may create databases or roles"],
            ["ALTER ROLE wa_dev NOCREATEDB NOCREATEROLE"],
        ),
        # every problem at once, each fix once, in the order of the problems
        (
            holding(
                remove={("dev", LEDGER, INSERT)},
                add={("dev", LEDGER, DELETE)},
                create_schemas=True,
            ),
            [
                "role wa_dev lacks INSERT on dev.wa_monitor_ledger",
                "role wa_dev may also DELETE on dev.wa_monitor_ledger",
                "role wa_dev may create schemas in database qa",
            ],
            [GRANT, "REVOKE CREATE ON DATABASE qa FROM wa_dev (and FROM PUBLIC)"],
        ),
    ],
)
def test_the_audit_names_what_is_missing_and_extra_and_how_to_fix_it(
    grants: RoleGrants, problems: list[str], fixes: list[str]
) -> None:
    audit = audit_role(grants, NEEDED, DEV)
    assert (list(audit.problems), list(audit.fixes)) == (problems, fixes)
    assert audit.ok is (not problems)
    assert audit.role == "wa_dev"


PROD_TOO = holding(
    add={("public", REVIEWS, SELECT)}, schemas={("dev", "USAGE"), ("public", "USAGE")}
)


@pytest.mark.parametrize(
    ("allow_other_env", "ok"),
    [(False, False), (True, True)],
)
def test_a_role_that_serves_another_environment_is_found_and_excused_only_when_allowed(
    *, allow_other_env: bool, ok: bool
) -> None:
    audit = audit_role(PROD_TOO, NEEDED, DEV, allow_other_env=allow_other_env)
    assert audit.other_envs == ("public",)
    assert audit.ok is ok


def test_privileges_in_a_schema_that_is_no_environment_s_are_never_excused() -> None:
    grants = holding(add={("other_app", "orders", SELECT)})
    audit = audit_role(grants, NEEDED, DEV, allow_other_env=True)
    assert audit.other_envs == ()
    assert audit.problems == ("role wa_dev may also SELECT on other_app.orders",)


@pytest.mark.parametrize(
    ("service", "fix"),
    [
        (Service.MONITOR, GRANT),
        (Service.WEB, f"{GRANT} --service web"),
        (Service.SYNC, f"{GRANT} --service sync"),
    ],
)
def test_the_grant_fix_names_the_service(service: Service, fix: str) -> None:
    grants = holding(remove={("dev", REVIEWS, UPDATE)})
    assert audit_role(grants, NEEDED, DEV, service=service).fixes == (fix,)


@pytest.mark.parametrize(
    ("grants", "problem"),
    [
        (
            holding(superuser=True),
            "role wa_dev is a superuser: it can read and write every schema, and grants cannot "
            "limit it",
        ),
        (
            holding(owns_tables=True),
            "role wa_dev is the owner of schema 'dev''s tables: it can do anything to them, and "
            "grants cannot limit it",
        ),
    ],
)
def test_a_role_grants_cannot_limit_is_told_to_make_a_dedicated_one(
    grants: RoleGrants, problem: str
) -> None:
    audit = audit_role(grants, NEEDED, DEV)
    assert grants.limitless
    assert audit.problems == (problem,)
    assert audit.fixes == (
        "create a dedicated role for wa-monitor-dev (CREATE ROLE wa_monitor_dev LOGIN PASSWORD "
        "'…'), then as the database owner: wa-monitor schema grant --env dev --role "
        "wa_monitor_dev (docs/DEPLOYMENT.md, Roles and URLs)",
    )


def test_a_role_that_does_not_exist() -> None:
    assert Audit.no_such_role("wa_dev") == Audit("wa_dev", ("role wa_dev does not exist",), (), ())
    assert not Audit.no_such_role(None).ok


# The dashboard's shape: SELECT on the users table-wide, UPDATE on some review columns only,
# and a login through one function.
USERS = "wa_monitor_users"
WEB_TABLES = {REVIEWS: frozenset({SELECT}), USERS: frozenset({SELECT})}
WEB_COLUMNS = {REVIEWS: {UPDATE: frozenset({"comment", "version"})}}
WEB_FUNCTIONS = frozenset({"wa_monitor_logged_in"})
WEB_GRANT = GRANT + " --service web"
WEB_EXACT = replace(
    EXACT,
    tables=frozenset({("dev", t, p) for t, ps in WEB_TABLES.items() for p in ps}),
    columns=frozenset({("dev", REVIEWS, "comment", UPDATE), ("dev", REVIEWS, "version", UPDATE)}),
    functions=frozenset({("dev", "wa_monitor_logged_in")}),
)


@pytest.mark.parametrize(
    ("grants", "problems", "fixes"),
    [
        (WEB_EXACT, [], []),
        (  # a column missing
            replace(WEB_EXACT, columns=WEB_EXACT.columns - {("dev", REVIEWS, "comment", UPDATE)}),
            ["role wa_dev lacks UPDATE (comment) on dev.qa_photo_reviews"],
            [WEB_GRANT],
        ),
        (  # a column too many: the users' role
            replace(WEB_EXACT, columns=WEB_EXACT.columns | {("dev", USERS, "role", UPDATE)}),
            ["role wa_dev may also UPDATE (role) on dev.wa_monitor_users"],
            [WEB_GRANT],
        ),
        (  # UPDATE on the whole table: extra, and its columns are not also "missing"
            replace(WEB_EXACT, tables=WEB_EXACT.tables | {("dev", USERS, UPDATE)}),
            ["role wa_dev may also UPDATE on dev.wa_monitor_users"],
            [WEB_GRANT],
        ),
        (  # the function missing
            replace(WEB_EXACT, functions=frozenset()),
            ["role wa_dev lacks EXECUTE on dev.wa_monitor_logged_in"],
            [WEB_GRANT],
        ),
        (  # the other environment's function
            replace(
                WEB_EXACT,
                functions=WEB_EXACT.functions | {("public", "wa_monitor_logged_in")},
            ),
            ["role wa_dev may also EXECUTE on public.wa_monitor_logged_in"],
            ["REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM wa_dev"],
        ),
    ],
)
def test_column_and_function_grants_are_audited_exactly(
    grants: RoleGrants, problems: list[str], fixes: list[str]
) -> None:
    found = audit_role(
        grants,
        WEB_TABLES,
        DEV,
        service=Service.WEB,
        needed_columns=WEB_COLUMNS,
        needed_functions=WEB_FUNCTIONS,
    )
    assert (list(found.problems), list(found.fixes)) == (problems, fixes)
