"""Wakes the loop when the bridge writes its file (Linux inotify), instead of at the next poll.

No dependency: libc's inotify_init1 / inotify_add_watch through ctypes. With a working watch
the idle loop sleeps until the bridge writes (its timeout is then only the heartbeat's); the
poll interval is the fallback when there is no watch (a file system without inotify, a watch
that failed, a folder removed or moved away): `wait` then never sleeps longer than `poll_s`.
A stop request wakes it at once through a pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import threading
import time
from pathlib import Path

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000  # events were lost: assume the bridge wrote
IN_IGNORED = 0x00008000  # the watch is gone (its folder was removed or unmounted)
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of name
# SQLite's companions of messages.db: a commit in rollback-journal mode deletes the journal
# (IN_DELETE) after writing the file (IN_MODIFY); in WAL mode it appends to the -wal file.
_SUFFIXES = ("", "-journal", "-wal")


class InotifyWaker:
    """Return from `wait` when the bridge file (or its journal) changes, on stop, or on timeout."""

    def __init__(self, bridge_file: Path, stop: threading.Event, poll_s: float = 5.0) -> None:
        self._stop = stop
        self._poll_s = poll_s
        self._names = {(bridge_file.name + s).encode() for s in _SUFFIXES}
        self._poke_r, self._poke_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._fd = _watch(bridge_file.resolve().parent)

    @property
    def watching(self) -> bool:
        """False when inotify is not available here (or the watch was lost): `wait` is then
        the plain poll, at most `poll_s` whatever timeout it is given."""
        return self._fd >= 0

    def poke(self) -> None:
        """Cut the current wait short (safe from a signal handler)."""
        with contextlib.suppress(BlockingIOError):  # a full pipe: a wake-up is pending already
            os.write(self._poke_w, b"!")

    def wait(self, timeout: float) -> None:
        if self._stop.is_set():
            return
        if not self.watching:
            timeout = min(timeout, self._poll_s)
        fds = [self._poke_r] + ([self._fd] if self._fd >= 0 else [])
        remaining = timeout
        deadline = time.monotonic() + timeout
        while remaining > 0 and not self._stop.is_set():
            ready, _, _ = select.select(fds, [], [], remaining)
            if self._poke_r in ready:
                _drain(self._poke_r)
                return
            if ready and self._bridge_changed():
                return
            remaining = deadline - time.monotonic()

    def _bridge_changed(self) -> bool:
        """Read every pending event; True if one names the bridge file or its journal."""
        data, offset, changed = _drain(self._fd), 0, False
        while offset + _EVENT.size <= len(data):
            _, mask, _, size = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + size].rstrip(b"\0")
            changed = changed or name in self._names or bool(mask & IN_Q_OVERFLOW)
            offset += _EVENT.size + size
            if mask & IN_IGNORED:  # no more events will come: back to the plain poll
                os.close(self._fd)
                self._fd = -1
                return True
        return changed

    def close(self) -> None:
        for fd in (self._fd, self._poke_r, self._poke_w):
            if fd >= 0:
                os.close(fd)
        self._fd = self._poke_r = self._poke_w = -1


def _watch(folder: Path) -> int:
    """An inotify descriptor watching `folder`, or -1 when inotify is not available."""
    name = ctypes.util.find_library("c")
    if name is None:
        return -1
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fd = int(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
    except (OSError, AttributeError):
        return -1
    if fd < 0:
        return -1
    if int(libc.inotify_add_watch(fd, os.fsencode(folder), _MASK)) < 0:
        os.close(fd)
        return -1
    return fd


def _drain(fd: int) -> bytes:
    """Everything readable on a non-blocking descriptor now; b"" when nothing is."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
