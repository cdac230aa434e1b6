"""Several bridges in `status`, the dashboard's health and the alerts' findings: each bridge's
newest message, its lag behind the freshest, its monitor's last read and whether it runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.support.browser import CHROMIUM, log_in, new_page, shot
from tests.support.env import AGENT, LAWLEY, write_config
from tests.support.harness import Daemon
from tests.support.web import add_user, dashboard, make_app, served
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp
from wa_monitor.services import alerts, health, status
from wa_monitor.settings import Settings, load_settings

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


@dataclass
class TwoBridges:
    """Production on bridges a and b (files a.db, b.db), each read once by its own monitor."""

    settings: Settings
    config: Path
    writers: dict[str, BridgeWriter]
    url: str
    now: datetime  # M2, which b has not, was posted 30 minutes before this

    def read(self, name: str) -> None:
        assert main(["run", "--config", str(self.config), "--bridge", name, "--once"]) == 0

    @contextmanager
    def running(self, name: str) -> Iterator[None]:
        """Bridge `name`'s monitor runs: a session holds the election's lock and its cursor
        row names that session (as adapters/postgres/db's election leaves them)."""
        with psycopg.connect(self.url) as monitor:
            monitor.execute("LOCK TABLE public.wa_monitor_instance IN ROW EXCLUSIVE MODE")
            with psycopg.connect(self.url, autocommit=True) as other:
                other.execute(
                    "UPDATE public.wa_monitor_cursor SET holder_pid = a.pid, "
                    "holder_started = a.backend_start FROM pg_stat_activity a "
                    "WHERE a.pid = %s AND bridge = %s",
                    (monitor.info.backend_pid, name),
                )
            yield


@pytest.fixture
def two_bridges(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TwoBridges]:
    """Bridge b stalled 150 minutes ago: a has a message that b does not."""
    now = datetime.now(UTC).replace(microsecond=0)
    paths = {"a": tmp_path / "a.db", "b": tmp_path / "b.db"}
    cfg = write_config(
        tmp_path,
        "prod",
        bridges=paths,
        groups={LAWLEY: "Lawley"},
        bots=("27000000001",),
        extra="[web]\nrefresh_seconds = 1",
    )
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    with BridgeWriter(paths["a"]) as a, BridgeWriter(paths["b"]) as b:
        for writer in (a, b):
            writer.chat(LAWLEY, "Lawley")
            post(writer, "M1", now - timedelta(hours=3))
        post(a, "M2", now - timedelta(minutes=30))
        bridges = TwoBridges(load_settings(cfg), cfg, {"a": a, "b": b}, database_url, now)
        bridges.read("a")
        bridges.read("b")
        yield bridges


def test_metrics_show_each_bridges_lag_monitor_and_last_read(two_bridges: TwoBridges) -> None:
    with two_bridges.running("a"), dashboard(two_bridges.settings, two_bridges.url) as dash:
        text = dash.client.get("/metrics").text
    gauges = {
        (sample.name, sample.labels.get("bridge")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("environment") == "prod"
    }
    assert gauges["wa_monitor_bridge_lag_seconds", "a"] == 0
    assert gauges["wa_monitor_bridge_lag_seconds", "b"] == pytest.approx(150 * 60, abs=1)
    assert gauges["wa_monitor_bridge_running", "a"] == 1
    assert gauges["wa_monitor_bridge_running", "b"] == 0
    for name in ("a", "b"):  # both were read a moment ago
        assert 0 <= gauges["wa_monitor_bridge_last_read_age_seconds", name] < 300
    assert gauges["wa_monitor_behind", None] == 1  # b is behind: the banner warns too


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing")
def test_the_banner_shows_each_bridge_and_follows_them_as_the_page_refreshes(
    two_bridges: TwoBridges, browser: Browser
) -> None:
    add_user(two_bridges.url, "public", "ayanda")
    with (
        two_bridges.running("a"),
        served(make_app(two_bridges.settings, two_bridges.url)) as base,
        new_page(browser) as page,
    ):
        log_in(page, base, "ayanda")
        page.goto(f"{base}/wa-monitor")
        banner = page.locator("[data-health]")
        expect(banner).to_have_class("health health-behind")
        expect(banner.locator("[data-health-message]")).to_contain_text(
            "A bridge is behind: bridge b"
        )
        a, b = (banner.locator(f'[data-health-bridge="{n}"]') for n in ("a", "b"))
        expect(a).to_contain_text("monitor running")
        expect(a).not_to_contain_text("behind")
        expect(b).to_contain_text("150 min behind")
        expect(b).to_contain_text("monitor stopped")
        shot(page, "bridges-banner-behind")
        # Bridge b comes back: its history sync brings M2, its monitor reads it and runs. The
        # page follows on its own refresh, each bridge's line too.
        post(two_bridges.writers["b"], "M2", two_bridges.now - timedelta(minutes=30))
        two_bridges.read("b")
        with two_bridges.running("b"):
            expect(b).to_contain_text("monitor running", timeout=15_000)
            expect(b).not_to_contain_text("behind")
            expect(a).not_to_contain_text("behind")  # a is no longer the only freshest either
            expect(banner).to_have_class("health health-ok")
            shot(page, "bridges-banner-caught-up")
            refreshed = b.inner_text()
            page.reload()  # the server words the line as the refresh did
            expect(b).to_have_text(refreshed)
