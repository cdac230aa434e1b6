"""The daemon as ops run it: `python -m wa_monitor run` in its own process, stderr to a file,
and a service manager's notify socket to listen on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.env import LAWLEY, write_config
from tests.support.runs import migrate

# Generous: these bound how long a broken daemon can hang a test, they are not assertions.
PATIENCE_SECONDS = 30.0


def prod_config(folder: Path, bridge_db: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """prod's config, watching Lawley on `bridge_db`, with its schema migrated."""
    config = write_config(folder, "prod", bridge_db=bridge_db, groups={LAWLEY: "Lawley"})
    migrate(config, url, monkeypatch)
    return config


@contextmanager
def daemon(config: Path, url: str, stderr: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`wa-monitor run --config CONFIG` until the block ends; then SIGTERM, and it must exit 0."""
    environ = {**os.environ, "WA_MONITOR_DATABASE_URL": url, **env}
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wa_monitor", "run", "--config", str(config)],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(PATIENCE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd stops a service; the exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(PATIENCE_SECONDS)


class NotifySocket:
    """What systemd does for Type=notify: a datagram socket named in $NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        self.address = address  # as $NOTIFY_SOCKET says it: a path, or @name (abstract)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(bind_to)
        self._sock.settimeout(0.2)
        self.messages: list[str] = []
        self.arrived: list[float] = []  # monotonic time of each message

    def close(self) -> None:
        self._sock.close()

    def expect(self, predicate: Callable[[str], bool], what: str) -> str:
        """The first message (already received or still to come) that satisfies `predicate`."""
        deadline = time.monotonic() + PATIENCE_SECONDS
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in {self.messages[-20:]}")
            self.drain()

    def drain(self) -> None:
        try:
            while True:
                self.messages.append(self._sock.recv(4096).decode("utf-8"))
                self.arrived.append(time.monotonic())
                self._sock.settimeout(0)
        except (TimeoutError, BlockingIOError):
            pass
        finally:
            self._sock.settimeout(0.2)

    def falls_silent(self, message: str, seconds: float) -> None:
        """Return once `message` has not arrived for `seconds` (it may never stop: then fail)."""
        since = time.monotonic()
        deadline = since + PATIENCE_SECONDS
        while True:
            self.drain()
            last = max(
                (at for m, at in zip(self.messages, self.arrived, strict=True) if m == message),
                default=since,
            )
            if time.monotonic() - max(last, since) >= seconds:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{message} never stopped for {seconds} s")
            time.sleep(0.05)
