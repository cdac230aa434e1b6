"""Writes reviews to PostgreSQL: one environment's schema, one long-lived connection."""

from __future__ import annotations

import json
import select
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC
from typing import Any

import psycopg
from psycopg import pq

from wa_monitor.adapters.postgres.db import (
    Database,
    LockBusy,
    StandbyLock,
    StoreUnavailable,
    latest_version,
    migrations,
)
from wa_monitor.core.photos import Photo, PhotoWindow
from wa_monitor.core.ports import Planner
from wa_monitor.core.records import (
    NO_LISTS,
    START,
    BridgePosition,
    Flaw,
    InvalidSubmission,
    NewReview,
    PhotoRows,
    Plan,
    PlanLists,
    Refold,
    Reply,
    Resubmission,
    ReviewState,
    Sighting,
    Skip,
)
from wa_monitor.core.reviews import mark_taken
from wa_monitor.settings import SINGLE_BRIDGE

# The monitor's note on a review it created, in its own column (monitor_note, migration 0018):
# the reviewer's comment is theirs alone, and a save never replaces this.
MONITOR_NOTE = "Created from WhatsApp message in {project} group"


class Store:
    """One environment's reviews, ledger and cursor in PostgreSQL."""

    def __init__(
        self,
        db: Database,
        *,
        purpose: str = "",
        exclusive: bool = False,
        connect_timeout: int = 10,
        validating: frozenset[str] = frozenset(),
        photo_window: PhotoWindow | None = None,
        bridge: str = SINGLE_BRIDGE,
        other_bridges: bool = False,
    ) -> None:
        self.db = db
        # The bridge this store reads for: its cursor row, its election.
        self.bridge = bridge
        # Other bridges deliver the same messages: a batch whose messages and photos another
        # bridge's monitor has applied already is only a new position (one look, no batch).
        self.other_bridges = other_bridges
        # Photos on: each batch records its photos and drop messages and ties them to drops.
        self.photo_window = photo_window
        # Projects whose sightings are looked up in the plan lists, in each batch's transaction.
        self.validating = validating
        self._purpose = purpose
        self._exclusive = exclusive
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._election: psycopg.Connection[Any] | None = None  # holds the instance row

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            if not self._exclusive or self._still_elected():
                return self._conn
            self.close()  # the election's link is gone, and the lock with it: stand again
        self._conn = None
        if self._exclusive:
            self._elect()  # a new link may mean a lost election: stand again
        conn = self._open(self._purpose)
        try:
            if self._exclusive:
                conn.execute(self.db.query("queries.daemon_session"))
        except psycopg.Error as exc:  # e.g. the link lost right after connecting
            conn.close()
            raise self.db.error(exc) from None
        self._conn = conn
        return conn

    def _open(self, purpose: str) -> psycopg.Connection[Any]:
        return self.db.connect(purpose, connect_timeout=self._connect_timeout)

    def _elect(self) -> None:
        """Be the one monitor of this bridge: hold the environment's instance table, on a
        connection of its own that keeps the transaction open while the monitor runs, and be
        its bridge's named holder (Database.hold_bridge: no role of another environment can
        hold it or make this one wait); StandbyLock if a live session of another monitor of
        this bridge (or of a release before several bridges) holds it."""
        if self._election is not None:
            self._election.close()
            self._election = None
        conn = self._open("instance")
        try:
            self.db.hold_bridge(conn, self.bridge)
        except LockBusy as busy:
            conn.close()
            raise StandbyLock(
                f"another wa-monitor is running for schema {self.db.schema!r} "
                f"bridge {self.bridge!r}{busy.who()}"
            ) from None
        except BaseException:
            conn.close()
            raise
        self._election = conn

    def _still_elected(self) -> bool:
        """Whether the election's connection (and so the lock) is still there: a look at its
        socket, no round trip. A server that ended the session (pg_terminate_backend, a
        restart) has sent its goodbye, or closed the socket, which makes it readable."""
        conn = self._election
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            for _ in range(3):  # an idle session has nothing to say but a setting's new value
                readable, _, _ = select.select([conn.fileno()], [], [], 0)
                if not readable:
                    return True
                conn.pgconn.consume_input()  # the end of the stream raises
                if conn.pgconn.status != pq.ConnStatus.OK:
                    return False
        except (psycopg.Error, OSError, ValueError):
            return False
        return False  # still readable after reading: the other end has closed it

    def close(self) -> None:
        for conn in (self._conn, self._election):
            if conn is not None:
                conn.close()
        self._conn = self._election = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction; driver errors come out translated, and a broken link is dropped."""
        conn = self._connect()
        try:
            with conn.transaction():
                yield conn
        except psycopg.Error as exc:
            error = self.db.error(exc)
            if isinstance(error, StoreUnavailable) or conn.broken:
                self.close()
            raise error from None

    # -- schema ------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Create the schema and bring it to the latest version; return the versions applied."""
        applied: list[int] = []
        with self._transaction() as conn:
            if self.db.version(conn) == latest_version() and {
                r[0] for r in conn.execute(self.db.query("queries.applied_versions"))
            } >= {m.version for m in migrations()}:
                # Nothing to create: a service role without CREATE may run this too. (A version
                # missing below the latest, as a restored or hand-mended schema can have, is
                # applied below.)
                return applied
            db = self.db
            conn.execute(db.query("queries.migration_lock"), {"schema": db.schema})
            conn.execute(db.query("queries.create_schema"))
            conn.execute(db.query("queries.create_migrations_table"))
            done = {r[0] for r in conn.execute(db.query("queries.applied_versions"))}
            for m in migrations():
                if m.version in done:
                    continue
                conn.execute(db.compose(m.text))
                record = db.query("queries.record_migration")
                conn.execute(record, {"version": m.version, "name": m.name})
                applied.append(m.version)
        return applied

    def require_migrated(self) -> int:
        """The current version, or NotMigrated with the command that fixes it."""
        with self._transaction() as conn:
            return self.db.require_current(conn)

    # -- the work ----------------------------------------------------------------------------

    def load_position(self) -> BridgePosition:
        with self._transaction() as conn:
            row = conn.execute(
                self.db.query("queries.load_position"), {"bridge": self.bridge}
            ).fetchone()
        if row is None:
            return START
        rowid, chat, mid, file, groups, fingerprint, newest_at = row
        anchor = (str(chat), str(mid)) if chat is not None and mid is not None else None
        return BridgePosition(
            rowid=int(rowid),
            anchor=anchor,
            file_id=str(file),
            groups=frozenset(groups),
            fingerprint=fingerprint or "",
            newest_at=newest_at,
        )

    def apply(
        self,
        found: Sequence[Sighting],
        position: BridgePosition,
        planner: Planner,
        photos: Sequence[Photo] = (),
        plain: PhotoRows | None = None,
    ) -> tuple[int, Plan]:
        """Apply a batch in one transaction: ledger, reviews and position commit together.

        Sightings whose message is already in the ledger are left out (a replay, or a message
        the bridge re-inserted). Returns how many were left out, and the plan that was written.
        """
        applying = self.start(found, position, photos, plain)
        applying.plan(planner)
        return applying.finish()

    def start(
        self,
        found: Sequence[Sighting],
        position: BridgePosition,
        photos: Sequence[Photo] = (),
        plain: PhotoRows | None = None,
    ) -> PipelinedBatch | _Known:
        """Begin applying a batch and return at once: `apply` in three steps, so that the
        caller can work while the database does (see PipelinedBatch)."""
        if self.other_bridges and self._all_known(found, photos, plain):
            return _Known(self, len(found), position)
        return PipelinedBatch(
            self.db,
            self._connect(),
            found,
            position,
            validating=self.validating,
            close=self.close,
            photos=photos,
            plain=plain,
            photo_window=self.photo_window,
            bridge=self.bridge,
        )

    def _all_known(
        self, found: Sequence[Sighting], photos: Sequence[Photo], plain: PhotoRows | None
    ) -> bool:
        """Whether every message and photo of the batch is applied already (by another
        bridge's monitor): then the batch changes nothing but this bridge's position."""
        messages = sorted({(s.chat_jid, s.message_id) for s in found})
        media = sorted({(p.chat_jid, p.message_id): p.sent_at for p in photos}.items())
        window = self.photo_window
        with self._transaction() as conn:
            row = conn.execute(
                self.db.query("queries.count_known"),
                {
                    "chats": [m[0] for m in messages],
                    "ids": [m[1] for m in messages],
                    "photo_chats": [k[0] for k, _ in media],
                    "photo_ids": [k[1] for k, _ in media],
                    "photo_at": [at for _, at in media],
                    "photos": window is not None,
                    # the waiting rows' bins (photos.sql, record_photos)
                    "stride": (window or PhotoWindow()).stride,
                    **_plain_params(plain),
                },
            ).fetchone()
        known, known_photos = row if row else (0, 0)
        all_photos = len(media) + (sum(s.rows for s in plain.recorded) if plain else 0)
        return known == len(messages) and (self.photo_window is None or known_photos == all_photos)

    def save_position(self, position: BridgePosition) -> None:
        """Save the position alone (a batch with nothing to write)."""
        with self._transaction() as conn:
            _write_position(self.db, conn, position, self.bridge)

    def record_skips(self, skipped: Sequence[Skip]) -> None:
        """Record skipped drop messages (wa_monitor_skipped), once each: a rescan adds none."""
        with self._transaction() as conn:
            conn.execute(
                self.db.query("queries.record_skips"),
                {
                    "chats": [s.chat_jid for s in skipped],
                    "ids": [s.message_id for s in skipped],
                    "senders": [s.phone for s in skipped],
                    "reasons": [s.reason.name.lower() for s in skipped],
                    "sent": [s.sent_at for s in skipped],
                },
            )

    def refuse(self, sighting: Sighting, reason: str, position: BridgePosition | None) -> None:
        """Record a message the database refused (wa_monitor_flawed_rows, flaw 'refused'), and
        save `position` if given, in one transaction. It is not in the ledger: a later read of
        it (a rescan) tries it again."""
        refused = replace(sighting, flaw=Flaw.REFUSED)
        with self._transaction() as conn:
            _write_flawed(self.db, conn, [refused], detail=reason[:1000])
            if position is not None:
                _write_position(self.db, conn, position, self.bridge)


