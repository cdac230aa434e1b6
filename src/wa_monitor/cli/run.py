"""`wa-monitor run`: the daemon, wired to its adapters."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Protocol

from wa_monitor import __version__
from wa_monitor.adapters import logs
from wa_monitor.adapters.bridge import Bridge
from wa_monitor.adapters.notify import SystemdNotifier
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.outbox import PgOutbox
from wa_monitor.adapters.postgres.store import Store
from wa_monitor.adapters.waker import InotifyWaker
from wa_monitor.cli.common import (
    CONFIG_HELP,
    SUMMARIES,
    Commands,
    leaf,
    load,
    seconds,
)
from wa_monitor.core.loop import HEARTBEAT_SECONDS, Rules
from wa_monitor.core.loop import run as run_loop
from wa_monitor.core.photos import PhotoWindow
from wa_monitor.core.ports import Log, Notifier
from wa_monitor.core.replies import Caps, Sender, ThreadLanes
from wa_monitor.core.validation import Policy
from wa_monitor.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    FatalError,
    NotMigrated,
    TransientError,
)
from wa_monitor.services.photos import Fetcher, FetcherThread
from wa_monitor.settings import Environment, Settings

# How long a stopping daemon waits for its threads, all of them together: a reply in flight
# gets its outcome recorded (the bridge API's own timeout is 7 s); a photo download is not waited
# out (FetcherThread.close). Idle, they stop at once.
STOP_SECONDS = 8.0


def register(commands: Commands) -> None:
    run = leaf(
        commands,
        "run",
        help=SUMMARIES["run"],
        description="Process new bridge messages into reviews. Without --once, keep polling "
        "until SIGTERM or SIGINT, then finish or roll back the batch in hand and exit 0. "
        "Exit 2 on a bad config or an unmigrated schema, 1 when the work cannot go on.",
        epilog=CONFIG_HELP,
        handler=run_command,
    )
    run.add_argument(
        "--once", action="store_true", help="process everything now in the bridge, then exit 0"
    )
    run.add_argument(
        "--give-up-after",
        metavar="SECONDS",
        type=seconds,
        default=None,
        help="with --once: how long to retry an unreachable database or bridge file before "
        "exiting 1 (default 60); the daemon never gives up",
    )
    run.add_argument(
        "--bridge",
        metavar="NAME",
        default=None,
        help="the [[bridges]] entry to read (default: $WA_MONITOR_BRIDGE, else the first whose "
        "messages.db is on this host); one monitor per bridge, each on its bridge's host",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run_command(args: argparse.Namespace) -> int:
    settings = load(args)
    if args.bridge is not None:
        settings = settings.on_bridge(args.bridge)
    db = Database.of(settings)
    try:
        logs.configure(
            prefix=settings.log_prefix,
            log_file=settings.log_file,
            level=args.log_level,
            tz=settings.tz,
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"log_file {settings.log_file}: cannot be opened: {reason}") from None
    log = logs.get()
    stop = threading.Event()
    # Wake on the bridge's writes, not at the next poll; the poll stays as the fallback when
    # there is no watch. Idle, the loop then wakes only for the heartbeat (once a minute).
    waker = InotifyWaker(settings.bridge_db, stop, poll_s=settings.poll_interval_seconds)
    # SIGTERM is ours before "starting" is said: a stop sent once the log says it (systemd, a
    # test that waits for the line) must end the daemon cleanly, not by the signal's default.
    signals = _Signals(stop, on_stop=waker.poke)
    try:
        return _run(args, settings, db=db, log=log, stop=stop, waker=waker)
    finally:
        signals.close()  # before the waker it pokes
        waker.close()


def _run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    db: Database,
    log: Log,
    stop: threading.Event,
    waker: InotifyWaker,
) -> int:
    env = settings.environment.value
    log.info(
        "starting",
        env=env,
        schema=settings.schema,
        bridge=settings.bridge,
        bridge_db=str(settings.bridge_db),
        groups=len(settings.enabled_projects),
        once=args.once,
        version=__version__,
    )
    if not settings.enabled_projects:
        log.warning("no enabled [[projects]] in the config: nothing will be read")
    allowed = _reply_groups(settings, log)
    rules = Rules(
        projects=settings.enabled_projects,
        bot_senders=settings.bot_senders,
        own_account_posts_drops=settings.own_account_posts_drops,
        photos=settings.photos,
        tz=settings.tz,
        policy=Policy(
            validating=settings.validating,
            action=settings.invalid_action,
            reply_groups=allowed,
            acknowledge=settings.acknowledgements,
            texts=settings.reply_texts,
        ),
    )
    store = Store(
        db,
        bridge=settings.bridge,
        other_bridges=len(settings.bridge_list) > 1,
        exclusive=True,
        validating=settings.validating,
        photo_window=_photo_window(settings) if settings.photos else None,
    )
    bridge = Bridge(
        settings.bridge_db,
        groups=list(settings.enabled_projects),
        tz=settings.tz,
        span=settings.batch_size,
        lid_map=settings.lid_map_db,
        max_ahead=timedelta(seconds=settings.max_clock_skew_seconds),
        photos=settings.photos,
    )
    _tell_unknown_groups(bridge, settings, log)
    notifier = SystemdNotifier.from_environ()  # sends nothing unless systemd runs us
    # Replies are posted by a thread of the daemon, started once this instance holds the
    # environment's lock (a standby must not post); `run --once` leaves them to the daemon.
    writes_replies = bool(allowed) and bool(settings.validating or settings.acknowledgements)
    sender = _sender(settings, db, stop, log, allowed) if writes_replies and not args.once else None
    # The drops' photos are fetched by a thread of the daemon, woken by the loop once a batch
    # recorded some (services/photos.py), started like the sender once this instance holds the
    # lock (a standby asks the bridge for nothing); `run --once` leaves them to the daemon or
    # `photos fetch`.
    fetcher = None
    if settings.photos and not args.once:
        fetcher = FetcherThread(Fetcher.for_settings(db, settings), stop, log)
    try:
        with _gc_tuned_for_the_loop():
            totals = run_loop(
                source=bridge,
                sink=store,
                rules=rules,
                stop=stop,
                poll_interval=settings.poll_interval_seconds,
                idle_interval=max(settings.poll_interval_seconds, HEARTBEAT_SECONDS),
                once=args.once,
                waker=waker,
                give_up_after=(args.give_up_after or 60.0) if args.once else 600.0,
                notifier=_StartsThreads(notifier, sender, fetcher),
                log=log,
                lines=logs.Lines(),
                replies_written=None if sender is None else sender.wake.set,
                photos_recorded=None if fetcher is None else fetcher.wake.set,
            )
    except NotMigrated as exc:
        log.error("❌ cannot start", error=str(exc))
        return EXIT_CONFIG
    except (FatalError, TransientError) as exc:
        log.error("❌ stopped", error=str(exc))
        return EXIT_FAILED
    finally:
        notifier.stopping()
        notifier.close()
        _stop_threads(sender, fetcher)
        bridge.close()
        store.close()
    log.info(
        "stopped",
        **totals.fields(),
        longest_bridge_read_ms=round(bridge.longest_read_seconds * 1000, 1),
        **_peak_rss(),
    )
    return EXIT_OK


def _tell_unknown_groups(bridge: Bridge, settings: Settings, log: Log) -> None:
    """One line when watched groups are not in the bridge file: a run that finds none of its
    groups processes nothing, and must say why. (An unreadable file is the loop's to retry.)"""
    watched = settings.enabled_projects
    try:
        missing = set(watched) - bridge.known_groups()
    except TransientError:
        return
    if missing:
        log.warning(
            f"⚠️ {len(missing)} of {len(watched)} watched groups are not in the bridge file: "
            "nothing is read from them (check group_jid in [[projects]]; wa-monitor doctor)",
            groups=",".join(f"{watched[jid]}={jid}" for jid in sorted(missing)),
        )


def _reply_groups(settings: Settings, log: Log) -> frozenset[str]:
    """Where this environment may post replies (core.isolation's rule), said once at start."""
    production = settings.production
    if settings.environment is Environment.DEV and (production is None or not production.known):
        why = production.source if production is not None else "not read"
        log.warning(
            "dev posts nowhere: production's config is needed to keep dev out of its groups",
            production_config=why,
        )
    allowed = settings.reply_groups
    if settings.replying and (dropped := set(settings.enabled_projects) - allowed):
        log.warning("no replies in these groups", groups=",".join(sorted(dropped)))
    return allowed


class Closable(Protocol):
    def close(self) -> None: ...


class _SenderThread:
    """The reply sender in a daemon thread, with its own connection and HTTP clients."""

    def __init__(self, sender: Sender, outbox: PgOutbox, posters: Closable) -> None:
        self.sender, self._outbox, self._posters = sender, outbox, posters
        self.wake = sender.wake
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.sender.run, name="replies", daemon=True)
            self._thread.start()

    def close(self, timeout: float = STOP_SECONDS) -> None:
        """Let a post in flight finish (its outcome recorded) within `timeout` seconds: the
        API's own timeout (7 s) ends it before then. A thread still busy after that is left to
        the process's exit, with its connection and client (the post, if any, is settled by
        the next start: messages.db, or a person)."""
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return
        self._posters.close()
        self._outbox.close()


