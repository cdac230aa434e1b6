"""The dashboard in a real browser: Debian's chromium driven by Playwright, against uvicorn and a
real PostgreSQL. Each test saves a screenshot of the pages it visits in build/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect
from psycopg import sql

from tests.support.browser import CHROMIUM, new_page, shot
from tests.support.env import AGENT, LAWLEY, MOHADIN
from tests.support.plans import prod_with_lists
from tests.support.runs import run_once, say
from tests.support.web import (
    SAST,
    Row,
    add_user,
    environment,
    make_app,
    refreshing_every_second,
    seed,
    served,
)
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp
from wa_monitor.settings import load_settings

AGENTS = [
    ("Thandi Mokoena", AGENT),
    ("Sipho Dlamini", "27711558301"),
    ("Lerato Nkosi", "27821234567"),
    ("Johan van Wyk", "27834445566"),
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="chromium is missing (Debian: apt-get install chromium; scripts/test.sh does)",
    ),
    pytest.mark.migrated("prod"),
]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser) as opened:
        yield opened


def month_of_reviews(db: psycopg.Connection[Any], schema: str, now: datetime) -> None:
    """About 200 reviews over the last 30 days in three projects, in every state."""
    rows = []
    for i in range(210):
        at = now - timedelta(hours=3.4 * i + 0.5)
        name, phone = AGENTS[i % len(AGENTS)]
        rows.append(
            Row(
                f"DR{1752000 + i * 37}",
                at,
                project=("Lawley", "Mohadin", "Mamelodi")[(i * 7) % 3 if i % 5 else 0],
                completed=i % 4 == 0,
                incomplete=i % 4 == 1,
                resubmitted=i % 9 == 0,
                feedback_sent=at + timedelta(hours=2) if i % 4 in {0, 1} and i % 3 else None,
                user_name=name,
                phone=phone,
                steps=12 if i % 4 == 0 else (i * 5) % 12,
            )
        )
    seed(db, schema, rows)


def healthy(db: psycopg.Connection[Any], schema: str, now: datetime) -> None:
    """What a running monitor leaves: its position just saved, its last message just applied."""
    cursor = sql.Identifier(schema, "wa_monitor_cursor")
    ledger = sql.Identifier(schema, "wa_monitor_ledger")
    db.execute(
        sql.SQL(
            "INSERT INTO {} (bridge_rowid, bridge_file, read_at) VALUES (0, 'x', now())"
        ).format(cursor)
    )
    db.execute(
        sql.SQL(
            "INSERT INTO {} (chat_jid, message_id, bridge_rowid, drops, sent_at, processed_at) "
            "VALUES (%s, 'M1', 1, 'DR1752000', %s, %s)"
        ).format(ledger),
        (LAWLEY, now - timedelta(minutes=2), now - timedelta(seconds=100)),
    )


def history(bridge: BridgeWriter, db: psycopg.Connection[Any], drop: str, at: datetime) -> None:
    """Two messages in Mohadin's group that named `drop`, as the bridge and the ledger keep them."""
    bridge.chats({"27711558301@s.whatsapp.net": "Sipho Dlamini"})
    for mid, text, when in (
        ("H1", f"{drop} 12 Jacaranda St", at),
        ("H2", f"{drop} fixed, photos updated", at + timedelta(hours=20)),
    ):
        stamp = bridge_timestamp(when)
        post = Post(id=mid, chat_jid=MOHADIN, sender="27711558301", content=text, timestamp=stamp)
        bridge.post(post)
        db.execute(
            "INSERT INTO public.wa_monitor_ledger "
            "(chat_jid, message_id, bridge_rowid, drops, sent_at, processed_at) "
            "VALUES (%s, %s, 0, %s, %s, %s)",
            (MOHADIN, mid, drop, when, when + timedelta(seconds=2)),
        )


def log_in(page: Page, base: str, username: str = "ayanda") -> None:
    page.goto(f"{base}/wa-monitor")
    expect(page).to_have_url(f"{base}/wa-monitor/login?next=%2Fwa-monitor")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/wa-monitor")


