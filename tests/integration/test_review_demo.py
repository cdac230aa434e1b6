"""`wa-monitor demo --review` end to end in a browser: a person logs in, reviews a drop, sends
feedback, and watches the agent's fix come back as a resubmission."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, new_page, played_frame, shot
from tests.support.web import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing"),
]


@pytest.fixture
def demo(tmp_path: Path, demo_folder: Path) -> Iterator[tuple[str, str]]:
    """The review demo running; (dashboard URL, the reviewer's password)."""
    port = free_port()
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wa_monitor",
                "demo",
                "--review",
                "--seconds",
                "240",
                "--dir",
                str(demo_folder / "work"),
                "--port",
                str(port),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"password: (\S+)", out.read_text())):
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/wa-monitor", found[1]
    finally:
        proc.terminate()
        proc.wait(60)
    assert "the agent posted" in out.read_text()


def test_the_review_demo_closes_the_loop(browser: Browser, demo: tuple[str, str]) -> None:
    base, password = demo
    page: Page
    with new_page(browser) as page:
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "reviewer")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.goto(f"{base}/reviews")
        counts = page.locator("[data-testid=photo-count]")
        expect(counts).to_have_count(4, timeout=20_000)
        assert sorted(counts.all_inner_texts()) == [
            "12 photos",
            "12 photos",
            "7 photos",
            "9 photos",
        ]
        # The drop filmed as well as photographed: its video's tile, and the video plays.
        page.goto(f"{base}/reviews?drop=DR1752044")
        page.click("table.reviews tbody tr td a")
        expect(page.locator(".photo-thumb")).to_have_count(7)
        expect(page.locator(".video-thumb")).to_have_text("▶ Video")
        shot(page, "review-demo-video-tile")
        page.locator(".video-thumb").click()
        frame = played_frame(page.locator("[data-photo-video]"))
        assert (frame["width"], frame["height"]) == (128, 96)
        shot(page, "review-demo-video")
        page.keyboard.press("Escape")
        page.goto(f"{base}/reviews?drop=DR1752028")
        expect(page.locator("table.reviews tbody tr")).to_have_count(1, timeout=20_000)
        page.click("table.reviews tbody tr td a")
        # The drop's 12 photos beside the steps, fetched before the dashboard opened.
        thumbs = page.locator(".photo-thumb img")
        expect(thumbs).to_have_count(12)
        for img in thumbs.all():
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        shot(page, "review-demo-photos")
        for column in ("step_01_house_photo", "step_02_cable_from_pole"):
            page.check(f"input[name=mark_{column}][value=passed]")
        page.check("input[name=mark_step_03_cable_entry_outside][value=wrong]")
        page.fill("input[name=why_step_03_cable_entry_outside]", "cable loose on the wall")
        page.click("button:has-text('Save verdict')")
        expect(page.locator("[data-testid=notice]")).to_have_text("Verdict saved.")
        page.click("button:has-text('Send to the group')")
        expect(page.locator("[data-testid=notice]")).to_have_text("Feedback sent to the group.")
        shot(page, "review-demo-sent")

        page.goto(f"{base}/reviews?drop=DR1752028&resubmitted=yes")
        deadline = time.monotonic() + 40
        while page.locator("table.reviews tbody tr td a").count() == 0:
            assert time.monotonic() < deadline, "the agent's fix never came back"
            time.sleep(2)
            page.reload()
        shot(page, "review-demo-resubmitted")
