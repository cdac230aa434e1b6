"""What every response and every POST goes through: strict headers, the CSRF check, and the
session's link to a user that still exists, is still enabled and has not changed password."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: the one script and the stylesheet are files of ours.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# A session ends this long after its login, however active it stays (idle expiry is the
# cookie's max_age and its signature's age, renewed by each request of a logged-in session:
# `session_user` re-signs it).
MAX_SESSION_SECONDS = 12 * 3600


class SecurityHeaders:
    """Adds the strict headers to every response; pages (personal data) are never cached.
    Server-Timing says how long the server took to answer."""

    def __init__(self, app: ASGIApp, *, static_prefix: str, hsts: bool) -> None:
        self.app = app
        self.static_prefix = static_prefix
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(self.static_prefix)
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_HEADERS)
                # The server's time to the response's first byte, for browsers' developer tools
                # and the benchmark (a streamed export's first rows, not its whole body).
                took = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                # Pages are never stored; a response that says how it may be kept (a photo:
                # private, for a day) keeps its own word, not a second header that overrules it.
                if not static and all(k.lower() != b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use; every form carries it back."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


async def csrf_ok(request: Request) -> bool:
    """Whether a POST carries the session's CSRF token (form field or header)."""
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not expected:
        return False
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


def start_session(session: MutableMapping[str, Any], *, user_id: int, epoch: int, env: str) -> None:
    """A fresh session for a user who just logged in: nothing of the anonymous one is kept,
    the CSRF token is new, and the session says which environment it belongs to."""
    session.clear()
    session.update(uid=user_id, epoch=epoch, since=int(time.time()), env=env)
    csrf_token(session)


def session_user(session: MutableMapping[str, Any], *, env: str) -> tuple[int, int] | None:
    """(user id, session epoch) of a logged-in session of environment `env` that has not
    outlived its login. A cookie of the other environment is never a session here, even when
    both sign with one secret: user ids are per environment."""
    uid, epoch, since = session.get("uid"), session.get("epoch"), session.get("since")
    if not (isinstance(uid, int) and isinstance(epoch, int) and isinstance(since, int)):
        return None
    if session.get("env") != env:
        return None
    now = int(time.time())
    if now - since > MAX_SESSION_SECONDS:
        return None
    # Touching the session makes the middleware sign it anew, with a new max_age: the idle
    # window starts again with every request (Starlette re-sends only a modified session).
    session["seen"] = now
    return uid, epoch