def test_overview_review_list_and_review_in_the_browser(
    page: Page,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
) -> None:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    add_user(database_url, "public", "ayanda")
    now = datetime.now(SAST)
    month_of_reviews(db, "public", now)
    healthy(db, "public", now)
    today = db.execute(
        "SELECT count(DISTINCT drop_number) FROM public.qa_photo_reviews "
        "WHERE (whatsapp_message_date AT TIME ZONE 'Africa/Johannesburg')::date = %s",
        (now.date(),),
    ).fetchone()
    assert today is not None
    with (
        psycopg.connect(database_url) as monitor,
        served(make_app(settings, database_url)) as base,
    ):
        monitor.execute("LOCK TABLE public.wa_monitor_instance IN EXCLUSIVE MODE")  # as it runs
        page.goto(f"{base}/wa-monitor/reviews")
        expect(page.locator("h1")).to_have_text("Log in")
        shot(page, "login")
        log_in(page, base)
        expect(page.locator("[data-total]")).to_have_text(str(today[0]))
        expect(page.locator("[data-health]")).to_have_class("health health-ok")
        expect(page.locator("svg.chart rect").first).to_be_visible()
        assert page.locator(".dev-banner").count() == 0
        shot(page, "overview")

        page.click("nav >> text=Reviews")
        page.select_option("select[name=project]", "Mohadin")
        page.select_option("select[name=status]", "incomplete")
        page.click("form.filters button[type=submit]")
        expect(page).to_have_url(f"{base}/wa-monitor/reviews?project=Mohadin&status=incomplete")
        rows = page.locator("table.reviews tbody tr")
        assert rows.count() > 0
        assert set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"Mohadin"}
        shot(page, "reviews")

        first_drop = rows.first.locator("td a").inner_text()
        history(bridge, db, first_drop, now - timedelta(days=1))
        rows.first.locator("td a").click()
        expect(page.locator("h1")).to_contain_text(first_drop)
        # ayanda is a reviewer: the 12 steps are rows of the verdict form.
        expect(page.locator("[data-testid=verdict-form] tbody tr")).to_have_count(12)
        expect(page.locator(".history tbody tr")).to_have_count(2)
        expect(page.locator(".history")).to_contain_text("Sipho Dlamini")
        expect(page.locator(".history")).to_contain_text(f"{first_drop} fixed, photos updated")
        shot(page, "review")

        page.click("button:has-text('Log out')")
        expect(page.locator("h1")).to_have_text("Log in")
        page.goto(f"{base}/wa-monitor/reviews")
        expect(page.locator("h1")).to_have_text("Log in")


def test_the_overview_refreshes_its_figures_and_leaves_what_is_typed_alone(
    page: Page,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
) -> None:
    settings = refreshing_every_second(tmp_path, bridge=bridge, url=database_url)
    now = datetime.now(SAST)
    seed(db, "public", [Row("DR1000001", now - timedelta(minutes=5))])
    with served(make_app(settings, database_url)) as base:
        log_in(page, base)
        expect(page.locator('[data-card="total"]')).to_have_text("1")
        expect(page.locator("[data-health]")).to_have_class("health health-stopped")
        day = page.locator("input[name=day]")
        day.fill((now.date() - timedelta(days=3)).isoformat())  # typed, not submitted
        seed(db, "public", [Row("DR1000002", now - timedelta(minutes=1), project="Mohadin")])
        expect(page.locator('[data-card="total"]')).to_have_text("2", timeout=10_000)
        expect(page.locator("[data-total]")).to_have_text("2")
        expect(page.locator("#day-table tbody")).to_contain_text("Mohadin")
        # The refresh note's time is Johannesburg's, offset shown, whatever the browser's zone.
        expect(page.locator("[data-refresh-note]")).to_contain_text(
            re.compile(r"\d\d:\d\d:\d\d \+02:00")
        )
        assert day.input_value() == (now.date() - timedelta(days=3)).isoformat()
        assert page.url == f"{base}/wa-monitor"
        # Off the page before the server stops: its next refresh would find nobody listening.
        page.goto("about:blank")