class _Known:
    """A batch another bridge's monitor has applied already: its plan is nothing, its writes
    the position alone (BatchWrite's two steps, for the loop)."""

    def __init__(self, store: Store, replays: int, position: BridgePosition) -> None:
        self._store, self._replays, self._position = store, replays, position
        self._plan: Plan | None = None

    def plan(self, planner: Planner) -> None:
        self._plan = planner([], {}, NO_LISTS)

    def finish(self) -> tuple[int, Plan]:
        if self._plan is None:
            raise RuntimeError("finish() called before plan()")
        self._store.save_position(self._position)
        return self._replays, self._plan


def _write_position(
    db: Database, conn: psycopg.Connection[Any], position: BridgePosition, bridge: str
) -> None:
    anchor_chat, anchor_id = position.anchor or (None, None)
    conn.execute(
        db.query("queries.save_position"),
        {
            "bridge": bridge,
            "newest_at": position.newest_at,
            "rowid": position.rowid,
            "anchor_chat": anchor_chat,
            "anchor_id": anchor_id,
            "file": position.file_id,
            "groups": sorted(position.groups),
            "fingerprint": position.fingerprint or None,
        },
    )


def _write_flawed(
    db: Database,
    conn: psycopg.Connection[Any],
    flawed: Sequence[Sighting],
    detail: str | None = None,
) -> None:
    conn.execute(
        db.query("queries.record_flawed"),
        {
            "chats": [s.chat_jid for s in flawed],
            "ids": [s.message_id for s in flawed],
            "rowids": [s.rowid for s in flawed],
            "flaws": [s.flaw.value if s.flaw else "" for s in flawed],
            "times": [s.bridge_time for s in flawed],
            "details": [detail for _ in flawed],
        },
    )


