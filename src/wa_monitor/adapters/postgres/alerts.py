"""The incidents `wa-monitor alerts check` announced (wa_monitor_alerts), in short turns: each
turn is one transaction holding the alerts lock, and no post ever happens inside one (a message
is claimed in a turn, posted after it, and settled in the next). SQL in sql/alerts.sql."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.alerts import ClaimedAlert, Incident, IncidentChange, Known, Message
from wa_monitor.core.records import Delivery

# A claim no check settled within this long was cut off (its check died around the post): it
# counts as perhaps posted. Well above the bridge client's 7 s and the relay's 10 s bounds.
STALE_CLAIM = timedelta(minutes=2)


class AlertsTurn:
    """One turn's statements, inside its transaction."""

    def __init__(self, conn: psycopg.Connection[Any], db: Database) -> None:
        self._conn, self._db = conn, db

    def _q(self, name: str, **params: object) -> psycopg.Cursor[Any]:
        return self._conn.execute(self._db.query(f"alerts.{name}"), params)

    def known(self) -> dict[Incident, Known]:
        return {
            Incident(r[0]): Known(
                kind=Incident(r[0]),
                detail=r[1],
                opened_at=r[2],
                opened_via=tuple(r[3]),
                resolved_at=r[4],
                resolved_via=tuple(r[5]),
                opening=tuple(r[6]),
                recovering=tuple(r[7]),
            )
            for r in self._q("incidents").fetchall()
        }

    def settle_stale(self) -> None:
        self._q("settle_stale", stale=STALE_CLAIM)

    def apply(self, change: IncidentChange, kind: Incident, detail: str) -> None:
        self._q(change.value, kind=kind.value, detail=detail)

    def claim(self, message: Message) -> None:
        name = "claim_recovery" if message.recovery else "claim_alert"
        self._q(name, kind=message.kind.value, channel=message.channel)

    def settle(
        self, claim: ClaimedAlert, delivery: Delivery, detail: str, status: int | None
    ) -> None:
        """Once: a post certainly not made is due again at the next check; one that may have
        been made (UNKNOWN) counts as carried, never repeated."""
        message = claim.message
        name = "settle_recovery" if message.recovery else "settle_alert"
        carried = not delivery.retry_is_safe
        self._q(name, kind=message.kind.value, channel=message.channel, carried=carried)

    def close(self, kind: Incident) -> None:
        self._q("close", kind=kind.value)


class AlertsBook:
    """One environment's incidents on one connection; each turn() a transaction of its own.
    The alerts' claim store (core/ports.ClaimStore): each settle a turn of its own."""

    def __init__(self, conn: psycopg.Connection[Any], db: Database) -> None:
        self._conn, self._db = conn, db

    def sent_alike(self, claim: ClaimedAlert, since: datetime) -> int:
        """None: an alert's text names its incident and when it began, no other is alike."""
        return 0

    def settle(
        self, claim: ClaimedAlert, delivery: Delivery, detail: str, status: int | None
    ) -> None:
        with self.turn() as turn:
            turn.settle(claim, delivery, detail, status)

    @contextmanager
    def turn(self) -> Iterator[AlertsTurn]:
        """A transaction holding the environment's alerts lock, committed at the end."""
        with self._conn.transaction():
            self._conn.execute(self._db.query("alerts.lock"))
            yield AlertsTurn(self._conn, self._db)


@contextmanager
def book(db: Database) -> Iterator[AlertsBook]:
    """The environment's incidents, on a connection closed after the check."""
    with db.session("alerts") as conn:
        yield AlertsBook(conn, db)
