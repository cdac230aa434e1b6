"""The review page: the reviewer's verdict form, the refusal that keeps their input, the
trail of changes and sends, and Send. Viewers see the same page without the forms; every POST
goes through `reviewer_post` (CSRF, the reviewer role, the form's version and text checked on
the server) and is refused with the reviewer's input kept on the page, never lost to a 500.

Nothing here refreshes the form: a change made while the page is open (another reviewer's save,
the agent's resubmission) is announced by the page's script from the JSON twin, and a save that
did not see it is refused with the reviewer's input kept on the page.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from wa_monitor.adapters.postgres import presence, reviewing
from wa_monitor.adapters.postgres.dashboard import Review
from wa_monitor.adapters.postgres.reviewing import Correction, ReviewChange, ReviewSheet
from wa_monitor.adapters.postgres.users import Role, User
from wa_monitor.core.drops import find_drops
from wa_monitor.core.feedback_claims import (
    ChangedMeanwhile,
    FeedbackSend,
    NotClaimed,
    Resolution,
)
from wa_monitor.core.records import Delivery
from wa_monitor.core.steps import Step, UnknownStep
from wa_monitor.core.verdict import InvalidVerdict, Mark, Verdict, feedback_text
from wa_monitor.errors import WaMonitorError
from wa_monitor.services import feedback
from wa_monitor.web import queue
from wa_monitor.web.context import Page, Site, current_user, json_value, page, site_of
from wa_monitor.web.desk import Desk
from wa_monitor.web.pages import review_json
from wa_monitor.web.photos import drop_photos, photo_json, step_photos
from wa_monitor.web.security import CSRF_HEADER, csrf_ok

# What the form's fields hold at most, as the page's maxlength says; longer is not a browser's.
MAX_REASON = 300
MAX_COMMENT = 2000
MAX_FEEDBACK = 4000
MAX_DROP = 50  # a drop number as typed: "DR 1234567", more than its column would ever take
MAX_VERSION_DIGITS = 9  # a review's version is a PostgreSQL integer
_MAX_ID_DIGITS = 18  # a send's id is a bigint
_UNSTORABLE = "\x00"  # PostgreSQL text cannot hold NUL
_SHOWN_INSTEAD = "\ufffd"  # what a browser shows for it, and what the kept input shows
MARK_WORDS = {Mark.PASSED.value: "OK", Mark.WRONG.value: "Wrong", Mark.MISSING.value: "Missing"}


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
            return _shown(form.get(name))

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


def _shown(value: object) -> str:
    """A form field's text as the page shows it again (a NUL as the browser shows one)."""
    return value.replace(_UNSTORABLE, _SHOWN_INSTEAD) if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Typed:
    """What a reviewer typed into a POST's form, to show again when the POST is refused."""

    verdict: FormInput | None = None  # the verdict form's marks, reasons and comment
    text: str | None = None  # the feedback message
    drop: str | None = None  # the corrected drop number
    drop_reason: str | None = None  # why it was corrected

    @classmethod
    def of(cls, form: FormData) -> Typed:
        verdict = any(k == "comment" or k.startswith(("mark_", "why_")) for k in form)
        return cls(
            FormInput.parse(form) if verdict else None,
            _shown(form["text"]) if "text" in form else None,
            _shown(form["drop_number"]) if "drop_number" in form else None,
            _shown(form["drop_reason"]) if "drop_reason" in form else None,
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """A message at the top of the page: `level` is ok, warn or bad."""

    level: str
    text: str
    link: str | None = None  # a page the notice points to (the other review)


class PostRefused(Exception):
    """A reviewer's POST that changed nothing: the review page again, at `status`, saying
    `message`, with what the reviewer typed kept in the form."""

    def __init__(self, status: int, message: str, *, link: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.link = link


# -- the page ----------------------------------------------------------------------------------


@page
def review_page(site: Site, request: Request, user: User) -> Page:
    """One review: its fields and history, the verdict form (for reviewers), Send, the trail."""
    with site.desk() as desk:
        values = _values(site, desk, request.path_params["id"])
        values["nav"] = queue.nav(site, desk, request, values["review"])
        if user.role is Role.REVIEWER:
            values["others"] = queue.seen_open(desk, values["review"].id, user)
    notice = _send_notice(values["sends"], request.query_params.get("send"))
    if notice is not None and notice.level == "ok" and values["sheet"].feedback_sent is None:
        notice = None  # sent, then resubmitted: that round is over, this one has no feedback
    if request.query_params.get("saved"):
        notice = Notice("ok", "Verdict saved.")
    if request.query_params.get("corrected"):
        notice = Notice("ok", f"Drop number corrected to {values['sheet'].drop_number}.")
    return _page(site, user, values, notice=notice)


def _values(site: Site, desk: Desk, review_id: UUID) -> dict[str, Any]:
    found, events = review_and_events(site, desk, review_id)
    sheet = desk.sheet(review_id)
    return {
        "review": found,
        "history": events,
        "sheet": sheet,
        "changes": desk.changes(review_id),
        "sends": desk.sends(review_id),
        "destination": feedback.destination(site.settings, sheet.project),
        "photo_rounds": drop_photos(site, desk, found.drop_number, found.id),
    }


def review_and_events(
    site: Site, desk: Desk, review_id: UUID
) -> tuple[Review, list[dict[str, Any]]]:
    """One review and the WhatsApp messages that named its drop; 404 when there is none."""
    found = desk.review(review_id)
    if found is None:
        raise HTTPException(404, "There is no such review in this environment.")
    history = desk.drop_history(found.drop_number)
    groups = {p.group_jid: p.name for p in site.settings.projects}
    posted = desk.messages([(h.chat_jid, h.message_id) for h in history])
    events = []
    for i, h in enumerate(history):
        message = posted.get((h.chat_jid, h.message_id))
        events.append(
            {
                "what": "First sighting" if i == 0 else "Posted again",
                "sent_at": h.sent_at,
                "processed_at": h.processed_at,
                "project": groups.get(h.chat_jid, h.chat_jid),
                "sender": None if message is None else message.phone,
                "sender_name": None if message is None else message.sender_name,
                "text": None
                if message is None or message.content is None
                else message.content[:300],
                "chat_jid": h.chat_jid,
                "message_id": h.message_id,
            }
        )
    return found, events


def _page(
    site: Site,
    user: User,
    values: Mapping[str, Any],
    *,
    notice: Notice | None = None,
    typed: Typed | None = None,
    status_code: int = 200,
) -> Page:
    sheet: ReviewSheet = values["sheet"]
    saved = FormInput.of(sheet.verdict)
    composed = feedback_text(sheet.drop_number, sheet.verdict) if sheet.reviewed_at else ""
    form = None if typed is None else typed.verdict
    text = None if typed is None else typed.text
    shown = {
        "nav": None,  # the queue's previous and next, when opened from the queue
        "others": [],  # the other reviewers who have it open now
        "renew_seconds": presence.RENEW_SECONDS,
        "mark_words": MARK_WORDS,
        **values,
        "steps": list(zip(Step, values["review"].steps, strict=True)),
        "photo_steps": list(Step),
        "step_photos": step_photos(values["photo_rounds"]),
        "bridge_url": site.settings.bridge_api_url,
        "field_label": field_label,
        "marks": list(Mark),
        "reviewer": user.role is Role.REVIEWER,
        "form": form or saved,
        "saved": saved,
        "kept": form is not None,
        "feedback": composed if text is None else text,
        "typed_drop": (typed and typed.drop) or "",
        "typed_drop_reason": (typed and typed.drop_reason) or "",
        "notice": notice,
        "unresolved": [s for s in values["sends"] if s.unresolved(datetime.now(UTC))],
        # This round's feedback, once sent: Send is disabled and says when and by whom.
        "sent_now": _sent_now(sheet, values["sends"]),
        "resubmitted_version": _resubmitted_version(sheet, values["changes"]),
        "refresh_seconds": site.settings.web.refresh_seconds,
    }

    def twin() -> dict[str, Any]:
        with site.desk() as desk:
            return _json(site, desk, values)

    return Page("review_work.html", shown, twin, status_code=status_code)


def _json(site: Site, desk: Desk, values: Mapping[str, Any]) -> dict[str, Any]:
    sheet: ReviewSheet = values["sheet"]
    body = review_json(values["review"])
    body["history"] = [{k: json_value(v) for k, v in e.items()} for e in values["history"]]
    body["photos"] = photo_json(values.get("photo_rounds", []))
    body |= {
        "version": sheet.version,
        "reviewed_by": sheet.reviewed_by,
        "reviewed_at": json_value(sheet.reviewed_at),
        "wrong_steps": sheet.verdict.wrong_steps(),
        # Who made this version: the page's script shows it when the version moved on.
        "last_change": desk.who_changed(sheet.id, sheet.version).describe(site.settings.tz),
        "sends": [
            {"id": s.id, "state": s.state, "by": s.sent_by, "at": json_value(s.claimed_at)}
            for s in values["sends"]
        ],
    }
    return body


def _sent_now(sheet: ReviewSheet, sends: tuple[FeedbackSend, ...]) -> FeedbackSend | None:
    """The send that stamped the current round's feedback (none after a resubmission)."""
    if sheet.feedback_sent is None:
        return None
    return next((s for s in sends if s.delivery is Delivery.SENT or s.resolution), None)


def _resubmitted_version(sheet: ReviewSheet, changes: tuple[ReviewChange, ...]) -> int | None:
    """The version the agent's resubmission made: one after the last change recorded before it
    (the monitor's resubmission writes no trail row of its own)."""
    if not sheet.resubmitted or sheet.last_submitted_at is None:
        return None
    before = [c.version for c in changes if c.changed_at <= sheet.last_submitted_at]
    return max(before, default=1) + 1


def _send_notice(sends: tuple[FeedbackSend, ...], asked: str | None) -> Notice | None:
    """The outcome of the send the Send button redirected to (?send=<id>)."""
    send = next((s for s in sends if asked and str(s.id) == asked), None)
    if send is None:
        return None
    if send.delivery is None:
        return Notice("warn", "The send has no recorded outcome yet: check the group.")
    level = {Delivery.SENT: "ok", Delivery.UNKNOWN: "warn"}.get(send.delivery, "bad")
    return Notice(level, feedback.explain(send.delivery, send.bridge_answer or ""))


def field_label(field: str) -> str:
    """A changed field as reviewers name it: `step_03_…` → `3. Cable Entry Outside`."""
    try:
        return Step.from_column(field).display
    except UnknownStep:
        return field.replace("_", " ").capitalize()


# -- the POSTs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewerPost:
    """A reviewer's POST on one review, as `reviewer_post` checked it."""

    review_id: UUID
    user: User
    form: FormData
    typed: Typed
    sent_version: int | None  # the review's version the page showed, if the form carries one

    @property
    def version(self) -> int:
        """The version the form was made from; a form without one is refused."""
        if self.sent_version is None:
            raise PostRefused(400, _NO_VERSION)
        return self.sent_version


_NO_VERSION = (
    "The form did not say which version of the review it was made from. Nothing was saved; "
    "your input is kept below: check it and try again."
)
PostHandler = Callable[[Site, Request, ReviewerPost], Response]


def reviewer_post(handler: PostHandler) -> Callable[[Request], Awaitable[Response]]:
    """The route of a reviewer's POST on a review: the CSRF token, a logged-in reviewer, the
    form's version and text checked, then `handler` in the threadpool (it talks to the
    database and, for Send, to the bridge). A `PostRefused` from any of it shows the review page
    again with the reason and the reviewer's input kept."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        site = site_of(request)
        user = await run_in_threadpool(current_user, site, request)
        if user is None:
            if CSRF_HEADER in request.headers:  # the page's script, not a person's form
                return JSONResponse({"error": "login required"}, status_code=401)
            # Nothing is done: the login page, carrying what they typed back to the review.
            return login_again(site, request, await request.form())
        if not await csrf_ok(request):
            raise HTTPException(403, "The form expired or did not come from this site: reload it.")
        if user.role is not Role.REVIEWER:
            raise HTTPException(403, "Only reviewers can save verdicts and send feedback.")
        form = await request.form()
        try:
            _check_text(form)
            review_id: UUID = request.path_params["id"]
            post = ReviewerPost(review_id, user, form, Typed.of(form), _version(form))
            return await run_in_threadpool(handler, site, request, post)
        except PostRefused as exc:
            return await run_in_threadpool(_refused, site, request, user, form, exc)

    return endpoint


# The fields of a refused POST the login form carries back to the review page.
KEPT = "kept."
_KEPT_FIELDS = ("version", "comment", "text", "queue", "drop_number", "drop_reason")


def login_again(site: Site, request: Request, form: FormData) -> Response:
    """A reviewer's POST whose session had ended: the login page at 401, with the verdict or
    message they typed kept in hidden fields; after the login the review page shows it again,
    not saved (`resumed`)."""
    kept = [
        (name, _shown(value)[:MAX_FEEDBACK])
        for name, value in form.multi_items()
        if isinstance(value, str) and (name in _KEPT_FIELDS or name.startswith(("mark_", "why_")))
    ]
    review = request.url.path.rsplit("/", 1)[0]
    return site.render(
        request,
        "login.html",
        {
            "error": "Your session ended before this was saved: log in again. What you typed "
            "is kept and comes back on the review page, not saved yet.",
            "next": review,
            "username": "",
            "kept": kept,
        },
        user=None,
        status_code=401,
    )


def resumed(site: Site, request: Request, user: User, review_id: UUID, kept: FormData) -> Response:
    """The review page after a login that carried a refused POST's input: that input in the
    forms, nothing saved; when the review changed meanwhile, saying so, as a refused save does."""
    typed = Typed.of(kept)
    with site.desk() as desk:
        values = _values(site, desk, review_id)
        carried = kept.get("queue")
        if isinstance(carried, str):
            values["nav"] = queue.nav(site, desk, request, values["review"], carried)
        sheet: ReviewSheet = values["sheet"]
        sent = kept.get("version")
        if sent is not None and str(sent) != str(sheet.version):
            changed = desk.who_changed(review_id, sheet.version)
            notice = Notice(
                "warn",
                f"{changed.describe(site.settings.tz)} Nothing was saved. Your input is kept "
                "below: compare it with the review as it is now, then save again.",
            )
        else:
            notice = Notice(
                "warn", "You are logged in again. Your input is kept below, not saved yet: save it."
            )
    shown = _page(site, user, values, notice=notice, typed=typed)
    return site.respond(request, shown, user=user)


def _refused(
    site: Site, request: Request, user: User, form: FormData, refusal: PostRefused
) -> Response:
    """The review page again, saying why the POST changed nothing, with the input kept."""
    review_id: UUID = request.path_params["id"]
    with site.desk() as desk:
        values = _values(site, desk, review_id)
        carried = form.get("queue")  # opened from the queue: keep its next and previous
        if isinstance(carried, str):
            values["nav"] = queue.nav(site, desk, request, values["review"], carried)
    notice = Notice("bad", refusal.message, refusal.link)
    shown = _page(
        site, user, values, notice=notice, typed=Typed.of(form), status_code=refusal.status
    )
    return site.respond(request, shown, user=user)


def _version(form: FormData) -> int | None:
    """The form's review version; None when it has none; refused when it is not a number a
    page of ours wrote (a browser's "²", 5,000 digits)."""
    raw = form.get("version")
    if raw is None:
        return None
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= MAX_VERSION_DIGITS:
        return int(raw)
    raise PostRefused(400, _NO_VERSION)


def _check_text(form: FormData) -> None:
    """Refuse text no page of ours sends: a NUL (PostgreSQL cannot store one), or more than the
    field's maxlength."""
    for name, value in form.multi_items():
        if not isinstance(value, str):
            continue
        label, limit = _FIELDS.get(name, ("A field of the form", None))
        if name.startswith("why_"):
            label, limit = f"The reason for step {_step_name(name[4:])}", MAX_REASON
        if _UNSTORABLE in value:
            raise PostRefused(
                400,
                f"{label} holds a character that cannot be saved (a NUL, shown as "
                f"{_SHOWN_INSTEAD}). Nothing was saved; remove it and try again.",
            )
        if limit is not None and len(value) > limit:
            raise PostRefused(
                400,
                f"{label} is {len(value)} characters long; at most {limit} can be saved. "
                "Nothing was saved; shorten it and try again.",
            )


_FIELDS: dict[str, tuple[str, int | None]] = {
    "comment": ("The overall comment", MAX_COMMENT),
    "text": ("The message", MAX_FEEDBACK),
    "drop_number": ("The corrected drop number", MAX_DROP),
    "drop_reason": ("The reason for the correction", MAX_REASON),
}


def _step_name(column: str) -> str:
    try:
        return Step.from_column(column).display
    except UnknownStep:
        return column


@reviewer_post
def save_verdict(site: Site, request: Request, post: ReviewerPost) -> Response:
    """Save the verdict the form says, if the review is still at the version the page showed."""
    typed = post.typed.verdict or FormInput.parse(post.form)
    if post.form.get("all_ok"):  # "All OK and save": every step OK, whatever the radios said
        typed = FormInput(dict.fromkeys(Step, Mark.PASSED), typed.reasons, typed.comment)
    try:
        verdict = typed.verdict()
    except InvalidVerdict as exc:
        raise PostRefused(400, f"{exc}. Nothing was saved.") from None
    with site.desk() as desk:
        try:
            desk.save(post.review_id, verdict=verdict, version=post.version, by=post.user.username)
        except ChangedMeanwhile as exc:
            raise PostRefused(
                409,
                f"{exc.describe(site.settings.tz)} Nothing was saved. Your input is kept below: "
                "compare it with the review as it is now (shown beside each step), then save "
                "again.",
            ) from None
        except reviewing.ReviewNotFound:
            raise HTTPException(404, "There is no such review in this environment.") from None
    carried = post.form.get("queue")
    carried = carried if isinstance(carried, str) else ""
    if "next" in (post.form.get("then"), post.form.get("all_ok")):  # the queue's next review
        target = queue.next_after_save(site, request, post.review_id, carried, post.user)
        if target is not None:
            return RedirectResponse(target, status_code=303)
    page = request.url.path.rsplit("/", 1)[0]
    return RedirectResponse(f"{page}?saved=1{'&' + carried if carried else ''}", status_code=303)


@reviewer_post
def renew_presence(site: Site, request: Request, post: ReviewerPost) -> Response:
    """The review page's script says the reviewer still has it open; who else has, as JSON."""
    return queue.presence_answer(site, post.review_id, post.user)


@reviewer_post
def send_feedback(site: Site, request: Request, post: ReviewerPost) -> Response:
    """Post the message as the feedback of the verdict the page showed, once."""
    text = post.typed.text or ""
    try:
        report = feedback.send(
            sends=site.feedback_sends,
            settings=site.settings,
            routes=site.routes,
            review_id=post.review_id,
            version=post.version,
            text=text,
            by=post.user.username,
        )
    except reviewing.ReviewNotFound:
        raise HTTPException(404, "There is no such review in this environment.") from None
    except (ChangedMeanwhile, NotClaimed) as exc:
        raise PostRefused(409, f"Not sent: {exc.describe(site.settings.tz)}") from None
    except WaMonitorError as exc:  # SendingOff, NoGroup, BadText: nothing was claimed
        raise PostRefused(400, f"Not sent: {exc}") from None
    page = request.url.path.rsplit("/", 1)[0]
    return RedirectResponse(f"{page}?send={report.send_id}", status_code=303)


@reviewer_post
def resolve_send(site: Site, request: Request, post: ReviewerPost) -> Response:
    """A reviewer checked the group for a send with no clear outcome: posted, or not."""
    raw = post.form.get("resolution")
    if raw not in {r.value for r in Resolution}:
        raise PostRefused(400, "Say whether the message arrived in the group.")
    send = request.path_params["send"]
    if not (send.isascii() and send.isdigit() and len(send) <= _MAX_ID_DIGITS):
        raise HTTPException(404, "This review has no such send.")
    with site.desk() as desk:
        desk.resolve(
            post.review_id, int(send), resolution=Resolution(str(raw)), by=post.user.username
        )
    page = request.url.path.rsplit("/", 3)[0]
    return RedirectResponse(page, status_code=303)


@reviewer_post
def correct_drop(site: Site, request: Request, post: ReviewerPost) -> Response:
    """Give the review the drop number the reviewer typed, with their reason: checked as a
    sighting is (one well-formed number; in the project's plan when the project validates),
    refused when that drop already has a review that day, recorded in the change trail."""
    typed = post.typed.drop or ""
    reason = (post.typed.drop_reason or "").strip()
    found = find_drops(typed)
    if len(found) != 1:
        raise PostRefused(
            400,
            "The corrected number must be one drop number, DR and 6-8 digits (as in DR1234567). "
            "Nothing was changed.",
        )
    if not reason:
        raise PostRefused(400, "Say why the drop number is corrected. Nothing was changed.")
    drop = found[0]
    with site.desk() as desk:
        sheet = desk.sheet(post.review_id)
        done = desk.correct_drop(
            post.review_id,
            drop=drop,
            reason=reason,
            version=post.version,
            by=post.user.username,
            planned=sheet.project in site.settings.validating,
        )
        if done.outcome is Correction.CHANGED:
            changed = desk.who_changed(post.review_id, sheet.version)
            raise PostRefused(
                409, f"{changed.describe(site.settings.tz)} Nothing was changed: check and retry."
            )
    page = request.url.path.rsplit("/", 1)[0]
    match done.outcome:
        case Correction.CORRECTED:
            return RedirectResponse(f"{page}?corrected=1", status_code=303)
        case Correction.MISSING:
            raise HTTPException(404, "There is no such review in this environment.")
        case Correction.TAKEN:
            raise PostRefused(
                409,
                f"{drop} already has a review on {sheet.review_date}: open it, and correct or "
                "review that one instead. Nothing was changed.",
                link=f"{page.rsplit('/', 1)[0]}/{done.other}",
            )
        case Correction.UNPLANNED:
            raise PostRefused(
                400,
                f"{drop} is not in {sheet.project}'s plan (the project checks drops against it). "
                "Nothing was changed.",
            )
        case Correction.SAME:
            raise PostRefused(400, f"The review's drop number is {drop} already.")
        case _:  # MALFORMED, NO_REASON: checked above
            raise PostRefused(400, "The correction was refused. Nothing was changed.")
