"""The drop's photos on its review page, in a real browser: chromium against uvicorn, real
PostgreSQL, the monitor (`run --once`), the fetcher and the simulated bridge. Screenshots:
build/screenshots/photos-*.png. And who may fetch a photo: a logged-in user of the photo's own
environment, with private caching, nosniff, the JPEG type and no path in the answer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, SHOTS, log_in, new_page, played_frame, shot
from tests.support.env import LAWLEY, sast, write_config
from tests.support.runs import say
from tests.support.web import add_user, dashboard, make_app, served
from wa_monitor.adapters.media import BridgeMedia, Decoder, PhotoCache
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.cli import main
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.photos import LAWLEY as LAWLEY_PLACE
from wa_monitor.devtools.photos import WALK, clip, draw, slow_jpeg
from wa_monitor.devtools.simulator import BridgeWriter, MediaPost, media_post
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

    def fetch(self, **kw: Any) -> None:
        with Fetcher(
            Database(self.url, "public", "prod"),
            bridge=BridgeMedia(self.api.url),
            cache=PhotoCache(self.settings.cache_dir, max_bytes=1 << 30),
            media_dir=self.api.store,
            max_bytes=8 << 20,
            per_minute=6000,
            clock=lambda: ARRIVED + timedelta(hours=2),
            **kw,
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


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing")
def test_a_photo_being_retried_says_whether_the_bridge_or_this_server_failed(
    browser: Browser, shop: Shop
) -> None:
    """Four photos retried for four real reasons, and one not asked for yet: the bridge not
    answering (down), the bridge failing to download it (its own error), a file the decoder is
    stopped on (a JPEG of 20,000 scans, past the decoder's limit) and this server's photo cache
    refusing the copy. (Before: each said "The bridge is not answering", also when the bridge
    had served the file and the fault was this server's.)"""
    assert shop.api.bridge_db is not None

    def photo(message_id: str, second: int, data: bytes) -> MediaPost:
        moment = ARRIVED + timedelta(seconds=second)
        return media_post(id=message_id, chat_jid=LAWLEY, sender=AGENT, moment=moment, data=data)

    bridge_error = photo("B1", 10, draw(WALK[1], label="bridge"))
    hostile = photo("C1", 20, slow_jpeg())
    not_kept = photo("H1", 30, draw(WALK[2], label="here"))
    shop.api.post_media(bridge_error, hostile, not_kept)
    with BridgeWriter(shop.api.bridge_db) as writer:
        say(writer, "D1", f"{DROP} all photos", ARRIVED + timedelta(minutes=4), sender=AGENT)
    shop.run_monitor()
    named = shop.api.store / LAWLEY.replace(":", "_") / bridge_error.post.filename
    shop.api.fail_download("B1", f"failed to save media file: open {named}: no space left")
    cache = PhotoCache(shop.settings.cache_dir, max_bytes=1 << 30)
    (cache.path(hashlib.sha256(not_kept.data).hexdigest(), "thumb") / "in the way").mkdir(
        parents=True
    )
    with Decoder(seconds=1.0) as decoder:
        shop.fetch(decode=decoder)
    shop.api.post_media(photo("U1", 40, draw(WALK[3], label="down")))
    shop.run_monitor()
    shop.api.down()
    shop.fetch()  # only U1 is due (the others wait out their backoff): no answer
    shop.api.up()
    shop.api.post_media(photo("N1", 50, draw(WALK[4], label="new")))
    shop.run_monitor()  # recorded, not asked for yet

    with served(make_app(shop.settings, shop.url)) as base, new_page(browser) as page:
        log_in(page, base, "thandi")
        page.goto(f"{base}/wa-monitor/reviews/{shop.review_id()}")
        missing = page.locator("[data-testid=photo-missing]")
        expect(missing).to_have_count(5)
        said = missing.all_inner_texts()
        shot(page, "photos-placeholders")
        missing.first.scroll_into_view_if_needed()
        page.locator("[data-testid=photos]").screenshot(
            path=SHOTS / "photos-placeholders-panel.png"
        )
    assert [" ".join(text.split()) for text in said] == [
        "The bridge could not get it from WhatsApp; trying again",
        "Received, but it could not be decoded here; trying again",
        "Received, but this server could not store it; trying again",
        "The bridge is not answering; trying again",
        "Not fetched yet",
    ]


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


def _box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing")
def test_a_reviewer_marks_which_step_a_photo_shows_and_the_step_row_shows_it(
    browser: Browser, shop: Shop
) -> None:
    twelve_photos_and_the_placeholders(shop)
    review = shop.review_id()
    with served(make_app(shop.settings, shop.url)) as base, new_page(browser) as page:
        log_in(page, base, "thandi")
        page.goto(f"{base}/wa-monitor/reviews/{review}")
        # Something typed and not saved yet: a mark must not lose it (no reload).
        page.fill("input[name=why_step_07_power_meter_reading]", "reading is blurred")
        row = page.locator("tr[data-step=step_03_cable_entry_outside] [data-step-photos]")
        expect(row.locator("img")).to_have_count(0)
        second = page.locator(".photo-cell").nth(2)  # P02: the pole (P11 sorts second)
        second.locator("select[name=step]").select_option("3")
        expect(second.locator("form.photo-step")).to_have_class(re.compile("saved"))
        expect(row.locator("img")).to_have_count(1)
        expect(page.locator("input[name=why_step_07_power_meter_reading]")).to_have_value(
            "reading is blurred"
        )
        # In the large view: the first photo shows step 1, chosen there.
        page.locator(".photo-thumb").first.click()
        page.locator("[data-photo-view-step]").select_option("1")
        first_row = page.locator("tr[data-step=step_01_house_photo] [data-step-photos]")
        expect(first_row.locator("img")).to_have_count(1)
        shot(page, "photos-step-marked-large-view")
        page.keyboard.press("Escape")
        # A photo's step changed: it leaves its old row.
        second.locator("select[name=step]").select_option("2")
        expect(
            page.locator("tr[data-step=step_02_cable_from_pole] [data-step-photos] img")
        ).to_have_count(1)
        expect(row.locator("img")).to_have_count(0)
        shot(page, "photos-step-marked")

        page.reload()  # saved: the rows and the choices come back from the server
        expect(page.locator("tr[data-step=step_02_cable_from_pole] .step-photo img")).to_have_count(
            1
        )
        expect(page.locator("tr[data-step=step_01_house_photo] .step-photo img")).to_have_count(1)
        expect(page.locator(".photo-cell").nth(2).locator("select[name=step]")).to_have_value("2")
        # The step row's photo opens the large view at that photo.
        page.locator("tr[data-step=step_02_cable_from_pole] .step-photo").click()
        expect(page.locator("[data-photo-caption]")).to_contain_text("2 of 11")
        expect(page.locator("[data-photo-view-step]")).to_have_value("2")
        page.keyboard.press("Escape")
        # A verdict saved meanwhile keeps the marks.
        page.locator("[data-key=save]").click()
        expect(page.locator("[data-testid=notice]")).to_contain_text("Verdict saved")
        expect(page.locator("tr[data-step=step_02_cable_from_pole] .step-photo img")).to_have_count(
            1
        )
        marks = page.request.get(f"{base}/wa-monitor/reviews/{review}?format=json").json()
        steps = [p["step"] for r in marks["photos"] for p in r["photos"]]
        assert steps[0] == 1
        assert steps[2] == 2
        assert steps.count(None) == len(steps) - 2


def test_a_step_mark_without_the_script_and_what_is_refused(shop: Shop, database_url: str) -> None:
    twelve_photos_and_the_placeholders(shop)
    review = shop.review_id()
    # Another agent's drop in the same group, with a photo of its own.
    shop.api.post_media(
        media_post(
            id="Q1",
            chat_jid=LAWLEY,
            sender="27829876543",
            moment=ARRIVED + timedelta(minutes=1),
            data=draw(WALK[1], label="other"),
        )
    )
    assert shop.api.bridge_db is not None
    with BridgeWriter(shop.api.bridge_db) as writer:
        say(writer, "Q2", "DR7654321", ARRIVED + timedelta(minutes=2), sender="27829876543")
    shop.run_monitor()
    others = shop.db.execute(
        "SELECT id FROM public.wa_monitor_photos WHERE drop_number = 'DR7654321'"
    ).fetchall()
    assert len(others) == 1
    photo = shop.db.execute(
        "SELECT id FROM public.wa_monitor_photos WHERE message_id = 'P05'"
    ).fetchone()
    assert photo is not None
    url = f"/wa-monitor/reviews/{review}/photos/{photo[0]}/step"
    add_user(database_url, "public", "vusi", Role.VIEWER)
    with dashboard(shop.settings, database_url) as d:
        assert d.login("thandi").status_code == 303
        csrf = d.csrf()
        done = d.client.post(url, data={"csrf": csrf, "step": "8"}, follow_redirects=False)
        assert done.status_code == 303
        assert done.headers["location"].endswith(f"/reviews/{review}#photo-{photo[0]}")
        page = d.client.get(f"/wa-monitor/reviews/{review}").text
        assert '<option value="8" selected>' in page
        assert d.client.post(url, data={"csrf": csrf, "step": "13"}).status_code == 400
        assert d.client.post(url, data={"step": "8"}).status_code == 403  # no CSRF token
        for other in (999999999, others[0][0]):  # no photo; another drop's photo
            mark = f"/wa-monitor/reviews/{review}/photos/{other}/step"
            assert d.client.post(mark, data={"csrf": csrf, "step": "8"}).status_code == 404
        cleared = d.client.post(url, data={"csrf": csrf, "step": ""}, follow_redirects=False)
        assert cleared.status_code == 303
        # A login that comes back to the mark's address lands on the review, at the photo.
        back = d.client.get(url, follow_redirects=False)
        assert back.status_code == 303
        assert back.headers["location"].endswith(f"/reviews/{review}#photo-{photo[0]}")
    assert shop.db.execute("SELECT count(*) FROM public.wa_monitor_photo_steps").fetchone() == (0,)
    with dashboard(shop.settings, database_url) as d:
        assert d.login("vusi").status_code == 303
        assert d.client.post(url, data={"csrf": d.csrf(), "step": "8"}).status_code == 403


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing")
@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_photos_beside_the_steps_on_a_laptop_first_on_a_phone_and_zoom_in_the_large_view(
    browser: Browser, shop: Shop, width: int, height: int
) -> None:
    twelve_photos_and_the_placeholders(shop)
    with served(make_app(shop.settings, shop.url)) as base, new_page(browser) as page:
        page.set_viewport_size({"width": width, "height": height})
        log_in(page, base, "thandi")
        page.goto(f"{base}/wa-monitor/reviews/{shop.review_id()}")
        steps, photos = _box(page, ".review-layout > .steps"), _box(page, ".photos")
        if width > 900:  # beside: the photos right of the steps, both starting at the top
            assert photos["x"] >= steps["x"] + steps["width"]
            assert abs(photos["y"] - steps["y"]) < 2
            assert photos["y"] < height  # on the first screen
        else:  # stacked: the photos first, the steps under them, nothing wider than the phone
            assert photos["y"] + photos["height"] <= steps["y"]
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            select = _box(page, ".photo-cell select[name=step]")
            assert select["height"] >= 44
        shot(page, f"photos-layout-{width}")

        page.locator(".photo-thumb").first.click()
        view = page.locator("[data-testid=photo-view]")
        expect(view).to_be_visible()
        image = view.locator("[data-photo-large]")
        expect(image).to_have_js_property("complete", True)
        fitted = _box(page, "[data-photo-large]")
        stage = page.locator("[data-photo-stage]")
        for zoom_in in ("button", "key"):
            if zoom_in == "button":
                view.locator("[data-photo-zoom-in]").click()
                view.locator("[data-photo-zoom-in]").click()
            else:
                page.keyboard.press("+")
                page.keyboard.press("+")
            expect(view.locator("[data-photo-zoom-level]")).to_have_text("200%")
            zoomed = _box(page, "[data-photo-large]")
            assert zoomed["width"] >= 1.9 * fitted["width"]
            # Larger than its box: it pans (scrolls), the page stays as it is.
            assert stage.evaluate(
                "s => s.scrollWidth > s.clientWidth || s.scrollHeight > s.clientHeight"
            )
            shot(page, f"photos-zoomed-{width}")
            page.keyboard.press("0")
            expect(view.locator("[data-photo-zoom-level]")).to_have_text("100%")
            assert abs(_box(page, "[data-photo-large]")["width"] - fitted["width"]) < 2
        page.keyboard.press("ArrowRight")  # next photo: fitted again
        expect(view.locator("[data-photo-caption]")).to_contain_text("2 of 11")
        assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing")
def test_a_video_is_fetched_served_as_it_is_and_shown_with_a_player(
    browser: Browser, shop: Shop, database_url: str
) -> None:
    data = clip("drop walk")
    shop.api.post_media(
        media_post(
            id="V1", chat_jid=LAWLEY, sender=AGENT, moment=ARRIVED, data=data, media_type="video"
        ),
        media_post(
            id="V2",
            chat_jid=LAWLEY,
            sender=AGENT,
            moment=ARRIVED + timedelta(seconds=5),
            data=b"not a video at all",
            media_type="video",
        ),
    )
    assert shop.api.bridge_db is not None
    with BridgeWriter(shop.api.bridge_db) as writer:
        say(writer, "D1", DROP, ARRIVED + timedelta(minutes=1), sender=AGENT)
    shop.run_monitor()
    shop.fetch()
    states = dict(
        shop.db.execute("SELECT message_id, state FROM public.wa_monitor_photos").fetchall()
    )
    assert states == {"V1": "fetched", "V2": "refused"}
    key = shop.key("V1")
    with dashboard(shop.settings, database_url) as d:
        assert d.login("thandi").status_code == 303
        served_video = d.client.get(f"/wa-monitor/photos/{key}/video")
        assert served_video.status_code == 200
        assert served_video.headers["content-type"] == "video/mp4"
        assert served_video.headers["cache-control"].startswith("private")
        assert served_video.headers["x-content-type-options"] == "nosniff"
        assert served_video.content == data  # as it came
        part = d.client.get(f"/wa-monitor/photos/{key}/video", headers={"Range": "bytes=0-7"})
        assert part.status_code == 206
        assert part.content == data[:8]
        assert d.client.get(f"/wa-monitor/photos/{key}/thumb").status_code == 404
        assert d.client.get(f"/wa-monitor/photos/{shop.key('V1')}/screen").status_code == 404
    with served(make_app(shop.settings, shop.url)) as base, new_page(browser) as page:
        log_in(page, base, "thandi")
        page.goto(f"{base}/wa-monitor/reviews/{shop.review_id()}")
        expect(page.locator(".video-thumb")).to_have_text("▶ Video")
        expect(page.locator("[data-testid=photo-missing]")).to_contain_text("Video: Could not")
        page.locator(".photo-thumb").first.click()
        player = page.locator("[data-photo-video]")
        expect(player).to_be_visible()
        assert player.get_attribute("controls") is not None
        expect(player).to_have_attribute("src", re.compile(f"/photos/{key}/video$"))
        expect(page.locator("[data-photo-large]")).to_be_hidden()
        expect(page.locator("[data-photo-zoom-in]")).to_be_disabled()  # no zoom on a video
        # It plays: the browser decoded the H.264 stream (the house's sky in the corner).
        frame = played_frame(player)
        assert (frame["width"], frame["height"]) == (128, 96)
        assert _near(frame["corner"], (186, 214, 235)), frame
        shot(page, "photos-video")


def _near(found: object, colour: tuple[int, int, int], within: int = 8) -> bool:
    assert isinstance(found, list)
    return all(abs(a - b) <= within for a, b in zip(found, colour, strict=True))


def _agent_media(mid: str, at: datetime, data: bytes, **kw: str) -> MediaPost:
    return media_post(id=mid, chat_jid=LAWLEY, sender=AGENT, moment=at, data=data, **kw)


def test_a_message_naming_several_drops_shares_its_photos_with_each_of_them(
    shop: Shop, database_url: str
) -> None:
    """Three photos, then one message naming two drops: by the window rule the photos are both
    drops' (the two drop messages are one message, as near as each other), so each drop's page
    and count shows them; a photo whose caption names two drops is both drops' too. Before, the
    second drop's page showed none."""
    pics = [
        _agent_media(f"M{i}", ARRIVED + timedelta(seconds=10 * i), draw(WALK[i], label=f"M{i}"))
        for i in range(3)
    ]
    captioned = _agent_media(
        "C1",
        ARRIVED + timedelta(hours=1),
        draw(WALK[3], label="C1"),
        caption="DR3333333 and DR4444444",
    )
    alone = _agent_media("S1", ARRIVED + timedelta(hours=2), draw(WALK[4], label="S1"))
    shop.api.post_media(*pics, captioned, alone)
    assert shop.api.bridge_db is not None
    with BridgeWriter(shop.api.bridge_db) as writer:
        say(writer, "D1", "DR1111111 DR2222222", ARRIVED + timedelta(minutes=2), sender=AGENT)
        say(writer, "D2", "DR5555555", ARRIVED + timedelta(hours=2, minutes=1), sender=AGENT)
    shop.run_monitor()
    shop.fetch()
    with dashboard(shop.settings, database_url) as d:
        assert d.login("thandi").status_code == 303
        listed = d.client.get("/wa-monitor/reviews?format=json").json()["reviews"]
        counts = {r["drop_number"]: r["photos"] for r in listed}
        assert counts == {
            "DR1111111": 3,
            "DR2222222": 3,
            "DR3333333": 1,
            "DR4444444": 1,
            "DR5555555": 1,
        }
        ids = {r["drop_number"]: r["id"] for r in listed}
        for drop in ("DR1111111", "DR2222222"):
            page = d.client.get(f"/wa-monitor/reviews/{ids[drop]}?format=json").json()
            keys = [p["key"] for r in page["photos"] for p in r["photos"]]
            assert keys == [shop.key("M0"), shop.key("M1"), shop.key("M2")], drop
            # served to either drop's page
            assert d.client.get(f"/wa-monitor/photos/{keys[0]}/thumb").status_code == 200
        page = d.client.get(f"/wa-monitor/reviews/{ids['DR4444444']}?format=json").json()
        assert [p["key"] for r in page["photos"] for p in r["photos"]] == [shop.key("C1")]
        # The overview of the day: the drops' photos, and how many drops have fewer than 12.
        day = ARRIVED.date().isoformat()
        cards = d.client.get(f"/wa-monitor?day={day}&format=json").json()["cards"]
        assert (cards["photos"], cards["short_of_photos"]) == (9, 5)
        overview = d.client.get(f"/wa-monitor?day={day}").text
        # (the numbers after their words: the page refreshes them, and "1 drops" never reads)
        assert 'Photos of the day\'s drops: <span data-card="photos">9</span>' in overview
        assert 'drops with fewer than 12: <span data-card="short_of_photos">5</span>' in overview


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is missing")
def test_a_pinch_zooms_the_large_view_on_a_phone(browser: Browser, shop: Shop) -> None:
    twelve_photos_and_the_placeholders(shop)
    with served(make_app(shop.settings, shop.url)) as base, new_page(browser) as page:
        page.set_viewport_size({"width": 390, "height": 844})
        log_in(page, base, "thandi")
        page.goto(f"{base}/wa-monitor/reviews/{shop.review_id()}")
        page.locator(".photo-thumb").first.click()
        expect(page.locator("[data-photo-large]")).to_have_js_property("complete", True)
        fitted = _box(page, "[data-photo-large]")
        stage = _box(page, "[data-photo-stage]")
        x, y = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2
        touch = page.context.new_cdp_session(page)
        touch.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 2})

        def fingers(kind: str, apart: float) -> None:
            points = [{"x": x - apart, "y": y, "id": 1}, {"x": x + apart, "y": y, "id": 2}]
            touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        fingers("touchStart", 40)
        for apart in (60, 80, 100, 120):
            fingers("touchMove", apart)
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        expect(page.locator("[data-photo-zoom-level]")).to_have_text("300%")
        assert _box(page, "[data-photo-large]")["width"] >= 2.9 * fitted["width"]
        expect(page.locator("[data-photo-caption]")).to_contain_text("1 of 11")  # not a swipe
        shot(page, "photos-pinched-390")
