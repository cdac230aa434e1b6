"""The review workflow's writes and reads: a reviewer's verdict saved against the version the
page showed, the trail of changes, and feedback sends claimed before the bridge is called.

Every function takes an autocommit connection and runs its own short transaction: a claim must
be committed before the HTTP call, and no transaction is ever held across it. SQL in
sql/reviewing.sql.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from wa_monitor.adapters.postgres.db import Connection, Database
from wa_monitor.core.feedback_claims import (
    STALE_CLAIM,
    Blocked,
    ChangedMeanwhile,
    FeedbackSend,
    NotClaimed,
    Resolution,
    blocked_by,
    claim_refusal,
)
from wa_monitor.core.records import Delivery
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict, changes
from wa_monitor.errors import WaMonitorError


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

    def changed_by_monitor(self, version: int) -> ChangedMeanwhile:
        """No person's change made `version`: the agent's resubmission (or an ops copy)."""
        return ChangedMeanwhile.by_monitor(
            version=version,
            agent=self.user_name,
            submitted_by=self.submitted_by,
            last_submitted_at=self.last_submitted_at,
            updated_at=self.updated_at,
            resubmitted=self.resubmitted,
        )


@dataclass(frozen=True, slots=True)
class ReviewChange:
    """One entry of a review's change trail: who made which version, and what changed."""

    version: int
    changed_by: str
    changed_at: datetime
    changes: tuple[tuple[str, str, str], ...]  # (field, from, to)


class ReviewNotFound(WaMonitorError):
    """No review with that id in this environment."""


def _run(
    conn: Connection, db: Database, name: str, params: Mapping[str, object]
) -> psycopg.Cursor[Any]:
    return conn.execute(db.query(f"reviewing.{name}"), params)


# -- reading -----------------------------------------------------------------------------------


def load(conn: Connection, db: Database, review_id: UUID) -> ReviewSheet:
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
    verdict = Verdict.stored(
        ticked=(step for step, ticked in zip(Step, steps, strict=True) if ticked),
        reasons=reasons,
        comment=comment or "",
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


def history(conn: Connection, db: Database, review_id: UUID) -> tuple[ReviewChange, ...]:
    """The review's recorded changes, newest first."""
    rows = _run(conn, db, "changes_of", {"id": review_id}).fetchall()
    return tuple(
        ReviewChange(
            version=int(version),
            changed_by=str(by),
            changed_at=at,
            changes=tuple((str(field), *_move(move)) for field, move in sorted(dict(what).items())),
        )
        for version, by, at, what in rows
    )


def _move(move: object) -> tuple[str, str]:
    """A recorded change's (before, after); a note such as a save that changed nothing
    (`{"saved": "no change"}`) has no before."""
    if isinstance(move, dict):
        return str(move.get("from") or ""), str(move.get("to") or "")
    return "", str(move)


def sends(conn: Connection, db: Database, review_id: UUID) -> tuple[FeedbackSend, ...]:
    """The review's feedback sends, newest first."""
    rows = _run(conn, db, "sends_of", {"id": review_id}).fetchall()
    return tuple(_feedback_send(r) for r in rows)


def _feedback_send(row: tuple[Any, ...]) -> FeedbackSend:
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
        delivery=None if state == "claimed" else Delivery(state),
        bridge_status=status,
        bridge_answer=answer,
        resolved_by=resolved_by,
        resolved_at=resolved_at,
        resolution=Resolution(resolution) if resolution else None,
    )


# -- writing -----------------------------------------------------------------------------------


