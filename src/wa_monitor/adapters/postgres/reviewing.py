"""The review workflow's writes and reads: a reviewer's verdict saved against the version the
page showed, the trail of changes, and feedback sends claimed before the bridge is called.

Every function takes an autocommit connection and runs its own short transaction: a claim must
be committed before the HTTP call, and no transaction is ever held across it. SQL in
sql/reviewing.sql.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.store import COMMENT
from wa_monitor.core.verdict import Step, Verdict, changes
from wa_monitor.errors import WaMonitorError

Conn = psycopg.Connection[Any]
# A claim with no outcome after this long was cut off (the web process died mid-send): it is
# shown as unknown and a person may resolve it. Well above the bridge client's 7 s bound.
STALE_CLAIM = timedelta(minutes=2)


class SendState(enum.StrEnum):
    CLAIMED = "claimed"  # committed before the bridge was called; no outcome yet
    SENT = "sent"
    REFUSED = "refused"
    DOWN = "down"
    UNKNOWN = "unknown"


class Resolution(enum.StrEnum):
    """What a reviewer found in the group for a send whose outcome was unknown."""

    POSTED = "posted"
    NOT_POSTED = "not_posted"


@dataclass(frozen=True, slots=True)
class ReviewSheet:
    """One review as the review page shows and edits it."""

    id: UUID
    drop_number: str
    project: str | None
    review_date: Any
    user_name: str | None
    submitted_by: str | None
    last_submitted_at: datetime | None
    resubmitted: bool
    feedback_sent: datetime | None
    verdict: Verdict
    reviewed_by: str | None
    reviewed_at: datetime | None
    version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    changed_by: str
    changed_at: datetime
    changes: tuple[tuple[str, str, str], ...]  # (field, from, to)


@dataclass(frozen=True, slots=True)
class FeedbackSend:
    id: int
    review_version: int
    sent_by: str
    claimed_at: datetime
    finished_at: datetime | None
    recipient: str
    message: str
    state: SendState
    bridge_status: int | None
    bridge_answer: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: Resolution | None

    def unresolved(self, now: datetime) -> bool:
        """Perhaps posted and nobody has checked the group yet: no new Send until resolved."""
        if self.resolution is not None:
            return False
        return self.state is SendState.UNKNOWN or (
            self.state is SendState.CLAIMED and now - self.claimed_at > STALE_CLAIM
        )


class ReviewNotFound(WaMonitorError):
    """No review with that id in this environment."""


class How(enum.StrEnum):
    """What made a review's current version."""

    SAVED = "saved"  # a reviewer saved a verdict
    SENT = "sent"  # a reviewer's feedback went out (feedback_sent stamped)
    RESUBMITTED = "resubmitted"  # the monitor applied the agent's resubmission
    CHANGED = "changed"  # something else (an ops copy replaced the row)


class ChangedMeanwhile(WaMonitorError):
    """Someone changed the review after the page was loaded: nothing was written.

    `by`, `at` and `how` say who made the current version, when and how.
    """

    def __init__(self, *, version: int, by: str, at: datetime, how: How) -> None:
        self.version, self.by, self.at, self.how = version, by, at, how
        super().__init__(self.describe(UTC))

    @property
    def resubmission(self) -> bool:
        return self.how is How.RESUBMITTED

    def describe(self, tz: tzinfo) -> str:
        when = _clock(self.at, tz)
        what = {
            How.SAVED: f"{self.by} saved a verdict at {when}",
            How.SENT: f"{self.by} sent feedback at {when}",
            How.RESUBMITTED: f"{self.by} resubmitted the drop at {when}",
            How.CHANGED: f"it was changed at {when}",
        }[self.how]
        return f"This review changed after you opened it: {what}."


class Blocked(enum.StrEnum):
    NOT_REVIEWED = "not_reviewed"  # no verdict saved yet: nothing to compose feedback from
    ALREADY_SENT = "already_sent"  # this verdict's message went out
    IN_FLIGHT = "in_flight"  # another request is sending it right now
    UNKNOWN = "unknown"  # a send may have been posted; a person must check the group first


