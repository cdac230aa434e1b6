"""`doctor`'s database checks (services/doctor.examine) on FakeExamined: each check told apart
and run while it still can run, each failure with its own fix (migrate, drop and migrate in
dev, restore in prod, upgrade, grant, import a plan list), the service the role is audited for.
Reaching a real server, a login refused, a role without rights: tests/integration/test_doctor.py
and test_privileges.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import LAWLEY, MOHADIN, write_config
from tests.support.fakes import LATEST, FakeExamined
from wa_monitor.adapters.postgres.db import PrivilegeDenied, SchemaState
from wa_monitor.core.privileges import Audit, Service
from wa_monitor.services.doctor import Check, examine
from wa_monitor.settings import Settings, load_settings


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    """prod validating Lawley's drops against its plan list, and dev validating none."""
    folder: Path = tmp_path_factory.mktemp("doctor")
    groups = {LAWLEY: "Lawley", MOHADIN: "Mohadin"}
    made = {}
    for env, validate in (("prod", ["Lawley"]), ("dev", [])):
        config = write_config(
            folder / env,
            env,
            bridge_db=folder / "messages.db",
            groups=groups,
            validate=validate,
            bots=("27600000999",),
        )
        made[env] = load_settings(config, expect=env)
    return made


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_a_healthy_database_passes_every_check_and_says_what_it_found(
    configs: dict[str, Settings],
) -> None:
    found = FakeExamined(plans={"Lawley": 2300}, flawed=0)

    checks = examine(found, configs["prod"], Service.MONITOR)

    assert [(c.name, c.ok) for c in checks] == [
        ("database reachable", True),
        ("schema migrated", True),
        ("role privileges", True),
        ("plan lists", True),
        ("flawed bridge rows", True),
    ]
    shown = by_name(checks)
    assert shown["database reachable"].detail == "connected as wa_monitor to wa (PostgreSQL 15.8)"
    assert shown["schema migrated"].detail == f"schema 'public' at version {LATEST}, all tables"
    assert shown["role privileges"].detail == (
        "role wa_monitor holds exactly what wa-monitor-prod needs in 'public'"
    )
    assert shown["plan lists"].detail == "every validating project has a list (Lawley 2300 drops)"


def test_the_dashboards_role_is_audited_for_the_web_service(configs: dict[str, Settings]) -> None:
    found = FakeExamined()
    checks = by_name(examine(found, configs["dev"], Service.WEB))
    assert found.services == [Service.WEB]
    assert "wa-monitor-web-dev" in checks["role privileges"].detail
    assert "plan lists" not in checks  # dev validates no project


@pytest.mark.parametrize(
    ("env", "state", "detail", "fix"),
    [
        (
            "prod",
            SchemaState("public", None, LATEST),
            "schema 'public' or its tables do not exist",
            "as the database owner: wa-monitor schema migrate --env prod",
        ),
        (
            "prod",
            SchemaState("public", LATEST - 1, LATEST),
            f"schema 'public' is at version {LATEST - 1}, this wa-monitor needs {LATEST}",
            "as the database owner: wa-monitor schema migrate --env prod",
        ),
        (
            "prod",
            SchemaState("public", LATEST + 1, LATEST),
            f"schema 'public' is at version {LATEST + 1}, this wa-monitor needs {LATEST}",
            "upgrade wa-monitor",
        ),
        (  # production's data is not dropped: it is restored
            "prod",
            SchemaState("public", LATEST, LATEST, ("wa_monitor_outbox",)),
            f"schema 'public' is at version {LATEST} but lacks wa_monitor_outbox",
            "restore the missing tables from a backup",
        ),
        (
            "dev",
            SchemaState("dev", LATEST, LATEST, ("wa_monitor_outbox",)),
            f"schema 'dev' is at version {LATEST} but lacks wa_monitor_outbox",
            "as the database owner: wa-monitor schema drop --env dev, then schema migrate",
        ),
    ],
)
def test_a_schema_that_is_not_current_fails_with_its_own_fix_and_flawed_rows_are_not_asked(
    configs: dict[str, Settings], env: str, state: SchemaState, detail: str, fix: str
) -> None:
    checks = by_name(examine(FakeExamined(state=state), configs[env], Service.MONITOR))
    migrated = checks["schema migrated"]
    assert (migrated.ok, migrated.detail, migrated.fix) == (False, detail, fix)
    assert "flawed bridge rows" not in checks  # its table may not be there


def test_a_role_with_the_wrong_rights_fails_with_every_problem_and_fix(
    configs: dict[str, Settings],
) -> None:
    audited = Audit(
        "wa_monitor",
        ("may not INSERT on wa_monitor_outbox", "may also DELETE on qa_photo_reviews"),
        ("GRANT INSERT ON public.wa_monitor_outbox", "REVOKE DELETE ON public.qa_photo_reviews"),
        (),
    )
    found = FakeExamined(audited=audited, plans={"Lawley": 1})
    check = by_name(examine(found, configs["prod"], Service.MONITOR))["role privileges"]
    assert not check.ok
    assert (
        check.detail == "may not INSERT on wa_monitor_outbox; may also DELETE on qa_photo_reviews"
    )
    assert (
        check.fix
        == "GRANT INSERT ON public.wa_monitor_outbox; REVOKE DELETE ON public.qa_photo_reviews"
    )


def test_a_question_the_role_may_not_ask_fails_that_check_alone_with_the_grant(
    configs: dict[str, Settings],
) -> None:
    found = FakeExamined(
        plans={"Lawley": 1}, failing={"audit": PrivilegeDenied("permission denied for pg_roles")}
    )
    checks = examine(found, configs["prod"], Service.MONITOR)
    failed = [c for c in checks if not c.ok]
    assert [(c.name, c.detail, c.fix) for c in failed] == [
        (
            "role privileges",
            "cannot tell: permission denied for pg_roles",
            "as the database owner: wa-monitor schema grant --env prod --role ROLE",
        )
    ]
    assert len(checks) == 5  # the rest still ran


def test_a_validating_project_without_a_plan_list_fails_with_the_import_command(
    configs: dict[str, Settings],
) -> None:
    check = by_name(examine(FakeExamined(), configs["prod"], Service.MONITOR))["plan lists"]
    assert not check.ok
    assert check.detail.endswith("drops are not checked: Lawley")
    assert check.fix.startswith("wa-monitor drops import --env prod --project 'Lawley' PLAN.xlsx")


def test_flawed_rows_pass_and_say_where_to_look(configs: dict[str, Settings]) -> None:
    found = FakeExamined(plans={"Lawley": 1}, flawed=3)
    check = by_name(examine(found, configs["prod"], Service.MONITOR))["flawed bridge rows"]
    assert check.ok
    assert check.detail.startswith("3 bridge rows processed")
    assert check.detail.endswith("SELECT * FROM public.wa_monitor_flawed_rows")
