"""The reviewer's screens in a real browser (chromium through Playwright, uvicorn, a real
PostgreSQL): the queue across days, next/previous and "save and next", presence marks, "all OK",
keyboard shortcuts, the phone layout (390x844) and the laptop's (1366x768), and axe-core's
accessibility rules on every page. Screenshots of every page at both sizes go to
build/screenshots/screens-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import CHROMIUM, SHOTS, log_in
from tests.support.env import LAWLEY, MOHADIN
from tests.support.plans import prod_with_lists
from tests.support.runs import run_once, say
from tests.support.web import (
    PASSWORD,
    SAST,
    Row,
    add_user,
    csrf_of,
    dashboard,
    environment,
    make_app,
    seed,
    served,
)
from wa_monitor.adapters.postgres import presence
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.core.steps import Step
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.settings import Settings, load_settings

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="chromium is missing (Debian: apt-get install chromium; scripts/test.sh does)",
    ),
    pytest.mark.migrated("prod"),
]

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
AXE = Axe()


@dataclass
class Desk:
    """Production's dashboard served over reviews of several days; thandi and sipho review,
    vusi views. `awaiting` are the reviews nobody has judged, oldest first."""

    base: str
    db: psycopg.Connection[Any]
    url: str
    awaiting: list[tuple[UUID, str, str]]  # id, drop, project
    reviewed: UUID
    settings: Settings

    def row(self, review_id: UUID) -> dict[str, Any]:
        cur = self.db.cursor(row_factory=psycopg.rows.dict_row)
        found = cur.execute(
            "SELECT * FROM public.qa_photo_reviews WHERE id = %s", (review_id,)
        ).fetchone()
        assert found is not None
        return found


@pytest.fixture
def desk(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> Iterator[Desk]:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    for name, role in (("thandi", Role.REVIEWER), ("sipho", Role.REVIEWER)):
        add_user(database_url, "public", name, role)
    add_user(database_url, "public", "vusi", Role.VIEWER)
    now = datetime.now(SAST).replace(microsecond=0)
    # Awaiting: 10 days ago (Lawley), 5 days ago (Mohadin), 2 days ago (Lawley), 1 day ago
    # (Lawley), an hour ago (Mohadin); and one reviewed, 3 days ago (Lawley).
    plan = [
        ("DR2000010", 10, "Lawley"),
        ("DR2000005", 5, "Mohadin"),
        ("DR2000002", 2, "Lawley"),
        ("DR2000001", 1, "Lawley"),
        ("DR2000000", 0, "Mohadin"),
    ]
    rows = [
        Row(drop, now - timedelta(days=days, minutes=1), project=project)
        for drop, days, project in plan
    ]
    ids = seed(db, "public", [*rows, Row("DR2000003", now - timedelta(days=3), completed=True)])
    awaiting = [(i, d, p) for i, (d, _, p) in zip(ids, plan, strict=False)]
    with served(make_app(settings, database_url)) as base:
        yield Desk(base, db, database_url, awaiting, ids[-1], settings)


def context(browser: Browser, desk: Desk, user: str | None, size: dict[str, int]) -> BrowserContext:
    """A browser context of one size, logged in as `user` (None: nobody)."""
    made = browser.new_context(viewport=size)  # type: ignore[arg-type]
    if user is not None:
        page = made.new_page()
        page.goto(f"{desk.base}/wa-monitor/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{desk.base}/wa-monitor")
        page.close()
    return made


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"screens-{name}.png", full_page=True)


def drops(page: Page) -> list[str]:
    return page.locator("[data-testid=queue] tbody tr td:first-child").all_inner_texts()


def checked(page: Page) -> dict[str, str]:
    """Each step's checked radio on the review page."""
    marks: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('tr[data-step]')].map(
            r => [r.dataset.step, (r.querySelector('input[type=radio]:checked') || {}).value]))"""
    )
    return marks


def test_the_queue_walks_every_day_oldest_first_and_saves_and_moves_on(
    browser: Browser, desk: Desk
) -> None:
    thandi = context(browser, desk, "thandi", LAPTOP)
    sipho = context(browser, desk, "sipho", LAPTOP)
    page = thandi.new_page()
    page.goto(f"{desk.base}/wa-monitor")
    page.click("[data-testid=nav-queue]")  # one click from every page's navigation
    expect(page).to_have_url(f"{desk.base}/wa-monitor/queue")
    oldest_first = [d for _, d, _ in desk.awaiting]
    assert drops(page) == oldest_first  # all days, the reviewed one left out
    counts = page.locator("[data-testid=queue-counts]")
    lawley, mohadin = (
        counts.locator("tr[data-project=Lawley]"),
        counts.locator("tr[data-project=Mohadin]"),
    )
    assert lawley.locator("td").all_inner_texts() == ["0", "2", "0", "1", "3"]
    assert mohadin.locator("td").all_inner_texts() == ["1", "0", "1", "0", "2"]

    page.select_option("select[name=order]", "newest")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(f"{desk.base}/wa-monitor/queue?order=newest")
    assert drops(page) == oldest_first[::-1]

    # A band's count is a link to exactly those reviews.
    page.goto(f"{desk.base}/wa-monitor/queue")
    lawley.locator("a[data-band=days_1_2]").click()
    assert drops(page) == ["DR2000002", "DR2000001"]
    page.goto(f"{desk.base}/wa-monitor/queue")
    lawley.locator("th a").click()
    expect(page).to_have_url(f"{desk.base}/wa-monitor/queue?project=Lawley")
    assert drops(page) == ["DR2000010", "DR2000002", "DR2000001"]
    page.locator("[data-testid=queue] tbody tr a").first.click()
    expect(page.locator("h1")).to_contain_text("DR2000010")
    nav = page.locator("[data-testid=queue-nav]")
    expect(nav.locator("a[rel=next]")).to_be_visible()
    expect(nav.locator("a[rel=prev]")).to_have_count(0)  # the first of the queue
    first_url = page.url

    # sipho opens the same review: he sees thandi on it, and nothing stops him.
    other = sipho.new_page()
    other.goto(first_url)
    expect(other.locator("[data-testid=presence]")).to_contain_text("thandi")
    expect(other.locator("[data-testid=verdict-form] button[data-key=save]")).to_be_enabled()
    other.goto(f"{desk.base}/wa-monitor/queue?project=Lawley")
    expect(other.locator("[data-testid=open-by]").first).to_contain_text("thandi")

    # "All OK" in one click (not saved yet), then "n": save and next, the filters kept.
    assert set(checked(page).values()) == {"missing"}
    page.click("[data-all-ok]")
    assert set(checked(page).values()) == {"passed"}
    assert desk.row(desk.awaiting[0][0])["completed"] is False
    page.keyboard.press("n")
    expect(page.locator("h1")).to_contain_text("DR2000002")
    assert "queue=1" in page.url
    assert "project=Lawley" in page.url
    first = desk.row(desk.awaiting[0][0])
    assert first["completed"] is True
    assert first["reviewed_by"] == "thandi"
    # DR2000010 has its verdict now: it left the queue, so this is the first of it.
    expect(page.locator("[data-testid=queue-nav] a[rel=prev]")).to_have_count(0)

    # Shortcuts: o (step 1 OK, on to 2), w (2 wrong: its reason box), letters typed there are
    # text, not shortcuts; Esc, j (step 3), m (missing), s (save).
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("o")
    page.keyboard.press("w")
    reason = page.locator(f"input[name=why_{Step(2).column}]")
    expect(reason).to_be_focused()
    page.keyboard.type("blurry photo, meter not shown")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("m")
    marks = checked(page)
    assert marks[Step(1).column] == "passed"
    assert marks[Step(2).column] == "wrong"  # the o, m, s typed in the box changed nothing
    assert marks[Step(3).column] == "missing"
    page.keyboard.press("s")
    expect(page.locator("[data-testid=notice]")).to_have_text("Verdict saved.")
    second = desk.row(desk.awaiting[2][0])
    assert second["incomplete"] is True
    assert second["step_01_house_photo"] is True
    assert "blurry photo, meter not shown" in str(second["wrong_steps"])
    assert "queue=1" in page.url  # still walking the queue

    # "All OK and save and next" on the last of Lawley's: back to the queue, which is done.
    page.click("[data-testid=queue-nav] a[rel=next]")
    expect(page.locator("h1")).to_contain_text("DR2000001")
    page.click("[data-testid=all-ok-save]")
    expect(page).to_have_url(f"{desk.base}/wa-monitor/queue?project=Lawley&done=1")
    expect(page.locator("[data-testid=notice]")).to_contain_text("last review")
    # Nothing of Lawley's awaits a verdict now (DR2000002 was saved incomplete).
    expect(page.locator("[data-testid=queue] tbody tr[data-review]")).to_have_count(0)
    thandi.close()
    sipho.close()


def test_a_presence_mark_expires_on_its_own(desk: Desk) -> None:
    db = Database(desk.url, "public", "prod")
    review = desk.awaiting[0][0]
    with psycopg.connect(desk.url, autocommit=True) as conn:
        presence.mark(conn, db, review, "thandi")
        assert [p.username for p in presence.present(conn, db, [review])[review]] == ["thandi"]
        conn.execute(
            "UPDATE public.wa_monitor_review_presence SET seen_at = now() - interval '3 minutes'"
        )
        assert presence.present(conn, db, [review]) == {}  # nobody renewed it: gone
        conn.execute(
            "UPDATE public.wa_monitor_review_presence SET seen_at = now() - interval '1 hour'"
        )
        presence.mark(conn, db, desk.awaiting[1][0], "sipho")  # a write sweeps the old marks
        left = conn.execute("SELECT username FROM public.wa_monitor_review_presence").fetchall()
        assert left == [("sipho",)]


def test_a_refused_save_from_the_queue_keeps_its_next_and_the_input(desk: Desk) -> None:
    review = desk.awaiting[1][0]
    with dashboard(desk.settings, desk.url) as dash:
        assert dash.login("sipho").status_code == 303
        page = dash.client.get(f"/wa-monitor/reviews/{review}?queue=1&project=Mohadin")
        form = {
            "csrf": csrf_of(page.text),
            "version": "1",
            "queue": "queue=1&project=Mohadin",
            "comment": "typed before the refusal",
            "then": "next",
        }
        desk.db.execute(
            "UPDATE public.qa_photo_reviews SET version = version + 1 WHERE id = %s", (review,)
        )
        refused = dash.client.post(f"/wa-monitor/reviews/{review}/verdict", data=form)
    assert refused.status_code == 409
    assert "typed before the refusal" in refused.text
    assert 'name="queue" value="queue=1&amp;project=Mohadin"' in refused.text
    assert 'data-key="save-next"' in refused.text  # "save and next" still there
    assert desk.row(review)["reviewed_by"] is None


# Every page a person reaches, by who sees it: the name of its screenshot, the path, the user.
PAGES = [
    ("login", "/wa-monitor/login", None),
    ("overview", "/wa-monitor", "thandi"),
    ("queue", "/wa-monitor/queue", "thandi"),
    ("reviews", "/wa-monitor/reviews", "thandi"),
    ("quality", "/wa-monitor/quality", "thandi"),
    ("review", "/wa-monitor/reviews/{review}?queue=1", "thandi"),
    ("review-viewer", "/wa-monitor/reviews/{review}", "vusi"),
    ("review-done", "/wa-monitor/reviews/{reviewed}", "thandi"),
    ("not-found", "/wa-monitor/reviews/00000000-0000-0000-0000-000000000000", "thandi"),
]


def serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, as readable lines."""
    found = AXE.run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_page_fits_the_screen_and_passes_axe(browser: Browser, desk: Desk, size: str) -> None:
    viewport = LAPTOP if size == "laptop" else PHONE
    contexts = {u: context(browser, desk, u, viewport) for u in {u for _, _, u in PAGES}}
    ids = {"review": desk.awaiting[0][0], "reviewed": desk.reviewed}
    problems: dict[str, list[str]] = {}
    for name, path, user in PAGES:
        page = contexts[user].new_page()
        page.goto(desk.base + path.format(**ids))
        page.wait_for_load_state("networkidle")
        shot(page, f"{name}-{size}")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= viewport["width"], f"{name} scrolls sideways at {size}: {width} px"
        if found := serious(page):
            problems[name] = found
        page.close()
    assert problems == {}

    page = contexts["thandi"].new_page()
    page.goto(f"{desk.base}/wa-monitor/reviews/{desk.awaiting[0][0]}?queue=1")
    form = page.locator("[data-testid=verdict-form]")
    small = page.evaluate(
        """() => [...document.querySelectorAll(
                'form.verdict label.hit, form.verdict button, .queue-nav .button')]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.textContent.trim() || e.className, e.getBoundingClientRect()])
            .filter(([, r]) => r.width < 44 || r.height < 44)
            .map(([t, r]) => t + ' ' + Math.round(r.width) + 'x' + Math.round(r.height))"""
    )
    assert small == [], f"touch targets under 44 px at {size}: {small}"
    steps_top = page.locator("section.steps").bounding_box()
    fields_top = page.locator("section.fields").bounding_box()
    assert steps_top is not None
    assert fields_top is not None
    if size == "phone":
        assert steps_top["y"] < fields_top["y"]  # the steps first
        page.goto(f"{desk.base}/wa-monitor/reviews")
        row = page.locator("table.reviews tbody tr").first
        assert row.evaluate("r => getComputedStyle(r).display") == "block"  # a card
    else:
        # The width is used: the steps beside the fields, each step's name on one line.
        assert steps_top["width"] > fields_top["width"]
        heights = form.locator(".step-name").evaluate_all(
            "names => names.map(n => n.getClientRects().length)"
        )
        assert heights == [1] * 12
        reason = form.locator(f"input[name=why_{Step(7).column}]").bounding_box()
        assert reason is not None
        assert reason["width"] >= 300
    for opened in contexts.values():
        opened.close()


