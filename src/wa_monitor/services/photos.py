"""Fetching the drops' photos before WhatsApp's servers forget them.

Run by a thread of the daemon (`wa-monitor run`, beside the reply sender: the loop wakes it
after a batch that recorded photos, so every photo is asked for as soon as it is drained, well
within 5 minutes of its arrival, whether or not anyone opens a page), and by `wa-monitor photos
fetch` for a pass by hand. Between passes the thread sleeps until the next photo falls due (a
retry's time), at most IDLE_POLL_SECONDS. The bridge is asked at most `photos_fetch_per_minute`
times a minute in the long run, with a burst of `photos_fetch_burst` (12: a new drop's photos)
allowed at once after a quiet spell; a failure is retried with backoff (30 s doubling, at most
an hour);
"expired on WhatsApp's servers", a wrong file (SHA-256) and a refused file are final, so no page
asks again. A bridge that does not answer (or fails FAILURES_IN_A_ROW requests in a row for one
and the same reason: its own state, e.g. its WhatsApp link down) ends the pass, and the thread
waits 30 s, then twice as long at each pass that finds it so, at most OUTAGE_LONGEST_SECONDS:
an outage costs a request every few minutes, not one a second. Failures whose reasons differ
(each about its own file) are each photo's own: they are retried and the pass goes on.

No one photo stops a pass: whatever goes wrong here with a file the bridge served (the cache
cannot be written, the decoder raises, the database refuses its row) is recorded as that
photo's failure, with a short reason (no path), retried with the same backoff, and the pass goes
on to the next photo. Decoding runs in a child process with a time limit (media.Decoder): a
file that keeps the decoder busy (a JPEG of thousands of scans) costs DECODE_SECONDS, the child
is killed, and it counts as a failure to decode. A file that fails to decode DECODE_TRIES
times is refused (final: its bytes, checked by SHA-256, are the same each time); a failure of
this machine (the cache, the database) is retried without end, never made final: it is no
verdict on the photo. A row the database refuses to update at all stays due, said in the log,
and the pass goes on. Only the database's connection lost ends the pass (the thread connects
again). A photo being retried records why (RetryCause: the bridge not answering, the bridge's
error, the decoder, this machine), and its placeholder on the review page says which.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from wa_monitor.adapters.media import (
    Answer,
    BridgeMedia,
    DecodeFailed,
    Decoder,
    FileRefused,
    NotAnImage,
    NotAVideo,
    PhotoCache,
    Rendered,
    WrongFile,
    read_checked,
    video_type,
)
from wa_monitor.adapters.postgres import photos
from wa_monitor.adapters.postgres.db import Connection, Database
from wa_monitor.adapters.postgres.photos import RetryCause
from wa_monitor.core.ports import Log
from wa_monitor.core.replies import Clock, RealClock
from wa_monitor.errors import TransientError, WaMonitorError
from wa_monitor.settings import Settings

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
PASS_SIZE = 50  # photos a pass takes from the work list
# The daemon's fetcher is woken by the loop when a batch recorded photos, and by a retry's
# time; on its own it looks this often (photos another process drained).
IDLE_POLL_SECONDS = 300.0
OUTAGE_FIRST_SECONDS = 30.0  # the pause after a pass that found the bridge not answering,
OUTAGE_LONGEST_SECONDS = 600.0  # doubled at each such pass up to this
FAILURES_IN_A_ROW = 3  # alike failed answers in a row: "the bridge cannot serve", pass ends
DECODE_TRIES = 3  # attempts after which a file the decoder fails on is refused for good
STOP_GRACE_SECONDS = 1.0  # how long a stopping daemon waits for the fetcher's photo in hand


@dataclass
class Pass:
    """What one pass did, by outcome (fetched, expired, mismatch, refused, retrying, failed
    here); the photos that failed here, a line each; whether it ended because the bridge did
    not serve (`bridge_down`); and, when it took every due photo, when the next one falls due
    (None: none waits)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    bridge_down: bool = False
    full: bool = False  # it took PASS_SIZE photos: more may be due now
    next_due: datetime | None = None

    def __str__(self) -> str:
        said = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items())) or "nothing due"
        return f"{said} (the bridge is not serving: the rest wait)" if self.bridge_down else said


