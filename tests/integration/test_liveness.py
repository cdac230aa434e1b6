"""Liveness: `status` says whether a monitor runs, since when, and when it last read the bridge;
a stopped or stuck monitor fails the health check."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.harness import daemon, stop, wait_until
from tests.support.ops import Envs, make_envs
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture
def prod_only(tmp_path: Path, bridge: BridgeWriter, database_url: str) -> Envs:
    """prod alone in the config folder (status checks every environment it finds)."""
    envs = make_envs(tmp_path / "config", bridge, database_url)
    (envs.folder / "dev.toml").unlink()
    envs.say("A1", "DR1111111", datetime.now().astimezone())
    return envs


def prod_status(envs: Envs, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = envs.wa("status", "--json", *args)
    doc = json.loads(capsys.readouterr().out)
    return code, doc["environments"][0]


def read_at(db: psycopg.Connection[Any]) -> Any:
    row = db.execute("SELECT read_at FROM public.wa_monitor_cursor").fetchone()
    return row[0] if row else None


def test_a_stopped_monitor_fails_status_and_a_running_one_passes(
    prod_only: Envs,
    db: psycopg.Connection[Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs = prod_only
    # Nothing runs yet: the message waits, and every health check says why.
    code, prod = prod_status(envs, capsys, "--max-behind", "500")
    assert code == 1, prod
    assert prod["running"] is False
    assert "no wa-monitor is running for environment prod" in prod["problems"]
    config = envs.folder / "prod.toml"
    with daemon(config, envs.url, tmp_path / "stderr.txt") as proc:
        wait_until(lambda: read_at(db) is not None, what="the monitor's first read")
        code, prod = prod_status(envs, capsys, "--max-behind", "500", "--max-idle", "5")
        assert code == 0, prod["problems"]
        assert prod["running"] is True
        assert prod["behind"] == 0
        assert prod["running_since"] is not None
        assert prod["idle_for_seconds"] < 60
        capsys.readouterr()
        assert envs.wa("status") == 0
        table = capsys.readouterr().out.splitlines()
        assert "MONITOR" in table[0]
        assert "LAST READ" in table[0]
        assert " running " in table[1]
        assert stop(proc) == 0
    code, prod = prod_status(envs, capsys, "--max-behind", "500")
    assert code == 1
    assert prod["running"] is False
    assert prod["problems"] == ["no wa-monitor is running for environment prod"]
    assert envs.wa("status") == 0  # without a limit, it reports and does not judge
    assert "stopped" in capsys.readouterr().out


def test_messages_waiting_on_a_monitor_that_reads_nothing_fail_max_idle(
    prod_only: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    envs = prod_only
    assert envs.run("prod") == 0
    envs.say("A2", "DR2222222", datetime.now().astimezone())
    # The lock is held by a session that reads nothing: a monitor that is stuck.
    with psycopg.connect(envs.url) as stuck:  # its transaction stays open, as the monitor's
        stuck.execute("LOCK TABLE public.wa_monitor_instance IN EXCLUSIVE MODE")
        db.execute("UPDATE public.wa_monitor_cursor SET read_at = now() - interval '20 minutes'")
        code, prod = prod_status(envs, capsys, "--max-idle", "10")
        assert code == 1
        assert prod["running"] is True
        assert prod["problems"] == [
            "1 bridge messages wait and the monitor last read the bridge 20 min ago (> 10 min)"
        ]
        assert prod_status(envs, capsys, "--max-idle", "30")[0] == 0


def test_an_idle_monitor_saves_its_heartbeat_at_most_once_a_minute(
    prod_only: Envs, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    envs = prod_only
    with daemon(envs.folder / "prod.toml", envs.url, tmp_path / "stderr.txt"):
        wait_until(lambda: read_at(db) is not None, what="the monitor's first read")
        first = read_at(db)
        time.sleep(2.5)  # a dozen polls of 0.2 s
        assert read_at(db) == first