class NotClaimed(WaMonitorError):
    """A send could not be claimed; `send` is the one that holds this verdict's message."""

    def __init__(self, reason: Blocked, *, send: FeedbackSend | None = None) -> None:
        self.reason, self.send = reason, send
        super().__init__(self.describe(UTC))

    def describe(self, tz: tzinfo) -> str:
        who = self.send.sent_by if self.send else "someone"
        when = _clock(self.send.claimed_at, tz) if self.send else "earlier"
        match self.reason:
            case Blocked.NOT_REVIEWED:
                return "Save a verdict before sending feedback."
            case Blocked.ALREADY_SENT:
                return (
                    f"Feedback for this verdict was already sent ({who}, {when}). Change and "
                    "save the verdict to send new feedback."
                )
            case Blocked.IN_FLIGHT:
                return f"{who} is sending this feedback right now (started {when})."
            case Blocked.UNKNOWN:
                return (
                    f"The send by {who} at {when} may have been posted: the bridge gave no "
                    "clear answer. Check the group, then say whether it arrived."
                )


def _clock(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _run(conn: Conn, db: Database, name: str, params: Mapping[str, object]) -> psycopg.Cursor[Any]:
    return conn.execute(db.query(f"reviewing.{name}"), params)


# -- reading -----------------------------------------------------------------------------------


def load(conn: Conn, db: Database, review_id: UUID) -> ReviewSheet:
    row = _run(conn, db, "load_review", {"id": review_id}).fetchone()
    if row is None:
        raise ReviewNotFound(f"no review {review_id} in schema {db.schema!r}")
    (
        rid,
        drop,
        project,
        review_date,
        user_name,
        submitted_by,
        last_submitted_at,
        resubmitted,
        feedback_sent,
        comment,
        wrong_steps,
        reviewed_by,
        reviewed_at,
        version,
        updated_at,
        *steps,
    ) = row
    reasons = {
        Step.from_column(column): str(reason) for column, reason in dict(wrong_steps or {}).items()
    }
    passed = {step for step, ticked in zip(Step, steps, strict=True) if ticked}
    verdict = Verdict(
        frozenset(passed - reasons.keys()),
        tuple(sorted((s, r) for s, r in reasons.items() if s not in passed and r.strip())),
        _reviewer_comment(comment, project),
    )
    return ReviewSheet(
        id=rid,
        drop_number=drop,
        project=project,
        review_date=review_date,
        user_name=user_name,
        submitted_by=submitted_by,
        last_submitted_at=last_submitted_at,
        resubmitted=bool(resubmitted),
        feedback_sent=feedback_sent,
        verdict=verdict,
        reviewed_by=reviewed_by,
        reviewed_at=reviewed_at,
        version=int(version),
        updated_at=updated_at,
    )


def _reviewer_comment(comment: str | None, project: str | None) -> str:
    """The overall comment; the monitor's own note on a new review is not the reviewer's."""
    if comment is None or comment == COMMENT.format(project=project):
        return ""
    return comment


def history(conn: Conn, db: Database, review_id: UUID) -> tuple[Change, ...]:
    """The review's recorded changes, newest first."""
    rows = _run(conn, db, "changes_of", {"id": review_id}).fetchall()
    return tuple(
        Change(
            version=int(version),
            changed_by=str(by),
            changed_at=at,
            changes=tuple(
                (str(field), str(move.get("from") or ""), str(move.get("to") or ""))
                for field, move in sorted(dict(what).items())
            ),
        )
        for version, by, at, what in rows
    )


def sends(conn: Conn, db: Database, review_id: UUID) -> tuple[FeedbackSend, ...]:
    """The review's feedback sends, newest first."""
    rows = _run(conn, db, "sends_of", {"id": review_id}).fetchall()
    return tuple(_send(r) for r in rows)


def _send(row: tuple[Any, ...]) -> FeedbackSend:
    (sid, version, by, claimed, finished, recipient, message, state, status, answer, *rest) = row
    resolved_by, resolved_at, resolution = rest
    return FeedbackSend(
        id=int(sid),
        review_version=int(version),
        sent_by=str(by),
        claimed_at=claimed,
        finished_at=finished,
        recipient=str(recipient),
        message=str(message),
        state=SendState(state),
        bridge_status=status,
        bridge_answer=answer,
        resolved_by=resolved_by,
        resolved_at=resolved_at,
        resolution=Resolution(resolution) if resolution else None,
    )


# -- writing -----------------------------------------------------------------------------------


def save(
    conn: Conn, db: Database, review_id: UUID, *, verdict: Verdict, version: int, by: str
) -> int:
    """Save `verdict` over the review the page showed at `version`; return the new version.

    Refused with ChangedMeanwhile (who and when) if anyone changed the review since.
    The change is recorded in the same transaction.
    """
    _require_autocommit(conn)
    with conn.transaction():
        current = _lock(conn, db, review_id)[0]
        if current != version:
            raise who_changed(conn, db, review_id, current)
        before = load(conn, db, review_id).verdict
        params: dict[str, object] = {s.column: s in verdict.passed for s in Step}
        params |= {
            "id": review_id,
            "version": version,
            "by": by,
            "wrong_steps": Jsonb(verdict.wrong_steps()),
            "comment": verdict.comment or None,
            "completed": verdict.completed,
            "incomplete": verdict.incomplete,
            "completed_photos": verdict.completed_photos,
            "outstanding_photos": verdict.outstanding_photos,
        }
        row = _run(conn, db, "save_verdict", params).fetchone()
        if row is None:  # the row lock makes this unreachable; the WHERE is the belt
            raise who_changed(conn, db, review_id, current)
        new_version = int(row[0])
        what: dict[str, object] = dict(changes(before, verdict)) or {"saved": "no change"}
        _record(conn, db, review_id, version=new_version, by=by, what=what)
    return new_version


def claim(
    conn: Conn,
    db: Database,
    review_id: UUID,
    *,
    version: int,
    by: str,
    recipient: str,
    message: str,
) -> int:
    """Claim the one feedback message of the verdict the page showed; return the send's id.

    Committed before returning, so the caller calls the bridge with the claim already visible
    to every other request. NotClaimed says why not (and which send holds the message).
    """
    _require_autocommit(conn)
    with conn.transaction():
        current, reviewed_at, feedback_sent = _lock(conn, db, review_id)
        if current != version:
            raise who_changed(conn, db, review_id, current)
        if reviewed_at is None:
            raise NotClaimed(Blocked.NOT_REVIEWED)
        holder = _blocking_send(conn, db, review_id, version)
        if holder is not None:
            raise NotClaimed(_why(holder), send=holder)
        if feedback_sent is not None and reviewed_at <= feedback_sent:
            raise NotClaimed(Blocked.ALREADY_SENT)
        params = {"id": review_id, "version": version, "by": by}
        params |= {"recipient": recipient, "message": message}
        row = _run(conn, db, "claim_send", params).fetchone()
        if row is None:  # the row lock makes this unreachable; the unique index is the belt
            held = _blocking_send(conn, db, review_id, version)
            raise NotClaimed(_why(held) if held else Blocked.IN_FLIGHT, send=held)
        return int(row[0])


def finish(
    conn: Conn,
    db: Database,
    review_id: UUID,
    send_id: int,
    *,
    state: SendState,
    status: int | None,
    answer: str,
    by: str,
) -> datetime | None:
    """Record a claimed send's outcome; on SENT stamp feedback_sent (returned) in the same go."""
    _require_autocommit(conn)
    with conn.transaction():
        _run(
            conn,
            db,
            "finish_send",
            {"send": send_id, "state": state.value, "status": status, "answer": answer},
        )
        if state is not SendState.SENT:
            return None
        return _stamp(conn, db, review_id, by)


def resolve(
    conn: Conn, db: Database, review_id: UUID, send_id: int, *, resolution: Resolution, by: str
) -> bool:
    """A person checked the group for an unknown send: posted (stamp) or not (Send allowed)."""
    _require_autocommit(conn)
    with conn.transaction():
        row = _run(
            conn,
            db,
            "resolve_send",
            {
                "id": review_id,
                "send": send_id,
                "resolution": resolution.value,
                "by": by,
                "stale": STALE_CLAIM,
            },
        ).fetchone()
        if row is None:
            return False
        if resolution is Resolution.POSTED:
            _stamp(conn, db, review_id, by)
        return True


def _stamp(conn: Conn, db: Database, review_id: UUID, by: str) -> datetime:
    row = _run(conn, db, "stamp_feedback", {"id": review_id}).fetchone()
    if row is None:
        raise ReviewNotFound(f"no review {review_id} in schema {db.schema!r}")
    version, stamped = int(row[0]), row[1]
    # The row's When says when; the trail says what happened to feedback_sent.
    what = {"feedback_sent": {"from": "", "to": "sent to the group"}}
    _record(conn, db, review_id, version=version, by=by, what=what)
    return stamped  # type: ignore[no-any-return]


def _record(
    conn: Conn, db: Database, review_id: UUID, *, version: int, by: str, what: Mapping[str, object]
) -> None:
    _run(
        conn,
        db,
        "record_change",
        {"id": review_id, "version": version, "by": by, "changes": Jsonb(dict(what))},
    )


def _lock(
    conn: Conn, db: Database, review_id: UUID
) -> tuple[int, datetime | None, datetime | None]:
    row = _run(conn, db, "lock_review", {"id": review_id}).fetchone()
    if row is None:
        raise ReviewNotFound(f"no review {review_id} in schema {db.schema!r}")
    return int(row[0]), row[1], row[2]


def _blocking_send(conn: Conn, db: Database, review_id: UUID, version: int) -> FeedbackSend | None:
    row = _run(conn, db, "blocking_send", {"id": review_id, "version": version}).fetchone()
    if row is None:
        return None
    found = _run(conn, db, "send_by_id", {"id": review_id, "send": row[0]}).fetchone()
    return _send(found) if found else None


def _why(send: FeedbackSend) -> Blocked:
    if send.state is SendState.SENT or send.resolution is Resolution.POSTED:
        return Blocked.ALREADY_SENT
    if send.state is SendState.CLAIMED and datetime.now(UTC) - send.claimed_at <= STALE_CLAIM:
        return Blocked.IN_FLIGHT
    return Blocked.UNKNOWN


def who_changed(conn: Conn, db: Database, review_id: UUID, current: int) -> ChangedMeanwhile:
    """Who made the review's `current` version and when (a reviewer, or the agent's
    resubmission), as the refusal of a save that did not see it says."""
    row = _run(conn, db, "last_change", {"id": review_id, "version": current}).fetchone()
    if row is not None:
        how = How.SENT if row[2] else How.SAVED
        return ChangedMeanwhile(version=current, by=str(row[0]), at=row[1], how=how)
    # No person's change made this version: the monitor applied a resubmission (or an ops
    # copy replaced the row).
    sheet = load(conn, db, review_id)
    return ChangedMeanwhile(
        version=current,
        by=sheet.user_name or sheet.submitted_by or "the agent",
        at=sheet.last_submitted_at or sheet.updated_at,
        how=How.RESUBMITTED if sheet.resubmitted else How.CHANGED,
    )


def _require_autocommit(conn: Conn) -> None:
    # Inside a caller's transaction our "commit" would only be a savepoint: a claim could then
    # be invisible to other requests while the bridge is called.
    if not conn.autocommit:
        raise ValueError("reviewing needs an autocommit connection")
