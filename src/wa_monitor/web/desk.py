"""The review desk: what the overview, the review list, the queue, /metrics, the review page
and a reviewer's POSTs ask of the database and of the bridge's file, as one port (`Desk`), so
their handlers get unit tests through the in-memory `FakeDesk` (tests/support/fakes.py) and
Starlette's test client.

`PgDesk` is the port on one pooled connection: each method is one adapter's call (the SQL and
the row mapping stay in adapters/postgres, the bridge's file in adapters/bridge). A page opens
one desk per request (`Site.desk()`); a reviewer's Send posts through the feedback sends' own
port instead, so no connection is held while the bridge is called."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from wa_monitor.adapters.bridge import messages_by_key
from wa_monitor.adapters.postgres import dashboard, photos, presence, reviewing, users
from wa_monitor.adapters.postgres.daily import daily_totals
from wa_monitor.adapters.postgres.dashboard import (
    DayCards,
    HistoryEntry,
    InvalidDay,
    Keyset,
    QueueCount,
    Review,
    ReviewFilter,
    ReviewPage,
)
from wa_monitor.adapters.postgres.db import Connection, Database
from wa_monitor.adapters.postgres.figures import PgFigures
from wa_monitor.adapters.postgres.photos import DropPhoto
from wa_monitor.adapters.postgres.presence import Presence
from wa_monitor.adapters.postgres.reviewing import Corrected, ReviewChange, ReviewSheet
from wa_monitor.adapters.postgres.users import User
from wa_monitor.core.feedback_claims import ChangedMeanwhile, FeedbackSend, Resolution
from wa_monitor.core.records import BridgeMessage, DailyCount
from wa_monitor.core.verdict import Verdict
from wa_monitor.services import health
from wa_monitor.services.accounts import Users
from wa_monitor.services.health import Health
from wa_monitor.settings import Settings

if TYPE_CHECKING:
    from wa_monitor.web.context import Site

MessageKey = tuple[str, str]  # (chat JID, message id)


class Desk(Protocol):
    """One request's reads and writes of reviews, sends, photos, presence and users, and the
    day's figures."""

    def day_totals(self, first: date, last: date) -> list[DailyCount]:
        """Distinct drops per (local day, project), first..last; days without drops absent."""
        ...

    def day_cards(self, day: date) -> DayCards:
        """The overview's cards of the reviews first seen on the local `day`."""
        ...

    def invalid_posts(self, start: datetime, end: datetime, *, limit: int) -> InvalidDay:
        """The invalid drop numbers posted in [start, end), newest first, at most `limit`."""
        ...

    def photo_day_counts(self, day: date) -> tuple[int, int]:
        """The day's drops' photos: (photos in all, drops with fewer than 12)."""
        ...

    def queue_counts(self, today: date) -> list[QueueCount]:
        """The reviews awaiting a verdict, per project and by age in local days."""
        ...

    def health(self, now: datetime) -> Health:
        """The environment's health as the banner and /metrics show it."""
        ...

    def user(self, user_id: int) -> User | None: ...

    def accounts(self) -> Users:
        """The accounts and login counts a login checks (services/accounts.py's port)."""
        ...

    def logged_out(self, user_id: int, epoch: int) -> None:
        """End the user's sessions of `epoch` on the server (a logout)."""
        ...

    def review(self, review_id: UUID) -> Review | None: ...

    def drop_history(self, drop_number: str) -> list[HistoryEntry]:
        """The bridge's messages that named the drop, as the ledger recorded them."""
        ...

    def messages(self, keys: Sequence[MessageKey]) -> dict[MessageKey, BridgeMessage]:
        """Those messages as the bridge still holds them (none when its file cannot be read)."""
        ...

    def sheet(self, review_id: UUID) -> ReviewSheet:
        """The review as its page edits it; ReviewNotFound when there is none."""
        ...

    def changes(self, review_id: UUID) -> tuple[ReviewChange, ...]: ...

    def sends(self, review_id: UUID) -> tuple[FeedbackSend, ...]: ...

    def who_changed(self, review_id: UUID, current: int) -> ChangedMeanwhile:
        """Who made the review's version `current`, and how."""
        ...

    def photos(self, drop_number: str, review_id: UUID | None) -> list[DropPhoto]: ...

    def photo_counts(self, drops: Sequence[str]) -> dict[str, int]: ...

    def servable(self, key: str) -> str | None:
        """The content type of the cached copies named `key`, if this environment serves them."""
        ...

    def mark_photo_step(self, review_id: UUID, photo_id: int, step: int | None, *, by: str) -> None:
        """The step (1-12) this review marks the photo as showing; None: no step."""
        ...

    def review_page(
        self,
        where: ReviewFilter,
        *,
        size: int,
        older: Keyset | None,
        newer: Keyset | None,
        oldest_first: bool = False,
    ) -> ReviewPage:
        """One page of the filtered reviews, newest first (the queue: oldest first)."""
        ...

    def neighbours(
        self, where: ReviewFilter, at: Keyset, *, oldest_first: bool
    ) -> tuple[Review | None, Review | None]: ...

    def mark_open(self, review_id: UUID, username: str) -> None: ...

    def leave(self, review_id: UUID, username: str) -> None: ...

    def present(self, review_ids: Iterable[UUID]) -> dict[UUID, list[Presence]]: ...

    def save(self, review_id: UUID, *, verdict: Verdict, version: int, by: str) -> int:
        """The verdict over the version the page showed; ChangedMeanwhile when it moved on."""
        ...

    def resolve(
        self, review_id: UUID, send_id: int, *, resolution: Resolution, by: str
    ) -> bool: ...

    def correct_drop(
        self, review_id: UUID, *, drop: str, reason: str, version: int, by: str, planned: bool
    ) -> Corrected: ...