@dataclass(frozen=True, slots=True)
class Failure:
    """A photo the bridge served that could not be handled here: what the log line says."""

    message_id: str
    reason: str  # short, no path: the kind of error and the system's words for it
    final: bool  # refused for good (a file the decoder failed on DECODE_TRIES times)
    retry_in: timedelta | None = None

    def __str__(self) -> str:
        then = "refused for good" if self.final else f"asked again in {self.retry_in}"
        return f"photo {self.message_id} failed here ({self.reason}); {then}"


class _Failed(Exception):
    """Handling a served file failed at `stage` (decoding, caching, recording)."""

    def __init__(self, stage: str, exc: BaseException) -> None:
        super().__init__(stage)
        self.stage = stage
        # OSError's str() names the file (a cache path): its errno words only.
        words = exc.strerror if isinstance(exc, OSError) and exc.strerror else ""
        if isinstance(exc, DecodeFailed):  # e.g. "decoding took longer than 30 s": no path
            words = str(exc)
        if isinstance(exc, WaMonitorError):
            words = str(exc).split(":", 1)[0]  # e.g. "the database refused a row": not its values
        self.reason = f"{stage}: {type(exc).__name__}" + (f" ({words})" if words else "")


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
        burst: int = 1,
        decode: Callable[[bytes], Rendered] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from pathlib import Path  # noqa: PLC0415 - keeps the constructor's signature loose

        self.db, self.bridge, self.cache = db, bridge, cache
        self.media_dir = Path(str(media_dir))
        self.max_bytes = max_bytes
        self.gap = 60.0 / per_minute
        self.burst = burst
        # Decoding in a child process with a time limit (media.Decoder), unless given: a file
        # that keeps the decoder busy for minutes costs DECODE_SECONDS, not the fetcher.
        self._decoder: Decoder | None = None
        if decode is None:
            decode = self._decoder = Decoder()
        self.decode = decode
        self.clock, self.sleep = clock, sleep
        # The token bucket: requests that may go now without a wait, as of `_counted`.
        self._tokens, self._counted = float(burst), time.monotonic()
        self._unreachable = False  # the last request got no answer from the bridge
        # Photos whose row the database would not update at all (so their retry time cannot
        # be written): photo id -> (times held, not asked again before). Kept by this process.
        self._held: dict[int, tuple[int, datetime]] = {}

    @classmethod
    def for_settings(cls, db: Database, settings: Settings, **kwargs: object) -> Fetcher:
        return cls(
            db,
            bridge=BridgeMedia(settings.bridge_api_url),
            cache=PhotoCache(settings.cache_dir, max_bytes=settings.photos_cache_max_mb << 20),
            media_dir=settings.media_dir,
            max_bytes=settings.photos_max_file_mb << 20,
            per_minute=settings.photos_fetch_per_minute,
            burst=settings.photos_fetch_burst,
            **kwargs,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self.bridge.close()
        if self._decoder is not None:
            self._decoder.close()

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
        now = self.clock()
        due = photos.due(conn, self.db, now, limit)
        # Failed answers in a row for one and the same reason: the bridge's own state (its
        # WhatsApp link down says so for every photo). A reason about one file differs from
        # the next one's and starts the count again: bad photos first in line stall no others.
        alike, reason = 0, ""
        for photo in due:
            if photo.id in self._held and self._held[photo.id][1] > now:
                continue
            if not self._pace(stop):
                break
            try:
                with _stage("handling"), self.db.translated():
                    outcome, said = self._one(conn, photo, done)
                self._held.pop(photo.id, None)
            except _Failed as failed:  # e.g. the database refused even this photo's failure
                outcome, said = "not recorded", ""
                self._hold(photo, failed, done)
            done.outcomes[outcome] += 1
            if outcome == "retrying":
                alike, reason = (alike + 1 if said == reason else 1), said
            else:
                alike, reason = 0, ""
            if self._unreachable or alike >= FAILURES_IN_A_ROW:
                done.bridge_down = True  # the photos after it would only fail the same way
                break
        done.full = len(due) >= limit and not done.bridge_down
        if not done.full and not done.bridge_down:
            done.next_due = photos.next_due(conn, self.db)
            if done.next_due is not None and done.next_due <= now and self._held:
                # Only held photos can be due still (the pass took all the others): sleep
                # until the first of them may be asked again, not at once.
                done.next_due = min(until for _, until in self._held.values())
        return done

    def _hold(self, photo: photos.DuePhoto, failed: _Failed, done: Pass) -> None:
        """A photo whose outcome could not be recorded: not asked again before the backoff
        (kept here, as its row will not take it), and said in the log."""
        times = self._held[photo.id][0] if photo.id in self._held else 0
        delay = _backoff(times)
        self._held[photo.id] = (times + 1, self.clock() + delay)
        done.failures.append(Failure(photo.message_id, failed.reason, final=False, retry_in=delay))

    def _pace(self, stop: threading.Event | None) -> bool:
        """Take a request's token: at most `burst` requests at once, refilled at one per `gap`
        seconds (photos_fetch_per_minute). False when `stop` was set meanwhile (the wait ends
        at once)."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._counted) / self.gap)
        self._counted = now
        if self._tokens < 1:
            wait = (1 - self._tokens) * self.gap
            if stop is None:
                self.sleep(wait)
            elif stop.wait(wait):
                return False
            self._tokens = 1.0  # what the wait refilled (an injected sleep does not move time)
            self._counted = time.monotonic()
        if stop is not None and stop.is_set():
            return False
        self._tokens -= 1
        return True

    def _one(self, conn: Connection, photo: photos.DuePhoto, done: Pass) -> tuple[str, str]:
        """The photo's outcome, and the bridge's reason when it failed the request."""
        answer = self.bridge.download(photo.message_id, photo.chat_jid)
        self._unreachable = answer.answer is Answer.UNREACHABLE
        if answer.answer is Answer.EXPIRED:
            return self._final(conn, photo, "expired", answer.detail), ""
        if answer.answer is Answer.REFUSED:
            return self._final(conn, photo, "refused", answer.detail), ""
        if answer.answer is not Answer.OK or answer.path is None:
            photos.retry(
                conn,
                self.db,
                photo.id,
                next_at=self.clock() + _backoff(photo.attempts),
                error=answer.detail,
                cause=RetryCause.UNREACHABLE if self._unreachable else RetryCause.BRIDGE,
            )
            return "retrying", answer.detail
        try:
            return self._use(conn, photo, answer.path), ""
        except _Failed as failed:
            return self._failed_here(conn, photo, failed, done), ""

    def _use(self, conn: Connection, photo: photos.DuePhoto, path: str) -> str:
        """Check, decode, cache and record the file the bridge named; _Failed when a step
        fails unexpectedly (the database's connection lost goes through as StoreUnavailable:
        it is no photo's fault)."""
        now = self.clock()
        try:
            with _stage("reading"):
                data = read_checked(
                    path, self.media_dir, max_bytes=self.max_bytes, sha256=photo.file_sha256
                )
        except WrongFile as exc:
            return self._final(conn, photo, "mismatch", str(exc))
        except FileRefused as exc:
            return self._final(conn, photo, "refused", str(exc))
        key = (photo.file_sha256 or b"").hex()
        rendered: Rendered | None = None
        try:
            with _stage("decoding"):
                if photo.media_type == "video":  # served as it is, with a plain placeholder
                    content_type = video_type(data)
                else:
                    rendered, content_type = self.decode(data), "image/jpeg"
        except (NotAVideo, NotAnImage) as exc:
            return self._final(conn, photo, "refused", str(exc))
        with _stage("caching"):
            if rendered is None:
                self.cache.put_video(key, data)
            else:
                self.cache.put(key, rendered)
        with _stage("recording"), self.db.translated():
            photos.fetched(
                conn,
                self.db,
                photo.id,
                now=now,
                key=key,
                width=rendered.width if rendered else None,
                height=rendered.height if rendered else None,
                taken=rendered.taken if rendered else None,
                place=rendered.place if rendered else None,
                content_type=content_type,
            )
        return "fetched"

    def _failed_here(
        self, conn: Connection, photo: photos.DuePhoto, failed: _Failed, done: Pass
    ) -> str:
        """Record a photo the bridge served but this side could not handle, and go on."""
        if failed.stage == "decoding" and photo.attempts + 1 >= DECODE_TRIES:
            self._final(conn, photo, "refused", f"could not be decoded ({failed.reason})")
            done.failures.append(Failure(photo.message_id, failed.reason, final=True))
            return "refused"
        delay = _backoff(photo.attempts)
        cause = RetryCause.DECODING if failed.stage == "decoding" else RetryCause.HERE
        photos.retry(
            conn,
            self.db,
            photo.id,
            next_at=self.clock() + delay,
            error=failed.reason,
            cause=cause,
        )
        done.failures.append(Failure(photo.message_id, failed.reason, final=False, retry_in=delay))
        return "failed here"

    def _final(self, conn: Connection, photo: photos.DuePhoto, state: str, error: str) -> str:
        photos.final(conn, self.db, photo.id, state=state, now=self.clock(), error=error[:300])
        return state


def _backoff(attempts: int) -> timedelta:
    """The wait after `attempts` earlier tries: 30 s doubling at each, at most LONGEST_RETRY."""
    delay: timedelta = FIRST_RETRY * (2 ** min(attempts, 12))
    return min(delay, LONGEST_RETRY)


# Verdicts on the file, which the caller records as such; and the database's connection lost,
# which is no photo's fault (the pass ends, the thread connects again).
_NOT_FAILURES = (FileRefused, WrongFile, NotAnImage, NotAVideo, TransientError)


@contextlib.contextmanager
def _stage(stage: str) -> Iterator[None]:
    """An unexpected error in the block is this photo's failure at `stage` (a stop, being a
    BaseException, is not)."""
    try:
        yield
    except _NOT_FAILURES:
        raise
    except Exception as exc:
        raise _Failed(stage, exc) from exc


class FetcherThread:
    """The daemon's fetcher: a pass whenever photos are due, until stopped. Stopping never
    waits out a download: a photo whose answer is abandoned stays due, and the next start asks
    again."""

    def __init__(
        self,
        fetcher: Fetcher,
        stop: threading.Event,
        log: Log,
        *,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetcher, self.stop, self.log = fetcher, stop, log
        self.clock, self.monotonic = clock or RealClock(), monotonic
        self._closing = False
        self.wake = threading.Event()  # set by the loop after a batch that recorded photos
        self.outage = 0  # passes in a row that found the bridge not serving
        self._thread = threading.Thread(target=self._run, name="photo-fetcher", daemon=True)

    def start(self) -> None:
        """Start it once this instance holds the environment's lock (again: nothing)."""
        if self._thread.ident is None:
            self._thread.start()

    def _run(self) -> None:
        # One connection kept across passes: a new one each pass was nearly all of an idle
        # daemon's CPU (3 of 3.2 CPU-s an hour). Any failure closes it, and the next pass,
        # after OUTAGE_FIRST_SECONDS, connects again.
        while not self.stop.is_set():
            try:
                with self.fetcher.db.session("photos") as conn:
                    self._passes(conn)
            except TransientError as exc:
                self.log.warning("📷 photo fetcher waiting", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - the daemon goes on; said once a pass
                self.log.error("📷 photo fetcher failed", error=type(exc).__name__)
            self._pause(OUTAGE_FIRST_SECONDS, wakes=False)

    def _passes(self, conn: Connection) -> None:
        while not self.stop.is_set():
            self.wake.clear()  # what the loop recorded before this pass, the pass sees
            done = self.fetcher.run_once(stop=self.stop, conn=conn)
            for failure in done.failures:
                self.log.warning(f"📷 {failure}")
            if done.outcomes:
                self.log.info(f"📷 photos: {done}")
            pause, wakes = self.pause_after(done)
            self._pause(pause, wakes=wakes)

    def pause_after(self, done: Pass) -> tuple[float, bool]:
        """How long to sleep after `done`, and whether a wake from the loop ends the sleep
        early (not while the bridge is not serving: new photos would only fail the same way)."""
        if done.bridge_down:
            self.outage += 1
            return min(OUTAGE_FIRST_SECONDS * 2 ** (self.outage - 1), OUTAGE_LONGEST_SECONDS), False
        self.outage = 0
        if done.full:
            return 0.0, True  # more are due: the pacing between requests is the only wait
        if done.next_due is None:
            return IDLE_POLL_SECONDS, True
        until = (done.next_due - self.fetcher.clock()).total_seconds()
        return min(max(until, 0.0), IDLE_POLL_SECONDS), True

    def _pause(self, seconds: float, *, wakes: bool) -> None:
        """Sleep `seconds`, or until stopped or closed (close() sets `wake`), or, when `wakes`,
        until the loop says photos were recorded."""
        deadline = self.monotonic() + seconds
        while not (self.stop.is_set() or self._closing):
            left = deadline - self.monotonic()
            if left <= 0 or (self.clock.wait(self.wake, left) and wakes):
                return
            self.wake.clear()  # the loop's wake, in an outage: the pass after it sees them

    def close(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Stop within `timeout` seconds: a pass ends before its next photo once `stop` is set;
        a thread still in a download (the bridge's timeout is 30 s) is left to the process's
        exit, with the client it is using."""
        self._closing = True
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
