"""The review page's work: the reviewer's verdict form, the refusal that keeps their input, the
trail of changes and sends, and Send. Viewers see the same page without the forms, and every
POST checks the CSRF token and the reviewer role on the server.

Nothing here refreshes the form: a change made while the page is open (another reviewer's save,
the agent's resubmission) is announced by the page's script from the JSON twin, and a save that
did not see it is refused with the reviewer's input kept on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from wa_monitor.adapters.postgres import reviewing
from wa_monitor.adapters.postgres.dashboard import Conn
from wa_monitor.adapters.postgres.reviewing import ReviewSheet
from wa_monitor.adapters.postgres.users import Role, User
from wa_monitor.core.feedback_claims import (
    ChangedMeanwhile,
    FeedbackSend,
    NotClaimed,
    Resolution,
    SendState,
)
from wa_monitor.core.steps import Step, UnknownStep
from wa_monitor.core.verdict import InvalidVerdict, Mark, Verdict, feedback_text
from wa_monitor.errors import WaMonitorError
from wa_monitor.services import feedback
from wa_monitor.services.feedback import Sent
from wa_monitor.web.context import Web, current_user, json_value, login_required, wants_json
from wa_monitor.web.pages import review_and_events, review_json
from wa_monitor.web.security import csrf_ok


@dataclass(frozen=True, slots=True)
class FormInput:
    """What the reviewer put in the verdict form, to show again exactly as typed."""

    marks: Mapping[Step, Mark]
    reasons: Mapping[Step, str]
    comment: str

    @classmethod
    def of(cls, verdict: Verdict) -> FormInput:
        return cls(
            {s: verdict.mark(s) for s in Step},
            {s: verdict.reason(s) for s in Step},
            verdict.comment,
        )

    @classmethod
    def parse(cls, form: FormData) -> FormInput:
        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        marks = {}
        for step in Step:
            raw = text(f"mark_{step.column}")
            marks[step] = Mark(raw) if raw in {m.value for m in Mark} else Mark.MISSING
        reasons = {step: text(f"why_{step.column}").strip() for step in Step}
        return cls(marks, reasons, text("comment"))

    def verdict(self) -> Verdict:
        """The verdict the input says; InvalidVerdict names the step to fix."""
        return Verdict.of(
            passed=[s for s, m in self.marks.items() if m is Mark.PASSED],
            wrong={s: self.reasons[s] for s, m in self.marks.items() if m is Mark.WRONG},
            comment=self.comment,
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """A message at the top of the page: `level` is ok, warn or bad."""

    level: str
    text: str


# -- the page ----------------------------------------------------------------------------------


@login_required
def review_page(web: Web, request: Request, user: User) -> Response:
    review_id: UUID = request.path_params["id"]
    with web.connection() as conn:
        values = _values(web, conn, review_id)
        if wants_json(request):
            return JSONResponse(_json(web, conn, values))
    notice = _send_notice(values["sends"], request.query_params.get("send"))
    if request.query_params.get("saved"):
        notice = Notice("ok", "Verdict saved.")
    return _render(web, request, user, values, notice=notice)


def _values(web: Web, conn: Conn, review_id: UUID) -> dict[str, Any]:
    found, events = review_and_events(web, conn, review_id)
    sheet = reviewing.load(conn, web.db, review_id)
    return {
        "review": found,
        "history": events,
        "sheet": sheet,
        "changes": reviewing.history(conn, web.db, review_id),
        "sends": reviewing.sends(conn, web.db, review_id),
        "destination": feedback.destination(web.settings, sheet.project),
    }


def _json(web: Web, conn: Conn, values: Mapping[str, Any]) -> dict[str, Any]:
    sheet: ReviewSheet = values["sheet"]
    body = review_json(values["review"])
    body["history"] = [{k: json_value(v) for k, v in e.items()} for e in values["history"]]
    body |= {
        "version": sheet.version,
        "reviewed_by": sheet.reviewed_by,
        "reviewed_at": json_value(sheet.reviewed_at),
        "wrong_steps": sheet.verdict.wrong_steps(),
        # Who made this version: the page's script shows it when the version moved on.
        "last_change": reviewing.who_changed(conn, web.db, sheet.id, sheet.version).describe(
            web.settings.tz
        ),
        "sends": [
            {"id": s.id, "state": s.state.value, "by": s.sent_by, "at": json_value(s.claimed_at)}
            for s in values["sends"]
        ],
    }
    return body


def _render(
    web: Web,
    request: Request,
    user: User,
    values: Mapping[str, Any],
    *,
    notice: Notice | None = None,
    form: FormInput | None = None,
    text: str | None = None,
    status_code: int = 200,
) -> Response:
    sheet: ReviewSheet = values["sheet"]
    saved = FormInput.of(sheet.verdict)
    composed = feedback_text(sheet.drop_number, sheet.verdict) if sheet.reviewed_at else ""
    return web.render(
        request,
        "review_work.html",
        {
            **values,
            "steps": list(zip(Step, values["review"].steps, strict=True)),
            "photo_steps": list(Step),
            "bridge_url": web.settings.bridge_api_url,
            "field_label": field_label,
            "marks": list(Mark),
            "reviewer": user.role is Role.REVIEWER,
            "form": form or saved,
            "saved": saved,
            "kept": form is not None,
            "feedback": composed if text is None else text,
            "notice": notice,
            "unresolved": [s for s in values["sends"] if s.unresolved(datetime.now(UTC))],
            "refresh_seconds": web.settings.web.refresh_seconds,
        },
        user=user,
        status_code=status_code,
    )


def _send_notice(sends: tuple[FeedbackSend, ...], asked: str | None) -> Notice | None:
    """The outcome of the send the Send button redirected to (?send=<id>)."""
    send = next((s for s in sends if asked and str(s.id) == asked), None)
    if send is None:
        return None
    if send.state is SendState.CLAIMED:
        return Notice("warn", "The send has no recorded outcome yet: check the group.")
    level = {SendState.SENT: "ok", SendState.UNKNOWN: "warn"}.get(send.state, "bad")
    return Notice(level, feedback.explain(Sent(send.state.value), send.bridge_answer or ""))


def field_label(field: str) -> str:
    """A changed field as reviewers name it: `step_03_…` → `3. Cable Entry Outside`."""
    try:
        return Step.from_column(field).display
    except UnknownStep:
        return field.replace("_", " ").capitalize()


# -- the POSTs ---------------------------------------------------------------------------------


Handler = Callable[[Web, Request, User, FormData], Response]


async def _reviewer_post(web: Web, request: Request, handler: Handler) -> Response:
    """CSRF, a logged-in reviewer, then the handler in the threadpool (it talks to the database
    and, for Send, to the bridge)."""
    if not await csrf_ok(request):
        raise HTTPException(403, "The form expired or did not come from this site: reload it.")
    user = await run_in_threadpool(current_user, web, request)
    if user is None:
        raise HTTPException(401, "Log in again: your session ended.")
    if user.role is not Role.REVIEWER:
        raise HTTPException(403, "Only reviewers can save verdicts and send feedback.")
    form = await request.form()
    return await run_in_threadpool(handler, web, request, user, form)


def _version(form: FormData) -> int:
    raw = form.get("version")
    if not isinstance(raw, str) or not raw.isdigit():
        raise HTTPException(400, "The form lacks the review's version: reload the page.")
    return int(raw)


async def save_verdict(web: Web, request: Request) -> Response:
    return await _reviewer_post(web, request, _save)


def _save(web: Web, request: Request, user: User, form: FormData) -> Response:
    review_id: UUID = request.path_params["id"]
    version = _version(form)
    typed = FormInput.parse(form)
    with web.connection() as conn:
        try:
            verdict = typed.verdict()
            reviewing.save(
                conn, web.db, review_id, verdict=verdict, version=version, by=user.username
            )
        except InvalidVerdict as exc:
            notice = Notice("bad", f"{exc}. Nothing was saved.")
            values = _values(web, conn, review_id)
            return _render(web, request, user, values, notice=notice, form=typed, status_code=400)
        except ChangedMeanwhile as exc:
            notice = Notice(
                "bad",
                f"{exc.describe(web.settings.tz)} Nothing was saved. Your input is kept below: "
                "compare it with the review as it is now (shown beside each step), then save "
                "again.",
            )
            values = _values(web, conn, review_id)
            return _render(web, request, user, values, notice=notice, form=typed, status_code=409)
        except reviewing.ReviewNotFound:
            raise HTTPException(404, "There is no such review in this environment.") from None
    return RedirectResponse(f"{request.url.path.rsplit('/', 1)[0]}?saved=1", status_code=303)


async def send_feedback(web: Web, request: Request) -> Response:
    return await _reviewer_post(web, request, _send)


def _send(web: Web, request: Request, user: User, form: FormData) -> Response:
    review_id: UUID = request.path_params["id"]
    version = _version(form)
    raw = form.get("text")
    text = raw if isinstance(raw, str) else ""
    try:
        report = feedback.send(
            connect=web.connection,
            db=web.db,
            settings=web.settings,
            bridge=web.bridge,
            review_id=review_id,
            version=version,
            text=text,
            by=user.username,
        )
    except reviewing.ReviewNotFound:
        raise HTTPException(404, "There is no such review in this environment.") from None
    except (ChangedMeanwhile, NotClaimed) as exc:
        message = exc.describe(web.settings.tz)
        return _refused(web, request, user, message=message, text=text, status=409)
    except WaMonitorError as exc:  # SendingOff, NoGroup, BadText: nothing was claimed
        return _refused(web, request, user, message=str(exc), text=text, status=400)
    page = request.url.path.rsplit("/", 1)[0]
    return RedirectResponse(f"{page}?send={report.send_id}", status_code=303)


def _refused(
    web: Web, request: Request, user: User, *, message: str, text: str, status: int
) -> Response:
    review_id: UUID = request.path_params["id"]
    with web.connection() as conn:
        values = _values(web, conn, review_id)
    notice = Notice("bad", f"Not sent: {message}")
    return _render(web, request, user, values, notice=notice, text=text, status_code=status)


async def resolve_send(web: Web, request: Request) -> Response:
    return await _reviewer_post(web, request, _resolve)


def _resolve(web: Web, request: Request, user: User, form: FormData) -> Response:
    review_id: UUID = request.path_params["id"]
    raw = form.get("resolution")
    if raw not in {r.value for r in Resolution}:
        raise HTTPException(400, "Say whether the message arrived in the group.")
    with web.connection() as conn:
        reviewing.resolve(
            conn,
            web.db,
            review_id,
            request.path_params["send"],
            resolution=Resolution(str(raw)),
            by=user.username,
        )
    page = request.url.path.rsplit("/", 3)[0]
    return RedirectResponse(page, status_code=303)
