"""What a config may not carry and what output may not show: credentials in URL settings,
weak session secrets, URLs printed whole, traceback lines without the environment's prefix."""

from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path

import pytest

from wa_monitor.adapters.logs import Prefixed
from wa_monitor.cli import main
from wa_monitor.core.redaction import redacted_url
from wa_monitor.errors import ConfigError
from wa_monitor.settings import load_settings

PROD = """
environment = "prod"
schema = "public"
bridge_db = "/var/lib/bridge/messages.db"
bot_senders = ["27640412391"]
{top}
[[projects]]
name = "Lawley"
group_jid = "120363418298130331@g.us"
{tables}
"""
SHAREPOINT = """
[sharepoint]
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000001"
drive_id = "b!drive"
item_id = "01ITEM"
worksheet = "Daily Drops"
"""


def write(tmp_path: Path, *, top: str = "", tables: str = "") -> Path:
    path = tmp_path / "prod.toml"
    path.write_text(PROD.format(top=top, tables=tables), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("top", "tables", "key"),
    [
        ('bridge_api_url = "http://bot:hunter2pw@localhost:8080"', "", "bridge_api_url"),
        (
            "",
            '[alerts]\nemail_to = ["ops@example.com"]\n'
            'bridge_api_url = "http://bot:hunter2pw@localhost:8080"',
            "alerts.bridge_api_url",
        ),
        (
            "",
            SHAREPOINT + 'authority_host = "https://app:hunter2pw@login.example.com"',
            "sharepoint.authority_host",
        ),
        (
            "",
            SHAREPOINT + 'graph_root = "https://hunter2pw@graph.example.com/v1.0"',
            "sharepoint.graph_root",
        ),
    ],
)
def test_every_url_setting_refuses_credentials_without_echoing_them(
    tmp_path: Path, top: str, tables: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, top=top, tables=tables))
    message = str(caught.value)
    assert f"{key}: must not carry credentials (user:password@)" in message
    assert "hunter2pw" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://bot:pw@localhost:8080/api", "http://***@localhost:8080/api"),
        ("http://bot:p/w@host/api?token=abc&x=1#frag", "http://***@host/api?token=***&x=***"),
        ("https://graph.example.com/v1.0?key=abc", "https://graph.example.com/v1.0?key=***"),
        ("user:pw@host", "***"),
    ],
)
def test_a_printed_url_is_redacted(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


@pytest.mark.parametrize(
    "weak",
    [
        "a" * 32,  # one letter repeated
        "ab" * 32,
        "password" * 4,  # a word repeated to the length
    ],
)
def test_a_weak_session_secret_is_refused_with_the_rule(
    tmp_path: Path, weak: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("WA_MONITOR_WEB_SECRET", weak)
    settings = load_settings(write(tmp_path))
    with pytest.raises(ConfigError, match="the dashboard session secret is weak") as caught:
        settings.require_web_secret()
    assert "90 bits" in str(caught.value)  # the rule is said
    assert weak not in str(caught.value)


def test_random_session_secrets_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for secret in (secrets.token_urlsafe(48), secrets.token_hex(32), secrets.token_urlsafe(24)):
        monkeypatch.setenv("WA_MONITOR_WEB_SECRET", secret)
        assert load_settings(write(tmp_path)).require_web_secret() == secret


def _traceback_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_every_line_of_a_logged_traceback_carries_the_prefix() -> None:
    formatter = Prefixed("%(message)s", prefix="[DEV]")
    try:
        raise ValueError("first\nsecond")  # noqa: TRY301 - a traceback to format
    except ValueError:
        record = logging.LogRecord(
            "wa_monitor", logging.ERROR, "x", 1, "it broke", (), sys.exc_info()
        )
    lines = _traceback_lines(formatter.format(record))
    assert len(lines) >= 5
    assert all(line.startswith("[DEV] ") for line in lines), lines


@pytest.mark.parametrize(
    ("top", "tables", "says"),
    [
        (
            'bridge_api_url = "http://bot:hunter2pw@localhost:8080"',
            "",
            "bridge_api_url: must not carry credentials",
        ),
        (
            "",
            '[[projects]]\nname = "Lawley"\ngroup_jid = "120363418298130339@g.us"\nenabled = false',
            "project name 'Lawley' listed more than once",
        ),
    ],
)
def test_a_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, top: str, tables: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, top=top, tables=tables)
    assert main(["run", "--once", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("wa-monitor: ")
    assert says in err
    assert "hunter2pw" not in err
