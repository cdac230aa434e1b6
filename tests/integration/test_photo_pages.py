"""The drop's photos on its review page, in a real browser: chromium against uvicorn, real
PostgreSQL, the monitor (`run --once`), the fetcher and the simulated bridge. Screenshots:
build/screenshots/photos-*.png. And who may fetch a photo: a logged-in user of the photo's own
environment, with private caching, nosniff, the JPEG type and no path in the answer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import CHROMIUM, log_in, new_page, shot
from tests.support.env import LAWLEY, sast, write_config
from tests.support.runs import say
from tests.support.web import add_user, dashboard, make_app, served
from wa_monitor.adapters.media import BridgeMedia, PhotoCache
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.cli import main
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.photos import LAWLEY as LAWLEY_PLACE
from wa_monitor.devtools.photos import WALK, draw
from wa_monitor.devtools.simulator import BridgeWriter, media_post
from wa_monitor.services.photos import Fetcher
from wa_monitor.settings import Settings, load_settings

AGENT = "27821234567"
DROP = "DR1234567"
ARRIVED = sast(11, 9, 0)

pytestmark = pytest.mark.migrated("prod", "dev")


@dataclass
class Shop:
    settings: Settings
    config: Path
    api: SimulatedBridgeApi
    db: psycopg.Connection[Any]
    url: str

    def run_monitor(self) -> None:
        assert main(["run", "--config", str(self.config), "--once", "--give-up-after", "2"]) == 0

    def fetch(self) -> None:
        with Fetcher(
            Database(self.url, "public", "prod"),
            bridge=BridgeMedia(self.api.url),
            cache=PhotoCache(self.settings.cache_dir, max_bytes=1 << 30),
            media_dir=self.api.store,
            max_bytes=8 << 20,
            per_minute=6000,
            clock=lambda: ARRIVED + timedelta(hours=2),
        ) as fetcher:
            fetcher.run_once()

    def review_id(self) -> str:
        row = self.db.execute(
            "SELECT id FROM public.qa_photo_reviews WHERE drop_number = %s", (DROP,)
        ).fetchone()
        assert row is not None
        return str(row[0])

    def key(self, message_id: str) -> str:
        row = self.db.execute(
            "SELECT content_key FROM public.wa_monitor_photos WHERE message_id = %s", (message_id,)
        ).fetchone()
        assert row is not None
        return str(row[0])


@pytest.fixture
def shop(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Shop]:
    store = tmp_path / "store"
    store.mkdir()
    with SimulatedBridgeApi(bridge_db=store / "messages.db") as api:
        config = write_config(
            tmp_path,
            "prod",
            bridge_db=store / "messages.db",
            groups={LAWLEY: "Lawley"},
            extra=f'bridge_api_url = "{api.url}"\nphotos_cache_dir = "{tmp_path / "cache"}"',
        )
        monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
        add_user(database_url, "public", "thandi", Role.REVIEWER)
        yield Shop(load_settings(config), config, api, db, database_url)


def twelve_photos_and_the_placeholders(shop: Shop) -> None:
    """12 photos of the first round (one of them sent in the same second as another, one
    expired), the drop number, then a resubmission with one photo not fetched yet."""
    media = [
        media_post(
            id=f"P{i:02d}",
            chat_jid=LAWLEY,
            sender=AGENT,
            moment=ARRIVED + timedelta(seconds=11 * i),
            data=draw(WALK[i], taken=ARRIVED, place=LAWLEY_PLACE, label=f"HWTC{i:04d}"),
        )
        for i in range(11)
    ]
    twin = media_post(
        id="P11", chat_jid=LAWLEY, sender=AGENT, moment=ARRIVED, data=draw(WALK[11], label="x")
    )
    gone = media_post(
        id="P12", chat_jid=LAWLEY, sender=AGENT, moment=ARRIVED + timedelta(minutes=3), data=b"x"
    )
    shop.api.post_media(*media, twin, gone)
    shop.api.expire(gone)
    assert shop.api.bridge_db is not None
    with BridgeWriter(shop.api.bridge_db) as writer:
        say(writer, "D1", f"{DROP} all photos", ARRIVED + timedelta(minutes=4), sender=AGENT)
    shop.run_monitor()
    shop.fetch()
    with BridgeWriter(shop.api.bridge_db) as writer:
        say(writer, "D2", f"{DROP} fixed", ARRIVED + timedelta(hours=2), sender=AGENT)
    shop.api.post_media(
        media_post(
            id="R1",
            chat_jid=LAWLEY,
            sender=AGENT,
            moment=ARRIVED + timedelta(hours=2, minutes=1),
            data=draw(WALK[0], label="again"),
        )
    )
    shop.run_monitor()  # recorded and tied, not fetched yet


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing")
def test_the_review_page_shows_the_photos_beside_the_steps_with_a_large_view_and_placeholders(
    browser: Browser, shop: Shop
) -> None:
    twelve_photos_and_the_placeholders(shop)
    with served(make_app(shop.settings, shop.url)) as base, new_page(browser) as page:
        log_in(page, base, "thandi")
        page.goto(f"{base}/wa-monitor/reviews/{shop.review_id()}")
        photos = page.locator("[data-testid=photos]")
        expect(photos).to_be_visible()
        expect(page.locator("[data-testid=photo-round]")).to_have_count(2)
        expect(page.locator(".photo-thumb")).to_have_count(11)
        missing = page.locator("[data-testid=photo-missing]")
        expect(missing).to_have_count(3)
        text = " | ".join(missing.all_inner_texts())
        assert "Wrong file" in text
        assert "Expired on WhatsApp's servers" in text
        assert "Not fetched yet" in text
        for img in page.locator(".photo-thumb img").all():
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        assert "store/" not in page.content()  # no path of the bridge's
        shot(page, "photos-review")

        page.locator(".photo-thumb").first.click()
        view = page.locator("[data-testid=photo-view]")
        expect(view).to_be_visible()
        caption = view.locator("[data-photo-caption]")
        expect(caption).to_contain_text("1 of 11")
        expect(caption).to_contain_text("26.39350° S, 27.80720° E")
        page.keyboard.press("ArrowRight")
        expect(caption).to_contain_text("2 of 11")
        shot(page, "photos-large-view")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        expect(caption).to_contain_text("11 of 11")
        page.keyboard.press("Escape")
        expect(view).to_be_hidden()


def test_a_photo_is_served_only_to_a_logged_in_user_of_its_own_environment(
    shop: Shop, tmp_path: Path, database_url: str
) -> None:
    twelve_photos_and_the_placeholders(shop)
    key = shop.key("P00")
    wrong = shop.key("P11")  # the mismatched one: its key is its own, never fetched
    path = f"/wa-monitor/photos/{key}/thumb"

    with dashboard(shop.settings, database_url) as d:
        assert d.client.get(path).status_code == 401
        assert d.login("thandi").status_code == 303
        answer = d.client.get(path)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/jpeg"
        assert answer.headers["cache-control"].startswith("private")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.content[:2] == b"\xff\xd8"
        assert d.client.get(f"/wa-monitor/photos/{key}/screen").status_code == 200
        # The list says how many photos each drop has (14: 13 of the first round, 1 since).
        assert d.client.get("/wa-monitor/reviews?format=json").json()["reviews"][0]["photos"] == 14
        assert "14 photos" in d.client.get("/wa-monitor/reviews").text
        for bad in (
            f"/wa-monitor/photos/{wrong}/thumb",
            f"/wa-monitor/photos/{'0' * 64}/thumb",
            f"/wa-monitor/photos/{key}/original",
            f"/wa-monitor/photos/{key[:-1]}G/thumb",
            "/wa-monitor/photos/..%2F..%2Fetc%2Fpasswd/thumb",
        ):
            refused = d.client.get(bad)
            assert refused.status_code == 404, bad
            assert str(shop.settings.cache_dir) not in refused.text

    # Dev's dashboard, the same cache folder even: prod's photo is no photo of dev's reviews.
    (tmp_path / "dev").mkdir()
    dev = load_settings(
        write_config(
            tmp_path / "dev",
            "dev",
            bridge_db=shop.settings.bridge_db,
            groups={"120363421664266245@g.us": "Velo Test"},
            extra=f'photos_cache_dir = "{shop.settings.cache_dir}"',
        ),
        expect="dev",
    )
    add_user(database_url, "dev", "devon")
    with dashboard(dev, database_url) as d:
        assert d.login("devon").status_code == 303
        assert d.client.get(path).status_code == 404
