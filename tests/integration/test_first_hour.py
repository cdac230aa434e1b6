"""A newcomer's first hour, as one script: the demo's try folder, then the commands it prints,
run against a PostgreSQL of one's own (the test's database stands in for it), doctor passing
every check, and a first review on the dashboard."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.support.ops import Roles
from tests.support.web import csrf_of, free_port

BIN = Path(sys.executable).parent  # the virtualenv the tests run in: wa-monitor is beside it


def _printed(out: str, start: str) -> list[str]:
    """The indented command lines printed after the line that begins with `start`."""
    block = out.split(start, 1)[1].split("\n\n", 2)[1]
    return [line.strip() for line in block.splitlines()]


def _sh(command: str, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run(  # noqa: S602 - the command the demo printed, as a person types it
        command,
        shell=True,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_from_the_demo_to_a_first_review_on_ones_own_postgresql(
    tmp_path: Path, database_url: str, roles: Roles
) -> None:
    folder = tmp_path / "wa-try"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    made = _sh(f"wa-monitor demo --make-bridge {folder} --seconds 3", env)

    # The export lines, with the URL of "my own" PostgreSQL in place of USER and DBNAME.
    exports = [line for line in _printed(made, "Next, in this shell") if line]
    assert [line.split("=", 1)[0] for line in exports] == [
        "export WA_MONITOR_CONFIG_DIR",
        "export WA_MONITOR_DATABASE_URL",
        "export WA_MONITOR_WEB_SECRET",
    ]
    env["WA_MONITOR_CONFIG_DIR"] = exports[0].split("=", 1)[1]
    env["WA_MONITOR_DATABASE_URL"] = database_url
    env["WA_MONITOR_WEB_SECRET"] = secrets.token_urlsafe(48)

    # The three commands, exactly as printed.
    commands = _printed(made, "export WA_MONITOR_WEB_SECRET")
    assert len(commands) == 3
    for command in commands[:2]:
        _sh(command, env)
    status = _sh(commands[2], env)
    assert re.search(r"^prod\s+[1-9]", status, re.M), status

    # doctor as the service would run: its own role, granted by the printed command.
    role, role_url = roles.make("prod")
    grant, doctor = _printed(made, "role, with exactly the rights it needs")[1:]
    _sh(grant.replace("wa_monitor_prod", role), env)
    assert doctor.startswith("WA_MONITOR_DATABASE_URL=")
    checks = _sh(
        f"wa-monitor {doctor.split(' wa-monitor ', 1)[1]}",
        env | {"WA_MONITOR_DATABASE_URL": role_url},
    )
    assert "FAIL" not in checks
    assert re.search(r"^\d+ passed, 0 failed$", checks, re.M), checks

    # The dashboard: a reviewer, the server, and the first review on its list.
    add_user, serve = _printed(made, "The dashboard, as a reviewer")
    assert add_user.endswith(" you")
    _sh(add_user.replace(" you", " --password-stdin you"), env, "a-long-password-1")
    port = free_port()
    with subprocess.Popen(
        [*serve.split(), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as web:
        try:
            base = f"http://127.0.0.1:{port}/wa-monitor"
            with httpx2.Client(base_url=base, timeout=10) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        login = client.get("/login")
                        break
                    except httpx2.TransportError:
                        assert time.monotonic() < deadline, "the dashboard did not start"
                        time.sleep(0.2)
                form = {"csrf": csrf_of(login.text), "username": "you"}
                answer = client.post("/login", data=form | {"password": "a-long-password-1"})
                assert answer.status_code == 303
                reviews = client.get("/reviews", params={"format": "json"}).json()
        finally:
            web.terminate()
    drops = [row["drop_number"] for row in reviews["reviews"]]
    assert drops
    assert all(re.fullmatch(r"DR\d{7}", drop) for drop in drops)
