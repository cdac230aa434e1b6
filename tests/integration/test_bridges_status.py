"""Several bridges in `status`, the dashboard's health and the alerts' findings: each bridge's
newest message, its lag behind the freshest, its monitor's last read and whether it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.env import AGENT, LAWLEY, write_config
from tests.support.harness import Daemon
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp
from wa_monitor.services import alerts, health, status
from wa_monitor.settings import load_settings

pytestmark = pytest.mark.migrated("prod")


def post(bridge: BridgeWriter, mid: str, at: datetime) -> None:
    bridge.post(Post(mid, LAWLEY, AGENT, f"DR{1000000 + len(mid)} {mid}", bridge_timestamp(at)))


def test_a_bridge_behind_the_other_and_one_whose_monitor_stopped_show(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    paths = {"a": tmp_path / "a.db", "b": tmp_path / "b.db"}
    cfg = write_config(
        tmp_path, "prod", bridges=paths, groups={LAWLEY: "Lawley"}, bots=("27000000001",)
    )
    with BridgeWriter(paths["a"]) as a, BridgeWriter(paths["b"]) as b:
        a.chat(LAWLEY, "Lawley")
        b.chat(LAWLEY, "Lawley")
        post(a, "M1", now - timedelta(hours=3))
        post(b, "M1", now - timedelta(hours=3))
        post(a, "M2", now - timedelta(minutes=30))  # b stalled before it came
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    for name in ("a", "b"):
        assert main(["run", "--config", str(cfg), "--bridge", name, "--once"]) == 0
    settings = load_settings(cfg)
    found = status.assess(settings, url=database_url)
    by_name = {x.name: x for x in found.bridges}
    assert set(by_name) == {"a", "b"}
    assert by_name["a"].lag_seconds == 0
    assert by_name["b"].lag_seconds == pytest.approx(150 * 60, abs=1)
    assert not by_name["a"].running
    assert not by_name["b"].running
    assert any("bridge b:" in line and "150 min behind" in line for line in found.lagging)
    with Daemon(cfg, database_url, args=("--bridge", "a")) as daemon:
        daemon.wait_for("resuming")
        found = status.assess(settings, url=database_url)
        by_name = {x.name: x for x in found.bridges}
        assert by_name["a"].running
        assert not by_name["b"].running
        assert found.running
        (line,) = found.lagging
        assert line.startswith("bridge b: its monitor is not running")
        # The dashboard's banner and the alerts see the same.
        banner = health.judge(found, within=health.limits(settings), now=datetime.now(UTC))
        assert banner.level is health.Level.BEHIND
        assert "A bridge is behind: bridge b" in banner.message
        assert [b["name"] for b in banner.as_json()["bridges"]] == ["a", "b"]
        assert alerts.health(found).lagging == found.lagging
        # `status` prints a line per bridge, and fails on the lag with a limit.
        table = status.table([found])
        assert "prod: bridge a: newest message" in table
        assert "monitor stopped" in table.split("prod: bridge b:")[1]
        limited = status.assess(settings, url=database_url, limits=status.Limits(max_behind=500))
        assert any(p.startswith("bridge b:") for p in limited.problems)
        code, _ = daemon.stop()
        assert code == 0, daemon.stderr
