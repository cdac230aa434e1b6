"""Serving a cached photo or video (web/photos.serve) through Starlette's test client on
FakeDesk and a cache folder of the test's own: only to a logged-in user, only a well-formed key
this environment serves (FakeDesk.served), only the kind it is (a photo's key never as a video),
only a copy that is in the cache, with the private cache header. Fetching and caching the
copies: tests/integration/test_photo_fetch.py, test_photo_pages.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_site import FakeDashboard, Make
from wa_monitor.adapters.media import PhotoCache
from wa_monitor.adapters.postgres.users import Role

PHOTO = "a" * 64
VIDEO = "b" * 64
JPEG = b"\xff\xd8\xff\xe0 a thumbnail's bytes"
MP4 = b"\x00\x00\x00\x18ftypmp42 a video's bytes"


@pytest.fixture
def d(make: Make) -> Iterator[FakeDashboard]:
    """A viewer's dashboard with a photo (thumb and screen copies) and a video in its cache."""
    made = make()
    made.login(made.desk.add_user("vusi", Role.VIEWER))
    settings = made.client.app.state.site.settings
    cache = PhotoCache(settings.cache_dir, max_bytes=1 << 20)
    written = []
    for key, kind, data in ((PHOTO, "thumb", JPEG), (PHOTO, "screen", JPEG), (VIDEO, "video", MP4)):
        path = cache.path(key, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    made.desk.served.update({PHOTO: "image/jpeg", VIDEO: "video/mp4"})
    yield made
    for path in written:
        path.unlink(missing_ok=True)


def get(d: FakeDashboard, key: str, kind: str) -> tuple[int, str, bytes]:
    answer = d.client.get(f"/wa-monitor/photos/{key}/{kind}")
    return answer.status_code, answer.headers.get("content-type", ""), answer.content


def test_a_photo_and_a_video_of_this_environment_are_served_privately(d: FakeDashboard) -> None:
    assert get(d, PHOTO, "thumb") == (200, "image/jpeg", JPEG)
    assert get(d, VIDEO, "video") == (200, "video/mp4", MP4)
    answer = d.client.get(f"/wa-monitor/photos/{PHOTO}/screen")
    # One header: the browser keeps it a day, no shared cache does (a page's no-store added
    # beside it would overrule it, and every review page would fetch its photos again).
    assert answer.headers.get_list("cache-control") == ["private, max-age=86400"]


def test_a_key_this_environment_does_not_serve_is_not_found(d: FakeDashboard) -> None:
    other = "c" * 64  # another environment's photo, or none
    assert get(d, other, "thumb")[0] == 404
    assert d.desk.asked_keys == [other]


def test_a_malformed_key_or_kind_is_refused_without_asking_the_database(d: FakeDashboard) -> None:
    for key, kind in (("A" * 64, "thumb"), ("a" * 63, "thumb"), (PHOTO, "original")):
        assert get(d, key, kind)[0] == 404
    assert d.desk.asked_keys == []


def test_a_photo_is_never_served_as_a_video_nor_a_video_as_a_photo(d: FakeDashboard) -> None:
    assert get(d, PHOTO, "video")[0] == 404
    assert get(d, VIDEO, "thumb")[0] == 404


def test_a_copy_missing_from_the_cache_is_not_found(d: FakeDashboard) -> None:
    settings = d.client.app.state.site.settings
    PhotoCache(settings.cache_dir, max_bytes=1 << 20).path(PHOTO, "screen").unlink()
    assert get(d, PHOTO, "screen")[0] == 404
    assert get(d, PHOTO, "thumb")[0] == 200


def test_a_visitor_gets_nothing(make: Make) -> None:
    d = make()
    d.desk.served[PHOTO] = "image/jpeg"
    answer = d.client.get(f"/wa-monitor/photos/{PHOTO}/thumb")
    assert (answer.status_code, answer.text) == (401, "login required\n")
    assert d.desk.asked_keys == []
