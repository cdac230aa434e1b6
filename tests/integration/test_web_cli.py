"""`wa-monitor users …` and `wa-monitor web`: users managed from the shell, the service started
as systemd starts it, and refused with one line when its secret or schema is missing."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from tests.support.env import LAWLEY, write_config
from tests.support.web import PASSWORD, SECRET, dashboard, environment, free_port
from wa_monitor.cli import main
from wa_monitor.cli import web as web_cli
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.settings import load_settings
from wa_monitor.web.server import log_config

pytestmark = pytest.mark.migrated("prod")


def wa(
    monkeypatch: pytest.MonkeyPatch, url: str, *args: str, stdin: str = "", secret: str = ""
) -> int:
    with monkeypatch.context() as mp:
        mp.setenv("WA_MONITOR_DATABASE_URL", url)
        if secret:
            mp.setenv("WA_MONITOR_WEB_SECRET", secret)
        else:
            mp.delenv("WA_MONITOR_WEB_SECRET", raising=False)
        mp.setattr(sys, "stdin", io.StringIO(stdin))
        return main(list(args))


def test_users_are_added_listed_disabled_and_given_new_passwords(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    config = str(tmp_path / "prod.toml")
    add = ("users", "add", "--config", config, "--role", "reviewer", "--password-stdin")
    assert wa(monkeypatch, database_url, *add, "nomsa", "--name", "Nomsa D", stdin=PASSWORD) == 0
    assert "user 'nomsa' added to prod (public) as reviewer" in capsys.readouterr().out
    # Taken names, short passwords and bad names are refused with one line and exit 2.
    assert wa(monkeypatch, database_url, *add, "nomsa", stdin=PASSWORD) == 2
    assert wa(monkeypatch, database_url, *add, "lindiwe", stdin="short") == 2
    assert wa(monkeypatch, database_url, *add, "Bad Name!", stdin=PASSWORD) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "wa-monitor: user 'nomsa' exists already: `users passwd nomsa` sets a new password, "
        "`users role nomsa --role ROLE` changes the role, `users enable nomsa` lets a disabled "
        "user log in again",
        "wa-monitor: the password must be at least 12 characters long",
        "wa-monitor: invalid username 'Bad Name!': use 1-64 lowercase letters, digits, '.', "
        "'_' or '-'",
    ]
    assert PASSWORD not in "".join(errors)

    with dashboard(settings, database_url) as dash:
        assert dash.login("nomsa").status_code == 303
        assert "Nomsa D" in dash.client.get("/wa-monitor").text
        new = "another long password"
        passwd = ("users", "passwd", "--config", config, "nomsa", "--password-stdin")
        assert wa(monkeypatch, database_url, *passwd, stdin=new + "\n") == 0
        assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303
        assert dash.login("nomsa", new).status_code == 303
        assert wa(monkeypatch, database_url, "users", "disable", "--config", config, "nomsa") == 0
        assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303

    capsys.readouterr()
    assert wa(monkeypatch, database_url, "users", "list", "--config", config, "--json") == 0
    (user,) = json.loads(capsys.readouterr().out)
    assert (user["username"], user["role"], user["active"]) == ("nomsa", "reviewer", False)
    assert user["last_login_at"] is not None
    assert wa(monkeypatch, database_url, "users", "disable", "--config", config, "nobody") == 2


def test_a_disabled_user_is_enabled_again_and_a_role_changes_from_the_shell(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    config = str(tmp_path / "prod.toml")
    add = ("users", "add", "--config", config, "--role", "viewer", "--password-stdin", "thabo")
    assert wa(monkeypatch, database_url, *add, stdin=PASSWORD) == 0
    assert wa(monkeypatch, database_url, "users", "disable", "--config", config, "thabo") == 0
    capsys.readouterr()
    # A new password for a disabled user says that it stays disabled, and how to enable it.
    new = "another long password"
    passwd = ("users", "passwd", "--config", config, "thabo", "--password-stdin")
    assert wa(monkeypatch, database_url, *passwd, stdin=new + "\n") == 0
    out = capsys.readouterr().out
    assert "'thabo' stays disabled: `wa-monitor users enable thabo --env prod` lets them" in out
    with dashboard(settings, database_url) as dash:
        assert dash.login("thabo", new).status_code == 401
        assert wa(monkeypatch, database_url, "users", "enable", "--config", config, "thabo") == 0
        assert "user 'thabo' enabled in prod" in capsys.readouterr().out
        assert dash.login("thabo", new).status_code == 303
        assert "viewer" in dash.client.get("/wa-monitor").text
        # A new role ends the open session; the next login has the new role.
        role = ("users", "role", "--config", config, "thabo", "--role", "reviewer")
        assert wa(monkeypatch, database_url, *role) == 0
        assert "user 'thabo' is now a reviewer in prod" in capsys.readouterr().out
        assert dash.client.get("/wa-monitor", follow_redirects=False).status_code == 303
        assert dash.login("thabo", new).status_code == 303
    capsys.readouterr()
    assert wa(monkeypatch, database_url, "users", "list", "--config", config, "--json") == 0
    (user,) = json.loads(capsys.readouterr().out)
    assert (user["role"], user["active"]) == ("reviewer", True)
    assert wa(monkeypatch, database_url, "users", "enable", "--config", config, "nobody") == 2
    assert (
        wa(monkeypatch, database_url, "users", "role", "--config", config, "x", "--role", "viewer")
        == 2
    )


@pytest.mark.migrated
def test_the_web_command_refuses_without_a_secret_or_a_migrated_schema(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(write_config(tmp_path, "dev", bridge_db=bridge.path, groups={LAWLEY: "Lawley"}))
    assert wa(monkeypatch, database_url, "web", "--config", config) == 2
    assert wa(monkeypatch, database_url, "web", "--config", config, secret="too short") == 2
    assert wa(monkeypatch, database_url, "web", "--config", config, secret=SECRET) == 2
    assert capsys.readouterr().err.splitlines() == [
        "wa-monitor: no dashboard session secret: set WA_MONITOR_WEB_SECRET (or the systemd "
        "credential 'web_secret'); it is never read from the TOML file",
        "wa-monitor: the dashboard session secret is too short: use at least 32 random "
        "characters (e.g. `openssl rand -base64 48`)",
        "wa-monitor: schema 'dev' does not exist or is not migrated: "
        "run `wa-monitor schema migrate --env dev`",
    ]
    (tmp_path / "bad.toml").write_text(
        Path(config).read_text() + '\nweb_secret = "in the file"\n', encoding="utf-8"
    )
    assert wa(monkeypatch, database_url, "web", "--config", str(tmp_path / "bad.toml")) == 2
    assert "secrets never go in the config file" in capsys.readouterr().err


def test_the_web_command_serves_the_dashboard_until_sigterm(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    port = free_port()
    environment(tmp_path, "prod", bridge=bridge, url=database_url, extra=f"[web]\nport = {port}")
    assert load_settings(tmp_path / "prod.toml").web.port == port
    env = os.environ | {
        "WA_MONITOR_DATABASE_URL": database_url,
        "WA_MONITOR_WEB_SECRET": SECRET,
        "WA_MONITOR_CONFIG_DIR": str(tmp_path),
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "wa_monitor", "web", "--env", "prod"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx2.TransportError:
                assert service.poll() is None, service.stdout.read() if service.stdout else ""
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.2)
        assert health.json() == {"ok": True, "environment": "prod"}
        login = httpx2.get(f"http://127.0.0.1:{port}/wa-monitor", follow_redirects=False)
        assert login.status_code == 303
        assert "server" not in login.headers
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=20)
    # uvicorn finishes the requests in flight, then re-raises SIGTERM on itself, which systemd
    # counts as a clean stop.
    assert service.returncode in {0, -signal.SIGTERM}, output
    assert "Finished server process" in output
    assert SECRET not in output
    assert database_url not in output


def test_every_line_of_the_dashboards_tracebacks_carries_the_prefix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.config.dictConfig(log_config("[DEV]"))
    try:
        raise RuntimeError("boom")  # noqa: TRY301 - a traceback to log
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    lines = _lines(capsys.readouterr().err)
    assert any("RuntimeError: boom" in line for line in lines)
    assert all(line.startswith("[DEV] ") for line in lines), lines


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_the_dev_dashboard_says_at_start_that_it_sends_nowhere_without_productions_config(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environment(tmp_path, "dev", bridge=bridge, url=database_url)  # no prod.toml beside it
    dev = str(tmp_path / "dev.toml")
    assert wa(monkeypatch, database_url, "schema", "migrate", "--config", dev) == 0
    served: list[str] = []
    monkeypatch.setattr(web_cli, "serve", lambda settings, **_: served.append("served"))
    capsys.readouterr()
    assert wa(monkeypatch, database_url, "web", "--config", dev, secret=SECRET) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "[DEV] dev sends feedback nowhere: production's config is needed to keep dev out of "
        f"its groups ({tmp_path / 'prod.toml'}: no such config file)"
    ]
    assert served == ["served"]
