"""The review workflow in a real browser: chromium (Playwright) against uvicorn, a real
PostgreSQL, the real monitor (`run --once`) and the simulated bridge's HTTP API. Each test
saves screenshots in build/screenshots/review-*.png."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, log_in, new_page, shot
from tests.support.env import LAWLEY, sast, write_config
from tests.support.web import add_user, make_app, served
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.cli import main
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict, feedback_text
from wa_monitor.devtools.bridge_api import Fault, SimulatedBridgeApi
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp
from wa_monitor.settings import load_settings

AGENT = "27821234567"
BOT = "27640412391"
DROP = "DR1234567"

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="chromium is missing (Debian: apt-get install chromium; scripts/test.sh does)",
    ),
    pytest.mark.migrated("prod"),
]


@dataclass
class Desk:
    """Production's dashboard served, one review from the monitor, the simulated bridge."""

    base: str
    config: Path
    bridge: BridgeWriter
    api: SimulatedBridgeApi
    db: psycopg.Connection[Any]
    review_url: str

    def row(self) -> dict[str, Any]:
        cur = self.db.cursor(row_factory=psycopg.rows.dict_row)
        found = cur.execute(
            "SELECT * FROM public.qa_photo_reviews WHERE drop_number = %s", (DROP,)
        ).fetchone()
        assert found is not None
        return found

    def agent_posts(self, mid: str, text: str, day: int, hour: int) -> None:
        at = bridge_timestamp(sast(day, hour))
        self.bridge.post(Post(id=mid, chat_jid=LAWLEY, sender=AGENT, content=text, timestamp=at))

    def run_monitor(self) -> None:
        assert main(["run", "--config", str(self.config), "--once", "--give-up-after", "2"]) == 0


@pytest.fixture
def desk(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Desk]:
    with SimulatedBridgeApi(bridge_db=bridge.path, bot_number=BOT) as api:
        config = write_config(
            tmp_path,
            "prod",
            bridge_db=bridge.path,
            groups={LAWLEY: "Lawley"},
            bots=(BOT,),
            extra=f'bridge_api_url = "{api.url}"\n[web]\nrefresh_seconds = 1',
        )
        monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
        for name, role in (("thandi", Role.REVIEWER), ("sipho", Role.REVIEWER)):
            add_user(database_url, "public", name, role)
        add_user(database_url, "public", "vusi", Role.VIEWER)
        with served(make_app(load_settings(config), database_url)) as base:
            desk = Desk(base, config, bridge, api, db, "")
            desk.agent_posts("A1", f"{DROP} installed, photos above", 11, 9)
            desk.run_monitor()
            desk.review_url = f"{base}/wa-monitor/reviews/{desk.row()['id']}"
            yield desk


def open_review(page: Page, desk: Desk, user: str) -> None:
    log_in(page, desk.base, user)
    page.goto(desk.review_url)
    expect(page.locator("h1")).to_contain_text(DROP)


def mark(page: Page, step: Step, how: str, why: str = "") -> None:
    page.check(f"input[name=mark_{step.column}][value={how}]")
    if why:
        page.fill(f"input[name=why_{step.column}]", why)


def tick_all_but(page: Page, *skip: Step) -> None:
    for step in Step:
        if step not in skip:
            mark(page, step, "passed")


def save(page: Page) -> None:
    page.click("button:has-text('Save verdict')")


def notice(page: Page) -> str:
    box = page.locator("[data-testid=notice]")
    expect(box).to_be_visible()
    return box.inner_text()


