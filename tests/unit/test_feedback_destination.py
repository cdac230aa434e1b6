"""Where a review's feedback goes: prod to the project's own group, dev only to its test group,
and a clear refusal otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from wa_monitor.core.isolation import Production
from wa_monitor.errors import ConfigError
from wa_monitor.services.feedback import destination
from wa_monitor.settings import Settings

LAWLEY, VELO = "120363418298130331@g.us", "120363421664266245@g.us"
PROJECTS = [{"name": "Lawley", "group_jid": LAWLEY}, {"name": "Velo Test", "group_jid": VELO}]
# What production's config names: Lawley, and the test group's neighbour it retired.
PRODUCTION = Production(names=frozenset({LAWLEY}), source="/etc/wa-monitor/prod.toml")


def settings(env: str, production: Production = PRODUCTION, **web: Any) -> Settings:
    schema = "public" if env == "prod" else "dev"
    prefix = "" if env == "prod" else "[DEV]"
    loaded = Settings(
        environment=env,
        schema=schema,
        log_prefix=prefix,
        bridge_db="/tmp/messages.db",
        projects=PROJECTS,
        web=web,
    )
    return loaded.beside(production) if env == "dev" else loaded


def test_prod_sends_to_the_projects_own_group() -> None:
    where = destination(settings("prod"), "Lawley")
    assert (where.group_jid, where.group_name, where.redirected, where.refusal) == (
        LAWLEY,
        "Lawley",
        False,
        None,
    )


def test_prod_refuses_a_project_without_a_group() -> None:
    assert destination(settings("prod"), "Mamelodi").refusal == (
        "Project Mamelodi has no WhatsApp group in this environment's config: feedback cannot "
        "be sent."
    )


def test_dev_sends_every_projects_feedback_to_its_test_group() -> None:
    where = destination(settings("dev", feedback_group=VELO), "Lawley")
    assert (where.group_jid, where.group_name, where.redirected) == (VELO, "Velo Test", True)
    assert destination(settings("dev", feedback_group=VELO), "Velo Test").redirected is False


@pytest.mark.parametrize(
    ("production", "reason"),
    [
        # Production lists the group too (enabled or not): never dev's to post in.
        (Production(names=frozenset({LAWLEY, VELO}), source="prod.toml"), "names group"),
        # Production's config unknown: dev posts nowhere.
        (Production.unknown("prod.toml: no such config file"), "no such config file"),
    ],
)
def test_dev_feedback_to_a_group_production_names_or_might_name_is_refused(
    production: Production, reason: str
) -> None:
    refusal = destination(settings("dev", production, feedback_group=VELO), "Lawley").refusal
    assert refusal is not None
    assert "Dev never posts where production lives" in refusal
    assert reason in refusal


def test_dev_without_a_test_group_and_sending_off_are_refused() -> None:
    assert "only to its test group" in str(destination(settings("dev"), "Velo Test").refusal)
    off = destination(settings("prod", send_feedback=False), "Lawley")
    assert (
        off.refusal == "Sending feedback is turned off in this environment ([web] send_feedback)."
    )


@pytest.mark.parametrize(
    ("env", "group", "message"),
    [
        ("prod", LAWLEY, "feedback_group is for dev"),
        ("dev", "120363400000000000@g.us", "must be one of this environment's"),
    ],
)
def test_a_feedback_group_prod_may_not_have_or_dev_does_not_list_is_refused(
    env: str, group: str, message: str
) -> None:
    with pytest.raises((ValueError, ConfigError), match=message):
        settings(env, feedback_group=group)
