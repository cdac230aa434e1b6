"""Configuration: what a wrong file says, and that dev can never be pointed at production."""

from __future__ import annotations

from pathlib import Path

import pytest

from wa_monitor.cli import main
from wa_monitor.errors import ConfigError
from wa_monitor.settings import find_config, load_settings

GOOD_DEV = """
environment = "dev"
schema = "dev"
log_prefix = "[DEV]"
bridge_db = "/var/lib/bridge/messages.db"
bot_senders = ["+27 64 000 0001", "27000000002@s.whatsapp.net"]
[[projects]]
name = "Velo Test"
group_jid = "120363418298130333@g.us"
[[projects]]
name = "Lawley"
group_jid = "120363418298130331@g.us"
enabled = false
"""


def write(tmp_path: Path, text: str, name: str = "dev.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD_DEV))
    assert settings.schema == "dev"
    assert settings.enabled_projects == {"120363418298130333@g.us": "Velo Test"}
    assert settings.bot_senders == {"27640000001", "27000000002"}
    assert settings.timezone == "Africa/Johannesburg"


def test_environment_variables_override_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WA_MONITOR_BRIDGE_DB", "/elsewhere/messages.db")
    monkeypatch.setenv("WA_MONITOR_LOG_FILE", "/tmp/dev.log")
    monkeypatch.setenv("SCHEMA", "public")  # unprefixed variables mean nothing
    settings = load_settings(write(tmp_path, GOOD_DEV))
    assert str(settings.bridge_db) == "/elsewhere/messages.db"
    assert str(settings.log_file) == "/tmp/dev.log"
    assert settings.schema == "dev"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('schema = "dev"', 'schema = "public"'), "may not write to schema 'public'"),
        (('schema = "dev"', 'schema = "dev; drop table x"'), "plain lowercase identifier"),
        (('schema = "dev"', 'schema = "Dev"'), "plain lowercase identifier"),
        (('log_prefix = "[DEV]"', 'log_prefix = ""'), "must carry a prefix"),
        (("bridge_db", "brige_db"), "brige_db: unknown key"),
        (('environment = "dev"', 'environment = "staging"'), "environment: Input should be"),
        (("bot_senders = [", 'batch_size = "many"\nbot_senders = ['), "batch_size"),
        (
            ('group_jid = "120363418298130333@g.us"', 'group_jid = "27640412391@s.whatsapp.net"'),
            "must be a group JID",
        ),
        (('schema = "dev"', 'schema = "dev"\ntimezone = "Mars/Olympus"'), "unknown time zone"),
        (('schema = "dev"', 'schema = "dev"\npoll_interval_seconds = -1'), "poll_interval"),
    ],
)
def test_bad_files_fail_with_one_clear_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, GOOD_DEV.replace(*change, 1))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith(str(path))


def test_prod_must_write_public(tmp_path: Path) -> None:
    text = GOOD_DEV.replace('environment = "dev"', 'environment = "prod"')
    with pytest.raises(ConfigError, match="'prod' writes to schema 'public', not 'dev'"):
        load_settings(write(tmp_path, text))


@pytest.mark.parametrize(
    "line",
    [
        'database_url = "postgresql://wa:pw@db/wa"',
        'password = "hunter2"',
        'log_file = "postgres://wa:pw@db/wa"',
    ],
)
def test_secrets_in_the_file_are_refused_without_echoing_them(tmp_path: Path, line: str) -> None:
    path = write(tmp_path, line + "\n" + GOOD_DEV)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "WA_MONITOR_DATABASE_URL" in str(err.value)
    assert "pw@" not in str(err.value)
    assert "hunter2" not in str(err.value)


def test_env_name_must_match_the_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD_DEV, name="prod.toml")
    with pytest.raises(ConfigError, match="--env prod"):
        load_settings(tmp_path / "prod.toml", expect="prod")


def test_find_config_looks_where_it_says(tmp_path: Path) -> None:
    write(tmp_path, GOOD_DEV)
    assert find_config("dev", {"WA_MONITOR_CONFIG_DIR": str(tmp_path)}) == tmp_path / "dev.toml"
    with pytest.raises(ConfigError, match=r"looked for .*staging\.toml"):
        find_config("staging", {"WA_MONITOR_CONFIG_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="invalid environment name"):
        find_config("../etc/passwd", {})


def test_the_shipped_configs_load() -> None:
    root = Path(__file__).resolve().parents[2]
    prod = load_settings(root / "config" / "prod.toml", expect="prod")
    dev = load_settings(root / "config" / "dev.toml", expect="dev")
    assert (prod.schema, prod.log_prefix) == ("public", "")
    assert (dev.schema, dev.log_prefix) == ("dev", "[DEV]")
    assert prod.bridge_db == dev.bridge_db


def test_cli_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", "postgresql://x@127.0.0.1:1/x")
    path = write(tmp_path, GOOD_DEV.replace('schema = "dev"', 'schema = "public"'))
    assert main(["run", "--config", str(path), "--once"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "may not write to schema 'public'" in err


def test_cli_without_a_database_url_says_where_it_comes_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WA_MONITOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert main(["run", "--config", str(write(tmp_path, GOOD_DEV)), "--once"]) == 2
    assert "set WA_MONITOR_DATABASE_URL" in capsys.readouterr().err


def test_database_url_from_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WA_MONITOR_DATABASE_URL", raising=False)
    (tmp_path / "database_url").write_text("postgresql://wa@db/wa\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = load_settings(write(tmp_path, GOOD_DEV))
    assert settings.require_database_url() == "postgresql://wa@db/wa"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('name = "Velo Test"', 'name = "Velo\\u0000Test"'), "printable text"),
        (('name = "Velo Test"', 'name = "Velo\\rTest"'), "printable text"),
        (('log_prefix = "[DEV]"', 'log_prefix = "[DEV]\\u001b[0m"'), "one token"),
    ],
)
def test_text_that_reaches_rows_and_lines_has_no_control_characters(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert change[0] in GOOD_DEV
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, GOOD_DEV.replace(*change)))


def test_a_variable_is_blamed_for_what_the_variable_said_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD_DEV)
    monkeypatch.setenv("WA_MONITOR_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("WA_MONITOR_SCHEMA", "public")
    assert main(["run", "--env", "dev", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"wa-monitor: WA_MONITOR_SCHEMA (environment variable, overrides {path}): "
    )
    assert "come from the environment's file only" in err  # never overridden, not even validly
    assert "unset WA_MONITOR_SCHEMA" in err
    # What the file itself says wrong is still the file's.
    monkeypatch.delenv("WA_MONITOR_SCHEMA")
    write(tmp_path, GOOD_DEV.replace('schema = "dev"', 'schema = "public"'))
    assert main(["run", "--env", "dev", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wa-monitor: {path}: ")
    assert "WA_MONITOR_SCHEMA" not in err
