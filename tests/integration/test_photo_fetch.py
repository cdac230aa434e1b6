"""The fetcher against the simulated bridge (`/api/download` as the bridge answers it), real
bridge files with media rows, real PostgreSQL; and the checks every downloaded file passes
(media folder, symlinks, size, SHA-256, a real image, no decompression bomb)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image

from tests.support.env import AGENT, GROUPS, LAWLEY, sast, write_config
from tests.support.fakes import HandClock, RecordingLog
from tests.support.harness import Daemon
from tests.support.runs import run_once, say
from wa_monitor.adapters.media import (
    MAX_PIXELS,
    Answer,
    BridgeMedia,
    DecodeFailed,
    Decoder,
    Download,
    FileRefused,
    NotAnImage,
    NotAVideo,
    PhotoCache,
    Rendered,
    WrongFile,
    read_checked,
    render,
    video_type,
)
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.devtools.bridge_api import Fault, SimulatedBridgeApi
from wa_monitor.devtools.photos import LAWLEY as LAWLEY_PLACE
from wa_monitor.devtools.photos import WALK, clip, draw, slow_jpeg
from wa_monitor.devtools.simulator import BridgeWriter, MediaPost, media_post
from wa_monitor.services.photos import (
    DECODE_TRIES,
    IDLE_POLL_SECONDS,
    Fetcher,
    FetcherThread,
    Pass,
    prune,
)

pytestmark = pytest.mark.migrated("prod")

ARRIVED = sast(11, 9, 0)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[SimulatedBridgeApi]:
    store = tmp_path / "store"
    store.mkdir()
    with SimulatedBridgeApi(bridge_db=store / "messages.db") as bridge:
        yield bridge


@pytest.fixture
def config(tmp_path: Path, api: SimulatedBridgeApi) -> Path:
    assert api.bridge_db is not None
    return write_config(
        tmp_path,
        "prod",
        bridge_db=api.bridge_db,
        groups=GROUPS,
        extra=f'bridge_api_url = "{api.url}"\nphotos_cache_dir = "{tmp_path / "cache"}"',
    )


def a_drop_with_photos(
    api: SimulatedBridgeApi, count: int = 12, *, start: int = 0
) -> list[MediaPost]:
    media = [
        media_post(
            id=f"P{start + i:02d}",
            chat_jid=LAWLEY,
            sender=AGENT,
            moment=ARRIVED + timedelta(seconds=7 * (start + i)),
            data=draw(WALK[i % 12], taken=ARRIVED, place=LAWLEY_PLACE, label=f"{start + i}"),
        )
        for i in range(count)
    ]
    api.post_media(*media)
    assert api.bridge_db is not None
    with BridgeWriter(api.bridge_db) as writer:
        say(writer, "D1", "DR1752028", ARRIVED + timedelta(minutes=3))
    return media


def fetcher(
    database_url: str,
    api: SimulatedBridgeApi,
    tmp_path: Path,
    clock: HandClock[datetime],
    **kw: Any,
) -> Fetcher:
    return Fetcher(
        Database(database_url, "public", "prod"),
        bridge=BridgeMedia(api.url, connect_s=0.5, total_s=kw.pop("total_s", 5.0)),
        cache=PhotoCache(tmp_path / "cache", max_bytes=1 << 30),
        media_dir=api.store,
        max_bytes=kw.pop("max_bytes", 8 << 20),
        per_minute=kw.pop("per_minute", 6000),
        # Pillow in this process, unless a test gives its own (the child process with its time
        # limit is the hostile file's test's): no child to start for every fetcher.
        decode=kw.pop("decode", render),
        clock=clock,
        **kw,
    )


def fetch(
    database_url: str,
    api: SimulatedBridgeApi,
    tmp_path: Path,
    clock: HandClock[datetime],
    **kw: Any,
) -> Pass:
    with fetcher(database_url, api, tmp_path, clock, **kw) as one:
        return one.run_once()


def asked_for(api: SimulatedBridgeApi, count: int, *, within: float) -> int:
    """How many downloads the bridge was asked for, once `count` or `within` seconds passed."""
    until = time.monotonic() + within
    while len(api.downloads()) < count and time.monotonic() < until:
        time.sleep(0.1)
    return len(api.downloads())


def states(db: psycopg.Connection[Any]) -> dict[str, str]:
    rows = db.execute("SELECT message_id, state FROM public.wa_monitor_photos").fetchall()
    return {r[0]: r[1] for r in rows}


def test_a_drops_photos_are_fetched_within_5_minutes_checked_and_cached_without_exif(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_drop_with_photos(api)
    assert run_once(config, database_url, monkeypatch) == 0
    clock = HandClock(ARRIVED + timedelta(minutes=4))  # the daemon asks as soon as it drained them

    done = fetch(database_url, api, tmp_path, clock)

    # (How fast, at the shipped pace: the benchmark's section 14, against the stand-in's own
    # downloads in the same run; no timed assertion here.)
    assert done.outcomes == {"fetched": 12}
    assert set(states(db).values()) == {"fetched"}
    key, taken, place, width = db.execute(
        "SELECT content_key, taken_text, place_text, width FROM public.wa_monitor_photos"
        " WHERE message_id = 'P00'"
    ).fetchone()
    assert (taken, place, width) == ("2025:11:11 09:00:00", "26.39350° S, 27.80720° E", 640)
    cache = PhotoCache(tmp_path / "cache", max_bytes=1 << 30)
    for kind in ("thumb", "screen"):
        with Image.open(cache.path(key, kind)) as served:
            assert served.format == "JPEG"
            assert dict(served.getexif()) == {}  # no time, no GPS, nothing of the original
    assert len(api.downloads()) == 12


def test_same_second_photos_expired_media_and_a_bridge_that_is_down(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = media_post(id="S1", chat_jid=LAWLEY, sender=AGENT, moment=ARRIVED, data=draw(WALK[0]))
    twin = media_post(id="S2", chat_jid=LAWLEY, sender=AGENT, moment=ARRIVED, data=draw(WALK[6]))
    gone = media_post(
        id="G1", chat_jid=LAWLEY, sender=AGENT, moment=ARRIVED + timedelta(seconds=5), data=b"x"
    )
    api.post_media(first, twin, gone)
    api.expire(gone)
    with BridgeWriter(api.bridge_db or Path()) as writer:  # a drop's photos are fetched
        say(writer, "D1", "DR1752028", ARRIVED + timedelta(minutes=1))
    assert run_once(config, database_url, monkeypatch) == 0
    clock = HandClock(ARRIVED + timedelta(minutes=1))

    fetch(database_url, api, tmp_path, clock)

    assert states(db) == {"S1": "fetched", "S2": "mismatch", "G1": "expired"}
    asked = len(api.downloads())
    clock.now += timedelta(days=1)
    fetch(database_url, api, tmp_path, clock)
    assert len(api.downloads()) == asked  # final states are never asked again

    late = media_post(
        id="L1",
        chat_jid=LAWLEY,
        sender=AGENT,
        moment=ARRIVED + timedelta(seconds=9),
        data=draw(WALK[7]),
    )
    api.post_media(late)
    assert run_once(config, database_url, monkeypatch) == 0
    api.down()
    fetch(database_url, api, tmp_path, clock)
    assert states(db)["L1"] == "retrying"
    api.up()
    clock.now += timedelta(seconds=10)  # before the backoff's 30 s: not asked
    assert not fetch(database_url, api, tmp_path, clock).outcomes
    clock.now += timedelta(seconds=30)
    assert fetch(database_url, api, tmp_path, clock).outcomes == {"fetched": 1}


def test_a_video_is_kept_as_it_came_within_the_size_limit_and_refused_over_it(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short, long = clip("short", frames=2), clip("long", frames=6)
    assert len(short) < 64_000 < len(long)
    api.post_media(
        *(
            media_post(
                id=mid,
                chat_jid=LAWLEY,
                sender=AGENT,
                moment=ARRIVED + timedelta(seconds=n),
                data=data,
                media_type="video",
            )
            for n, (mid, data) in enumerate((("V1", short), ("V2", long)))
        )
    )
    with BridgeWriter(api.bridge_db or Path()) as writer:
        say(writer, "D1", "DR1752028", ARRIVED + timedelta(minutes=1))
    assert run_once(config, database_url, monkeypatch) == 0

    fetch(database_url, api, tmp_path, HandClock(ARRIVED + timedelta(minutes=2)), max_bytes=64_000)

    rows = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT message_id, state, content_type, content_key, last_error"
            " FROM public.wa_monitor_photos"
        ).fetchall()
    }
    assert rows["V1"][:2] == ("fetched", "video/mp4")
    assert PhotoCache(tmp_path / "cache", max_bytes=1).path(
        rows["V1"][2], "video"
    ).read_bytes() == (short)
    assert rows["V2"][0] == "refused"
    assert "larger than 64000 bytes" in rows["V2"][3]


def test_a_hanging_bridge_costs_the_timeout_and_is_retried(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_drop_with_photos(api, 1)
    assert run_once(config, database_url, monkeypatch) == 0
    api.fault(Fault.SLOW, delay_s=2.0)
    started = time.monotonic()

    fetch(database_url, api, tmp_path, HandClock(ARRIVED), total_s=0.5)

    assert time.monotonic() - started < 3.0
    assert states(db) == {"P00": "retrying"}


@contextlib.contextmanager
def a_bridge_sending(piece: bytes, *, every_s: float, pieces: int) -> Iterator[str]:
    """A bridge that answers 200 and then sends `piece` `pieces` times, `every_s` apart (a
    chunked body that never adds up to JSON); its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError), listener.accept()[0] as conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(pieces):
                if stop.wait(every_s):
                    break
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_a_bridge_trickling_its_answer_costs_the_timeout_and_one_without_end_is_cut() -> None:
    """httpx's timeouts are per read: a byte every 0.2 s never trips a 1 s read timeout. The
    answer has one deadline, and a cap on its size."""
    with (
        a_bridge_sending(b" ", every_s=0.2, pieces=150) as url,
        BridgeMedia(url, total_s=1.0) as bridge,
    ):
        started = time.monotonic()
        answer = bridge.download("P1", LAWLEY)
        took = time.monotonic() - started
    assert answer.answer is Answer.UNREACHABLE
    assert took < 10, f"waited {took:.0f} s for a trickle (it lasts 30 s)"

    with a_bridge_sending(b"x" * 16384, every_s=0, pieces=64) as url, BridgeMedia(url) as bridge:
        answer = bridge.download("P1", LAWLEY)
    assert answer.answer is Answer.FAILED
    assert answer.detail == "the bridge's answer is too long"