def _photo_row(p: Photo) -> tuple[object, ...]:
    """A photo as photos.record_photos reads it from its JSON array."""
    sha = p.media.file_sha256
    return (
        p.chat_jid,
        p.message_id,
        p.rowid,
        p.sender,
        # In UTC: an offset Python reads (+16:00) can be one PostgreSQL refuses as text.
        p.sent_at.astimezone(UTC).isoformat(),
        p.media.media_type,
        p.media.filename,
        None if sha is None else sha.hex(),
        p.media.file_length,
        p.caption_drop,
    )


def _plain_params(plain: PhotoRows | None) -> dict[str, object]:
    """A batch's plain photo rows as photos.record_photos (and count_known) take them: their
    JSON text as the bridge made it, the LIDs to resolve and the senders to leave out."""
    if plain is None:
        return {"plain": "[]", "lids": [], "phones": [], "skip_chats": [], "skip_senders": []}
    lids = {s.sender_id: s.phone for s in plain.senders if s.phone != s.sender_id}
    return {
        "plain": plain.payload,
        "lids": list(lids),
        "phones": list(lids.values()),
        "skip_chats": [c for c, _ in plain.skipped],
        "skip_senders": [s for _, s in plain.skipped],
    }


class PipelinedBatch:
    """One batch's transaction in flight, in psycopg's pipeline mode.

    `Store.start` opens it and sends the ledger claim and the row locks; `plan` waits for
    their answers, plans, and sends the writes, the position and COMMIT; `finish` waits for
    the COMMIT. Between the calls the database works while the caller does not wait: the loop
    writes the previous batch's log lines during the first step and reads the next batch from
    the bridge during the second. It is still one transaction: nothing is committed, and no
    line logged, before `finish` returns. Any failure closes the connection and is raised,
    translated, from the step that sees it (`close`: the store's, which drops the connection).
    """

    def __init__(
        self,
        db: Database,
        conn: psycopg.Connection[Any],
        found: Sequence[Sighting],
        position: BridgePosition,
        *,
        validating: frozenset[str],
        close: Callable[[], None],
        photos: Sequence[Photo] = (),
        plain: PhotoRows | None = None,
        photo_window: PhotoWindow | None = None,
        bridge: str = SINGLE_BRIDGE,
    ) -> None:
        self._db, self._conn, self._found, self._position = db, conn, found, position
        self._bridge = bridge
        self._photo_window = photo_window
        self._validating, self._close = validating, close
        self._plan: Plan | None = None
        self._fresh = 0
        self._inserted: psycopg.Cursor[Any] | None = None
        self._lists: psycopg.Cursor[Any] | None = None
        self._pipeline = conn.pipeline()
        with self._failing_closes():
            self._pipeline.__enter__()  # left in finish(), or after the connection is closed
            conn.execute("BEGIN")
            conn.execute(db.query("queries.batch_lock"))
            self._claimed = self._send_claim(found)
            # Every drop of the batch, those of replayed messages too, so that the locks go in
            # the claim's round trip. Locking a few more rows until COMMIT is harmless.
            self._locked = conn.cursor()
            self._locked.execute(
                db.query("queries.lock_reviews"), {"drops": sorted({s.drop_number for s in found})}
            )
            self._lists = self._send_lookup(found)
            if photo_window is not None:
                self._send_photos(found, photos, plain, photo_window)

    @contextmanager
    def _failing_closes(self) -> Iterator[None]:
        """A failure closes the connection (it may be mid-pipeline, its transaction aborted),
        then leaves pipeline mode: with the link closed there is nothing to wait for, and a
        pipeline left open would write 'error ignored terminating' on stderr when it is
        collected. A driver error comes out translated."""
        try:
            yield
        except BaseException as exc:
            self._close()
            with suppress(Exception):
                self._pipeline.__exit__(None, None, None)
            if isinstance(exc, psycopg.Error):
                raise self._db.error(exc) from None
            raise

    def _send_claim(self, found: Sequence[Sighting]) -> psycopg.Cursor[Any]:
        # A message's rowid stands for it within a batch (one file, one snapshot), and its
        # sightings come one after the other, in bridge order.
        firsts: list[Sighting] = []
        drops: list[str] = []
        for s in found:
            if firsts and firsts[-1].rowid == s.rowid:
                drops[-1] += " " + s.drop_number
            else:
                firsts.append(s)
                drops.append(s.drop_number)
        cur = self._conn.cursor()
        cur.execute(
            self._db.query("queries.claim_messages"),
            {
                "chats": [s.chat_jid for s in firsts],
                "ids": [s.message_id for s in firsts],
                "rowids": [s.rowid for s in firsts],
                "drops": drops,
                "sent": [s.sent_at for s in firsts],
                "projects": [s.project for s in firsts],
                "senders": [s.phone for s in firsts],
                "names": [s.user_name for s in firsts],
                "resubmit": [s.says_resubmitted for s in firsts],
                "bridge": self._bridge,
            },
        )
        if flawed := [s for s in firsts if s.flaw is not None]:
            _write_flawed(self._db, self._conn, flawed)
        return cur

    def _send_lookup(self, found: Sequence[Sighting]) -> psycopg.Cursor[Any] | None:
        """The plan lists' answer for the batch's validated sightings, in the same round trip."""
        validating = self._validating
        if not validating:
            return None
        pairs = sorted({(s.project, s.drop_number) for s in found if s.project in validating})
        if not pairs:
            return None
        cur = self._conn.cursor()
        cur.execute(
            self._db.query("queries.lookup_plan_lists"),
            {
                "projects": [p for p, _ in pairs],
                "drops": [d for _, d in pairs],
                "validating": sorted({p for p, _ in pairs}),
            },
        )
        return cur

    def _send_photos(
        self,
        found: Sequence[Sighting],
        photos: Sequence[Photo],
        plain: PhotoRows | None,
        window: PhotoWindow,
    ) -> None:
        """Record the batch's drop messages, then its photos, each tied to its drop as it is
        inserted, and tie again the recorded photos near the batch's drop messages: all in the
        database, so that no photo or drop message comes back to be tied here, and the plain
        photo rows are not even looked at here (the database unpacks them)."""
        posts: dict[tuple[str, str], Sighting] = {}
        for s in found:  # a message's first drop stands for it
            posts.setdefault((s.chat_jid, s.message_id), s)
        if not photos and not posts and plain is None:
            return
        db, conn = self._db, self._conn
        chats = [s.chat_jid for s in posts.values()]
        senders = [s.phone for s in posts.values()]
        at = [s.sent_at for s in posts.values()]
        if posts:
            conn.execute(
                db.query("photos.record_drop_posts"),
                {
                    "chats": chats,
                    "ids": [s.message_id for s in posts.values()],
                    "senders": senders,
                    "at": at,
                    "drops": [s.drop_number for s in posts.values()],
                },
            )
        # The waiting photos parked longer ago than the window's `waiting` are let go (an
        # index range, empty but once a day or so), in the batch's pipeline.
        conn.execute(db.query("photos.forget_waiting"), {"waiting": window.waiting})
        conn.execute(
            db.query("photos.record_photos"),
            {
                "rows": json.dumps([_photo_row(p) for p in photos]),
                **_plain_params(plain),
                "post_chats": chats,
                "post_senders": senders,
                "post_at": at,
                "before": window.before,
                "after": window.after,
                "stride": window.stride,
            },
        )

    def _fetch_lists(self) -> PlanLists:
        if self._lists is None:
            return NO_LISTS
        listed: set[tuple[str, str]] = set()
        with_list: set[str] = set()
        for project, drop in self._lists.fetchall():
            if drop is None:
                with_list.add(project)
            else:
                listed.add((project, drop))
        return PlanLists(listed=frozenset(listed), with_list=frozenset(with_list))

    def plan(self, planner: Planner) -> None:
        """Wait for the claim and the locks, plan the batch, and send its writes and COMMIT."""
        with self._failing_closes():
            claimed = {r[0] for r in self._claimed.fetchall()}
            fresh = [s for s in self._found if s.rowid in claimed]
            existing: dict[str, ReviewState] = {}
            for rid, drop, last, feedback, resubmitted in self._locked.fetchall():
                # Rows come oldest first: the latest review of a drop is the one that counts.
                existing[drop] = ReviewState(
                    id=rid,
                    drop_number=drop,
                    last_submitted_at=last,
                    feedback_sent=feedback,
                    resubmitted=resubmitted,
                )
            late = {
                s.drop_number: s
                for s in fresh
                if (known := existing.get(s.drop_number)) is not None
                and s.sent_at < known.last_submitted_at
            }
            if late:
                existing = self._with_history(existing, late, fresh)
            self._fresh = len(fresh)
            plan = self._plan = planner(fresh, existing, self._fetch_lists())
            if plan.new_reviews:
                self._inserted = self._send_inserts(plan.new_reviews, plan.flagged)
            if plan.resubmissions:
                self._send_resubmissions(plan.resubmissions)
            if plan.corrections:
                self._send_corrections(plan.corrections)
            if plan.invalid:
                self._send_invalid(plan.invalid)
            if plan.replies:
                self._send_replies(plan.replies)
            _write_position(self._db, self._conn, self._position, self._bridge)
            self._conn.execute("COMMIT")

    def finish(self) -> tuple[int, Plan]:
        """Wait for the COMMIT; return how many sightings were replays, and the plan written."""
        if self._plan is None:
            raise RuntimeError("PipelinedBatch.finish() called before plan()")
        with self._failing_closes():
            self._pipeline.__exit__(None, None, None)  # a sync: every answer, or the error
            taken: set[str] = set()
            if self._inserted is not None:
                inserted = {str(r[0]) for r in self._inserted.fetchall()}
                taken = {r.drop_number for r in self._plan.new_reviews} - inserted
        plan = mark_taken(self._plan, taken) if taken else self._plan
        return len(self._found) - self._fresh, plan

    def _send_inserts(
        self, new: Sequence[NewReview], flagged: frozenset[tuple[str, str]]
    ) -> psycopg.Cursor[Any]:
        cur = self._conn.cursor()
        cur.execute(
            self._db.query("queries.insert_reviews"),
            {
                "drops": [r.drop_number for r in new],
                "dates": [r.review_date for r in new],
                "projects": [r.project[:100] for r in new],
                "names": [r.user_name[:255] for r in new],
                "phones": [r.submitted_by[:50] for r in new],
                "first": [r.whatsapp_message_date for r in new],
                "last": [r.last_submitted_at for r in new],
                "resubmitted": [r.resubmitted for r in new],
                "notes": [MONITOR_NOTE.format(project=r.project) for r in new],
                "flagged": [(r.project, r.drop_number) in flagged for r in new],
            },
        )
        return cur

    def _with_history(
        self,
        existing: dict[str, ReviewState],
        late: Mapping[str, Sighting],
        fresh: Sequence[Sighting],
    ) -> dict[str, ReviewState]:
        """`existing`, the late drops' reviews with their applied messages (one round trip,
        only when a batch holds a message older than its drop's last submission). A drop with
        a ledger row from before the ledger kept senders gets none: its late message stays
        stale, as it was."""
        rows = self._conn.execute(
            self._db.query("queries.drop_history"), {"drops": sorted(late)}
        ).fetchall()
        history: dict[str, list[Sighting]] = {}
        incomplete: set[str] = set()
        # The batch's new messages: the planner has them (not a replayed one: it is history).
        batch = {(s.chat_jid, s.message_id) for s in fresh}
        for drop, chat, mid, at, project, sender, name, resubmit in rows:
            if (chat, mid) in batch:
                continue
            if project is None or sender is None or resubmit is None:
                incomplete.add(drop)
                continue
            history.setdefault(drop, []).append(
                replace(
                    late[drop],
                    chat_jid=chat,
                    message_id=mid,
                    rowid=0,
                    project=project,
                    phone=sender,
                    user_name=name or sender,
                    sent_at=at,
                    says_resubmitted=resubmit,
                    flaw=None,
                    bridge_time=None,
                )
            )
        return existing | {
            drop: replace(existing[drop], history=tuple(history.get(drop, ())))
            for drop in late
            if drop not in incomplete
        }

    def _send_corrections(self, corrections: Sequence[Refold]) -> None:
        self._conn.execute(
            self._db.query("queries.correct_reviews"),
            {
                "ids": [c.review_id for c in corrections],
                "first": [c.whatsapp_message_date for c in corrections],
                "days": [c.review_date for c in corrections],
                "resubmitted": [c.resubmitted for c in corrections],
                "names": [c.who[0][:255] if c.who else None for c in corrections],
                "phones": [c.who[1][:50] if c.who else None for c in corrections],
                "last": [c.who[2] if c.who else None for c in corrections],
                "reopen": [c.reopen for c in corrections],
                "projects": [c.project[:100] for c in corrections],
                "notes": [MONITOR_NOTE.format(project=c.project) for c in corrections],
            },
        )

    def _send_invalid(self, invalid: Sequence[InvalidSubmission]) -> None:
        self._conn.execute(
            self._db.query("queries.insert_invalid"),
            {
                "chats": [i.sighting.chat_jid for i in invalid],
                "ids": [i.sighting.message_id for i in invalid],
                "drops": [i.sighting.drop_number for i in invalid],
                "projects": [i.sighting.project[:100] for i in invalid],
                "phones": [i.sighting.phone[:50] for i in invalid],
                "names": [i.sighting.user_name[:255] for i in invalid],
                "at": [i.sighting.sent_at for i in invalid],
                "reasons": [i.reason for i in invalid],
                "actions": [i.action for i in invalid],
            },
        )

    def _send_replies(self, replies: Sequence[Reply]) -> None:
        """The outbox rows: posted by the sender only once this transaction has committed."""
        self._conn.execute(
            self._db.query("queries.insert_replies"),
            {
                "kinds": [r.kind.value for r in replies],
                "chats": [r.sighting.chat_jid for r in replies],
                "ids": [r.sighting.message_id for r in replies],
                "drops": [r.sighting.drop_number for r in replies],
                "projects": [r.sighting.project[:100] for r in replies],
                "texts": [r.text for r in replies],
                "at": [r.sighting.sent_at for r in replies],
                "senders": [r.sighting.phone for r in replies],
            },
        )

    def _send_resubmissions(self, subs: Sequence[Resubmission]) -> None:
        self._conn.execute(
            self._db.query("queries.resubmit_reviews"),
            {
                "ids": [r.review_id for r in subs],
                "phones": [r.submitted_by[:50] for r in subs],
                "names": [r.user_name[:255] for r in subs],
                "at": [r.last_submitted_at for r in subs],
            },
        )