def test_tick_and_save_sets_the_review_and_composes_the_feedback(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as page:
        open_review(page, desk, "thandi")
        shot(page, "review-open")
        tick_all_but(page, Step.HOUSE_PHOTO, Step.CABLE_ENTRY_OUTSIDE)
        mark(page, Step.CABLE_ENTRY_OUTSIDE, "wrong", "cable not clipped to the wall")
        page.fill("textarea[name=comment]", "Please redo two photos")
        save(page)

        assert notice(page) == "Verdict saved."
        expected = feedback_text(
            DROP,
            Verdict.of(
                passed=set(Step) - {Step.HOUSE_PHOTO, Step.CABLE_ENTRY_OUTSIDE},
                wrong={Step.CABLE_ENTRY_OUTSIDE: "cable not clipped to the wall"},
                comment="Please redo two photos",
            ),
        )
        assert page.input_value("textarea[name=text]") == expected
        expect(page.locator("[data-testid=changes] tbody tr").first).to_contain_text("thandi")
        # The ticked steps are counted as steps, not as photos: the gallery beside says those.
        expect(page.locator("[data-testid=step-counts]")).to_have_text(
            "10 of 12 passed, 2 outstanding"
        )
        shot(page, "review-saved")

    row = desk.row()
    assert (row["completed"], row["incomplete"]) == (False, True)
    assert (row["completed_photos"], row["outstanding_photos"]) == (10, 2)
    assert row["wrong_steps"] == {"step_03_cable_entry_outside": "cable not clipped to the wall"}
    assert row["reviewed_by"] == "thandi"


def test_a_wrong_step_without_a_reason_is_refused_and_the_ticks_stay(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as page:
        open_review(page, desk, "thandi")
        tick_all_but(page, Step.UPS_SERIAL)
        mark(page, Step.UPS_SERIAL, "wrong")
        save(page)

        assert "9. UPS Serial is marked wrong: say what is wrong" in notice(page)
        assert page.is_checked(f"input[name=mark_{Step.HOUSE_PHOTO.column}][value=passed]")
        assert page.is_checked(f"input[name=mark_{Step.UPS_SERIAL.column}][value=wrong]")
    assert desk.row()["version"] == 1


def test_two_reviewers_save_the_same_review_the_second_is_refused_with_its_input_kept(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as first, new_page(browser) as second:
        open_review(first, desk, "thandi")
        open_review(second, desk, "sipho")
        tick_all_but(first)
        save(first)
        assert notice(first) == "Verdict saved."

        tick_all_but(second, Step.HOUSE_PHOTO)
        mark(second, Step.HOUSE_PHOTO, "wrong", "photo of the neighbour's house")
        save(second)

        text = notice(second)
        assert "This review changed after you opened it: thandi saved a verdict at" in text
        assert "Nothing was saved" in text
        assert second.is_checked(f"input[name=mark_{Step.HOUSE_PHOTO.column}][value=wrong]")
        assert (
            second.input_value(f"input[name=why_{Step.HOUSE_PHOTO.column}]")
            == "photo of the neighbour's house"
        )
        expect(second.locator(f"[data-testid=now-{Step.HOUSE_PHOTO.column}]")).to_have_text(
            "now saved: passed"
        )
        shot(second, "review-refused")
        assert desk.row()["completed"] is True  # thandi's verdict stands

        # The reviewer looked, and saves again on purpose: now it goes through.
        save(second)
        assert notice(second) == "Verdict saved."
    assert desk.row()["wrong_steps"] == {"step_01_house_photo": "photo of the neighbour's house"}


def test_a_resubmission_is_shown_before_the_save_and_the_form_is_left_alone(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as page:
        open_review(page, desk, "thandi")
        mark(page, Step.GREEN_LIGHTS, "wrong", "LOS is red")
        page.fill("textarea[name=comment]", "half typed")

        desk.agent_posts("A2", f"{DROP} fixed", 12, 8)
        desk.run_monitor()

        changed = page.locator("[data-testid=changed-notice]")
        expect(changed).to_be_visible(timeout=10_000)
        expect(changed).to_contain_text("resubmitted the drop")
        assert page.input_value("textarea[name=comment]") == "half typed"
        assert page.input_value(f"input[name=why_{Step.GREEN_LIGHTS.column}]") == "LOS is red"
        shot(page, "review-resubmitted")

        save(page)
        assert "resubmitted the drop" in notice(page)
    assert desk.row()["reviewed_by"] is None


def saved_with_feedback(page: Page, desk: Desk, user: str = "thandi") -> str:
    open_review(page, desk, user)
    tick_all_but(page, Step.ONT_BARCODE)
    mark(page, Step.ONT_BARCODE, "wrong", "barcode unreadable")
    save(page)
    assert notice(page) == "Verdict saved."
    return page.input_value("textarea[name=text]")


def test_send_posts_one_message_to_the_group_and_stamps_the_review(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as page:
        text = saved_with_feedback(page, desk)
        assert text == (
            f"{DROP}\nNEEDS CORRECTION\n\nIncorrect items:\n• 8. ONT Barcode - barcode unreadable"
        )
        expect(page.locator("[data-testid=destination]")).to_have_text("Goes to the Lawley group.")
        text += "\nSend the new photo here, thanks"  # the reviewer edits the message
        page.fill("textarea[name=text]", text)
        page.click("button:has-text('Send to the group')")

        assert notice(page) == "Feedback sent to the group."
        expect(page.locator("[data-testid=sends] tbody tr").first).to_contain_text("sent")
        # Sent: Send is disabled and says when and by whom (no second click to be refused).
        expect(page.locator("button:has-text('Send to the group')")).to_be_disabled()
        expect(page.locator("[data-testid=sent-now]")).to_contain_text("Sent ")
        shot(page, "review-sent")

    [sent] = desk.api.sent()
    assert (sent.recipient, sent.text) == (LAWLEY, text)
    assert desk.row()["feedback_sent"] is not None


def test_a_double_click_and_two_reviewers_sending_together_post_one_message(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as first, new_page(browser) as second:
        saved_with_feedback(first, desk)
        open_review(second, desk, "sipho")  # sipho sees the same saved verdict
        desk.api.fault(Fault.SLOW, delay_s=1.0)  # the sends overlap the bridge call
        posts: list[str] = []  # the Sends the first page's browser made
        first.on(
            "request",
            lambda r: posts.append(r.url) if r.method == "POST" and "/send" in r.url else None,
        )

        first.dblclick("button:has-text('Send to the group')", no_wait_after=True)
        second.click("button:has-text('Send to the group')", no_wait_after=True)
        for page in (first, second):
            expect(page.locator("[data-testid=notice]")).to_be_visible(timeout=15_000)

        texts = [notice(first), notice(second)]
        shot(first, "review-double-click")
        shot(second, "review-second-sender")
    assert len(desk.api.wait_for(2, timeout_s=3)) == 1
    assert len(posts) == 1, posts  # the double click sent the form once
    assert texts.count("Feedback sent to the group.") == 1, texts
    assert any(t.startswith("Not sent:") for t in texts), texts
    states = [
        r[0]
        for r in desk.db.execute("SELECT state FROM public.wa_monitor_feedback_sends").fetchall()
    ]
    assert states == ["sent"]


def test_a_second_click_while_the_first_send_is_on_its_way_posts_nothing_more(
    browser: Browser, desk: Desk
) -> None:
    """A slow double click: the second click lands after the first POST left, while its answer
    is held (the bridge is slow). Chromium coalesces two submits of one task into one
    navigation, so a fast dblclick alone cannot tell; this one posts twice without the page's
    guard, and the page then shows the second answer ('… is sending this feedback right now')."""
    with new_page(browser) as page:
        saved_with_feedback(page, desk)
        desk.api.fault(Fault.SLOW, delay_s=1.5)
        posts: list[str] = []
        page.on(
            "request",
            lambda r: posts.append(r.url) if r.method == "POST" and "/send" in r.url else None,
        )
        button = page.locator("button:has-text('Send to the group')")
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        # The mouse itself: a locator's click would wait for the first click's navigation.
        with page.expect_request(lambda r: r.method == "POST" and "/send" in r.url):
            page.mouse.click(x, y)
        page.mouse.click(x, y)  # the first POST is on its way, its answer held

        expect(page.locator("[data-testid=notice]")).to_be_visible(timeout=15_000)
        text = notice(page)
        shot(page, "review-slow-double-click")
    assert len(posts) == 1, posts
    assert text == "Feedback sent to the group."
    assert len(desk.api.wait_for(2, timeout_s=3)) == 1


def test_a_bridge_that_is_down_shows_an_error_in_time_stamps_nothing_and_send_works_after(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as page:
        saved_with_feedback(page, desk)
        desk.api.down()
        started = time.monotonic()
        page.click("button:has-text('Send to the group')")
        text = notice(page)
        elapsed = time.monotonic() - started

        assert "The WhatsApp bridge cannot send right now (bridge not reachable" in text
        assert elapsed < 10
        assert desk.row()["feedback_sent"] is None
        shot(page, "review-bridge-down")

        desk.api.up()
        page.click("button:has-text('Send to the group')")
        assert notice(page) == "Feedback sent to the group."
    assert len(desk.api.sent()) == 1
    assert desk.row()["feedback_sent"] is not None


def test_an_unknown_outcome_is_shown_and_send_waits_for_a_person(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as page:
        saved_with_feedback(page, desk)
        desk.api.bridge_db = None  # it does not store its API sends: nothing proves the post
        desk.api.fault(Fault.DROP_AFTER_POST)
        page.click("button:has-text('Send to the group')")
        assert "may have been posted" in notice(page)
        expect(page.locator("[data-testid=unresolved]")).to_be_visible()
        shot(page, "review-unknown")

        desk.api.fault(Fault.NONE)
        page.click("button:has-text('Send to the group')")
        assert "Check the group, then say whether it arrived" in notice(page)
        assert len(desk.api.sent()) == 1

        page.click("button:has-text('It is in the group')")
        expect(page.locator("[data-testid=unresolved]")).to_have_count(0)
    assert len(desk.api.sent()) == 1
    assert desk.row()["feedback_sent"] is not None


def test_a_viewer_sees_no_form_and_is_refused_by_the_server(browser: Browser, desk: Desk) -> None:
    with new_page(browser) as page:
        open_review(page, desk, "vusi")
        expect(page.locator("[data-testid=verdict-form]")).to_have_count(0)
        expect(page.locator("[data-testid=send-form]")).to_have_count(0)
        expect(page.locator(".step-list li")).to_have_count(12)
        shot(page, "review-viewer")
        csrf = page.locator("input[name=csrf]").first.input_value()
        fields = {"csrf": csrf, "version": "1", f"mark_{Step.HOUSE_PHOTO.column}": "passed"}
        saved = page.request.post(f"{desk.review_url}/verdict", form=fields)
        sent = page.request.post(f"{desk.review_url}/send", form={**fields, "text": DROP})

        assert (saved.status, sent.status) == (403, 403)
        assert "Only reviewers" in saved.text()
        forged = page.request.post(f"{desk.review_url}/verdict", form={**fields, "csrf": "x"})
        assert forged.status == 403
    assert desk.row()["version"] == 1
    assert desk.api.sent() == ()


def test_the_loop_feedback_fix_resubmission_back_on_the_dashboard(
    browser: Browser, desk: Desk
) -> None:
    with new_page(browser) as page:
        text = saved_with_feedback(page, desk)
        page.click("button:has-text('Send to the group')")
        assert notice(page) == "Feedback sent to the group."

        # The bot's own message names the drop; the monitor must not take it for a fix.
        desk.run_monitor()
        assert desk.row()["resubmitted"] is False
        assert desk.row()["feedback_sent"] is not None

        desk.agent_posts("A2", f"{DROP} fixed the barcode photo", 11, 16)
        desk.run_monitor()
        row = desk.row()
        assert (row["resubmitted"], row["feedback_sent"]) == (True, None)

        page.goto(f"{desk.base}/wa-monitor/reviews?resubmitted=yes&drop={DROP}")
        listed = page.locator("table.reviews tbody tr")
        expect(listed).to_have_count(1)
        expect(listed.first).to_contain_text(DROP)
        expect(listed.first).to_contain_text("Yes")
        shot(page, "review-loop-list")
        page.goto(desk.review_url)
        expect(page.locator("[data-testid=changes]")).to_contain_text("Resubmitted in WhatsApp")
        shot(page, "review-loop-review")
    # What the bridge file holds: the agent's post, the bot's message, then the agent's fix.
    with contextlib.closing(sqlite3.connect(desk.bridge.path)) as sqlite:
        rows = sqlite.execute(
            "SELECT sender, is_from_me, content FROM messages ORDER BY rowid"
        ).fetchall()
    assert rows[1:] == [(BOT, 1, text), (AGENT, 0, f"{DROP} fixed the barcode photo")]
