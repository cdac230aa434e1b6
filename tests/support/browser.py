"""The browser tests' shared parts: Debian's chromium driven by Playwright, screenshots in
build/screenshots/, a console that must stay free of errors (a CSP violation lands there)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from tests.support.web import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def new_page(browser: Browser) -> Iterator[Page]:
    """A page in its own context (its own cookies: one user); no console error allowed."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "status of 40" not in message.text:
            problems.append(message.text)

    opened.on("console", on_console)
    try:
        yield opened
    finally:
        context.close()
    assert problems == [], f"the browser console reported errors: {problems}"


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/wa-monitor/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/wa-monitor")


# Plays the <video> (muted: no gesture needed), waits for a frame on screen and reads it back
# through a canvas: what the browser decoded, or the reason it could not.
_PLAYED_FRAME = """v => new Promise((ok, fail) => {
  const read = () => {
    const c = document.createElement("canvas");
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext("2d", {willReadFrequently: true});
    g.drawImage(v, 0, 0);
    ok({width: v.videoWidth, height: v.videoHeight,
        corner: Array.from(g.getImageData(4, 4, 1, 1).data.slice(0, 3))});
  };
  v.addEventListener("error", () => fail(new Error("not decoded: " + v.error.message)));
  setTimeout(() => fail(new Error("no frame within 10 s")), 10000);
  v.muted = true;
  v.addEventListener("timeupdate", function once() {
    if (v.currentTime > 0) { v.removeEventListener("timeupdate", once); v.pause(); read(); }
  });
  v.play().catch(e => fail(e));
})"""


def played_frame(player: Locator) -> dict[str, object]:
    """The video's size and its top-left pixel as decoded, after it played a moment."""
    found: dict[str, object] = player.evaluate(_PLAYED_FRAME)
    return found
