"""Whose address a request is: X-Forwarded-For believed from trusted proxies only."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from wa_monitor.web.limits import ClientAddress

TRUSTED = ("127.0.0.1", "::1", "10.8.0.0/16")


def client_seen(peer: str, *forwarded: str) -> str:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"][0])

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    scope = {"type": "http", "client": (peer, 50000), "headers": headers}
    asyncio.run(ClientAddress(app, trusted=TRUSTED)(scope, receive, send))
    return seen[0]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.7", ("198.51.100.1",), "203.0.113.7"),  # not a proxy: its header is ignored
        ("127.0.0.1", (), "127.0.0.1"),
        ("127.0.0.1", ("198.51.100.1",), "198.51.100.1"),
        ("::1", ("2001:db8::5",), "2001:db8::5"),
        # What the client wrote itself comes first; the proxy appended the address it saw.
        ("127.0.0.1", ("6.6.6.6, 198.51.100.1",), "198.51.100.1"),
        ("127.0.0.1", ("6.6.6.6", "198.51.100.1"), "198.51.100.1"),
        # A chain of trusted proxies: the last address none of them is.
        ("127.0.0.1", ("198.51.100.1, 10.8.3.4",), "198.51.100.1"),
        ("127.0.0.1", ("[2001:db8::5]:4711",), "2001:db8::5"),
        ("127.0.0.1", ("198.51.100.1:4711",), "198.51.100.1"),
        ("127.0.0.1", ("unknown",), "127.0.0.1"),  # not an address: the proxy's own is kept
    ],
)
def test_the_client_is_the_address_the_nearest_trusted_proxy_saw(
    peer: str, forwarded: tuple[str, ...], client: str
) -> None:
    assert client_seen(peer, *forwarded) == client
