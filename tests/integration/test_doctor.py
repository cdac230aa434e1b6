"""`wa-monitor doctor`: each troubleshooting item passes, or fails with the fix that applies."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import VELO, sast
from tests.support.ops import Envs, doctor
from wa_monitor.adapters.postgres.db import latest_version
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.simulator import create_lid_map

pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture(autouse=True)
def newest_message(envs: Envs) -> None:
    """One message in the bridge, the newest the bridge check names."""
    envs.say("A1", "DR1111111", sast(11, 9, 30))


def test_a_healthy_environment_passes_everything_but_a_superuser_role(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    with SimulatedBridgeApi() as api:  # the bridge's /api/download answers
        envs.configure("dev", extra=f'bridge_api_url = "{api.url}"')
        code, checks = doctor(envs, capsys)
    assert code == 1
    failed = [name for name, line in checks.items() if line.startswith("FAIL")]
    assert failed == ["role privileges"]  # the test server's owner is a superuser
    assert "is a superuser" in checks["role privileges"]
    assert "fix: create a dedicated role for wa-monitor-dev" in checks["role privileges"]
    assert "newest message 2025-11-11 09:30:00+02:00" in checks["bridge file"]
    assert list(checks) == [
        "config file",
        "schema matches the environment",
        "posts only where production does not",
        "log file writable",
        "log lines carry '[DEV]'",
        "bridge file",
        "watched groups",
        "LID map",
        "alerts",
        "photo media folder",
        "bridge download API",
        "database reachable",
        "schema migrated",
        "role privileges",
        "flawed bridge rows",
    ]


def test_doctor_says_when_the_bridges_download_api_does_not_answer(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    envs.configure("dev", extra='bridge_api_url = "http://127.0.0.1:9"')
    _, checks = doctor(envs, capsys)
    assert "no answer" in checks["bridge download API"]
    assert "photos wait and are fetched once the bridge answers" in checks["bridge download API"]
    assert checks["photo media folder"].startswith("PASS")


def test_dev_pointed_at_public_fails_config_and_isolation(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    envs.configure("dev", extra='schema = "public"')
    code, checks = doctor(envs, capsys)
    assert code == 1
    assert checks["config file"].startswith("FAIL")
    isolation = checks["schema matches the environment"]
    assert isolation.startswith("FAIL")
    assert f'fix: set schema = "dev" in {envs.folder / "dev.toml"}' in isolation


def test_dev_posting_where_production_lives_fails_and_says_where(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    """Production lists a group, even disabled: dev's feedback group may not be it; and with
    production's config gone, dev posts nowhere."""
    envs.configure("prod", retired={VELO: "Old"})
    envs.configure("dev", extra=f'[web]\nfeedback_group = "{VELO}"')
    code, checks = doctor(envs, capsys)
    assert code == 1
    posting = checks["posts only where production does not"]
    assert posting.startswith("FAIL")
    assert f"names [web] feedback_group {VELO}" in posting
    assert "fix: give dev its own group" in posting
    (envs.folder / "prod.toml").unlink()
    code, checks = doctor(envs, capsys)
    assert code == 1
    posting = checks["posts only where production does not"]
    assert posting.startswith("FAIL")
    assert "dev posts nowhere" in posting
    assert "fix: put production's prod.toml beside dev's file" in posting


