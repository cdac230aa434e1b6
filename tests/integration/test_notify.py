"""sd_notify: what systemd hears from the daemon, on a real datagram socket in $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import AGENT, LAWLEY, sast, write_config
from tests.support.fakes import HandClock
from tests.support.harness import CutProxy, NotifySocket, daemon, stop, wait_until
from tests.support.runs import run_once, say
from wa_monitor.adapters.notify import SystemdNotifier
from wa_monitor.devtools.simulator import BridgeWriter, media_post

pytestmark = pytest.mark.migrated("prod")


WATCHDOG_USEC = "400000"  # WatchdogSec=0.4s: the loop must ping at least every 0.1 s


@pytest.fixture
def config(tmp_path: Path, bridge: BridgeWriter) -> Path:
    return write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(str(tmp_path / "notify"))
    yield sock
    sock.close()


def abstract_listener() -> NotifySocket:
    return NotifySocket(f"@wa-monitor-test-{uuid.uuid4().hex}")


def test_messages_reach_an_abstract_socket_in_order_and_watchdog_pings_are_rate_limited() -> None:
    sock = abstract_listener()
    clock = HandClock(0.0)
    notifier = SystemdNotifier(sock.address, watchdog_usec=400_000, clock=clock)
    assert notifier.keepalive == pytest.approx(0.1)
    try:
        notifier.watchdog()  # not ready yet: extend the start timeout instead
        notifier.status("retrying:\ndatabase away")
        notifier.status("retrying:\ndatabase away")  # unchanged: not sent again
        notifier.ready()
        notifier.watchdog()  # right after READY=1: nothing new to say
        clock.now += 0.06
        notifier.watchdog()
        clock.now += 0.01
        notifier.watchdog()  # too soon after the last ping
        notifier.stopping()
        sock.expect(lambda m: m == "STOPPING=1", "STOPPING=1")
    finally:
        notifier.close()
        sock.close()
    assert sock.messages == [
        "EXTEND_TIMEOUT_USEC=400000",
        "STATUS=retrying: database away",
        "READY=1",
        "WATCHDOG=1",
        "STOPPING=1",
    ]


def test_without_systemd_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    quiet = SystemdNotifier.from_environ({})
    assert quiet.keepalive is None
    for call in (quiet.ready, quiet.watchdog, quiet.stopping):
        call()
    # A watchdog meant for another process (WATCHDOG_PID) is not ours to feed.
    other = SystemdNotifier.from_environ(
        {"NOTIFY_SOCKET": str(tmp_path / "x"), "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}
    )
    assert other.keepalive is None
    mine = SystemdNotifier.from_environ(
        {"WATCHDOG_USEC": "8000000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert mine.keepalive == 2.0
    # A service manager that went away is not the daemon's failure.
    gone = SystemdNotifier(str(tmp_path / "nobody-listens"), watchdog_usec=1000)
    gone.ready()
    gone.status("still here")


def test_the_daemon_is_ready_reports_status_feeds_the_watchdog_while_idle_and_says_stopping(
    tmp_path: Path,
    config: Path,
    bridge: BridgeWriter,
    database_url: str,
    listener: NotifySocket,
) -> None:
    env = {
        "NOTIFY_SOCKET": listener.address,
        "WATCHDOG_USEC": WATCHDOG_USEC,
        # Idle for a minute between looks: only a loop that pings while it waits stays alive.
        "WA_MONITOR_POLL_INTERVAL_SECONDS": "60",
    }
    with daemon(config, database_url, tmp_path / "stderr", **env) as proc:
        listener.expect(lambda m: m == "READY=1", "READY=1")
        say(bridge, "A1", "DR1752028 all photos", sast(11, 12, 25, 30))
        status = listener.expect(lambda m: "DR1752028" in m, "a STATUS naming the drop")
        assert status.startswith("STATUS=caught up at rowid 1; last cycle: 1 created")
        assert "last drop DR1752028 (Lawley) posted 2025-11-11T12:25:30+02:00, applied " in status
        after = len(listener.messages)
        wait_until(
            lambda: listener.drain() or listener.messages[after:].count("WATCHDOG=1") >= 5,
            what="five watchdog pings while idle",
        )
        assert stop(proc) == 0
    listener.expect(lambda m: m == "STOPPING=1", "STOPPING=1")
    ready = listener.messages.index("READY=1")
    assert not any(m.startswith("EXTEND_TIMEOUT_USEC=") for m in listener.messages[ready:])


def test_not_ready_until_the_bridge_answers_and_the_start_is_extended_while_retrying(
    tmp_path: Path, database_url: str, listener: NotifySocket
) -> None:
    bridge_db = tmp_path / "later" / "messages.db"  # not there yet: the bridge has not started
    config = write_config(tmp_path, "prod", bridge_db=bridge_db, groups={LAWLEY: "Lawley"})
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": WATCHDOG_USEC}
    with daemon(config, database_url, tmp_path / "stderr", **env):
        listener.expect(lambda m: m.startswith("STATUS=retrying (attempt 3)"), "a third retry")
        assert "READY=1" not in listener.messages
        second = next(
            i
            for i, m in enumerate(listener.messages)
            if m.startswith("STATUS=retrying (attempt 2)")
        )
        during_backoff = listener.messages[second:-1]  # the wait of ~1-2 s before attempt 3
        assert during_backoff.count(f"EXTEND_TIMEOUT_USEC={WATCHDOG_USEC}") >= 3, during_backoff
        assert "bridge" in listener.messages[second]
        bridge_db.parent.mkdir()
        BridgeWriter(bridge_db).close()
        listener.expect(lambda m: m == "READY=1", "READY=1 once the bridge file exists")
        # The retry is over: STATUS says so, rather than keep showing the last failure.
        listener.expect(
            lambda m: m == "STATUS=caught up at rowid 0; nothing applied yet", "a STATUS of now"
        )


@pytest.mark.migrated
def test_an_unmigrated_schema_is_never_reported_ready(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, listener: NotifySocket
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": WATCHDOG_USEC}
    with daemon(config, database_url, tmp_path / "stderr", **env) as proc:
        assert proc.wait(30) == 2  # systemd: failed, and RestartPreventExitStatus=2 keeps it so
    listener.expect(lambda m: m == "STOPPING=1", "STOPPING=1")
    assert "READY=1" not in listener.messages


def test_a_standby_says_so_and_becomes_ready_when_the_active_one_stops(
    tmp_path: Path, config: Path, bridge: BridgeWriter, database_url: str
) -> None:
    active, standby = abstract_listener(), abstract_listener()
    try:
        with daemon(
            config, database_url, tmp_path / "active", NOTIFY_SOCKET=active.address
        ) as first:
            active.expect(lambda m: m == "READY=1", "READY=1 from the first")
            with daemon(config, database_url, tmp_path / "standby", NOTIFY_SOCKET=standby.address):
                standby.expect(lambda m: "another wa-monitor is running" in m, "a standby STATUS")
                assert "READY=1" not in standby.messages
                assert stop(first) == 0
                standby.expect(lambda m: m == "READY=1", "READY=1 from the standby")
    finally:
        active.close()
        standby.close()


def test_a_loop_hung_in_a_database_call_stops_feeding_the_watchdog(
    tmp_path: Path,
    config: Path,
    bridge: BridgeWriter,
    database_url: str,
    listener: NotifySocket,
) -> None:
    """Only the loop feeds the watchdog, so systemd restarts a daemon whose loop is stuck."""
    proxy = CutProxy(database_url)
    via_proxy = proxy.url(database_url)
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": WATCHDOG_USEC}
    try:
        with daemon(config, via_proxy, tmp_path / "stderr", **env) as proc:
            listener.expect(lambda m: m == "READY=1", "READY=1")
            proxy.freeze()  # the database takes the next statement and never answers
            say(bridge, "A1", "DR1752028 all photos", sast(11, 12, 25, 30))
            listener.falls_silent("WATCHDOG=1", seconds=1.0)  # ten watchdog periods
            assert proc.poll() is None  # alive, but stuck: only systemd's watchdog can tell
            proxy.thaw()
            listener.expect(
                lambda m: "DR1752028" in m, "the drop applied once the database answers"
            )
            assert stop(proc) == 0
    finally:
        proxy.close()


class NeverAnswers:
    """A bridge API that takes every request and never answers (a hung bridge)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # closed
                return
            self._held.append(conn)
            self.requests.append(conn.recv(65536))

    def close(self) -> None:
        self._server.close()
        for conn in self._held:
            conn.close()