# Tab from wherever it starts: each control Tab lands on is marked, and marked again when its
# focus ring is not visible (no outline of 2 px or more, no box shadow).
TAB_STOP = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return;
  e.dataset.reached = '1';
  const s = getComputedStyle(e);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
    || s.boxShadow !== 'none';
  if (!ring) e.dataset.noRing = '1';
}"""
CONTROLS = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary')]
    .filter(e => e.offsetParent !== null && !e.disabled);
  all.forEach((e, i) => e.dataset.control = String(i));
  return all.length;
}"""
# Controls Tab never reached (a radio group counts as reached through any of its radios), and
# those reached without a visible focus ring.
UNREACHED = """() => {
  const reached = document.querySelectorAll('input[type=radio][data-reached]');
  const groups = new Set([...reached].map(r => r.name));
  const name = e => e.outerHTML.slice(0, 80);
  return {
    missed: [...document.querySelectorAll('[data-control]:not([data-reached])')]
      .filter(e => !(e.type === 'radio' && groups.has(e.name))).map(name),
    unringed: [...document.querySelectorAll('[data-no-ring]')].map(name),
  };
}"""


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_control_of_every_page_is_reachable_by_keyboard_with_a_visible_focus(
    browser: Browser, desk: Desk, size: str
) -> None:
    viewport = LAPTOP if size == "laptop" else PHONE
    contexts = {u: context(browser, desk, u, viewport) for u in {u for _, _, u in PAGES}}
    ids = {"review": desk.awaiting[1][0], "reviewed": desk.reviewed}
    problems = {}
    for name, path, user in PAGES:
        page = contexts[user].new_page()
        page.goto(desk.base + path.format(**ids))
        page.wait_for_load_state("networkidle")
        controls = page.evaluate(CONTROLS)
        assert controls > 0, name
        for _ in range(2 * controls + 10):  # twice round, wherever Tab starts
            page.keyboard.press("Tab")
            page.evaluate(TAB_STOP)
        found = page.evaluate(UNREACHED)
        if found["missed"] or found["unringed"]:
            problems[name] = found
        if name == "review":  # the ring as a person sees it, on a step's radios
            for _ in range(controls):
                page.keyboard.press("Tab")
                if page.evaluate("() => document.activeElement.type === 'radio'"):
                    break
            page.screenshot(path=SHOTS / f"screens-focus-{name}-{size}.png")
        page.close()
    assert problems == {}
    for opened in contexts.values():
        opened.close()


