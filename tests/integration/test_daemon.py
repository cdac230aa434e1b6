"""The daemon as ops run it: a process that waits out a busy bridge and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import LAWLEY, sast, write_config
from tests.support.harness import wait_until
from tests.support.runs import run_once, say
from wa_monitor.devtools.simulator import BridgeWriter


@pytest.mark.migrated("prod")
def test_a_busy_bridge_is_waited_out_not_skipped(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    say(bridge, "A1", "DR1111111", sast(11, 9))
    locker = sqlite3.connect(bridge.path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.5, lambda: locker.execute("ROLLBACK"))
    release.start()
    try:
        assert run_once(config, database_url, monkeypatch) == 0
    finally:
        release.join()
        locker.close()
    assert db.execute("SELECT drop_number FROM qa_photo_reviews").fetchall() == [("DR1111111",)]
    log = (tmp_path / "logs" / "wa-monitor-prod.log").read_text(encoding="utf-8")
    assert "waiting to retry" in log
    assert "is locked by a writer" in log


@pytest.mark.migrated("dev")
def test_the_daemon_follows_the_bridge_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, "dev", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    env = {**os.environ, "WA_MONITOR_DATABASE_URL": database_url}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "wa_monitor", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def count() -> int:
            row = db.execute("SELECT count(*) FROM dev.qa_photo_reviews").fetchone()
            return int(row[0]) if row else 0

        say(bridge, "A1", "DR1111111", sast(11, 9))
        wait_until(lambda: count() == 1, what="the first review")
        say(bridge, "A2", "DR2222222 and DR3333333", sast(11, 10))
        wait_until(lambda: count() == 3, what="both reviews of the second message")
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert all(line.startswith("[DEV] ") for line in lines)
    assert sum("✅ Created QA review" in line for line in lines) == 3
    assert "stopped" in lines[-1]


@pytest.mark.migrated("dev")
def test_a_sigterm_sent_the_moment_it_says_starting_stops_it_cleanly(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    """systemd (and a test) may stop the daemon as soon as its log says "starting": its handler
    must already be there, or the signal's default action kills it (exit -15, not 0)."""
    config = write_config(tmp_path, "dev", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    env = {**os.environ, "WA_MONITOR_DATABASE_URL": database_url}
    for _ in range(3):
        daemon = subprocess.Popen(
            [sys.executable, "-m", "wa_monitor", "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert daemon.stderr is not None
            for line in daemon.stderr:
                if "starting" in line:
                    daemon.send_signal(signal.SIGTERM)
                    break
            _, err = daemon.communicate(timeout=30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
        assert daemon.returncode == 0, err
