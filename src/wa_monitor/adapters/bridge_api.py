"""The WhatsApp bridge's HTTP API: `POST /api/send`, told apart by what a caller may do next.

The bridge answers only after WhatsApp took the message or refused it, and it has no
idempotency key: a request repeated after a lost answer can post twice. So every send ends in
one of the four `Delivery` outcomes, and only two of them (REFUSED, DOWN) mean "certainly not
posted, safe to try again". UNKNOWN must be shown to a person, never retried by code. Every text
is made speakable (no control or bidi character) before it leaves.
"""

from __future__ import annotations

import functools
import json
import ssl
import threading
import time
from typing import Any

import httpx

from wa_monitor.adapters.replies import BridgeEchoes
from wa_monitor.core.ports import Echoes, NoEchoes
from wa_monitor.core.records import Delivery, SendResult
from wa_monitor.core.replies import Route, speakable
from wa_monitor.settings import Settings

SEND_PATH = "/api/send"
DEFAULT_URL = "http://localhost:8080"
# A reviewer waits for this call: the whole send, connect included, ends well inside 10 s.
CONNECT_TIMEOUT_S = 2.0
TOTAL_TIMEOUT_S = 7.0
# The bridge's answers when its WhatsApp client is not connected, so it did not try to send:
# 503 (a fork, or a proxy in front of it), or the reference bridge's 500 with this message.
_UNAVAILABLE = 503
_NOT_CONNECTED = "not connected to whatsapp"
# Events of httpcore's trace: the request's first byte is about to leave.
_SENDING_EVENTS = frozenset(
    {"http11.send_request_headers.started", "http2.send_request_headers.started"}
)


