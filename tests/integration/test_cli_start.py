"""The command line's start-up: every command's --help, and what a short command imports (the
alert timer runs `alerts check` as a process of its own 30 times an hour: what it imports is
most of what it costs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import GROUPS, write_config
from wa_monitor.cli import COMMANDS, main

# Never needed to decide whether there is an incident: structlog (with asyncio, ssl, rich), the
# HTTP client (imported when a message goes), psycopg's pool (the web service's), the
# dashboard's stack, the SharePoint and workbook libraries, Pillow.
NOT_FOR_A_CHECK = (
    "structlog",
    "httpx",
    "smtplib",
    "psycopg_pool",
    "starlette",
    "jinja2",
    "uvicorn",
    "openpyxl",
    "msal",
    "PIL",
    "playwright",
    "wa_monitor.web",
)

WHAT_IT_IMPORTED = """
import sys
from wa_monitor.cli import main
code = main(sys.argv[1:])
print(" ".join(sorted(sys.modules)))
sys.exit(code)
"""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_its_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: wa-monitor" in capsys.readouterr().out


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)


def test_alerts_check_imports_nothing_it_does_not_need(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "prod", bridge_db=tmp_path / "messages.db", groups=GROUPS, extra=""
    )
    with config.open("a", encoding="utf-8") as toml:
        toml.write("\n[alerts]\nenabled = false\n")
    done = subprocess.run(
        [sys.executable, "-c", WHAT_IT_IMPORTED, "alerts", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "alerts are off" in done.stdout
    modules = done.stdout.split()
    loaded = {
        m for m in modules if m.split(".")[0] in NOT_FOR_A_CHECK or m.startswith("wa_monitor.web")
    }
    assert not loaded, sorted(loaded)
    assert "wa_monitor.services.alerts" in modules  # the whole check's path was imported


def test_the_daemon_never_loads_pillow_only_its_decoders_child_does() -> None:
    # The photo fetcher renders in a child process (adapters/media.Decoder); Pillow in the
    # daemon itself would only add ~4 MB to its resident memory.
    script = (
        "import sys\n"
        "import wa_monitor.cli.run, wa_monitor.services.photos, wa_monitor.adapters.media\n"
        "print('PIL' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
