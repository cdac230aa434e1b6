"""The tests' own factories: one writer of a test's config, and seeded data that the shipped
configs would not skip. A test that wrote its TOML by hand, or seeded an agent with a bot's
number, would test something other than what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import AGENT, LAWLEY, MOHADIN, VELO, sast, write_config
from tests.support.web import Row
from wa_monitor.settings import load_settings

TESTS = Path(__file__).parents[1]
SHIPPED = Path(__file__).parents[2] / "config"


def test_the_config_factory_writes_what_each_option_says(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "etc",
        "prod",
        bridge_db=tmp_path / "messages.db",
        groups={LAWLEY: "Lawley", MOHADIN: "Mohadin"},
        retired={VELO: "Old"},
        validate={"Lawley"},
        bots=("27000000001",),
        extra="batch_size = 7\npoll_interval_seconds = 3\n[web]\nsession_minutes = 30",
    )
    settings = load_settings(path)
    assert (settings.environment.value, settings.schema) == ("prod", "public")
    assert [(p.name, p.enabled, p.validates) for p in settings.projects] == [
        ("Lawley", True, True),
        ("Mohadin", True, False),
        ("Old", False, False),
    ]
    # A key of `extra` replaces the default one (TOML refuses a key set twice).
    assert (settings.batch_size, settings.poll_interval_seconds) == (7, 3)
    assert settings.bot_senders == frozenset({"27000000001"})


def test_dev_gets_its_own_schema_prefix_and_log(tmp_path: Path) -> None:
    settings = load_settings(
        write_config(tmp_path, "dev", bridge_db=tmp_path / "m.db", groups={VELO: "Velo Test"})
    )
    assert (settings.schema, settings.log_prefix) == ("dev", "[DEV]")
    assert settings.log_file == tmp_path / "logs" / "wa-monitor-dev.log"


def _hand_written_projects(path: Path) -> list[int]:
    """The lines holding a [[projects]] table in a string (as the source spells it)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [n for n, line in enumerate(lines, 1) if "[[projects]]\\n" in line]


@pytest.mark.parametrize("suite", ["integration", "faults"])
def test_integration_and_fault_tests_write_their_configs_through_the_factory(suite: str) -> None:
    """Only the settings' own unit tests write raw TOML (what they test is its parsing)."""
    by_hand = {
        str(path.relative_to(TESTS)): lines
        for path in sorted((TESTS / suite).glob("*.py"))
        if (lines := _hand_written_projects(path))
    }
    assert by_hand == {}


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_seeded_agents_are_never_a_bot_number_the_shipped_configs_skip(env: str) -> None:
    bots = load_settings(SHIPPED / f"{env}.toml").bot_senders
    assert Row("DR1234567", at=sast(11, 9)).phone not in bots
    assert AGENT not in bots
