"""SIGTERM while another session holds what the daemon needs: the stop wins in seconds, well
inside the service's 30 s stop timeout (TimeoutStopSec), and nothing is half applied."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support.env import LAWLEY, write_config
from tests.support.harness import GROUPS, Daemon, reviewed, wait_until, waiting_on_locks
from wa_monitor.devtools.simulator import BridgeWriter, Post

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]

STOP_TIMEOUT = 30.0  # deploy/systemd: the units' TimeoutStopSec


@pytest.mark.parametrize(
    "hold",
    [
        "LOCK TABLE public.qa_photo_reviews IN ACCESS EXCLUSIVE MODE",
        "SELECT * FROM public.qa_photo_reviews FOR UPDATE",
    ],
)
def test_sigterm_while_another_session_holds_a_lock_exits_in_seconds(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, hold: str
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    at = "2025-11-11 09:00:00+02:00"
    bridge.post(Post("A1", LAWLEY, "27600000001", "DR1000001", at))
    with (
        Daemon(config, database_url) as daemon,
        psycopg.connect(database_url, autocommit=True) as watcher,
        psycopg.connect(database_url) as holder,
    ):
        daemon.wait_for("✅ Created QA review for DR1000001")
        holder.execute(hold)  # a transaction left open, as a stuck dashboard session would
        bridge.post(Post("A2", LAWLEY, "27600000001", "DR1000001 fixed", at))
        wait_until(
            lambda: waiting_on_locks(watcher, "wa-monitor-prod%") > 0,
            what="the daemon waiting on the lock",
        )
        code, took = daemon.stop()
        holder.rollback()
    assert code == 0, daemon.stderr
    assert took < STOP_TIMEOUT / 3, f"took {took:.1f}s to stop:\n{daemon.stderr}"
    assert "stopped" in daemon.stderr
    assert reviewed(database_url) == {"DR1000001"}
