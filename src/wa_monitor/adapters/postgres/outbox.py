"""The reply outbox in PostgreSQL, as the sender uses it: its own autocommit connection, one
statement per step, so a claim is committed before the post it stands for. The sender's
dispatcher and its lanes (one per group) share the connection, one statement at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.records import Delivery, OutboxMessage
from wa_monitor.core.replies import retry_in
from wa_monitor.errors import Refused

_STATE = {
    Delivery.SENT: "sent",
    Delivery.REFUSED: "pending",  # certainly not posted: waits for its retry
    Delivery.DOWN: "pending",
    Delivery.UNKNOWN: "unknown",
}


class PgOutbox:
    """One environment's wa_monitor_outbox, for the daemon's reply sender."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self.db.connect("replies")
            try:
                yield self._conn.cursor()
            except psycopg.Error as exc:
                self.close()
                raise self.db.error(exc) from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def stranded(self) -> list[OutboxMessage]:
        with self._cursor() as cur:
            rows = cur.execute(self.db.query("outbox.stranded")).fetchall()
        return [_message(r) for r in rows]

    def expire(self, window_s: float) -> int:
        with self._cursor() as cur:
            return cur.execute(self.db.query("outbox.expire"), {"window": window_s}).rowcount

    def hold(self, per_sender: int, per_group: int) -> int:
        with self._cursor() as cur:
            return cur.execute(
                self.db.query("outbox.hold"),
                {"per_sender": per_sender, "per_group": per_group},
            ).rowcount

    def claim(
        self, interval_s: float, window_s: float, *, per_sender: int, per_group: int
    ) -> OutboxMessage | None:
        """The next reply to post, its caps counted and its claim made in one transaction
        under the environment's claim lock (outbox.sql: claim_turn), committed on return."""
        params = {"interval": interval_s, "window": window_s}
        params |= {"per_sender": per_sender, "per_group": per_group}
        with self._cursor() as cur, cur.connection.transaction():
            cur.execute(self.db.query("outbox.claim_turn"), {"schema": self.db.schema})
            row = cur.execute(self.db.query("outbox.claim"), params).fetchone()
        return None if row is None else _message(row)

    def unknown_through(self, bridge: str) -> list[OutboxMessage]:
        with self._cursor() as cur:
            rows = cur.execute(self.db.query("outbox.unknown_through"), {"bridge": bridge})
            return [_message(r) for r in rows.fetchall()]

    def found_sent(self, message: OutboxMessage, bridge: str) -> bool:
        with self._cursor() as cur:
            params = {"id": message.id, "bridge": bridge}
            return cur.execute(self.db.query("outbox.found_sent"), params).rowcount == 1

    def route(self, message: OutboxMessage, bridge: str) -> bool:
        with self._cursor() as cur:
            params = {"id": message.id, "bridge": bridge}
            return cur.execute(self.db.query("outbox.route"), params).rowcount == 1

    def waiting(self) -> bool:
        with self._cursor() as cur:
            row = cur.execute(self.db.query("outbox.waiting")).fetchone()
        return bool(row and row[0])

    def settle(
        self, message: OutboxMessage, delivery: Delivery, detail: str, status: int | None
    ) -> None:
        """The outcome, once: sent, unknown, or back to waiting after the retry policy's delay
        (core/replies.retry_in) when it was certainly not posted."""
        wait = retry_in(message.attempts, delivery) if delivery.retry_is_safe else 0.0
        self._set(message, _STATE[delivery], detail, wait)

    def block(self, message: OutboxMessage, detail: str) -> None:
        self._set(message, "blocked", detail, 0.0)

    def sent_alike(self, message: OutboxMessage, since: datetime) -> int:
        with self._cursor() as cur:
            row = cur.execute(
                self.db.query("outbox.sent_alike"),
                {"id": message.id, "chat": message.chat_jid, "text": message.text, "since": since},
            ).fetchone()
        return int(row[0]) if row else 0

    def _set(self, message: OutboxMessage, state: str, detail: str, retry_in_s: float) -> None:
        with self._cursor() as cur:
            cur.execute(
                self.db.query("outbox.finish"),
                {"id": message.id, "state": state, "detail": detail[:500], "retry_in": retry_in_s},
            )


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    rid, chat, drop, text, at, claimed, attempts, bridge = row
    return OutboxMessage(
        id=rid,
        chat_jid=str(chat),
        drop_number=str(drop),
        text=str(text),
        message_at=at,
        claimed_at=claimed,
        attempts=int(attempts),
        bridge=bridge,
    )


# -- for ops: `wa-monitor replies` -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplyRow:
    id: UUID
    state: str
    kind: str
    project: str
    drop_number: str
    chat_jid: str
    message_at: datetime
    attempts: int
    detail: str | None
    text: str


def list_replies(db: Database, *, state: str | None, limit: int) -> list[ReplyRow]:
    """The newest replies of the outbox (in one state, or all)."""
    with db.session("replies") as conn:
        db.require_current(conn)
        rows = conn.execute(db.query("outbox.list"), {"state": state, "limit": limit}).fetchall()
    return [ReplyRow(*r) for r in rows]


def resolve(db: Database, *, prefix: str, posted: bool) -> list[ReplyRow]:
    """A person's decision on an unknown reply: it was posted (sent), or not (sent again).

    `prefix` is the reply's id or its first characters; it must name exactly one unknown reply.
    """
    if len(prefix) < 6 or not all(c in "0123456789abcdef-" for c in prefix.lower()):
        raise Refused(f"{prefix!r} is not a reply id: give at least its first 6 characters")
    state, detail = ("sent", "resolved: posted") if posted else ("pending", "resolved: resend")
    with db.session("replies") as conn:
        db.require_current(conn)
        with conn.transaction():
            matches = conn.execute(
                db.query("outbox.list_unknown_like"), {"prefix": prefix.lower()}
            ).fetchall()
            if len(matches) != 1:
                what = "no unknown reply" if not matches else f"{len(matches)} unknown replies"
                raise Refused(f"{what} with an id starting {prefix!r}: nothing changed")
            conn.execute(
                db.query("outbox.resolve"),
                {"state": state, "detail": detail, "prefix": prefix.lower()},
            )
    return [ReplyRow(*r) for r in matches]
