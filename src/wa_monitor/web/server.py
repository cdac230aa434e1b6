"""How the dashboard is served: uvicorn over h11, with a deadline for each request's headers and
body, and logging that a storm cannot turn into megabytes.

uvicorn bounds an idle kept-alive connection (timeout_keep_alive) but not a request on its way
in: a client that sends one byte of its headers every few seconds holds a connection, and a
file descriptor, for ever, and 1,100 of them stopped the service. We keep uvicorn (it already
serves the dashboard and the tests; its lifespan, signals and logging are what we rely on) and
subclass its h11 protocol, rather than switch to a server with a header timeout of its own:
the deadline is twenty lines we can test here, h11 is pure Python and already installed, and
httptools (uvicorn's faster parser) is not a dependency of ours. Each connection has
`[web] request_seconds` from its start (or from the previous response, when kept alive) until
its request's headers and body have arrived; past it the client gets 408 and the connection is
closed, whatever the handler was waiting for.

When the process runs out of file descriptors anyway, asyncio logs every failed accept with a
traceback, up to the listen backlog's length per wake-up (163 MB in 35 s). RateLimited lets a
few lines of each kind through per minute and says how many it held back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

_TOO_SLOW = b"The request took too long to arrive.\n"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_SLOW), _TOO_SLOW)
)
_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
log = logging.getLogger("uvicorn.error")


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for the request's headers and body."""

    request_seconds: ClassVar[float] = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _RECEIVED:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Kept alive: the next request has its own deadline (unless it has arrived already).
        if not self.transport.is_closing() and self.conn.their_state not in _RECEIVED:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            # No request under way, only (part of) the next one's headers: say why we close.
            self.transport.write(_TIMED_OUT)
        # Otherwise the handler is waiting for the body: it sees the client go.
        log.info("closed a connection whose request took over %.0f s", self.request_seconds)
        self.transport.close()


def protocol(request_seconds: float) -> type[DeadlineProtocol]:
    """DeadlineProtocol with this deadline (uvicorn builds the protocol from a class)."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"request_seconds": request_seconds})


class RateLimited(logging.Filter):
    """At most `burst` records of each kind (logger and message template) per `period`; the
    first one let through after a held-back stretch says how many were held back."""

    def __init__(
        self, burst: int = 5, period: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self.clock = clock
        self._kinds: dict[tuple[str, str], list[float]] = {}  # [window start, passed, held]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg).split("\n", 1)[0])  # asyncio: fd, socket below
        now = self.clock()
        with self._lock:
            kind = self._kinds.setdefault(key, [now, 0, 0])
            held = 0
            if now - kind[0] >= self.period:
                held = int(kind[2])
                kind[:] = [now, 0, 0]
            if kind[1] >= self.burst:
                kind[2] += 1
                return False
            kind[1] += 1
            last = kind[1] == self.burst
            if len(self._kinds) > 1000:  # many kinds: forget the oldest windows
                oldest = min(self._kinds, key=lambda k: self._kinds[k][0])
                del self._kinds[oldest]
        notes = [f"{held} more like it were held back"] if held else []
        if last:
            notes.append(f"more like it are held back for {self.period:.0f} s")
        if notes:
            record.msg = f"{record.getMessage()} ({'; '.join(notes)})"
            record.args = None
        return True


def log_config(prefix: str, timezone: str | None = None) -> dict[str, Any]:
    """uvicorn's and asyncio's lines on stderr (the journal), with the environment's prefix
    first on every line (a traceback's included), their times in the environment's `timezone`
    with its offset (as the monitor's own lines), each kind rate-limited."""
    formatter = {
        "()": "wa_monitor.adapters.logs.Prefixed",
        "fmt": "%(asctime)s %(levelname)-7s %(name)s %(message)s",
        "prefix": prefix,
        "tz": timezone,
    }
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "plain",
        "stream": "ext://sys.stderr",
        "filters": ["rate"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"rate": {"()": RateLimited}},
        "formatters": {"plain": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio")
        },
    }


def config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    request_seconds: float,
    log_prefix: str,
    timezone: str | None = None,
) -> uvicorn.Config:
    """How production serves the dashboard (the tests serve it the same way)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol(request_seconds),
        proxy_headers=False,  # the app believes X-Forwarded-For from [web] trusted_proxies
        server_header=False,
        log_config=log_config(log_prefix, timezone),
    )


def serve(server_config: uvicorn.Config) -> bool:
    """Run until SIGTERM or SIGINT (uvicorn's own handling: requests in flight finish); False
    when the server never started (the port taken, say)."""
    server = uvicorn.Server(server_config)
    server.run()
    return server.started
