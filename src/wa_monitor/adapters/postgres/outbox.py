"""The reply outbox in PostgreSQL, as the sender uses it: its own autocommit connection, one
statement per step, so a claim is committed before the post it stands for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from wa_monitor.adapters.postgres.db import compose, connect, named_queries, translate
from wa_monitor.core.records import Delivery, OutboxMessage

_STATE = {
    Delivery.SENT: "sent",
    Delivery.REFUSED: "pending",  # certainly not posted: waits for its retry
    Delivery.DOWN: "pending",
    Delivery.UNKNOWN: "unknown",
}


def outbox_query(name: str, schema: str) -> psycopg.sql.Composed:
    """A named query of outbox.sql, composed for `schema`."""
    return compose(named_queries("outbox.sql")[name], schema)


class PgOutbox:
    """One environment's wa_monitor_outbox, for the daemon's reply sender."""

    def __init__(self, url: str, *, schema: str, env: str) -> None:
        self._url, self.schema, self.env = url, schema, env
        self._conn: psycopg.Connection[Any] | None = None

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, schema=self.schema, env=self.env, purpose="replies")
        try:
            yield self._conn.cursor()
        except psycopg.Error as exc:
            self.close()
            raise translate(exc, schema=self.schema, env=self.env) from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stranded(self) -> list[OutboxMessage]:
        with self._cursor() as cur:
            rows = cur.execute(outbox_query("stranded", self.schema)).fetchall()
        return [_message(r) for r in rows]

    def expire(self, window_s: float) -> int:
        with self._cursor() as cur:
            return cur.execute(outbox_query("expire", self.schema), {"window": window_s}).rowcount

    def claim(self, interval_s: float) -> OutboxMessage | None:
        with self._cursor() as cur:
            row = cur.execute(
                outbox_query("claim", self.schema), {"interval": interval_s}
            ).fetchone()
        return None if row is None else _message(row)

    def waiting(self) -> bool:
        with self._cursor() as cur:
            row = cur.execute(outbox_query("waiting", self.schema)).fetchone()
        return bool(row and row[0])

    def finish(
        self, message: OutboxMessage, delivery: Delivery, detail: str, retry_in_s: float
    ) -> None:
        self._set(message, _STATE[delivery], detail, retry_in_s)

    def block(self, message: OutboxMessage, detail: str) -> None:
        self._set(message, "blocked", detail, 0.0)

    def _set(self, message: OutboxMessage, state: str, detail: str, retry_in_s: float) -> None:
        with self._cursor() as cur:
            cur.execute(
                outbox_query("finish", self.schema),
                {"id": message.id, "state": state, "detail": detail[:500], "retry_in": retry_in_s},
            )


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    rid, chat, drop, text, at, claimed, attempts = row
    return OutboxMessage(
        id=rid,
        chat_jid=str(chat),
        drop_number=str(drop),
        text=str(text),
        message_at=at,
        claimed_at=claimed,
        attempts=int(attempts),
    )