@pytest.mark.migrated("prod", "dev")
def test_a_dev_dashboard_is_unmistakable(
    page: Page,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
) -> None:
    environment(tmp_path / "prod", "prod", bridge=bridge, url=database_url)
    settings = environment(tmp_path / "dev", "dev", bridge=bridge, url=database_url)
    add_user(database_url, "dev", "ayanda")
    now = datetime.now(SAST)
    seed(db, "public", [Row("DR8000001", now - timedelta(hours=1))])
    seed(db, "dev", [Row("DR9000001", now - timedelta(hours=1), project="Velo Test")])
    with served(make_app(settings, database_url)) as base:
        log_in(page, base)
        banner = page.locator(".dev-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("DEV")
        assert page.title().startswith("[DEV]")
        shot(page, "dev-overview")
        page.goto(f"{base}/wa-monitor/reviews")
        expect(page.locator(".dev-banner")).to_be_visible()
        expect(page.locator("table.reviews")).to_contain_text("DR9000001")
        expect(page.locator("table.reviews")).not_to_contain_text("DR8000001")
        shot(page, "dev-reviews")


def test_the_overview_lists_the_days_invalid_drops_and_refreshes_them(
    page: Page,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    groups = {LAWLEY: "Lawley", MOHADIN: "Mohadin"}
    config = prod_with_lists(
        tmp_path / "prod",
        bridge.path,
        database_url,
        monkeypatch,
        groups,
        extra="[web]\nrefresh_seconds = 1",
    )
    # Yesterday's posts (the overview of a chosen day), so no run straddles midnight.
    day = datetime.now(SAST).date() - timedelta(days=1)
    nine = datetime(day.year, day.month, day.day, 9, tzinfo=SAST)
    bridge.chats({f"{phone}@s.whatsapp.net": name for name, phone in AGENTS})
    for n, (mid, text, chat, minutes) in enumerate(
        [
            ("L1", "DR1000001 12 Jacaranda St", LAWLEY, 0),
            ("L2", "DR2000001", LAWLEY, 10),  # in Mohadin's plan, not Lawley's
            ("M1", "DR1000002 DR7000001", MOHADIN, 20),  # one valid, one not
            ("M2", "dr 1000009 photos done", MOHADIN, 30),
        ]
    ):
        sender = AGENTS[n % len(AGENTS)][1]
        say(bridge, mid, text, nine + timedelta(minutes=minutes), chat=chat, sender=sender)
    assert run_once(config, database_url, monkeypatch) == 0
    db.execute(
        "UPDATE public.wa_monitor_outbox SET state = 'sent', done_at = %s WHERE message_id = 'L2'",
        (nine + timedelta(minutes=10, seconds=2),),
    )
    db.execute("UPDATE public.wa_monitor_outbox SET state = 'unknown' WHERE message_id = 'M1'")
    add_user(database_url, "public", "ayanda")
    rows = page.locator("#invalid-table tbody tr")
    with served(make_app(load_settings(config), database_url)) as base:
        log_in(page, base)
        page.goto(f"{base}/wa-monitor?day={day}")
        expect(page.locator("[data-invalid-total]")).to_have_text("3")
        expect(rows).to_have_count(3)
        assert rows.locator("td:nth-child(3)").all_inner_texts() == [
            "DR1000009",
            "DR7000001",
            "DR2000001",
        ]
        expect(rows.nth(2).locator("td.reply")).to_have_text("answered at 09:10:02")
        expect(rows.nth(1)).to_contain_text("outcome unknown")
        expect(rows.nth(0)).to_contain_text("waiting to be sent")
        expect(rows.nth(0)).to_contain_text("not in the valid list for Mohadin")
        page.locator("#invalid").scroll_into_view_if_needed()
        shot(page, "overview-invalid")

        # A new invalid drop arrives: the list refreshes with the figures, the page stays put.
        say(bridge, "L3", "DR6666666", nine + timedelta(minutes=40))
        assert run_once(config, database_url, monkeypatch) == 0
        expect(page.locator("[data-invalid-total]")).to_have_text("4", timeout=10_000)
        expect(rows).to_have_count(4)
        expect(rows.first).to_contain_text("DR6666666")
        expect(rows.first.locator("td.reply")).to_have_text("waiting to be sent")
        assert page.url == f"{base}/wa-monitor?day={day}"