class BridgeApi:
    """A client of one bridge's `POST /api/send`, safe to share between threads: the Poster
    port (core/ports.py)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        total_timeout_s: float = TOTAL_TIMEOUT_S,
    ) -> None:
        if not 0 < connect_timeout_s < total_timeout_s:
            raise ValueError("the connect timeout must be positive and below the total timeout")
        self.base_url = plain_base(base_url)
        self.total_timeout_s = total_timeout_s
        # Each phase is bounded by the total too; the worker thread in send() enforces the sum.
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(total_timeout_s, connect=connect_timeout_s),
            # The bridge is local; a proxy from the environment would only add a hop that can
            # lose the answer after the message went out.
            trust_env=False,
            # A fresh connection per send: a pooled one the bridge closed while idle would
            # fail after the request "went out" and turn a clean DOWN into an UNKNOWN.
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=_tls(),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> BridgeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, recipient: str, text: str) -> SendResult:
        """Post `text` to `recipient` (a group JID, a person's JID or a phone number), once.

        Returns within the total timeout whatever the bridge does. Never retries: the caller
        decides, and only a REFUSED or DOWN outcome may be retried.
        """
        attempt = _Attempt()
        started = time.monotonic()
        worker = threading.Thread(
            target=attempt.run,
            args=(self._client, {"recipient": recipient, "message": speakable(text)}),
            name="bridge-api-send",
            daemon=True,
        )
        worker.start()
        worker.join(self.total_timeout_s)
        result = attempt.finish()
        return SendResult(
            result.outcome, result.detail, result.status, round(time.monotonic() - started, 3)
        )


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's own default TLS context (certifi's CAs, the environment not consulted, as
    trust_env=False says), made once for every client: each client would otherwise load the
    CA bundle again, 20 ms of CPU apiece."""
    return httpx.create_ssl_context(trust_env=False)


def plain_base(url: str) -> str:
    """A bridge API's base URL as compared and called: without a trailing slash."""
    return url.rstrip("/")


class _Cancelled(Exception):
    """The caller stopped waiting before the request went out: do not send it at all."""


class _Attempt:
    """One request in a worker thread, and the line between "not sent yet" and "went out".

    The trace hook and finish() decide under one lock, so a request is either stopped before
    its first byte (DOWN: certainly not posted) or counted as gone out (UNKNOWN until answered).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._went_out = False
        self._given_up = False
        self._result: SendResult | None = None

    def run(self, client: httpx.Client, body: dict[str, str]) -> None:
        try:
            response = client.post(SEND_PATH, json=body, extensions={"trace": self._trace})
            result = _classify(response.status_code, response.content)
        except _Cancelled:
            return
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            result = SendResult(Delivery.DOWN, f"bridge not reachable: {_reason(exc)}")
        except httpx.HTTPError as exc:
            result = self._lost(exc)
        with self._lock:
            self._result = result

    def finish(self) -> SendResult:
        with self._lock:
            if self._result is not None:
                return self._result
            self._given_up = True
            if self._went_out:
                return SendResult(
                    Delivery.UNKNOWN,
                    "no answer from the bridge in time; the message may have been posted",
                )
            return SendResult(Delivery.DOWN, "bridge not reachable in time; nothing was sent")

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event not in _SENDING_EVENTS:
            return
        with self._lock:
            if self._given_up:
                raise _Cancelled
            self._went_out = True

    def _lost(self, exc: httpx.HTTPError) -> SendResult:
        with self._lock:
            went_out = self._went_out
        if went_out:
            return SendResult(
                Delivery.UNKNOWN,
                f"connection lost after the request went out ({_reason(exc)}); "
                "the message may have been posted",
            )
        return SendResult(Delivery.DOWN, f"bridge not reachable: {_reason(exc)}")


def _classify(status: int, content: bytes) -> SendResult:
    """The bridge's answer → an outcome. Its own JSON answer is believed whatever the status."""
    answer = _bridge_answer(content)
    if answer is not None:
        success, message = answer
        if success and 200 <= status < 300:
            return SendResult(Delivery.SENT, message, status)
        if not success and (status == _UNAVAILABLE or _NOT_CONNECTED in message.lower()):
            return _cannot_send_now(message, status)
        if not success:
            return SendResult(Delivery.REFUSED, message or f"refused (HTTP {status})", status)
    text = content.decode("utf-8", "replace").strip()[:200]
    if status == _UNAVAILABLE:
        return _cannot_send_now(text, status)
    # 4xx: the bridge rejected the request itself (bad JSON, no recipient) before sending.
    if 400 <= status < 500:
        return SendResult(Delivery.REFUSED, text or f"HTTP {status}", status)
    # A 2xx we cannot read, a proxy's 502/504, a crash mid-send: the message may be out.
    return SendResult(
        Delivery.UNKNOWN,
        f"unexpected answer from the bridge (HTTP {status}): {text or 'empty'}; "
        "the message may have been posted",
        status,
    )


def _cannot_send_now(why: str, status: int) -> SendResult:
    """The bridge answered that it cannot send at all now (its WhatsApp link is down): nothing
    was sent, and what a caller waits for is the link's return, as for a bridge not reached.
    So it is DOWN, retried within seconds (core/replies.py), not a refusal of this message,
    which backs off to half a minute."""
    return SendResult(
        Delivery.DOWN, f"the bridge cannot send now: {why or 'unavailable'} (HTTP {status})", status
    )


def _bridge_answer(content: bytes) -> tuple[bool, str] | None:
    """`{"success": bool, "message": str}` as the bridge writes it, or None."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("success"), bool):
        return None
    message = data.get("message")
    return data["success"], message if isinstance(message, str) else ""


def _reason(exc: httpx.HTTPError) -> str:
    """A short cause for a person, without the URL's user info (httpx puts none in these)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class BridgeRoutes:
    """Where this host posts: its own bridge's API first, then the environment's other bridges
    in the config's order (core/replies.post_once: the next only when one is DOWN). A bridge
    whose `api_url` is one already listed is the same API as seen from here (every
    `http://localhost:8080` is this host's own bridge) and is left out. Another bridge's
    messages.db is read where its path is not this host's own bridge file; where the paths are
    the same, the file here is this host's bridge's, not that one's, so an unknown post through
    it proves nothing here (a person decides). close() closes the API clients."""

    def __init__(self, settings: Settings) -> None:
        own = BridgeApi(settings.bridge_api_url)
        self._apis = [own]
        routes = [Route(settings.bridge, own, BridgeEchoes(settings.bridge_db))]
        for spec in settings.bridge_list:
            if spec.name == settings.bridge or plain_base(spec.api_url) in self.urls:
                continue
            api = BridgeApi(spec.api_url)
            self._apis.append(api)
            same_file = spec.db == settings.bridge_db
            echoes: Echoes = NoEchoes() if same_file else BridgeEchoes(spec.db)
            routes.append(Route(spec.name, api, echoes))
        self.routes = tuple(routes)

    @property
    def urls(self) -> list[str]:
        return [api.base_url for api in self._apis]

    def close(self) -> None:
        for api in self._apis:
            api.close()