class PgDesk:
    """The desk on one connection of the environment's database."""

    def __init__(self, conn: Connection, db: Database, settings: Settings) -> None:
        self._conn, self._db, self._settings = conn, db, settings

    def day_totals(self, first: date, last: date) -> list[DailyCount]:
        return daily_totals(self._conn, self._db, first, last, self._settings.timezone)

    def day_cards(self, day: date) -> DayCards:
        return dashboard.day_cards(self._conn, self._db, day, self._settings.timezone)

    def invalid_posts(self, start: datetime, end: datetime, *, limit: int) -> InvalidDay:
        return dashboard.invalid_posts(self._conn, self._db, start, end, limit=limit)

    def photo_day_counts(self, day: date) -> tuple[int, int]:
        return photos.day_counts(self._conn, self._db, day)

    def queue_counts(self, today: date) -> list[QueueCount]:
        return dashboard.queue_counts(self._conn, self._db, today, self._settings.timezone)

    def health(self, now: datetime) -> Health:
        return health.check(
            PgFigures(self._conn, self._db, self._settings), self._settings, now=now
        )

    def user(self, user_id: int) -> User | None:
        return users.by_id(self._conn, self._db, user_id)

    def accounts(self) -> Users:
        return users.UserBook(self._conn, self._db)

    def logged_out(self, user_id: int, epoch: int) -> None:
        users.logged_out(self._conn, self._db, user_id, epoch)

    def review(self, review_id: UUID) -> Review | None:
        return dashboard.review(self._conn, self._db, review_id)

    def drop_history(self, drop_number: str) -> list[HistoryEntry]:
        return dashboard.drop_history(self._conn, self._db, drop_number)

    def messages(self, keys: Sequence[MessageKey]) -> dict[MessageKey, BridgeMessage]:
        s = self._settings
        return messages_by_key(s.bridge_db, keys, tz=s.tz, lid_map=s.lid_map_db)

    def sheet(self, review_id: UUID) -> ReviewSheet:
        return reviewing.load(self._conn, self._db, review_id)

    def changes(self, review_id: UUID) -> tuple[ReviewChange, ...]:
        return reviewing.history(self._conn, self._db, review_id)

    def sends(self, review_id: UUID) -> tuple[FeedbackSend, ...]:
        return reviewing.sends(self._conn, self._db, review_id)

    def who_changed(self, review_id: UUID, current: int) -> ChangedMeanwhile:
        return reviewing.who_changed(self._conn, self._db, review_id, current)

    def photos(self, drop_number: str, review_id: UUID | None) -> list[DropPhoto]:
        return photos.of_drop(self._conn, self._db, drop_number, review_id)

    def photo_counts(self, drops: Sequence[str]) -> dict[str, int]:
        return photos.counts(self._conn, self._db, drops)

    def servable(self, key: str) -> str | None:
        return photos.servable(self._conn, self._db, key)

    def mark_photo_step(self, review_id: UUID, photo_id: int, step: int | None, *, by: str) -> None:
        photos.mark_step(self._conn, self._db, review_id, photo_id, step, by=by)

    def review_page(
        self,
        where: ReviewFilter,
        *,
        size: int,
        older: Keyset | None,
        newer: Keyset | None,
        oldest_first: bool = False,
    ) -> ReviewPage:
        return dashboard.review_page(
            self._conn,
            self._db,
            where,
            size=size,
            older=older,
            newer=newer,
            oldest_first=oldest_first,
        )

    def neighbours(
        self, where: ReviewFilter, at: Keyset, *, oldest_first: bool
    ) -> tuple[Review | None, Review | None]:
        return dashboard.neighbours(self._conn, self._db, where, at, oldest_first=oldest_first)

    def mark_open(self, review_id: UUID, username: str) -> None:
        presence.mark(self._conn, self._db, review_id, username)

    def leave(self, review_id: UUID, username: str) -> None:
        presence.leave(self._conn, self._db, review_id, username)

    def present(self, review_ids: Iterable[UUID]) -> dict[UUID, list[Presence]]:
        return presence.present(self._conn, self._db, review_ids)

    def save(self, review_id: UUID, *, verdict: Verdict, version: int, by: str) -> int:
        return reviewing.save(
            self._conn, self._db, review_id, verdict=verdict, version=version, by=by
        )

    def resolve(self, review_id: UUID, send_id: int, *, resolution: Resolution, by: str) -> bool:
        return reviewing.resolve(
            self._conn, self._db, review_id, send_id, resolution=resolution, by=by
        )

    def correct_drop(
        self, review_id: UUID, *, drop: str, reason: str, version: int, by: str, planned: bool
    ) -> Corrected:
        return reviewing.correct_drop(
            self._conn,
            self._db,
            review_id,
            drop=drop,
            reason=reason,
            version=version,
            by=by,
            planned=planned,
        )


@contextmanager
def pooled_desk(site: Site) -> Iterator[Desk]:
    """The desk on a connection of the site's pool, for one request."""
    with site.connection() as conn:
        yield PgDesk(conn, site.db, site.settings)