def _stop_threads(sender: _SenderThread | None, fetcher: FetcherThread | None) -> None:
    """Stop the sender and the fetcher together, within STOP_SECONDS in all."""
    deadline = time.monotonic() + STOP_SECONDS
    if sender is not None:
        sender.wake.set()  # both wind down at once; the joins below share the deadline
    if fetcher is not None:
        fetcher.close()
    if sender is not None:
        sender.close(timeout=max(deadline - time.monotonic(), 0.0))


def _sender(
    settings: Settings, db: Database, stop: threading.Event, log: Log, allowed: frozenset[str]
) -> _SenderThread:
    # Imported here: only a monitor that replies loads the HTTP client.
    from wa_monitor.adapters.bridge_api import BridgeRoutes  # noqa: PLC0415

    outbox = PgOutbox(db)
    bridges = BridgeRoutes(settings)
    sender = Sender(
        outbox=outbox,
        routes=bridges.routes,
        allowed=allowed,
        window_s=settings.reply_window_seconds,
        interval_s=settings.reply_interval_seconds,
        poll_s=settings.poll_interval_seconds,
        stop=stop,
        log=log,
        caps=Caps(
            per_sender=settings.reply_cap_per_sender_hour,
            per_group=settings.reply_cap_per_group_hour,
        ),
        lanes=ThreadLanes(),
    )
    return _SenderThread(sender, outbox, bridges)


