"""The inotify waker: the daemon reacts to the bridge's writes, and to a stop, not to the poll."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import LAWLEY
from wa_monitor.adapters.waker import InotifyWaker
from wa_monitor.devtools.simulator import BridgeWriter, Post

LONG = 600.0  # far longer than any test: returning at all means something woke the wait
JOIN = 30.0


@pytest.fixture
def waker(bridge: BridgeWriter) -> Iterator[InotifyWaker]:
    stop = threading.Event()
    w = InotifyWaker(bridge.path, stop)
    assert w.watching, "inotify should be available on Linux"
    yield w
    w.close()


def waiting(waker: InotifyWaker) -> threading.Thread:
    thread = threading.Thread(target=waker.wait, args=(LONG,), daemon=True)
    thread.start()
    return thread


def test_a_bridge_commit_ends_the_wait(waker: InotifyWaker, bridge: BridgeWriter) -> None:
    thread = waiting(waker)
    bridge.post(Post(id="W1", chat_jid=LAWLEY, sender="1", content="DR1234567", timestamp="x"))
    thread.join(JOIN)
    assert not thread.is_alive()


def test_a_stop_request_ends_the_wait(waker: InotifyWaker) -> None:
    thread = waiting(waker)
    waker.poke()
    thread.join(JOIN)
    assert not thread.is_alive()


def test_other_files_in_the_folder_do_not_wake_it(
    waker: InotifyWaker, bridge: BridgeWriter
) -> None:
    thread = waiting(waker)
    (bridge.path.parent / "whatsapp.db").write_bytes(b"session")  # the bridge's other file
    thread.join(0.5)
    assert thread.is_alive()
    waker.poke()
    thread.join(JOIN)


def test_the_poll_interval_is_still_the_fallback(waker: InotifyWaker) -> None:
    thread = threading.Thread(target=waker.wait, args=(0.05,), daemon=True)
    thread.start()
    thread.join(JOIN)
    assert not thread.is_alive()


def test_without_a_watchable_folder_it_is_the_plain_poll(tmp_path: Path) -> None:
    stop = threading.Event()
    w = InotifyWaker(tmp_path / "missing" / "messages.db", stop)
    assert not w.watching
    stop.set()
    w.wait(LONG)  # a set stop event returns at once
    w.close()


def test_a_lost_watch_falls_back_to_the_poll_interval(tmp_path: Path) -> None:
    """The idle loop hands the waker the heartbeat's minute: a watch that is gone (its folder
    removed) must not leave it sleeping that long: each wait is then at most the poll."""
    folder = tmp_path / "store"
    folder.mkdir()
    stop = threading.Event()
    w = InotifyWaker(folder / "messages.db", stop, poll_s=0.05)
    assert w.watching
    thread = waiting(w)
    folder.rmdir()
    thread.join(JOIN)
    assert not thread.is_alive()
    assert not w.watching
    thread = waiting(w)
    thread.join(JOIN)
    assert not thread.is_alive()
    w.close()
