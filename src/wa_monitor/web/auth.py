"""Logging in and out. Both are POSTs with the session's CSRF token; a login starts a new
session (new cookie content, new CSRF token), a logout ends it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wa_monitor.services import accounts
from wa_monitor.services.accounts import LoginOutcome
from wa_monitor.web import reviewing
from wa_monitor.web.context import Site, current_user, home, site_of
from wa_monitor.web.security import csrf_ok, session_user, start_session

_MESSAGES = {
    LoginOutcome.WRONG: "Wrong username or password.",
    LoginOutcome.THROTTLED: (
        f"Too many failed logins for this username from your address: "
        f"try again in {int(accounts.WINDOW.total_seconds() // 60)} minutes."
    ),
}
_REVIEW = re.compile(r"/reviews/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
_STATUS = {LoginOutcome.WRONG: 401, LoginOutcome.THROTTLED: 429}


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after the login: a page of this dashboard, never another site."""
    start = home(request)
    if not target:
        return start
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not parts.path.startswith(start):
        return start
    return target


def login_page(request: Request) -> Response:
    web = site_of(request)
    if current_user(web, request) is not None:
        return RedirectResponse(safe_next(request, request.query_params.get("next")), 303)
    target = safe_next(request, request.query_params.get("next"))
    return _form(web, request, target=target, error=None, status_code=200)


def _form(
    web: Site,
    request: Request,
    *,
    target: str,
    error: str | None,
    status_code: int,
    username: str = "",
    kept: list[tuple[str, str | UploadFile]] | None = None,
) -> Response:
    return web.render(
        request,
        "login.html",
        {"error": error, "next": target, "username": username, "kept": kept or []},
        user=None,
        status_code=status_code,
    )


async def login(request: Request) -> Response:
    web = site_of(request)
    if not await csrf_ok(request):
        return refused(web, request)
    form = await request.form()
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    client = request.client.host if request.client else "unknown"

    def check() -> accounts.Login:
        with web.desk() as desk:
            return accounts.authenticate(desk.accounts(), username, password, client)

    result = await run_in_threadpool(check)
    target = safe_next(request, str(form.get("next", "")))
    # A reviewer's refused POST (their session had ended) rides through the login.
    kept: list[tuple[str, str | UploadFile]] = [
        (name.removeprefix(reviewing.KEPT), value)
        for name, value in form.multi_items()
        if name.startswith(reviewing.KEPT) and isinstance(value, str)
    ]
    if result.outcome is not LoginOutcome.OK or result.user is None:
        return _form(
            web,
            request,
            target=target,
            error=_MESSAGES[result.outcome],
            status_code=_STATUS[result.outcome],
            username=username[:64],
            kept=kept,
        )
    start_session(
        request.session,
        user_id=result.user.id,
        epoch=result.user.session_epoch,
        env=web.settings.environment.value,
    )
    review = _REVIEW.fullmatch(target.removeprefix(home(request)))
    if kept and review is not None:
        user = result.user
        return await run_in_threadpool(
            reviewing.resumed, web, request, user, UUID(review[1]), FormData(kept)
        )
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    web = site_of(request)
    if not await csrf_ok(request):
        return refused(web, request)
    ids = session_user(request.session, env=web.settings.environment.value)
    if ids is not None:
        # Ended on the server too: the cookie, replayed, is refused (its epoch is gone).
        def end() -> None:
            with web.desk() as desk:
                desk.logged_out(*ids)

        await run_in_threadpool(end)
    request.session.clear()
    login_url = home(request) + "/login"
    return RedirectResponse(login_url, status_code=303)


def refused(web: Site, request: Request) -> Response:
    """A POST without the session's CSRF token: nothing is done."""
    return web.render(
        request,
        "error.html",
        {
            "title": "Refused",
            "detail": "This form was not sent from this dashboard, or your session ended. "
            "Reload the page and try again.",
        },
        user=None,
        status_code=403,
    )