# A sender's name as anyone can set it on WhatsApp: a right-to-left override left open, an
# embedding, an isolate without its end, Arabic letters, a left-to-right override.
HOSTILE_NAME = "\u202eThandi \u202bAgent \u2067عبدالله \u202dx"
HOSTILE_PHONE = "27821234567"
DROP = "DR1000001"  # in Lawley's plan (tests/support/plans.py)
# The row's cells in reading order, the pieces of each cell (a name, then the phone number
# beside it) in reading order, and every run of plain (ASCII) text in the row (phone number,
# drop, times, project) drawn left to right: what a name's unisolated override would reorder.
OUT_OF_ORDER = """row => {
  const problems = [];
  function box(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    return node.nodeType === 1 ? node.getBoundingClientRect() : range.getBoundingClientRect();
  }
  function inOrder(nodes, what) {
    const boxes = nodes.map(box).filter(b => b.width);
    for (let i = 1; i < boxes.length; i++) {
      const a = boxes[i - 1], b = boxes[i];
      if (b.top < a.top - 1 || (Math.abs(b.top - a.top) <= 1 && b.left < a.left))
        problems.push(what + ': piece ' + i + ' is drawn before the one ahead of it');
    }
  }
  const cells = [...row.children].filter(c => c.getClientRects().length);
  inOrder(cells, 'the cells');
  cells.forEach((cell, i) => inOrder(
    [...cell.childNodes].filter(n => n.nodeType === 1 || n.data.trim()), 'cell ' + i));
  const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!/[0-9A-Za-z]/.test(n.data) || /[^\\x20-\\x7e]/.test(n.data)) continue;
    let last = null;
    for (let i = 0; i < n.data.length; i++) {
      if (n.data[i] === ' ') continue;
      const range = document.createRange();
      range.setStart(n, i);
      range.setEnd(n, i + 1);
      const box = range.getBoundingClientRect();
      if (!box.width) continue;
      if (last && Math.abs(box.top - last.top) <= 1 && box.left < last.left) {
        problems.push('"' + n.data.trim() + '" is drawn out of order');
        break;
      }
      last = box;
    }
  }
  return problems;
}"""


