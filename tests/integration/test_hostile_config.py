"""Hostile configuration and text: values that would fake log lines, bounds that never end, an
environment's identity taken from variables, a log file that is a file the monitor reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import AGENT, LAWLEY, VELO, write_config
from tests.support.runs import reviews, run_once, say
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, create_lid_map


@pytest.mark.migrated("dev")
def test_control_characters_in_logged_values_cannot_fake_a_line(
    bridge: BridgeWriter,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, "dev", bridge_db=bridge.path, groups={VELO: "Velo Test"})
    fake = "\r[DEV] ✅ Created QA review for DR9999999"
    say(bridge, "A1", "DR1000001", "2025-11-11 09:00:00+02:00", chat=VELO, sender=f"27{fake}")
    say(bridge, "A2", "DR1000002", "2025-11-11 09:00:00+02:00", chat=VELO, sender="\x1b[2J\n27")
    say(bridge, "A3", "DR1000003", "2025-11-11 09:00:00+02:00", chat=VELO, sender="\u202e27")
    say(bridge, "A\r4", "DR1000004", "2025-11-11 09:00:00+02:00", chat=VELO)
    assert run_once(config, database_url, monkeypatch) == 0
    assert sorted(reviews(db, "dev")) == ["DR1000001", "DR1000002", "DR1000003", "DR1000004"]
    text = (tmp_path / "logs" / "wa-monitor-dev.log").read_text("utf-8")
    assert not any(c in text for c in "\r\x1b\u202e")
    lines = text.split("\n")[:-1]
    assert all(line.startswith("[DEV] 20") for line in lines), lines
    assert sum("✅ Created" in line for line in lines) == 4  # the fake is inside a line
    assert 'by="27\\r[DEV]✅CreatedQAreviewforDR9999999"' in text  # inside its value
    assert "msg=text:410d34" in text  # an id with a control character, as its bytes
    assert "\\x1b[2J\\n27" in text


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "soon"])
def test_give_up_after_must_be_a_finite_number_of_seconds(
    bridge: BridgeWriter, tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    with pytest.raises(SystemExit) as stop:
        main(["run", "--config", str(config), "--once", f"--give-up-after={value}"])
    assert stop.value.code == 2
    assert "must be a number of seconds > 0" in capsys.readouterr().err


@pytest.mark.migrated("prod")
def test_an_empty_log_file_variable_means_no_log_file(
    bridge: BridgeWriter,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    say(bridge, "A1", "DR1000001", "2025-11-11 09:00:00+02:00")
    monkeypatch.setenv("WA_MONITOR_LOG_FILE", "")
    monkeypatch.chdir(tmp_path)
    assert run_once(config, database_url, monkeypatch) == 0
    assert "✅ Created QA review for DR1000001" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()
    assert list(reviews(db)) == ["DR1000001"]


@pytest.mark.migrated("prod")
@pytest.mark.parametrize(
    "variables",
    [
        {"WA_MONITOR_ENVIRONMENT": "prod", "WA_MONITOR_SCHEMA": "public"},
        {"WA_MONITOR_SCHEMA": "other"},
        {"wa_monitor_schema": "other"},  # pydantic reads any case
        {"WA_MONITOR_LOG_PREFIX": ""},
    ],
)
def test_an_environments_identity_comes_from_its_file_only(
    bridge: BridgeWriter,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
) -> None:
    """`run --config dev.toml` with WA_MONITOR_ENVIRONMENT=prod WA_MONITOR_SCHEMA=public wrote
    dev's test-group drops into production's table."""
    config = write_config(tmp_path, "dev", bridge_db=bridge.path, groups={VELO: "Velo Test"})
    say(bridge, "A1", "DR1000001", "2025-11-11 09:00:00+02:00", chat=VELO)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert run_once(config, database_url, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "come from the environment's file only" in err
    assert len(err.splitlines()) == 1
    assert reviews(db) == {}
    # The same value as the file is no override.
    for name in variables:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WA_MONITOR_SCHEMA", "dev")
    assert main(["schema", "migrate", "--config", str(config)]) == 0


def _aliases(tmp_path: Path, bridge: Path, lid_map: Path) -> dict[str, Path]:
    hard = tmp_path / "hard-link.log"
    os.link(bridge, hard)
    soft = tmp_path / "soft-link.log"
    soft.symlink_to(lid_map)
    other_db = tmp_path / "other.db"
    create_lid_map(other_db, {})
    return {
        "the bridge": bridge,
        "the bridge, by another path": tmp_path / "." / bridge.name,
        "a hard link to the bridge": hard,
        "the LID map": lid_map,
        "a symbolic link to the LID map": soft,
        "another SQLite file": other_db,
        "a folder": tmp_path,
        "the bridge's rollback journal": bridge.with_name(bridge.name + "-journal"),
        "its own config file": tmp_path / "prod.toml",
    }


@pytest.mark.parametrize(
    "which",
    [
        "the bridge",
        "the bridge, by another path",
        "a hard link to the bridge",
        "the LID map",
        "a symbolic link to the LID map",
        "another SQLite file",
        "a folder",
        "the bridge's rollback journal",
        "its own config file",
    ],
)
def test_the_log_file_is_never_a_file_the_monitor_reads(
    bridge: BridgeWriter,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    which: str,
) -> None:
    lid_map = tmp_path / "whatsapp.db"
    create_lid_map(lid_map, {"1": AGENT})
    log = _aliases(tmp_path, bridge.path, lid_map)[which]
    config = write_config(
        tmp_path,
        "prod",
        bridge_db=bridge.path,
        lid_map_db=lid_map,
        groups={LAWLEY: "Lawley"},
        extra=f'log_file = "{log}"',
    )
    text = config.read_text("utf-8")
    config.write_text(text.replace(f'log_file = "{tmp_path / "logs"}', '# log_file = "', 1))
    before = {p: p.read_bytes() for p in (bridge.path, lid_map)}
    say(bridge, "A1", "DR1000001", "2025-11-11 09:00:00+02:00")
    before[bridge.path] = bridge.path.read_bytes()
    capsys.readouterr()
    assert run_once(config, database_url, monkeypatch) == 2
    assert "log_file" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before
    monkeypatch.setenv("WA_MONITOR_CONFIG_DIR", str(tmp_path))
    assert main(["doctor", "--env", "prod"]) == 1
    assert "FAIL  config file" in capsys.readouterr().out