def test_requests_are_paced(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_drop_with_photos(api, 4)
    assert run_once(config, database_url, monkeypatch) == 0
    slept: list[float] = []

    fetch(
        database_url,
        api,
        tmp_path,
        HandClock(ARRIVED + timedelta(minutes=1)),
        per_minute=60,
        sleep=slept.append,
    )

    assert len(slept) == 3  # one gap between each two requests
    assert all(0.5 < s <= 1.0 for s in slept)  # the gap less the request's own time


def test_a_new_drops_12_photos_go_at_once_and_the_steady_pace_follows(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipped pace (60 a minute) would spread a drop's 12 photos over 11 s; the burst
    (photos_fetch_burst, 12) lets them go at once, and the 13th and 14th wait their turn."""
    a_drop_with_photos(api, 14)
    assert run_once(config, database_url, monkeypatch) == 0
    slept: list[float] = []

    done = fetch(
        database_url,
        api,
        tmp_path,
        HandClock(ARRIVED + timedelta(minutes=4)),
        per_minute=60,
        burst=12,
        sleep=slept.append,
    )

    assert done.outcomes == {"fetched": 14}
    assert len(slept) == 2  # no wait before the first 12 requests
    # then one a second (less what the 12 requests took: the bucket refills meanwhile)
    assert all(0 < s <= 1.0 for s in slept)


# -- the checks, on real files -------------------------------------------------------------


def test_a_file_outside_the_media_folder_or_through_a_symlink_out_is_never_read(
    tmp_path: Path,
) -> None:
    media, outside = tmp_path / "store", tmp_path / "secret"
    media.mkdir()
    outside.mkdir()
    data = b"private"
    (outside / "key.jpg").write_bytes(data)
    (media / "chat").mkdir()
    (media / "chat" / "link.jpg").symlink_to(outside / "key.jpg")
    sha = hashlib.sha256(data).digest()

    for named in (
        str(outside / "key.jpg"),
        f"{media}/chat/../../secret/key.jpg",
        str(media / "chat" / "link.jpg"),
        "/etc/passwd",
    ):
        with pytest.raises(FileRefused, match="outside the media folder"):
            read_checked(named, media, max_bytes=1 << 20, sha256=sha)


def test_a_named_pipe_where_a_photo_should_be_is_refused_without_waiting(tmp_path: Path) -> None:
    """A FIFO in the media folder: opening it to read would wait for a writer, for ever."""
    pipe = tmp_path / "chat" / "image_20251111_090000.jpg"
    pipe.parent.mkdir()
    os.mkfifo(pipe)

    with (
        _unblocked_after(pipe, seconds=5.0) as waited,
        pytest.raises(FileRefused, match="not a regular file"),
    ):
        read_checked(str(pipe), tmp_path, max_bytes=1 << 20, sha256=b"\0" * 32)
    assert not waited, "the open waited for a writer"


def test_a_bridge_naming_a_symlink_out_a_pipe_or_a_file_outside_gets_nothing_read(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What lies at the bridge's file names decides what it answers (its "file exists, return
    it" shortcut): a symlink to a file outside the media folder (the photo's own bytes, so only
    the path gives it away) and a named pipe are refused, end to end; and a fetcher whose media
    folder is not the bridge's reads none of the files the bridge names."""
    media = a_drop_with_photos(api, 3)
    assert run_once(config, database_url, monkeypatch) == 0
    folder = api.store / LAWLEY
    folder.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(media[0].data)
    (folder / media[0].post.filename).symlink_to(outside)
    pipe = folder / media[1].post.filename
    os.mkfifo(pipe)
    clock = HandClock(ARRIVED + timedelta(minutes=4))

    with _unblocked_after(pipe, seconds=20.0) as waited:
        done = fetch(database_url, api, tmp_path, clock)
    assert not waited, "the fetcher waited on the pipe"

    assert done.outcomes == {"refused": 2, "fetched": 1}
    assert states(db) == {"P00": "refused", "P01": "refused", "P02": "fetched"}
    errors = dict(
        db.execute("SELECT message_id, last_error FROM public.wa_monitor_photos").fetchall()
    )
    assert "outside the media folder" in errors["P00"]
    assert "not a regular file" in errors["P01"]
    cache = PhotoCache(tmp_path / "cache", max_bytes=1 << 30)
    assert cache.size()[0] == 2  # P02's thumbnail and screen copy, nothing of P00 or P01

    later = media_post(
        id="P09",
        chat_jid=LAWLEY,
        sender=AGENT,
        moment=ARRIVED + timedelta(minutes=3, seconds=30),
        data=draw(WALK[3], label="late"),
    )
    api.post_media(later)
    assert run_once(config, database_url, monkeypatch) == 0
    elsewhere = tmp_path / "another-media-folder"
    elsewhere.mkdir()
    with fetcher(database_url, api, tmp_path, clock) as one:
        one.media_dir = elsewhere
        assert one.run_once().outcomes == {"refused": 1}
    assert states(db)["P09"] == "refused"


class NamesNul(BridgeMedia):
    """A bridge (a fork, a proxy) whose answer for one message names a path with a NUL in it."""

    def __init__(self, url: str, message_id: str) -> None:
        super().__init__(url)
        self.message_id = message_id

    def download(self, message_id: str, chat_jid: str) -> Download:
        if message_id == self.message_id:
            return Download(Answer.OK, path=f"{self.message_id}\0/etc/passwd")
        return super().download(message_id, chat_jid)


def test_a_path_with_a_nul_is_refused_and_the_pass_goes_on(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python will not resolve such a name (ValueError): one photo's answer must not stop the
    pass (the photo first in line would stop every pass after it too)."""
    a_drop_with_photos(api, 2)
    assert run_once(config, database_url, monkeypatch) == 0
    with fetcher(database_url, api, tmp_path, HandClock(ARRIVED + timedelta(minutes=4))) as one:
        one.bridge.close()
        one.bridge = NamesNul(api.url, "P00")
        assert one.run_once().outcomes == {"refused": 1, "fetched": 1}
    assert states(db) == {"P00": "refused", "P01": "fetched"}
    with pytest.raises(FileRefused, match="not a file name"):
        read_checked("a\0b", tmp_path, max_bytes=1, sha256=None)


@contextlib.contextmanager
def _unblocked_after(pipe: Path, *, seconds: float) -> Iterator[list[bool]]:
    """Runs the block; if it is still inside after `seconds` (an open of `pipe` waiting for a
    writer), opens the pipe to write so that it goes on, and says so: a test fails, not hangs."""
    waited: list[bool] = []
    finished = threading.Event()

    def release() -> None:
        if not finished.wait(seconds):
            waited.append(True)
            with contextlib.suppress(OSError), pipe.open("wb"):
                pass

    guard = threading.Thread(target=release, daemon=True)
    guard.start()
    try:
        yield waited
    finally:
        finished.set()
        guard.join()


def test_an_oversized_file_and_a_wrong_sha256_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "big.jpg"
    with huge.open("wb") as out:
        out.truncate(200 << 20)  # 200 MB (sparse): refused before a byte is read
    small = tmp_path / "small.jpg"
    small.write_bytes(b"abc")

    with pytest.raises(FileRefused, match="larger than"):
        read_checked(str(huge), tmp_path, max_bytes=64 << 20, sha256=b"\0" * 32)
    with pytest.raises(WrongFile):
        read_checked(str(small), tmp_path, max_bytes=1024, sha256=hashlib.sha256(b"abd").digest())
    assert read_checked(
        str(small), tmp_path, max_bytes=1024, sha256=hashlib.sha256(b"abc").digest()
    )


def test_non_image_bytes_and_a_decompression_bomb_are_not_decoded() -> None:
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, "PNG")  # a few kB, 144 megapixels
    assert len(bomb.getvalue()) < 100_000
    assert MAX_PIXELS < 12_000 * 12_000

    with pytest.raises(NotAnImage):
        render(b"<html>not a photo</html>")
    with pytest.raises(NotAnImage):
        render(bomb.getvalue())
    with pytest.raises(NotAnImage):
        render(draw(WALK[0])[:200])  # a truncated JPEG


def test_the_decoders_child_renders_as_pillow_does_refuses_as_it_does_and_outlives_a_stop() -> None:
    """media.Decoder: the same copies and EXIF text as render() in this process, the same
    refusals (non-image bytes, a decompression bomb), and after a file that ran past its limit
    (its child killed) the next file is rendered by a new child."""
    photo = draw(WALK[0], taken=ARRIVED, place=LAWLEY_PLACE, label="child")
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, "PNG")
    with Decoder(seconds=2.0) as decoder:
        assert decoder(photo) == render(photo)
        for refused in (b"<html>not a photo</html>", bomb.getvalue()):
            with pytest.raises(NotAnImage):
                decoder(refused)
        with pytest.raises(DecodeFailed, match="longer than 2 s"):
            decoder(slow_jpeg())
        assert decoder(photo).place == "26.39350° S, 27.80720° E"


def test_a_video_is_typed_by_its_own_ftyp_box_and_anything_else_is_no_video() -> None:
    """Served with the type its container says (WhatsApp sends MP4, old phones 3GP), never
    with one taken from the bridge's file name or the row's media_type."""
    assert video_type(clip("x", frames=1)) == "video/mp4"
    assert video_type(b"\0\0\0\x14ftyp3gp4\0\0\0\0isom") == "video/3gpp"
    for not_video in (draw(WALK[0]), b"<html><script>", b"\0\0\0\x14ftyp"[:8], b""):
        with pytest.raises(NotAVideo):
            video_type(not_video)


def test_prune_keeps_the_cache_within_its_cap(tmp_path: Path) -> None:
    cache = PhotoCache(tmp_path / "cache", max_bytes=1 << 30)
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4)]
    for i, key in enumerate(keys):
        cache.put(key, render(draw(WALK[i], label=str(i))))
        os.utime(cache.path(key, "thumb"), (1000 + i, 1000 + i))
        os.utime(cache.path(key, "screen"), (1000 + i, 1000 + i))

    removed, _ = prune(cache, keep=set(keys[1:]))  # keys[0] is no photo's any more
    assert removed == 2
    assert not cache.has(keys[0])
    _, size = cache.size()
    prune(cache, keep=set(keys), max_bytes=size // 2)
    assert cache.has(keys[3])  # the most recently used stays
    assert not cache.has(keys[1])


def test_a_standby_daemon_asks_the_bridge_for_no_photo_until_it_holds_the_lock(
    api: SimulatedBridgeApi,
    config: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Photos drained and due; another instance holds the environment's lock: the standby's
    fetcher stays quiet (two instances would double every request to the bridge); once the
    lock is free, the one that takes over fetches them."""
    a_drop_with_photos(api, count=3)
    assert run_once(config, database_url, monkeypatch) == 0
    holder = psycopg.connect(database_url)
    holder.execute("LOCK TABLE public.wa_monitor_instance IN EXCLUSIVE MODE")
    with Daemon(config, database_url) as standby:
        try:
            standby.wait_for("standing by")
            time.sleep(2.0)  # the fetcher's first pass, were it running, comes at once
            assert api.downloads() == ()
        finally:
            holder.close()  # the other instance stops
        standby.wait_for("resuming")
        assert asked_for(api, 3, within=20) == 3, standby.stderr
        code, _ = standby.stop()
        assert code == 0, standby.stderr


# -- the daemon's fetcher: woken when there is work, quiet when there is none or the bridge is out


def test_an_idle_daemon_asks_for_new_photos_at_once_though_its_fetcher_sleeps(
    api: SimulatedBridgeApi,
    config: Path,
    database_url: str,
) -> None:
    """The fetcher sleeps until a photo falls due (IDLE_POLL_SECONDS when none waits), and the
    loop wakes it after a batch that recorded photos: a drop's photos are asked for at once.
    (Before, it looked every 30 s whether or not there was work, 120 wake-ups an hour.)"""
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("starting")
        time.sleep(1.5)  # its first pass has found nothing due
        assert api.downloads() == ()
        a_drop_with_photos(api, count=3)
        assert asked_for(api, 3, within=15) == 3, daemon.stderr
        code, _ = daemon.stop()
        assert code == 0, daemon.stderr


def test_photos_that_came_before_their_drop_message_are_asked_for_when_it_comes(
    api: SimulatedBridgeApi,
    config: Path,
    database_url: str,
) -> None:
    """Photos that no drop message claims yet wait (photos.sql, record_photos), unasked: the
    bridge is not asked for every photo of a group. The drop message's batch records them and
    wakes the fetcher: they are asked for at once, not at its next look in 5 minutes."""
    media = [
        media_post(
            id=f"E{i}",
            chat_jid=LAWLEY,
            sender=AGENT,
            moment=ARRIVED + timedelta(seconds=7 * i),
            data=draw(WALK[i], label=f"{i}"),
        )
        for i in range(3)
    ]
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("starting")
        api.post_media(*media)
        time.sleep(3)  # drained (the loop polls every 0.2 s here) and waiting
        assert api.downloads() == ()
        with BridgeWriter(api.bridge_db or Path()) as writer:
            say(writer, "D1", "DR1752028", ARRIVED + timedelta(minutes=30))
        assert asked_for(api, 3, within=15) == 3, daemon.stderr
        code, _ = daemon.stop()
        assert code == 0, daemon.stderr


class FetcherClock:
    """The fetcher thread's waits pass at once and move virtual time by what they asked; after
    `hours` of it the thread is stopped."""

    def __init__(self, stop: threading.Event, hours: float) -> None:
        self.stop, self.end, self.now = stop, hours * 3600, 0.0
        self.pauses: list[float] = []

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        self.pauses.append(timeout)
        self.now += timeout
        if self.now >= self.end:
            self.stop.set()
        return False

    def monotonic(self) -> float:
        return self.now


def test_an_outage_of_the_bridge_costs_a_request_every_few_minutes_not_one_a_second(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hundred photos due and the bridge's API not answering, for an hour (virtual time):
    each pass ends at the first request that gets no answer, and the pauses between passes
    double from 30 s to 10 minutes. (Before: every due photo was tried, paced at
    photos_fetch_per_minute, 50 a pass: thousands of requests an hour.) When the bridge
    answers again, the next pass fetches and the pause is back to the idle one."""
    a_drop_with_photos(api, count=12)
    a_drop_with_photos(api, count=88, start=12)
    assert run_once(config, database_url, monkeypatch) == 0
    api.down()
    stop = threading.Event()
    clock = FetcherClock(stop, hours=1)
    log = RecordingLog()
    with fetcher(
        database_url, api, tmp_path, HandClock(ARRIVED + timedelta(minutes=5)), per_minute=6000
    ) as one:
        thread = FetcherThread(one, stop, log, clock=clock, monotonic=clock.monotonic)
        thread.start()
        assert stop.wait(30.0), "the thread ended before its virtual hour"
        thread.close(timeout=30.0)

    tries = db.execute("SELECT sum(attempts) FROM public.wa_monitor_photos").fetchone()[0]
    assert tries == len(clock.pauses) <= 12  # one request a pass
    assert clock.pauses[:6] == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0]
    assert set(clock.pauses[5:]) == {600.0}
    said = log.having("📷 photos:")
    assert len(said) == tries
    assert all("the bridge is not serving" in line.event for line in said)


def test_the_fetcher_sleeps_until_the_next_photo_falls_due(
    api: SimulatedBridgeApi, tmp_path: Path, database_url: str
) -> None:
    """After a pass that took every due photo: until the next retry's time, at most the idle
    poll; after a full pass (more due): at once; after an outage pass: the backoff, deaf to
    the loop's wake (new photos would fail the same way)."""
    now = ARRIVED
    one = fetcher(database_url, api, tmp_path, HandClock(now))
    thread = FetcherThread(one, threading.Event(), RecordingLog())

    assert thread.pause_after(Pass(next_due=now + timedelta(seconds=90))) == (90.0, True)
    assert thread.pause_after(Pass(next_due=now - timedelta(seconds=5))) == (0.0, True)
    assert thread.pause_after(Pass(next_due=now + timedelta(days=1))) == (IDLE_POLL_SECONDS, True)
    assert thread.pause_after(Pass()) == (IDLE_POLL_SECONDS, True)
    assert thread.pause_after(Pass(full=True)) == (0.0, True)
    assert thread.pause_after(Pass(bridge_down=True)) == (30.0, False)
    assert thread.pause_after(Pass(bridge_down=True)) == (60.0, False)
    assert thread.pause_after(Pass(full=True)) == (0.0, True)  # it answered: the backoff ends
    assert thread.pause_after(Pass(bridge_down=True)) == (30.0, False)


def test_a_pass_waiting_between_two_requests_ends_at_once_when_stopped(
    api: SimulatedBridgeApi,
    config: Path,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One request a minute (photos_fetch_per_minute = 1): a stop set after the first request
    ends the pass at once, not after the minute's gap (the daemon's stop waits 1 s for it)."""
    a_drop_with_photos(api, count=2)
    assert run_once(config, database_url, monkeypatch) == 0
    stop = threading.Event()
    with fetcher(
        database_url, api, tmp_path, HandClock(ARRIVED + timedelta(minutes=5)), per_minute=1
    ) as one:
        passing = threading.Thread(target=one.run_once, kwargs={"stop": stop})
        passing.start()
        until = time.monotonic() + 10
        while not api.downloads() and time.monotonic() < until:
            time.sleep(0.05)
        time.sleep(0.3)  # in the gap before the second request
        stopped = time.monotonic()
        stop.set()
        passing.join(timeout=10.0)
        took = time.monotonic() - stopped

    assert not passing.is_alive()
    assert took < 1.0, f"the pass took {took:.1f} s to end"
    assert len(api.downloads()) == 1


DB = psycopg.Connection[Any]
Drained = Callable[..., list[MediaPost]]


@pytest.fixture
def drained(
    api: SimulatedBridgeApi, config: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Drained:
    """A drop's photos posted (a_drop_with_photos' arguments) and drained by the monitor."""

    def post_and_drain(count: int, *, start: int = 0) -> list[MediaPost]:
        media = a_drop_with_photos(api, count, start=start)
        assert run_once(config, database_url, monkeypatch) == 0
        return media

    return post_and_drain


def test_a_photo_that_cannot_be_cached_is_retried_and_every_other_one_fetched_in_the_pass(
    api: SimulatedBridgeApi, drained: Drained, tmp_path: Path, database_url: str, db: DB
) -> None:
    """The cache cannot take one photo's copies (here a folder where its thumbnail goes; a full
    disk or a wrong permission does the same): that photo is recorded as failed, with a reason
    that names no path, and asked again after the backoff; the others are fetched in the same
    pass, and the daemon's fetcher says so in one line and goes on. (Before: the error ended
    the pass, and as the photo stays first in line, every pass after it too.)"""
    media = drained(4)
    cache = PhotoCache(tmp_path / "cache", max_bytes=1 << 30)
    blocked = cache.path(hashlib.sha256(media[1].data).hexdigest(), "thumb")
    blocked.mkdir(parents=True)
    (blocked / "in the way").write_bytes(b"x")
    clock = HandClock(ARRIVED + timedelta(minutes=4))

    done = fetch(database_url, api, tmp_path, clock)

    assert done.outcomes == {"fetched": 3, "failed here": 1}
    assert not done.bridge_down
    assert states(db) == {"P00": "fetched", "P01": "retrying", "P02": "fetched", "P03": "fetched"}
    error = db.execute(
        "SELECT last_error FROM public.wa_monitor_photos WHERE message_id = 'P01'"
    ).fetchone()[0]
    assert error == "caching: IsADirectoryError (Is a directory)"
    said = [str(failure) for failure in done.failures]
    assert said == [
        "photo P01 failed here (caching: IsADirectoryError (Is a directory)); "
        "asked again in 0:00:30"
    ]
    assert str(tmp_path) not in said[0]

    # The daemon's fetcher: one line for the photo, and it goes on (no "fetcher failed").
    stop = threading.Event()
    virtual = FetcherClock(stop, hours=0.05)
    log = RecordingLog()
    clock.now += timedelta(seconds=31)
    with fetcher(database_url, api, tmp_path, clock) as one:
        thread = FetcherThread(one, stop, log, clock=virtual, monotonic=virtual.monotonic)
        thread.start()
        assert stop.wait(30.0)
        thread.close(timeout=30.0)
    assert [line.level for line in log.having("P01 failed here")] == ["warning"]
    assert not log.having("fetcher failed")
    assert states(db)["P01"] == "retrying"  # a failure here is no verdict on the photo

    shutil.rmtree(blocked)  # the disk is cleared: the next try after the backoff fetches it
    clock.now += timedelta(minutes=2)
    assert fetch(database_url, api, tmp_path, clock).outcomes == {"fetched": 1}
    assert set(states(db).values()) == {"fetched"}


def test_a_file_the_decoder_fails_on_is_retried_then_refused_and_the_others_are_fetched(
    api: SimulatedBridgeApi,
    drained: Drained,
    tmp_path: Path,
    database_url: str,
    db: DB,
) -> None:
    """An unexpected error of the decoder on one file (not one of the refusals it knows): the
    photo is retried with the backoff and, as its bytes are the same each time (SHA-256),
    refused for good after DECODE_TRIES attempts; every other photo is fetched at once."""
    media = drained(3)
    poisoned = media[0].data

    def breaking(data: bytes) -> Rendered:
        if data == poisoned:
            raise RuntimeError(f"decoder broke on {tmp_path}")  # a path: never recorded
        return render(data)

    clock = HandClock(ARRIVED + timedelta(minutes=4))

    def one_pass() -> dict[str, int]:
        return dict(fetch(database_url, api, tmp_path, clock, decode=breaking).outcomes)

    assert one_pass() == {"fetched": 2, "failed here": 1}
    assert retry_cause(db, "P00") == "decoding"
    outcomes: list[dict[str, int]] = []
    for wait in (30, 60):
        clock.now += timedelta(seconds=wait + 1)
        outcomes.append(one_pass())
    assert outcomes == [{"failed here": 1}, {"refused": 1}]
    assert states(db) == {"P00": "refused", "P01": "fetched", "P02": "fetched"}
    attempts, error = db.execute(
        "SELECT attempts, last_error FROM public.wa_monitor_photos WHERE message_id = 'P00'"
    ).fetchone()
    assert (attempts, error) == (DECODE_TRIES, "could not be decoded (decoding: RuntimeError)")
    clock.now += timedelta(days=1)
    assert not one_pass()  # final: never asked again


def test_a_file_that_keeps_the_decoder_busy_costs_its_time_limit_and_the_pass_goes_on(
    api: SimulatedBridgeApi,
    tmp_path: Path,
    database_url: str,
    db: DB,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hostile JPEG that Pillow would decode for a minute or more, first in line: the decoder
    (a child process) is killed at its limit, the photo is retried as a decoding failure (its
    placeholder says so, not "the bridge"), and the photos behind it are fetched in the same
    pass by a new child. (Before: the fetcher decoded in its own thread, and such a file held
    it, and every photo behind it, for as long as the decode took; a file that hangs Pillow,
    for ever.)"""
    hostile = media_post(
        id="H1",
        chat_jid=LAWLEY,
        sender=AGENT,
        moment=ARRIVED - timedelta(seconds=5),
        data=slow_jpeg(),
    )
    api.post_media(hostile)
    a_drop_with_photos(api, 2)
    assert run_once(config, database_url, monkeypatch) == 0
    clock = HandClock(ARRIVED + timedelta(minutes=4))
    with Decoder(seconds=3.0) as decoder:
        done = fetch(database_url, api, tmp_path, clock, decode=decoder)

    assert done.outcomes == {"failed here": 1, "fetched": 2}
    assert states(db) == {"H1": "retrying", "P00": "fetched", "P01": "fetched"}
    assert retry_cause(db, "H1") == "decoding"
    [failure] = done.failures
    assert failure.reason == "decoding: DecodeFailed (decoding took longer than 3 s)"


def retry_cause(db: DB, message_id: str) -> str | None:
    row = db.execute(
        "SELECT retry_cause FROM public.wa_monitor_photos WHERE message_id = %s", (message_id,)
    ).fetchone()
    return None if row is None else row[0]


def test_three_photos_the_bridge_fails_first_in_line_stall_none_behind_them(
    api: SimulatedBridgeApi, drained: Drained, tmp_path: Path, database_url: str, db: DB
) -> None:
    """The bridge answers 500 for three photos first in line, each for its own file (it could
    not save them): they are retried, and the photos behind them are fetched in the same pass,
    with no outage pause. (Before: three failures in a row ended the pass as "the bridge is
    not serving", and the fetcher backed off to outage pace.) The bridge's WhatsApp link down
    (every photo the same answer) still ends the pass after three."""
    media = drained(6)
    folder = api.store / LAWLEY.replace(":", "_")
    for item in media[:3]:
        named = folder / item.post.filename
        api.fail_download(
            item.post.id, f"failed to save media file: open {named}: permission denied"
        )
    clock = HandClock(ARRIVED + timedelta(minutes=4))

    done = fetch(database_url, api, tmp_path, clock)

    assert done.outcomes == {"retrying": 3, "fetched": 3}
    assert not done.bridge_down
    with fetcher(database_url, api, tmp_path, clock) as one:
        thread = FetcherThread(one, threading.Event(), RecordingLog())
        assert thread.pause_after(done) == (30.0, True)  # the next retry's time: no outage
    assert [states(db)[f"P0{i}"] for i in range(6)] == ["retrying"] * 3 + ["fetched"] * 3

    later = drained(4, start=6)
    api.fault(Fault.NOT_CONNECTED)
    clock.now += timedelta(seconds=5)  # only the new photos are due
    asked = len(api.downloads())
    done = fetch(database_url, api, tmp_path, clock)
    assert done.bridge_down
    assert done.outcomes == {"retrying": 3}
    assert len(api.downloads()) == asked + 3
    api.fault(Fault.NONE)
    for item in media[:3]:
        api.fail_download(item.post.id, None)
    clock.now += timedelta(minutes=2)
    assert fetch(database_url, api, tmp_path, clock).outcomes == {"fetched": len(later) + 3}


def test_a_row_the_database_refuses_is_recorded_as_failed_and_the_pass_goes_on(
    api: SimulatedBridgeApi, drained: Drained, tmp_path: Path, database_url: str, db: DB
) -> None:
    """The database refuses one photo's "fetched" row (here a check a test adds): that photo is
    retried with a reason that carries none of the row's values, the others are recorded."""
    drained(3)
    db.execute(
        "ALTER TABLE public.wa_monitor_photos ADD CONSTRAINT refuses_p01"
        " CHECK (message_id <> 'P01' OR state <> 'fetched')"
    )
    clock = HandClock(ARRIVED + timedelta(minutes=4))

    done = fetch(database_url, api, tmp_path, clock)

    assert done.outcomes == {"fetched": 2, "failed here": 1}
    assert states(db) == {"P00": "fetched", "P01": "retrying", "P02": "fetched"}
    error = db.execute(
        "SELECT last_error FROM public.wa_monitor_photos WHERE message_id = 'P01'"
    ).fetchone()[0]
    assert error == "recording: RowRefused (the database refused a row)"
    db.execute("ALTER TABLE public.wa_monitor_photos DROP CONSTRAINT refuses_p01")
    clock.now += timedelta(seconds=31)
    assert fetch(database_url, api, tmp_path, clock).outcomes == {"fetched": 1}


def test_a_row_that_takes_no_update_at_all_is_held_back_and_the_pass_goes_on(
    api: SimulatedBridgeApi, drained: Drained, tmp_path: Path, database_url: str, db: DB
) -> None:
    """The database refuses every change to one photo's row, its failure included: the others
    are fetched, that one is said in the log and not asked again before the backoff (it cannot
    be written down), and the daemon's fetcher sleeps meanwhile rather than asking at once."""
    drained(3)
    db.execute(
        "ALTER TABLE public.wa_monitor_photos ADD CONSTRAINT refuses_p01"
        " CHECK (message_id <> 'P01' OR attempts = 0)"
    )
    clock = HandClock(ARRIVED + timedelta(minutes=4))
    with fetcher(database_url, api, tmp_path, clock) as one:
        done = one.run_once()
        assert done.outcomes == {"fetched": 2, "not recorded": 1}
        assert [str(failure) for failure in done.failures] == [
            "photo P01 failed here (handling: RowRefused (the database refused a row)); "
            "asked again in 0:00:30"
        ]
        assert states(db) == {"P00": "fetched", "P01": "pending", "P02": "fetched"}
        asked = len(api.downloads())
        again = one.run_once()
        assert not again.outcomes  # held: not asked again at once
        assert len(api.downloads()) == asked
        assert again.next_due == clock.now + timedelta(seconds=30)
        db.execute("ALTER TABLE public.wa_monitor_photos DROP CONSTRAINT refuses_p01")
        clock.now += timedelta(seconds=31)
        assert one.run_once().outcomes == {"fetched": 1}