def test_sigterm_with_the_photo_fetcher_in_a_hung_download_exits_at_once(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    listener: NotifySocket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CI flake's class: a thread of the daemon stuck in a call to the bridge held the exit
    for the sum of its joins (the fetcher's alone 10 s; the bridge's timeout is 30 s)."""
    hung = NeverAnswers()
    config = write_config(
        tmp_path,
        "prod",
        bridge_db=bridge.path,
        groups={LAWLEY: "Lawley"},
        extra=f'bridge_api_url = "{hung.url}"\nphotos_cache_dir = "{tmp_path / "cache"}"',
    )
    photo = media_post(
        id="P1", chat_jid=LAWLEY, sender=AGENT, moment=sast(11, 9, 0), data=b"a photo"
    )
    bridge.post(photo.post)
    say(bridge, "D1", "DR1752028", sast(11, 9, 1))
    assert run_once(config, database_url, monkeypatch) == 0  # the photo is now due
    try:
        with daemon(
            config, database_url, tmp_path / "stderr", NOTIFY_SOCKET=listener.address
        ) as proc:
            listener.expect(lambda m: m == "READY=1", "READY=1")
            wait_until(lambda: any(b"/api/download" in r for r in hung.requests), what="a download")
            sent = time.monotonic()
            assert stop(proc) == 0
            took = time.monotonic() - sent
    finally:
        hung.close()
    # Before: ≥ 10 s (FetcherThread.close joined for 10 s). Now: the download is not waited out.
    assert took < 7.0, f"the daemon took {took:.1f} s to stop"


SIGTERM_WHILE_STOP_IS_LOCKED = """
import os, signal, threading
from wa_monitor.cli.run import _Signals

stop = threading.Event()
signals = _Signals(stop, on_stop=lambda: None)
# Where the main thread is inside stop.wait() (a standby's wait, a retry's): the event's own lock
# held. A Python handler calling stop.set() runs right here, between two bytecodes, and waits for
# that lock for ever; the process is then deaf to SIGTERM.
with stop._cond:
    os.kill(os.getpid(), signal.SIGTERM)
    total = sum(range(100_000))
print("the main thread went on", flush=True)
assert stop.wait(10), "SIGTERM never set stop"
signals.close()
print("stop set")
"""


def test_sigterm_sets_stop_even_while_the_main_thread_holds_its_lock() -> None:
    # In a process of its own: before, this hung for good (SIGKILL was the only way out).
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_WHILE_STOP_IS_LOCKED],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["the main thread went on", "stop set"]