def test_a_sender_name_with_bidi_overrides_leaves_the_rest_of_each_row_in_order(
    browser: Browser,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lawley checks its drops against its plan: the sender's invalid drop is listed on the
    # overview, which the page's script rebuilds at each refresh.
    groups = {LAWLEY: "Lawley", MOHADIN: "Mohadin"}
    extra = "[web]\nrefresh_seconds = 1"
    config = prod_with_lists(tmp_path, bridge.path, database_url, monkeypatch, groups, extra)
    bridge.chat(f"{HOSTILE_PHONE}@s.whatsapp.net", HOSTILE_NAME)  # the bridge's contact name
    at = datetime.now(SAST).replace(microsecond=0) - timedelta(minutes=3)
    say(bridge, "B1", f"{DROP} done", at, sender=HOSTILE_PHONE)
    say(bridge, "B2", "DR6666666", at + timedelta(minutes=1), sender=HOSTILE_PHONE)
    assert run_once(config, database_url, monkeypatch) == 0
    add_user(database_url, "public", "thandi")
    with served(make_app(load_settings(config), database_url)) as base:
        for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            opened = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
            page = opened.new_page()
            log_in(page, base, "thandi")
            rows = {}
            for name, path, row in (
                ("queue", "/wa-monitor/queue", "[data-testid=queue] tbody tr"),
                ("reviews", "/wa-monitor/reviews", "table.reviews tbody tr"),
                ("review", "", "section.history tbody tr"),
            ):
                if name == "review":
                    page.goto(f"{base}/wa-monitor/reviews")
                    page.get_by_role("link", name=DROP).first.click()
                else:
                    page.goto(base + path)
                found = page.locator(row).filter(has_text=DROP if path else HOSTILE_PHONE)
                expect(found).to_have_count(1)
                expect(found.locator("bdi").first).to_contain_text("Thandi")
                shot(page, f"bidi-{name}-{size}")
                rows[name] = found.evaluate(OUT_OF_ORDER)
            # The name is shown as typed, its controls and letters kept (and what it left open
            # closed after it).
            history = page.locator("section.history tbody tr bdi").first
            assert history.inner_text() == HOSTILE_NAME + "\u202c\u2069\u202c\u202c"
            # The overview's invalid drops, as the refresh rebuilt them.
            page.goto(f"{base}/wa-monitor")
            invalid = page.locator("#invalid-table tbody tr").filter(has_text="DR6666666")
            invalid.evaluate("row => { row.dataset.served = '1'; }")
            expect(page.locator("#invalid-table tbody tr[data-served]")).to_have_count(0)
            expect(invalid.locator("bdi")).to_contain_text("Thandi")
            shot(page, f"bidi-overview-{size}")
            rows["overview"] = invalid.evaluate(OUT_OF_ORDER)
            assert rows == {"queue": [], "reviews": [], "review": [], "overview": []}, size
            opened.close()
