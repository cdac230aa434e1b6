"""What every request goes through before a handler sees it: a bounded body, and the client's
address as the trusted proxy reported it.

The dashboard's only bodies are small forms (a login, a verdict with its comments, a feedback
text), so a body is read whole here, before anything parses it, and refused once it is larger
than its route's limit: by its Content-Length when it says so, and by counting while it arrives
when it does not (chunked). Multipart is refused outright (415): no route takes a file, and a
multipart parser writes large parts to temporary files.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KB = 1024
FORM_TYPE = "application/x-www-form-urlencoded"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class BodyRule:
    """Routes whose path matches `path` take bodies of at most `limit` bytes."""

    path: re.Pattern[str]
    limit: int


class BodyLimit:
    """Reads each request's body up to its route's limit, then hands it on whole: 413 past
    the limit, 415 for anything but a URL-encoded form."""

    def __init__(self, app: ASGIApp, *, rules: Sequence[BodyRule], default: int) -> None:
        self.app = app
        self.rules = tuple(rules)
        self.default = default

    def limit(self, path: str) -> int:
        return next((r.limit for r in self.rules if r.path.search(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit(str(scope.get("path", "")))
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if declared is None and not chunked:
            await self.app(scope, receive, send)  # no body (uvicorn answers a GET's with b"")
            return
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != FORM_TYPE and (chunked or declared != "0"):
            await _refuse(scope, receive, send, 415, "This dashboard takes only form fields.")
            return
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(scope, receive, send, 413, _too_large(limit))
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(scope, receive, send, 413, _too_large(limit))
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


def _too_large(limit: int) -> str:
    return f"This form is larger than the {limit // KB} KB this page takes."


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    # The rest of the body is not read: the server closes the connection after the answer.
    response = PlainTextResponse(text, status_code=status, headers={"connection": "close"})
    await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, once; then the server's own messages (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def networks(addresses: Sequence[str]) -> tuple[Network, ...]:
    """Addresses or networks ("127.0.0.1", "::1", "10.0.0.0/8") as networks."""
    return tuple(ipaddress.ip_network(a, strict=False) for a in addresses)


class ClientAddress:
    """The client's address in scope["client"]: the peer's own, unless the peer is a trusted
    proxy, in which case the last address of X-Forwarded-For that is not itself a trusted
    proxy (the one the nearest trusted proxy saw; what the client wrote before it is not
    believed)."""

    def __init__(self, app: ASGIApp, *, trusted: Sequence[str]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    def is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in self.trusted if n.version == ip.version)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            host = scope["client"][0]
            if self.is_trusted(host):
                forwarded = Headers(scope=scope).getlist("x-forwarded-for")
                hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
                for hop in map(_plain, reversed(hops)):
                    if hop is None:  # a proxy wrote something else: keep the peer's address
                        break
                    if not self.is_trusted(hop):
                        scope = {**scope, "client": (hop, 0)}
                        break
        await self.app(scope, receive, send)


def _plain(address: str) -> str | None:
    """An address of X-Forwarded-For without brackets or a port; None if it is none."""
    text = address.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
