"""Where an environment may post (core.isolation), table-driven; and the settings that feed it:
production's config is the one beside dev's file (or on --env's search path), the shipped
configs keep the test group dev's alone, duplicate project names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from wa_monitor.core.isolation import Production, may_post, reply_groups
from wa_monitor.errors import ConfigError
from wa_monitor.settings import load_environment, load_settings

LAWLEY, MOHADIN = "120363418298130331@g.us", "120363421532174586@g.us"
VELO, RETIRED = "120363421664266245@g.us", "120363400000000009@g.us"
OPS_PHONE = "27821110000"
KNOWN = Production(names=frozenset({LAWLEY, MOHADIN, RETIRED, OPS_PHONE}), source="prod.toml")
UNKNOWN = Production.unknown("prod.toml: no such config file")
CONFIG = Path(__file__).parents[2] / "config"


@pytest.mark.parametrize(
    ("recipient", "is_production", "production", "allowed"),
    [
        (LAWLEY, True, None, True),  # production posts in its own groups
        (LAWLEY, True, UNKNOWN, True),
        (VELO, False, KNOWN, True),  # dev's own test group, named nowhere by production
        (LAWLEY, False, KNOWN, False),  # an enabled production project
        (RETIRED, False, KNOWN, False),  # a production project listed with enabled = false
        (OPS_PHONE, False, KNOWN, False),  # production's alert recipient
        (f"{OPS_PHONE}@s.whatsapp.net", False, KNOWN, False),  # the same person as a JID
        (f"+{OPS_PHONE}", False, KNOWN, False),  # … or with a plus
        (VELO, False, UNKNOWN, False),  # production's config unknown: nowhere
        (VELO, False, None, False),  # never read: nowhere
        ("", False, KNOWN, False),  # no recipient at all
    ],
)
def test_may_post(
    recipient: str, is_production: bool, production: Production | None, allowed: bool
) -> None:
    assert may_post(recipient, is_production=is_production, production=production) is allowed


@pytest.mark.parametrize(
    ("replying", "is_production", "production", "groups"),
    [
        (False, True, None, set()),  # replies off: none
        (True, True, None, {LAWLEY, VELO}),  # prod: its own enabled groups
        (True, False, KNOWN, {VELO}),  # dev: less every group production names
        (True, False, UNKNOWN, set()),  # dev without production's config: none
        (False, False, KNOWN, set()),
    ],
)
def test_reply_groups(
    replying: bool, is_production: bool, production: Production | None, groups: set[str]
) -> None:
    own = [LAWLEY, VELO]
    found = reply_groups(own, replying=replying, is_production=is_production, production=production)
    assert found == groups


DEV = f"""
environment = "dev"
schema = "dev"
log_prefix = "[DEV]"
bridge_db = "/var/lib/bridge/messages.db"
bot_senders = ["27640412391"]
replies = true
[[projects]]
name = "Velo Test"
group_jid = "{VELO}"
[[projects]]
name = "Lawley"
group_jid = "{LAWLEY}"
[[projects]]
name = "Retired"
group_jid = "{RETIRED}"
[web]
feedback_group = "{{feedback}}"
"""

PROD = f"""
environment = "prod"
schema = "public"
bridge_db = "/var/lib/bridge/messages.db"
bot_senders = ["27640412391"]
[[projects]]
name = "Lawley"
group_jid = "{LAWLEY}"
{{extra}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_dev_never_replies_or_sends_feedback_in_a_group_production_lists_disabled(
    tmp_path: Path,
) -> None:
    retired = f'[[projects]]\nname = "Retired"\ngroup_jid = "{RETIRED}"\nenabled = false'
    write(tmp_path, "prod.toml", PROD.format(extra=retired))
    dev = load_settings(write(tmp_path, "dev.toml", DEV.format(feedback=RETIRED)))
    assert dev.reply_groups == {VELO}  # not Lawley (enabled there), not Retired (disabled there)
    assert not dev.may_post(RETIRED)
    assert dev.may_post(VELO)


def test_production_is_the_config_beside_devs_file_not_the_current_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An older prod.toml in ./config of the current folder does not list Lawley …
    write(tmp_path / "cwd" / "config", "prod.toml", PROD.replace(LAWLEY, MOHADIN).format(extra=""))
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.delenv("WA_MONITOR_CONFIG_DIR", raising=False)
    # … the one beside dev's file does.
    folder = tmp_path / "etc"
    write(folder, "prod.toml", PROD.format(extra=""))
    dev = load_settings(write(folder, "dev.toml", DEV.format(feedback=VELO)))
    assert dev.production is not None
    assert dev.production.source == str(folder / "prod.toml")
    assert LAWLEY not in dev.reply_groups
    assert dev.reply_groups == {VELO, RETIRED}


def test_dev_without_productions_config_posts_nowhere(tmp_path: Path) -> None:
    dev = load_settings(write(tmp_path, "dev.toml", DEV.format(feedback=VELO)))
    assert dev.reply_groups == frozenset()
    assert not dev.may_post(VELO)
    assert dev.production is not None
    assert "no such config file" in dev.production.source


def test_a_dev_file_as_productions_config_is_not_trusted(tmp_path: Path) -> None:
    dev_text = DEV.format(feedback=VELO)
    write(tmp_path, "prod.toml", dev_text)
    dev = load_settings(write(tmp_path, "dev.toml", dev_text))
    assert dev.reply_groups == frozenset()
    assert dev.production is not None
    assert "not 'prod'" in dev.production.source


def test_env_finds_production_on_its_search_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "prod.toml", PROD.format(extra=""))
    write(tmp_path, "dev.toml", DEV.format(feedback=VELO))
    monkeypatch.setenv("WA_MONITOR_CONFIG_DIR", str(tmp_path))
    dev = load_environment("dev")
    assert dev.reply_groups == {VELO, RETIRED}


def test_productions_own_variables_do_not_blind_dev(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production's file is read as written: dev's WA_MONITOR_* variables are not applied to it
    (dev's WA_MONITOR_SCHEMA=dev would otherwise make production's config 'unreadable')."""
    write(tmp_path, "prod.toml", PROD.format(extra=""))
    monkeypatch.setenv("WA_MONITOR_SCHEMA", "dev")
    dev = load_settings(write(tmp_path, "dev.toml", DEV.format(feedback=VELO)))
    assert dev.reply_groups == {VELO, RETIRED}


def test_the_shipped_prod_config_never_names_the_test_group() -> None:
    """The test group belongs to dev alone: the shipped dev config posts only there."""
    prod_text = (CONFIG / "prod.toml").read_text(encoding="utf-8")
    assert VELO not in prod_text
    dev = load_settings(CONFIG / "dev.toml")
    assert dev.production is not None
    assert dev.production.source == str(CONFIG / "prod.toml")
    assert dev.web.feedback_group == VELO
    assert dev.may_post(VELO)
    assert [g for g in (p.group_jid for p in dev.projects) if dev.may_post(g)] == [VELO]


def test_two_projects_of_one_name_are_refused(tmp_path: Path) -> None:
    twice = PROD.format(extra=f'[[projects]]\nname = "Lawley"\ngroup_jid = "{MOHADIN}"')
    with pytest.raises(ConfigError, match="project name 'Lawley' listed more than once") as caught:
        load_settings(write(tmp_path, "prod.toml", twice))
    assert "\n" not in str(caught.value)
