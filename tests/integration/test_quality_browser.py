"""The Quality page in a real browser (chromium via Playwright, uvicorn, a real PostgreSQL) at a
laptop's and a phone's size: no console error, no sideways scroll on the phone, a step's link
and an agent's lead to their reviews, the agents sort. Screenshots in build/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.integration.test_quality import FIRST, LAST, history, through_the_workflow, write
from tests.support.browser import CHROMIUM, log_in, shot
from tests.support.web import add_user, environment, make_app, served
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="chromium is missing (Debian: apt-get install chromium; scripts/test.sh does)",
    ),
    pytest.mark.migrated("prod"),
]

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
RANGE = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"


@pytest.fixture
def base(tmp_path: Path, bridge: BridgeWriter, database_url: str) -> Iterator[str]:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    add_user(database_url, "public", "ayanda")
    with psycopg.connect(database_url, autocommit=True) as db:
        write(db, history())
        through_the_workflow(db, database_url)
    with served(make_app(settings, database_url)) as url:
        yield url


def opened(browser: Browser, size: dict[str, int]) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=size)  # type: ignore[arg-type]
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    return page, problems


def sideways(page: Page) -> Any:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_quality_page_at_a_laptops_size(browser: Browser, base: str) -> None:
    page, problems = opened(browser, LAPTOP)
    log_in(page, base, "ayanda")
    page.get_by_role("link", name="Quality").click()
    expect(page.locator("h1")).to_contain_text("Quality")
    page.goto(f"{base}/wa-monitor/quality?{RANGE}")
    expect(page.locator("#quality-projects")).to_contain_text("All projects")
    expect(page.locator("svg.chart")).to_be_visible()
    shot(page, "quality-laptop")
    assert sideways(page) <= 0
    # Sorting the agents by first-time pass rate (the URL says so) and back.
    page.locator("#quality-agents thead").get_by_role("link", name="First-time pass rate").click()
    expect(page).to_have_url(f"{base}/wa-monitor/quality?{RANGE}&sort=rate&order=desc")
    rates = page.locator("#quality-agents tbody tr td:nth-child(4)").all_inner_texts()
    values = [float(r.split("%")[0]) for r in rates if "%" in r]
    assert values == sorted(values, reverse=True)
    # A step lists its reviews: the list filtered by that step, in the same range.
    page.locator("#quality-steps tbody tr").first.locator("th a").click()
    expect(page).to_have_url(re.compile(rf"/wa-monitor/reviews\?{RANGE}&step=\d+$"))
    expect(page.locator("table.reviews tbody tr").first).to_be_visible()
    shot(page, "quality-step-reviews")
    page.close()
    assert problems == []


def test_the_quality_page_on_a_phone_has_no_sideways_scroll(browser: Browser, base: str) -> None:
    page, problems = opened(browser, PHONE)
    log_in(page, base, "ayanda")
    page.goto(f"{base}/wa-monitor/quality?{RANGE}")
    expect(page.locator("#quality-agents")).to_be_visible()
    assert sideways(page) <= 0
    shot(page, "quality-phone")
    page.close()
    assert problems == []
