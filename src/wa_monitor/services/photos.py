"""Fetching the drops' photos before WhatsApp's servers forget them.

Run by a thread of the daemon (`wa-monitor run`, beside the reply sender: every photo is asked
for within a minute of being drained, so well within 5 minutes of its arrival, whether or not
anyone opens a page), and by `wa-monitor photos fetch` for a pass by hand. Each photo is asked
for at most `photos_fetch_per_minute` times a minute in all; a failure is retried with backoff
(30 s doubling, at most an hour); "expired on WhatsApp's servers", a wrong file (SHA-256) and a
refused file are final, so no page asks again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from wa_monitor.adapters.media import (
    Answer,
    BridgeMedia,
    FileRefused,
    NotAnImage,
    NotAVideo,
    PhotoCache,
    WrongFile,
    read_checked,
    render,
    video_type,
)
from wa_monitor.adapters.postgres import photos
from wa_monitor.adapters.postgres.db import Connection, Database
from wa_monitor.core.ports import Log
from wa_monitor.errors import TransientError
from wa_monitor.settings import Settings

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
PASS_SIZE = 50  # photos a pass takes from the work list
INTERVAL_SECONDS = 30.0  # the daemon's fetcher looks for due photos this often
STOP_GRACE_SECONDS = 1.0  # how long a stopping daemon waits for the fetcher's photo in hand


@dataclass
class Pass:
    """What one pass did, by outcome (fetched, expired, mismatch, refused, retrying)."""

    outcomes: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items())) or "nothing due"


class Fetcher:
    """Asks the bridge for due photos, checks and renders them, records each outcome."""

    def __init__(
        self,
        db: Database,
        *,
        bridge: BridgeMedia,
        cache: PhotoCache,
        media_dir: object,
        max_bytes: int,
        per_minute: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from pathlib import Path  # noqa: PLC0415 - keeps the constructor's signature loose

        self.db, self.bridge, self.cache = db, bridge, cache
        self.media_dir = Path(str(media_dir))
        self.max_bytes = max_bytes
        self.gap = 60.0 / per_minute
        self.clock, self.sleep = clock, sleep
        self._last_request: float | None = None

    @classmethod
    def for_settings(cls, db: Database, settings: Settings, **kwargs: object) -> Fetcher:
        return cls(
            db,
            bridge=BridgeMedia(settings.bridge_api_url),
            cache=PhotoCache(settings.cache_dir, max_bytes=settings.photos_cache_max_mb << 20),
            media_dir=settings.media_dir,
            max_bytes=settings.photos_max_file_mb << 20,
            per_minute=settings.photos_fetch_per_minute,
            **kwargs,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self.bridge.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_once(
        self,
        *,
        limit: int = PASS_SIZE,
        stop: threading.Event | None = None,
        conn: Connection | None = None,
    ) -> Pass:
        """One pass over the due photos, on `conn` (the daemon's kept connection) or on a
        connection of its own."""
        if conn is None:
            with self.db.session("photos") as own:
                return self.run_once(limit=limit, stop=stop, conn=own)
        done = Pass()
        for photo in photos.due(conn, self.db, self.clock(), limit):
            if stop is not None and stop.is_set():
                break
            done.outcomes[self._one(conn, photo)] += 1
        return done

    def _pace(self) -> None:
        """At most one request per `gap` seconds (photos_fetch_per_minute)."""
        now = time.monotonic()
        if self._last_request is not None:
            wait = self._last_request + self.gap - now
            if wait > 0:
                self.sleep(wait)
        self._last_request = time.monotonic()

    def _one(self, conn: Connection, photo: photos.DuePhoto) -> str:  # noqa: PLR0911 - one per outcome
        self._pace()
        answer = self.bridge.download(photo.message_id, photo.chat_jid)
        now = self.clock()
        if answer.answer is Answer.EXPIRED:
            return self._final(conn, photo, "expired", answer.detail)
        if answer.answer is Answer.REFUSED:
            return self._final(conn, photo, "refused", answer.detail)
        if answer.answer is not Answer.OK or answer.path is None:
            delay = min(FIRST_RETRY * (2 ** min(photo.attempts, 12)), LONGEST_RETRY)
            photos.retry(conn, self.db, photo.id, next_at=now + delay, error=answer.detail)
            return "retrying"
        try:
            data = read_checked(
                answer.path, self.media_dir, max_bytes=self.max_bytes, sha256=photo.file_sha256
            )
        except WrongFile as exc:
            return self._final(conn, photo, "mismatch", str(exc))
        except FileRefused as exc:
            return self._final(conn, photo, "refused", str(exc))
        key = (photo.file_sha256 or b"").hex()
        if photo.media_type == "video":  # served as it is, with a plain placeholder
            try:
                content_type = video_type(data)
            except NotAVideo as exc:
                return self._final(conn, photo, "refused", str(exc))
            self.cache.put_video(key, data)
            photos.fetched(
                conn,
                self.db,
                photo.id,
                now=now,
                key=key,
                width=None,
                height=None,
                taken=None,
                place=None,
                content_type=content_type,
            )
            return "fetched"
        try:
            rendered = render(data)
        except NotAnImage as exc:
            return self._final(conn, photo, "refused", str(exc))
        self.cache.put(key, rendered)
        photos.fetched(
            conn,
            self.db,
            photo.id,
            now=now,
            key=key,
            width=rendered.width,
            height=rendered.height,
            taken=rendered.taken,
            place=rendered.place,
        )
        return "fetched"

    def _final(self, conn: Connection, photo: photos.DuePhoto, state: str, error: str) -> str:
        photos.final(conn, self.db, photo.id, state=state, now=self.clock(), error=error[:300])
        return state


class FetcherThread:
    """The daemon's fetcher: a pass every INTERVAL_SECONDS until stopped. Stopping never waits
    out a download: a photo whose answer is abandoned stays due, and the next start asks again."""

    def __init__(
        self,
        fetcher: Fetcher,
        stop: threading.Event,
        log: Log,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self.fetcher, self.stop, self.log, self.interval = fetcher, stop, log, interval
        self.wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="photo-fetcher", daemon=True)

    def start(self) -> None:
        """Start it once this instance holds the environment's lock (again: nothing)."""
        if self._thread.ident is None:
            self._thread.start()

    def _run(self) -> None:
        # One connection kept across passes: a new one each pass (every 30 s) was nearly all
        # of an idle daemon's CPU (3 of 3.2 CPU-s an hour). Any failure closes it, and the
        # next pass, after the interval, connects again.
        while not self.stop.is_set():
            try:
                with self.fetcher.db.session("photos") as conn:
                    self._passes(conn)
            except TransientError as exc:
                self.log.warning("📷 photo fetcher waiting", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - the daemon goes on; said once a pass
                self.log.error("📷 photo fetcher failed", error=type(exc).__name__)
            if not self.stop.is_set():
                self._pause()

    def _passes(self, conn: Connection) -> None:
        while not self.stop.is_set():
            done = self.fetcher.run_once(stop=self.stop, conn=conn)
            if done.outcomes:
                self.log.info(f"📷 photos: {done}")
            self._pause()

    def _pause(self) -> None:
        self.wake.wait(self.interval)
        self.wake.clear()

    def close(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Stop within `timeout` seconds: a pass ends before its next photo once `stop` is set;
        a thread still in a download (the bridge's timeout is 30 s) is left to the process's
        exit, with the client it is using."""
        self.wake.set()
        if self._thread.ident is not None:  # a standby that never held the lock never started it
            self._thread.join(timeout)
        if self._thread.is_alive():
            self.log.info("📷 photo fetcher stopped in a download; the photo stays due")
            return
        self.fetcher.close()


def prune(cache: PhotoCache, *, keep: set[str], max_bytes: int | None = None) -> tuple[int, int]:
    """Remove copies no photo names any more, then the least recently used beyond the cap."""
    removed = freed = 0
    for entry, info in list(cache.files()):
        if entry.name.split(".", 1)[0] not in keep:
            entry.unlink(missing_ok=True)
            removed += 1
            freed += info.st_size
    more, more_freed = cache.prune(max_bytes)
    return removed + more, freed + more_freed
