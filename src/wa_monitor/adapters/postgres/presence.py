"""Who has a review open right now: the marks a reviewer's page writes when it opens a review
and renews while it stays open (sql/presence.sql). A mark older than two minutes means nothing,
so a closed laptop's mark expires on its own. A mark never blocks anything: two reviewers may
still open and save the same review, and the review's version decides whose save stands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from wa_monitor.adapters.postgres.db import Connection, Database

# How often a page renews its mark; a mark not renewed for two minutes (the queries') is gone.
RENEW_SECONDS = 45


@dataclass(frozen=True, slots=True)
class Presence:
    """A reviewer who has the review open, and when their page last said so."""

    username: str
    seen_at: datetime


def mark(conn: Connection, db: Database, review_id: UUID, username: str) -> None:
    """`username` has `review_id` open now (and the marks nobody renewed are dropped)."""
    conn.execute(db.query("presence.forget_expired"))
    conn.execute(db.query("presence.mark"), {"review": review_id, "username": username})


def leave(conn: Connection, db: Database, review_id: UUID, username: str) -> None:
    """`username` closed `review_id`."""
    conn.execute(db.query("presence.leave"), {"review": review_id, "username": username})


def present(
    conn: Connection, db: Database, review_ids: Iterable[UUID]
) -> dict[UUID, list[Presence]]:
    """Who has each of `review_ids` open now, the most recent first (reviews nobody has open
    are absent)."""
    ids = list(review_ids)
    found: dict[UUID, list[Presence]] = {}
    if not ids:
        return found
    for review_id, username, seen_at in conn.execute(
        db.query("presence.present"), {"reviews": ids}
    ):
        found.setdefault(review_id, []).append(Presence(username, seen_at))
    return found