class _Startable(Protocol):
    def start(self) -> None: ...


class _StartsThreads:
    """The notifier, plus: READY also starts the reply sender and the photo fetcher (this
    instance holds the lock; a standby must neither post nor ask the bridge for media)."""

    def __init__(self, inner: Notifier, *threads: _Startable | None) -> None:
        self._inner = inner
        self._threads = [t for t in threads if t is not None]

    @property
    def keepalive(self) -> float | None:
        return self._inner.keepalive

    def ready(self) -> None:
        for thread in self._threads:
            thread.start()
        self._inner.ready()

    def status(self, text: str) -> None:
        self._inner.status(text)

    def watchdog(self) -> None:
        self._inner.watchdog()


# Young objects between two collections of the first generation (Python's default: 700).
GC_YOUNG_THRESHOLD = 10_000


@contextmanager
def _gc_tuned_for_the_loop() -> Iterator[None]:
    """The cyclic garbage collector set for a loop that makes ~100,000 short-lived records a
    drain, almost none of them in cycles (reference counting frees them): the young generation
    is collected every 10,000 allocations, not 700, and what start-up made (modules, settings,
    the driver's types) is frozen, so that no collection walks it again. Both together took a
    1M drain from 2.95 s to 2.68 s (medians of five); peak memory stayed at 64 MB. Put back
    as it was afterwards, for a caller that goes on in the same process (the tests); a caller
    that froze its own objects keeps them frozen, and then the loop freezes nothing more
    (unfreeze() cannot tell the caller's objects from the loop's)."""
    before = gc.get_threshold()
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if freezing:
            gc.unfreeze()


def _peak_rss() -> dict[str, float]:
    """This process's peak resident memory, from the kernel's high-water mark of its own
    address space (rusage's ru_maxrss would also count the parent's, which a process started
    with vfork inherits until exec). Empty where /proc is not there."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return {}
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return {"peak_rss_mb": round(int(line.split()[1]) / 1024, 1)}
    return {}


class _Signals:
    """SIGTERM and SIGINT set `stop` (and call `on_stop`), SIGHUP reopens the logs; decided in a
    thread of their own, never in a Python signal handler.

    A Python handler runs in the main thread between two of its bytecodes, possibly while that
    thread holds the lock inside `stop` (in `stop.wait()`, which a standby and a retry wait in):
    `stop.set()` there waits for itself, and the daemon hangs deaf to every later SIGTERM, until
    systemd kills it (Python's documentation: no locks in signal handlers). A handler also runs
    only once the main thread is back in Python, not while it waits in a driver call. Here the
    C-level handler writes the signal's number to a pipe at once (`signal.set_wakeup_fd`), and
    this thread acts on it while the main thread is wherever it is.
    """

    HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self, stop: threading.Event, on_stop: Callable[[], None]) -> None:
        self._stop, self._on_stop = stop, on_stop
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # set_wakeup_fd's condition: it must never block
        self._previous = {sig: signal.signal(sig, _noted) for sig in self.HANDLED}
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._run, name="signals", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while received := os.read(self._read, 64):  # b"": close() closed the other end
            for number in received:
                if number == signal.SIGHUP:
                    logs.reopen()
                elif number in (signal.SIGTERM, signal.SIGINT):
                    self._stop.set()
                    self._on_stop()

    def close(self) -> None:
        """Put back what was there (a caller that goes on in the same process: the tests)."""
        signal.set_wakeup_fd(self._previous_fd)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        os.close(self._write)
        self._thread.join(timeout=1.0)
        os.close(self._read)


def _noted(signum: int, _: FrameType | None) -> None:
    """The Python-level handler: nothing (the wakeup pipe carries the signal to _Signals)."""


def _photo_window(settings: Settings) -> PhotoWindow:
    return PhotoWindow(
        before=timedelta(minutes=settings.photos_before_minutes),
        after=timedelta(minutes=settings.photos_after_minutes),
        waiting=timedelta(days=settings.photos_waiting_days),
    )