def test_doctor_names_a_web_secret_prod_and_dev_share_without_printing_it(
    envs: Envs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = secrets.token_urlsafe(48)
    (envs.folder / "prod-web.secret").write_text(shared + "\n")
    (envs.folder / "dev-web.secret").write_text(shared + "\n")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("WA_MONITOR_WEB_SECRET", shared)
    capsys.readouterr()
    assert envs.wa("doctor", "--env", "dev", "--web") == 1
    out = capsys.readouterr()
    assert "FAIL  web secrets differ: dev and prod sign their sessions with one secret" in out.out
    assert "fix: give dev its own: head -c 48 /dev/urandom" in out.out
    assert shared not in out.out + out.err
    (envs.folder / "dev-web.secret").write_text(secrets.token_urlsafe(48))
    monkeypatch.delenv("WA_MONITOR_WEB_SECRET")  # dev's own secret: the file beside its config
    envs.wa("doctor", "--env", "dev", "--web")
    assert "PASS  web secrets differ: dev's secret is not prod's" in capsys.readouterr().out


def test_doctor_prints_urls_redacted(envs: Envs, capsys: pytest.CaptureFixture[str]) -> None:
    envs.configure(
        "prod",
        extra='[alerts]\nwhatsapp_recipient = "120363400000000001@g.us"\n'
        'bridge_api_url = "http://localhost:8080/?key=s3cretkey"',
    )
    capsys.readouterr()
    envs.wa("doctor", "--env", "prod")
    out = capsys.readouterr().out
    assert "through http://localhost:8080/?key=***" in out
    assert "s3cretkey" not in out


def test_unknown_environment(envs: Envs, capsys: pytest.CaptureFixture[str]) -> None:
    code, checks = doctor(envs, capsys, env="staging")
    assert code == 1
    assert "no config for environment 'staging'" in checks["config file"]
    assert f"fix: create {envs.folder / 'staging.toml'}" in checks["config file"]


@pytest.mark.parametrize(
    ("key", "value", "check", "says", "fix"),
    [
        ("bridge_db", "/nowhere/messages.db", "bridge file", "does not exist", "check bridge_db"),
        ("bridge_db", "{lid_map}", "bridge file", "missing table messages", "(not whatsapp.db)"),
        ("lid_map_db", "{bridge}", "LID map", "missing table whatsmeow_lid_map", "lid_map_db in"),
        ("log_file", "{lid_map}/dev.log", "log file writable", "is not a folder", "mkdir -p"),
    ],
)
def test_each_file_problem_fails_its_check_with_the_fix(
    key: str,
    value: str,
    check: str,
    says: str,
    fix: str,
    envs: Envs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lid_map = tmp_path / "whatsapp.db"
    create_lid_map(lid_map, {"210987654321098": "27821234567"})
    envs.configure(
        "dev", extra=f'{key} = "{value.format(lid_map=lid_map, bridge=envs.bridge.path)}"'
    )
    code, checks = doctor(envs, capsys)
    assert code == 1
    assert checks[check].startswith("FAIL"), checks[check]
    assert says in checks[check]
    assert fix in checks[check].split("fix: ", 1)[1]


def test_a_group_the_bridge_does_not_know_fails(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    envs.configure("dev", groups={VELO: "Velo Test", "120363418298130399@g.us": "Lawley"})
    code, checks = doctor(envs, capsys)
    assert code == 1
    assert "no chat for Lawley (120363418298130399@g.us)" in checks["watched groups"]
    assert "fix: check those group_jid values" in checks["watched groups"]


def test_a_configured_lid_map_is_read(
    envs: Envs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lid_map = tmp_path / "whatsapp.db"
    create_lid_map(lid_map, {"210987654321098": "27821234567"})
    envs.configure("dev", lid_map_db=lid_map)
    _, checks = doctor(envs, capsys)
    assert checks["LID map"] == f"PASS  LID map: {lid_map} readable; 1 LIDs mapped"


def test_log_lines_without_the_prefix_fail(envs: Envs, capsys: pytest.CaptureFixture[str]) -> None:
    assert envs.run("dev") == 0
    log = envs.folder / "logs" / "wa-monitor-dev.log"
    assert "PASS" in doctor(envs, capsys)[1]["log lines carry '[DEV]'"]
    # Prod's service writing into dev's file (same log_file in both configs).
    with log.open("a") as f:
        f.write("2025-11-11T12:25:31.020+02:00 INFO    ✅ Created QA review for DR1 (Lawley)\n")
        f.write("Traceback (most recent call last):\n")
    _, checks = doctor(envs, capsys)
    line = checks["log lines carry '[DEV]'"]
    assert line.startswith("FAIL")
    assert "carry prefix 'none'" in line
    assert "give each environment its own log_file" in line
    # And the other way round: prod's file must not hold [DEV] lines.
    envs.configure("prod", extra=f'log_file = "{envs.folder / "logs" / "wa-monitor-dev.log"}"')
    _, checks = doctor(envs, capsys, env="prod")
    assert checks["log lines carry no prefix"].startswith("FAIL")
    assert "carry prefix '[DEV]'" in checks["log lines carry no prefix"]


def test_database_problems(
    envs: Envs,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL_DEV", "postgresql://u:pw-sekret@127.0.0.1:1/wa")
    code, checks = doctor(envs, capsys)
    assert code == 1
    assert checks["database reachable"].startswith("FAIL")
    assert "pw-sekret" not in checks["database reachable"]
    assert "schema migrated" not in checks
    monkeypatch.delenv("WA_MONITOR_DATABASE_URL_DEV")
    assert envs.wa("schema", "drop", "--env", "dev", "--yes") == 0
    _, checks = doctor(envs, capsys)
    assert checks["database reachable"].startswith("PASS")
    assert checks["schema migrated"].startswith("FAIL")
    assert (
        "fix: as the database owner: wa-monitor schema migrate --env dev"
        in checks["schema migrated"]
    )
    assert envs.wa("schema", "migrate", "--env", "dev") == 0
    db.execute("DROP TABLE dev.wa_monitor_cursor")
    _, checks = doctor(envs, capsys)
    assert f"at version {latest_version()} but lacks wa_monitor_cursor" in checks["schema migrated"]
