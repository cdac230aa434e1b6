"""The [sharepoint] table, the client secret's only sources, and the days a sync covers."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from wa_monitor.errors import ConfigError, Refused
from wa_monitor.services.sharepoint import Days, days_to_sync
from wa_monitor.settings import load_settings

PROD = """
environment = "prod"
schema = "public"
bridge_db = "/var/lib/bridge/messages.db"
[sharepoint]
tenant_id = "11111111-2222-3333-4444-555555555555"
client_id = "66666666-7777-8888-9999-000000000000"
drive_id = "b!AbC-12_x"
item_id = "01ABCDEF"
worksheet = "Daily Drops"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prod.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_table_loads_with_the_public_clouds_endpoints(tmp_path: Path) -> None:
    config = load_settings(write(tmp_path, PROD)).sharepoint
    assert config is not None
    assert config.worksheet == "Daily Drops"
    assert config.authority_host == "https://login.microsoftonline.com"
    assert config.graph_root == "https://graph.microsoft.com/v1.0"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('client_id = "6', 'client_id = "x'), "sharepoint.client_id: must be the app's client id"),
        (("worksheet", "# worksheet"), "sharepoint.worksheet: required key is missing"),
        (('item_id = "01ABCDEF"', 'item_id = "01/../x"'), "sharepoint.item_id"),
        (("[sharepoint]", '[sharepoint]\ngraph_root = "http://graph"'), "https:// URL"),
        (("[sharepoint]", "[sharepoint]\nsite = 1"), "sharepoint.site: unknown key"),
    ],
)
def test_a_wrong_table_is_one_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(write(tmp_path, PROD.replace(*change)))
    assert message in str(bad.value)
    assert "\n" not in str(bad.value)


@pytest.mark.parametrize("key", ["client_secret", "CLIENT_SECRET", "secret"])
def test_the_secret_is_refused_in_the_file_without_being_repeated(tmp_path: Path, key: str) -> None:
    text = PROD + f'{key} = "VeryS3cret~value"\n'
    with pytest.raises(ConfigError) as bad:
        load_settings(write(tmp_path, text))
    assert "WA_MONITOR_SHAREPOINT_CLIENT_SECRET" in str(bad.value)
    assert "VeryS3cret" not in str(bad.value)


def test_the_secret_comes_from_the_environment_or_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WA_MONITOR_SHAREPOINT_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    settings = load_settings(write(tmp_path, PROD))
    with pytest.raises(ConfigError, match="set WA_MONITOR_SHAREPOINT_CLIENT_SECRET"):
        settings.require_sharepoint_secret()
    assert "VeryS3cret" not in repr(settings)
    creds = tmp_path / "creds"
    creds.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with pytest.raises(ConfigError, match="sharepoint_client_secret"):
        settings.require_sharepoint_secret()  # this unit loads other credentials only
    (creds / "sharepoint_client_secret").write_text("From~Credential\n", encoding="utf-8")
    assert settings.require_sharepoint_secret() == "From~Credential"
    monkeypatch.setenv("WA_MONITOR_SHAREPOINT_CLIENT_SECRET", "From~Env")
    settings = load_settings(write(tmp_path, PROD))
    assert settings.require_sharepoint_secret() == "From~Env"
    assert "From~Env" not in repr(settings)


def test_dev_may_not_name_a_workbook(tmp_path: Path) -> None:
    dev = PROD.replace('"prod"', '"dev"').replace('"public"', '"dev"')
    dev = dev.replace("[sharepoint]", 'log_prefix = "[DEV]"\n[sharepoint]')
    with pytest.raises(ConfigError, match="dev data is never synced"):
        load_settings(write(tmp_path, dev))


TODAY = date(2025, 11, 12)


@pytest.mark.parametrize(
    ("on", "since", "days"),
    [
        (None, None, Days(date(2025, 11, 11), TODAY)),
        (date(2025, 11, 1), None, Days(date(2025, 11, 1), date(2025, 11, 1))),
        (TODAY, None, Days(TODAY, TODAY)),
        (None, timedelta(days=1), Days(TODAY, TODAY)),
        (None, timedelta(days=7), Days(date(2025, 11, 6), TODAY)),
        (None, timedelta(weeks=2), Days(date(2025, 10, 30), TODAY)),
    ],
)
def test_the_days_a_run_covers(on: date | None, since: timedelta | None, days: Days) -> None:
    assert days_to_sync(TODAY, on=on, since=since) == days


@pytest.mark.parametrize(
    ("on", "since", "message"),
    [
        (date(2025, 11, 13), None, "in the future"),
        (None, timedelta(hours=36), "whole days"),
        (None, timedelta(days=400), "at most 366 days"),
    ],
)
def test_days_that_make_no_sense_are_refused(
    on: date | None, since: timedelta | None, message: str
) -> None:
    with pytest.raises(Refused, match=message):
        days_to_sync(TODAY, on=on, since=since)
