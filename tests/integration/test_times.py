"""One time zone: every time a person reads (the monitor's and the dashboard's log lines, the
status table) is in the environment's zone with its offset, whatever zone the host runs in; and
the overview's chart refreshes with the rest of its figures."""

from __future__ import annotations

import logging
import logging.config
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from playwright.sync_api import Browser, expect

from tests.integration.test_web_cli import wa
from tests.support.browser import CHROMIUM, log_in, new_page, shot
from tests.support.env import LAWLEY, sast
from tests.support.ops import Envs
from tests.support.web import (
    SAST,
    SECRET,
    Row,
    environment,
    make_app,
    refreshing_every_second,
    seed,
    served,
)
from wa_monitor.adapters.logs import LOGGER_NAME
from wa_monitor.cli import web as web_cli
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.web.server import log_config

pytestmark = pytest.mark.migrated("prod")

# A line's own time: the environment's (Johannesburg, +02:00), to the millisecond.
STAMP = re.compile(r"^(\[DEV\] )?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+02:00 ")


@pytest.fixture(autouse=True)
def lines_unconfigured_after() -> Iterator[None]:
    """The logging these tests configure writes to their captured stderr: gone after them."""
    yield
    for name in (LOGGER_NAME, "uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        for handler in list(logging.getLogger(name).handlers):
            logging.getLogger(name).removeHandler(handler)
            handler.close()


@pytest.fixture
def utc_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process runs as on a host kept on UTC, the environment's zone being Johannesburg's."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_monitors_log_lines_are_in_the_environments_zone_on_a_utc_host(
    envs: Envs, utc_host: None, capsys: pytest.CaptureFixture[str]
) -> None:
    envs.say("A1", "DR1111111 installed", sast(11, 9, 30), chat=LAWLEY)
    capsys.readouterr()
    assert envs.run("prod") == 0
    lines = capsys.readouterr().err.splitlines()
    created = [line for line in lines if "✅ Created QA review for DR1111111" in line]
    assert len(created) == 1, lines
    assert all(STAMP.match(line) for line in lines), lines
    # The message's time and the line's own time say the same zone.
    assert "sent_at=2025-11-11T09:30:00+02:00" in created[0]


def test_the_dashboards_log_lines_are_in_the_environments_zone_on_a_utc_host(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    utc_host: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environment(tmp_path, "prod", bridge=bridge, url=database_url)
    monkeypatch.setattr(web_cli, "serve", lambda settings, **_: None)
    assert (
        wa(monkeypatch, database_url, "web", "--config", str(tmp_path / "prod.toml"), secret=SECRET)
        == 0
    )
    capsys.readouterr()
    # A feedback send's line (services/feedback.py logs through structlog), with a moment
    # PostgreSQL handed over in UTC.
    structlog.get_logger("wa_monitor.feedback").info(
        "feedback send", at=datetime(2025, 11, 11, 7, 30, tzinfo=UTC)
    )
    # uvicorn's own lines, as `wa-monitor web` configures them.
    logging.config.dictConfig(log_config("", "Africa/Johannesburg"))
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert all(STAMP.match(line) for line in lines), lines
    assert lines[0].endswith("feedback send at=2025-11-11T09:30:00+02:00")


def test_the_status_table_says_each_time_with_its_offset(
    envs: Envs, utc_host: None, capsys: pytest.CaptureFixture[str]
) -> None:
    envs.say("A1", "DR1111111 installed", sast(11, 9, 30), chat=LAWLEY)
    assert envs.run("prod") == 0
    capsys.readouterr()
    envs.wa("status")  # (dev's schema is not migrated here: a problem of its own)
    head, *rows = capsys.readouterr().out.splitlines()
    [prod] = [row for row in rows if row.startswith("prod ")]
    read_at = head.index("LAST READ")
    assert re.match(r"\d\d-\d\d \d\d:\d\d ", prod[read_at:]), prod
    # Said once below the rows: the zone the times are in, and its offset.
    assert "times are local: Africa/Johannesburg, UTC+02:00" in rows


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="chromium is missing (Debian: apt-get install chromium; scripts/test.sh does)",
)
def test_the_overviews_chart_refreshes_with_the_figures(
    browser: Browser,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
) -> None:
    settings = refreshing_every_second(tmp_path, bridge=bridge, url=database_url)
    now = datetime.now(SAST)
    today = now.date().isoformat()
    seed(db, "public", [Row("DR1000001", now - timedelta(minutes=5))])
    with served(make_app(settings, database_url)) as base, new_page(browser) as page:
        log_in(page, base, "ayanda")
        chart = page.locator(".chart-box svg.chart")
        expect(chart.locator("rect title")).to_have_text([f"{today} Lawley: 1"])
        expect(page.locator(".chart-box .legend li")).to_have_text(["Lawley"])
        seed(
            db,
            "public",
            [
                Row("DR1000002", now - timedelta(minutes=2)),
                Row("DR1000003", now - timedelta(minutes=1), project="Mohadin"),
            ],
        )
        expect(chart.locator("rect title")).to_have_text(
            [f"{today} Lawley: 2", f"{today} Mohadin: 1"], timeout=10_000
        )
        expect(page.locator(".chart-box .legend li")).to_have_text(["Lawley", "Mohadin"])
        swatch = page.locator(".chart-box .legend li svg rect").nth(1)
        assert swatch.get_attribute("fill") == "#E69F00"  # the bar's own colour
        assert page.url == f"{base}/wa-monitor"  # refreshed in place, not reloaded
        # The zone said once on the page, with its offset.
        expect(page.get_by_test_id("zone")).to_have_text("Africa/Johannesburg, UTC+02:00")
        shot(page, "overview-chart-refreshed")
        page.goto("about:blank")  # before the server stops
