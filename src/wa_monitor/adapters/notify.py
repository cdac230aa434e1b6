"""Tells systemd how the daemon is doing: the sd_notify datagram protocol, without libsystemd.

systemd names a Unix datagram socket in $NOTIFY_SOCKET (a path, or `@name` for an abstract one)
and, when the unit sets WatchdogSec=, the watchdog period in $WATCHDOG_USEC. Without them every
message is dropped, so the same daemon runs unchanged outside systemd.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

# One datagram never waits longer than this for a full socket buffer: a busy service manager
# must not stall the loop; a lost WATCHDOG=1 is made good by the next one.
_SEND_TIMEOUT_SECONDS = 1.0


class SystemdNotifier:
    """READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 for the service manager (monitor.Notifier).

    Before READY=1 a watchdog ping is sent as EXTEND_TIMEOUT_USEC=, so a start that is still
    retrying (database or bridge away, or standing by for another instance) keeps extending its
    start timeout while a hung one is still killed.
    """

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address = _socket_address(address) if address else None
        self._socket: socket.socket | None = None
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._clock = clock
        self._ready = False
        self._last_ping: float | None = None
        self._last_status: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        """The notifier systemd asked for; one that sends nothing when not run by systemd."""
        env = os.environ if environ is None else environ
        usec: int | None = None
        pid = env.get("WATCHDOG_PID", "")
        if env.get("WATCHDOG_USEC", "").isdigit() and (not pid or pid == str(os.getpid())):
            usec = int(env["WATCHDOG_USEC"])
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_usec=usec)

    @property
    def keepalive(self) -> float | None:
        """The longest the loop may go between watchdog() calls: a quarter of WatchdogSec."""
        return self._watchdog_usec / 4_000_000 if self._watchdog_usec else None

    def ready(self) -> None:
        self._ready = True
        self._last_ping = self._clock()
        self._send("READY=1")

    def status(self, text: str) -> None:
        line = " ".join(text.split())  # one line: a newline would start another assignment
        if line != self._last_status:
            self._last_status = line
            self._send(f"STATUS={line}")

    def watchdog(self) -> None:
        """A sign of life from the loop; rate-limited to one datagram per half keepalive."""
        keepalive = self.keepalive
        if keepalive is None:
            return
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < keepalive / 2:
            return
        self._last_ping = now
        if self._ready:
            self._send("WATCHDOG=1")
        else:
            self._send(f"EXTEND_TIMEOUT_USEC={self._watchdog_usec}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.settimeout(_SEND_TIMEOUT_SECONDS)
            self._socket.sendto(message.encode("utf-8"), self._address)
        except OSError:
            # As sd_notify(3): the service manager being away is not the daemon's failure.
            self.close()


def _socket_address(address: str) -> str | bytes:
    """`@name` is Linux's abstract namespace: a leading NUL byte instead of the `@`."""
    if address.startswith("@"):
        return b"\0" + address[1:].encode("utf-8")
    return address