def save(
    conn: Connection, db: Database, review_id: UUID, *, verdict: Verdict, version: int, by: str
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


class Correction(enum.StrEnum):
    """What became of a drop-number correction (the function's outcome)."""

    CORRECTED = "corrected"
    MISSING = "missing"  # no such review
    CHANGED = "changed"  # the review moved on from the version the page showed
    SAME = "same"  # the review already has that number
    MALFORMED = "malformed"
    NO_REASON = "no_reason"
    UNPLANNED = "unplanned"  # not in the project's plan, and the project validates
    TAKEN = "taken"  # the drop already has a review that day: `other`


@dataclass(frozen=True, slots=True)
class Corrected:
    outcome: Correction
    other: UUID | None  # the review the corrected drop already has that day
    version: int | None  # the review's new version, when corrected


def correct_drop(
    conn: Connection,
    db: Database,
    review_id: UUID,
    *,
    drop: str,
    reason: str,
    version: int,
    by: str,
    planned: bool,
) -> Corrected:
    """Give the review another drop number (the one a reviewer corrected it to), if it is still
    at `version`, in the project's plan when `planned`, and no review of that drop exists that
    day; recorded in the change trail with the old number and the reason."""
    params = {
        "id": review_id,
        "version": version,
        "drop": drop,
        "reason": reason,
        "by": by,
        "planned": planned,
    }
    row = _run(conn, db, "correct_drop", params).fetchone()
    outcome, other, new_version = row or ("missing", None, None)
    return Corrected(Correction(outcome), other, new_version)


@dataclass(frozen=True, slots=True)
class FeedbackRequest:
    """A reviewer's Send: the review and the version its page showed, who, the (speakable)
    text, and the bridge it goes through first (written on the claim with it)."""

    review_id: UUID
    version: int
    by: str
    text: str
    bridge: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A feedback send claimed (committed): its id, where it goes, the review's drop, and what
    was asked. A Claim (core/ports.py), settled by core/replies.settle_once."""

    send_id: int
    recipient: str
    drop_number: str
    project: str | None
    review_id: UUID
    version: int
    by: str
    text: str
    claimed_at: datetime
    bridge: str | None = None  # written with the claim: its first post's


class FeedbackBook:
    """One environment's feedback sends as services/feedback.py's claim store: each call one
    short piece of work on a connection of its own from `connect` (the web's pool), so no
    transaction is open while the bridge is called. tests/support/fakes.py has the in-memory
    twin."""

    def __init__(self, db: Database, connect: Callable[[], AbstractContextManager[Connection]]):
        self._db, self._connect = db, connect

    def claim(self, request: FeedbackRequest, route: Callable[[str | None], str]) -> Claimed:
        """Claim the one feedback message of the verdict the page showed, in one transaction.

        `route(project)` gives the group the review's feedback goes to, or raises why it cannot
        go (nothing is claimed then). Committed before returning, so the caller calls the bridge
        with the claim already visible to every other request. NotClaimed says why not (and
        which send holds the message).
        """
        db, review_id, version = self._db, request.review_id, request.version
        with self._connect() as conn:
            _require_autocommit(conn)
            claimed_at = datetime.now(UTC)
            with conn.transaction():
                row = _run(conn, db, "lock_for_send", {"id": review_id}).fetchone()
                if row is None:
                    raise ReviewNotFound(f"no review {review_id} in schema {db.schema!r}")
                current, reviewed_at, feedback_sent, project, drop = row
                if current != version:
                    raise who_changed(conn, db, review_id, current)
                recipient = route(project)
                holder = (
                    None if reviewed_at is None else _blocking_send(conn, db, review_id, version)
                )
                refusal = claim_refusal(
                    reviewed_at=reviewed_at,
                    feedback_sent=feedback_sent,
                    holder=holder,
                    now=datetime.now(UTC),
                )
                if refusal is not None:
                    raise refusal
                params = {"id": review_id, "version": version, "by": request.by}
                params |= {"recipient": recipient, "message": request.text}
                params |= {"bridge": request.bridge}
                inserted = _run(conn, db, "claim_send", params).fetchone()
                if inserted is None:  # the row lock makes this unreachable; the unique index too
                    held = _blocking_send(conn, db, review_id, version)
                    why = blocked_by(held, datetime.now(UTC)) if held else Blocked.IN_FLIGHT
                    raise NotClaimed(why, send=held)
        return Claimed(
            int(inserted[0]),
            recipient,
            str(drop),
            project,
            review_id,
            version,
            request.by,
            request.text,
            claimed_at,
            request.bridge,
        )

    def route(self, claim: Claimed, bridge: str) -> bool:
        """Record, committed, that the claimed send is about to go through `bridge`; False
        when it is no longer claimed (then it must not be posted)."""
        with self._db.translated(), self._connect() as conn:
            _require_autocommit(conn)
            routed = _run(conn, self._db, "route_send", {"send": claim.send_id, "bridge": bridge})
            return routed.rowcount == 1

    def sent_alike(self, claim: Claimed, since: datetime) -> int:
        """Other sends of the claim's text to its recipient settled as sent since `since`."""
        params = {"send": claim.send_id, "recipient": claim.recipient, "message": claim.text}
        with self._db.translated(), self._connect() as conn:
            row = _run(conn, self._db, "sends_alike", params | {"since": since}).fetchone()
        return int(row[0]) if row else 0

    def settle(
        self, claim: Claimed, delivery: Delivery, detail: str, status: int | None
    ) -> datetime | None:
        """The outcome, once; on SENT feedback_sent stamped (returned) in the same go, if the
        review is still at the version the message was composed from: a resubmission during the
        bridge call is a new round nobody has given feedback on."""
        params = {"send": claim.send_id, "state": delivery.value, "status": status}
        with self._db.translated(), self._connect() as conn:
            _require_autocommit(conn)
            with conn.transaction():
                _run(conn, self._db, "finish_send", params | {"answer": detail})
                if delivery is not Delivery.SENT:
                    return None
                return _stamp(conn, self._db, claim.review_id, claim.by, version=claim.version)


def resolve(
    conn: Connection,
    db: Database,
    review_id: UUID,
    send_id: int,
    *,
    resolution: Resolution,
    by: str,
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
            _stamp(conn, db, review_id, by, version=int(row[1]))
        return True


def _stamp(
    conn: Connection, db: Database, review_id: UUID, by: str, *, version: int
) -> datetime | None:
    """Stamp feedback_sent if the review is still at `version`; None when it moved on."""
    row = _run(conn, db, "stamp_feedback", {"id": review_id, "version": version}).fetchone()
    if row is None:
        return None
    version, stamped = int(row[0]), row[1]
    # The row's When says when; the trail says what happened to feedback_sent.
    what = {"feedback_sent": {"from": "", "to": "sent to the group"}}
    _record(conn, db, review_id, version=version, by=by, what=what)
    return stamped  # type: ignore[no-any-return]


def _record(
    conn: Connection,
    db: Database,
    review_id: UUID,
    *,
    version: int,
    by: str,
    what: Mapping[str, object],
) -> None:
    _run(
        conn,
        db,
        "record_change",
        {"id": review_id, "version": version, "by": by, "changes": Jsonb(dict(what))},
    )


def _lock(
    conn: Connection, db: Database, review_id: UUID
) -> tuple[int, datetime | None, datetime | None]:
    row = _run(conn, db, "lock_review", {"id": review_id}).fetchone()
    if row is None:
        raise ReviewNotFound(f"no review {review_id} in schema {db.schema!r}")
    return int(row[0]), row[1], row[2]


def _blocking_send(
    conn: Connection, db: Database, review_id: UUID, version: int
) -> FeedbackSend | None:
    row = _run(conn, db, "blocking_send", {"id": review_id, "version": version}).fetchone()
    if row is None:
        return None
    found = _run(conn, db, "send_by_id", {"id": review_id, "send": row[0]}).fetchone()
    return _feedback_send(found) if found else None


def who_changed(conn: Connection, db: Database, review_id: UUID, current: int) -> ChangedMeanwhile:
    """Who made the review's `current` version and when (a reviewer, or the agent's
    resubmission), as the refusal of a save that did not see it says."""
    row = _run(conn, db, "last_change", {"id": review_id, "version": current}).fetchone()
    if row is not None:
        by, at, sent_feedback = row
        return ChangedMeanwhile.by_reviewer(
            version=current, by=str(by), at=at, sent_feedback=bool(sent_feedback)
        )
    return load(conn, db, review_id).changed_by_monitor(current)


def _require_autocommit(conn: Connection) -> None:
    # Inside a caller's transaction our "commit" would only be a savepoint: a claim could then
    # be invisible to other requests while the bridge is called.
    if not conn.autocommit:
        raise ValueError("reviewing needs an autocommit connection")
