"""Writes reviews to PostgreSQL: one environment's schema, one long-lived connection."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from wa_monitor.adapters.logs import redact
from wa_monitor.core.records import (
    START,
    BridgePosition,
    NewReview,
    Outcome,
    Plan,
    Resubmission,
    ReviewState,
    Sighting,
)
from wa_monitor.errors import FatalError, NotMigrated, Standby, TransientError

TABLES = {
    "reviews": "qa_photo_reviews",
    "ledger": "wa_monitor_ledger",
    "cursor": "wa_monitor_cursor",
    "migrations": "wa_monitor_migrations",
}
COMMENT = "Created from WhatsApp message in {project} group"
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# A dashboard transaction holding a review row must not stall the monitor for ever.
_SESSION = "SET lock_timeout = '30s'; SET idle_in_transaction_session_timeout = '5min'"


class StoreUnavailable(TransientError):
    """The database cannot be reached or refused the work for now."""


class StandbyLock(Standby):
    """Another wa-monitor process holds this environment's lock: wait as a standby."""


class StoreError(FatalError):
    """The database said no in a way that retrying will not change."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str


@cache
def named_queries(file: str = "queries.sql") -> dict[str, str]:
    """The `-- name: x` blocks of one of our .sql files (queries.sql unless told)."""
    text = resources.files(__package__).joinpath(f"sql/{file}").read_text("utf-8")
    queries: dict[str, str] = {}
    for block in text.split("-- name: ")[1:]:
        name, _, body = block.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


def migrations() -> list[Migration]:
    folder = resources.files(__package__).joinpath("sql/migrations")
    found = []
    for entry in folder.iterdir():
        if m := _MIGRATION_FILE.match(entry.name):
            found.append(Migration(int(m[1]), m[2], entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    return migrations()[-1].version


def schema_sql() -> str:
    return resources.files(__package__).joinpath("sql/schema.sql").read_text("utf-8")


def compose(text: str, schema: str, **extra: sql.Composable) -> sql.Composed:
    """SQL text with its {placeholders} filled by identifiers of `schema`, never by strings.

    `extra` fills further placeholders with composables the caller built from identifiers.
    """
    names: dict[str, sql.Composable] = {
        key: sql.Identifier(schema, table) for key, table in TABLES.items()
    }
    names["schema"] = sql.Identifier(schema)
    names.update(extra)
    return sql.SQL(text).format(**names)  # text comes from our packaged .sql files


def schema_version(conn: psycopg.Connection[Any], schema: str) -> int | None:
    """`schema`'s migration version on `conn`; None when the schema or its tables do not exist."""
    queries = named_queries()
    row = conn.execute(compose(queries["schema_exists"], schema), {"schema": schema}).fetchone()
    if not row or not row[0]:
        return None
    exists = compose(queries["migrations_table_exists"], schema)
    row = conn.execute(exists, {"schema": schema}).fetchone()
    if not row or not row[0]:
        return None
    versions = [r[0] for r in conn.execute(compose(queries["applied_versions"], schema))]
    return max(versions) if versions else None


def describe(exc: BaseException) -> str:
    """A driver error as one line without secrets."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)


def translate(exc: psycopg.Error, *, schema: str, env: str) -> Exception:
    """The driver's error as ours: transient (retry), not migrated, or fatal."""
    fix = f"run `wa-monitor schema migrate --env {env}`"
    if isinstance(exc, pg_errors.InvalidSchemaName | pg_errors.UndefinedTable):
        return NotMigrated(f"schema {schema!r} is missing or not migrated ({describe(exc)}): {fix}")
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return StoreError(
            f"the database role may not do this in schema {schema!r}: {describe(exc)} "
            f"(see `wa-monitor schema grant --env {env} --print`)"
        )
    if isinstance(
        exc,
        psycopg.OperationalError
        | pg_errors.SerializationFailure
        | pg_errors.DeadlockDetected
        | pg_errors.LockNotAvailable
        | pg_errors.QueryCanceled
        | pg_errors.CannotConnectNow
        | pg_errors.AdminShutdown,
    ):
        return StoreUnavailable(f"database unavailable: {describe(exc)}")
    if isinstance(exc, psycopg.InterfaceError):
        return StoreUnavailable(f"database connection lost: {describe(exc)}")
    return StoreError(f"database error: {describe(exc)}")


class Store:
    """One environment's reviews, ledger and cursor in PostgreSQL."""

    def __init__(
        self,
        url: str,
        *,
        schema: str,
        env: str,
        application_name: str = "wa-monitor",
        exclusive: bool = False,
        connect_timeout: int = 10,
    ) -> None:
        self._url = url
        self.schema = schema
        self.env = env
        self._app = application_name
        self._exclusive = exclusive
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._queries = {name: compose(q, schema) for name, q in named_queries().items()}

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._conn = None
        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                application_name=self._app,
                connect_timeout=self._connect_timeout,
                # Notice a dead peer in about a minute, not after the kernel's two hours:
                # keepalives when the link is idle, and a bound on unacknowledged data when a
                # query or COMMIT is in flight (keepalives do not probe then).
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
                tcp_user_timeout=60_000,
            )
        except psycopg.Error as exc:
            raise translate(exc, schema=self.schema, env=self.env) from None
        try:
            conn.execute(_SESSION)
            if self._exclusive:
                self._take_instance_lock(conn)
        except psycopg.Error as exc:  # e.g. the link lost right after connecting
            conn.close()
            raise translate(exc, schema=self.schema, env=self.env) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _take_instance_lock(self, conn: psycopg.Connection[Any]) -> None:
        params = {"schema": self.schema}
        row = conn.execute(self._queries["instance_lock"], params).fetchone()
        if row and row[0]:
            return
        holder = conn.execute(self._queries["instance_lock_holder"], params).fetchone()
        who = (
            f" (backend pid {holder[0]}, {holder[1] or 'no name'}, from {holder[2]})"
            if holder
            else ""
        )
        raise StandbyLock(f"another wa-monitor is running for schema {self.schema!r}{who}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
            error = translate(exc, schema=self.schema, env=self.env)
            if isinstance(error, StoreUnavailable) or conn.broken:
                self.close()
            raise error from None

    def _q(self, name: str) -> sql.Composed:
        return self._queries[name]

    # -- schema ------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Create the schema and bring it to the latest version; return the versions applied."""
        applied: list[int] = []
        with self._transaction() as conn:
            if schema_version(conn, self.schema) == latest_version():
                # Nothing to create: a service role without CREATE may run this too.
                return applied
            conn.execute(self._q("migration_lock"), {"schema": self.schema})
            conn.execute(compose("CREATE SCHEMA IF NOT EXISTS {schema}", self.schema))
            conn.execute(self._q("create_migrations_table"))
            done = {r[0] for r in conn.execute(self._q("applied_versions"))}
            for m in migrations():
                if m.version in done:
                    continue
                conn.execute(compose(m.text, self.schema))
                conn.execute(self._q("record_migration"), {"version": m.version, "name": m.name})
                applied.append(m.version)
        return applied

    def version(self) -> int | None:
        """The schema's migration version; None when the schema or its tables do not exist."""
        with self._transaction() as conn:
            return schema_version(conn, self.schema)

    def require_migrated(self) -> int:
        """The current version, or NotMigrated with the command that fixes it."""
        fix = f"run `wa-monitor schema migrate --env {self.env}`"
        version = self.version()
        if version is None:
            raise NotMigrated(f"schema {self.schema!r} does not exist or is not migrated: {fix}")
        latest = latest_version()
        if version < latest:
            raise NotMigrated(
                f"schema {self.schema!r} is at version {version}, not {latest}: {fix}"
            )
        if version > latest:
            raise NotMigrated(
                f"schema {self.schema!r} is at version {version}, newer than this wa-monitor "
                f"knows ({latest}): upgrade wa-monitor"
            )
        return version

    # -- the work ----------------------------------------------------------------------------

    def load_position(self) -> BridgePosition:
        with self._transaction() as conn:
            row = conn.execute(self._q("load_position")).fetchone()
        if row is None:
            return START
        rowid, chat, mid, file, groups = row
        anchor = (str(chat), str(mid)) if chat is not None and mid is not None else None
        return BridgePosition(
            rowid=int(rowid), anchor=anchor, file_id=str(file), groups=frozenset(groups)
        )

    def apply(
        self,
        found: Sequence[Sighting],
        position: BridgePosition,
        planner: Callable[[Sequence[Sighting], Mapping[str, ReviewState]], Plan],
    ) -> tuple[int, Plan]:
        """Apply a batch in one transaction: ledger, reviews and position commit together.

        Sightings whose message is already in the ledger are left out (a replay, or a message
        the bridge re-inserted). Returns how many were left out, and the plan that was written.
        """
        applying = self.start(found, position)
        applying.plan(planner)
        return applying.finish()

    def start(self, found: Sequence[Sighting], position: BridgePosition) -> PipelinedBatch:
        """Begin applying a batch and return at once: `apply` in three steps, so that the
        caller can work while the database does (see PipelinedBatch)."""
        return PipelinedBatch(self, self._connect(), found, position)

    @contextmanager
    def _closing_on_failure(self) -> Iterator[None]:
        """A step of a batch in flight: on any failure the connection is closed (it may be
        mid-pipeline, its transaction aborted), and a driver error comes out translated."""
        try:
            yield
        except psycopg.Error as exc:
            self.close()
            raise translate(exc, schema=self.schema, env=self.env) from None
        except BaseException:
            self.close()
            raise

    def _save_position(self, conn: psycopg.Connection[Any], position: BridgePosition) -> None:
        anchor_chat, anchor_id = position.anchor or (None, None)
        conn.execute(
            self._q("save_position"),
            {
                "rowid": position.rowid,
                "anchor_chat": anchor_chat,
                "anchor_id": anchor_id,
                "file": position.file_id,
                "groups": sorted(position.groups),
            },
        )

    def save_position(self, position: BridgePosition) -> None:
        """Save the position alone (a batch with nothing to write)."""
        with self._transaction() as conn:
            self._save_position(conn, position)


class PipelinedBatch:
    """One batch's transaction in flight, in psycopg's pipeline mode.

    `Store.start` opens it and sends the ledger claim and the row locks; `plan` waits for
    their answers, plans, and sends the writes, the position and COMMIT; `finish` waits for
    the COMMIT. Between the calls the database works while the caller does not wait: the loop
    writes the previous batch's log lines during the first step and reads the next batch from
    the bridge during the second. It is still one transaction: nothing is committed, and no
    line logged, before `finish` returns. Any failure closes the connection and is raised,
    translated, from the step that sees it.
    """

    def __init__(
        self,
        store: Store,
        conn: psycopg.Connection[Any],
        found: Sequence[Sighting],
        position: BridgePosition,
    ) -> None:
        self._store, self._conn, self._found, self._position = store, conn, found, position
        self._plan: Plan | None = None
        self._fresh = 0
        self._inserted: psycopg.Cursor[Any] | None = None
        self._pipeline = conn.pipeline()
        with self._failing_closes():
            self._pipeline.__enter__()  # left in finish(), or after the connection is closed
            conn.execute("BEGIN")
            self._claimed = self._send_claim(found)
            # Every drop of the batch, those of replayed messages too, so that the locks go in
            # the claim's round trip. Locking a few more rows until COMMIT is harmless.
            self._locked = conn.cursor()
            self._locked.execute(
                store._q("lock_reviews"), {"drops": sorted({s.drop_number for s in found})}
            )

    @contextmanager
    def _failing_closes(self) -> Iterator[None]:
        """A failure closes the connection (Store._closing_on_failure), then leaves pipeline
        mode: with the link closed there is nothing to wait for, and a pipeline left open
        would write 'error ignored terminating' on stderr when it is collected."""
        try:
            with self._store._closing_on_failure():
                yield
        except BaseException:
            with suppress(Exception):
                self._pipeline.__exit__(None, None, None)
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
            self._store._q("claim_messages"),
            {
                "chats": [s.chat_jid for s in firsts],
                "ids": [s.message_id for s in firsts],
                "rowids": [s.rowid for s in firsts],
                "drops": drops,
                "sent": [s.sent_at for s in firsts],
            },
        )
        return cur

    def plan(
        self, planner: Callable[[Sequence[Sighting], Mapping[str, ReviewState]], Plan]
    ) -> None:
        """Wait for the claim and the locks, plan the batch, and send its writes and COMMIT."""
        with self._failing_closes():
            claimed = {r[0] for r in self._claimed.fetchall()}
            fresh = [s for s in self._found if s.rowid in claimed]
            existing: dict[str, ReviewState] = {}
            for rid, drop, last, feedback in self._locked.fetchall():
                # Rows come oldest first: the latest review of a drop is the one that counts.
                existing[drop] = ReviewState(
                    id=rid, drop_number=drop, last_submitted_at=last, feedback_sent=feedback
                )
            self._fresh = len(fresh)
            plan = self._plan = planner(fresh, existing)
            if plan.new_reviews:
                self._inserted = self._send_inserts(plan.new_reviews)
            if plan.resubmissions:
                self._send_resubmissions(plan.resubmissions)
            self._store._save_position(self._conn, self._position)
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

    def _send_inserts(self, new: Sequence[NewReview]) -> psycopg.Cursor[Any]:
        cur = self._conn.cursor()
        cur.execute(
            self._store._q("insert_reviews"),
            {
                "drops": [r.drop_number for r in new],
                "dates": [r.review_date for r in new],
                "projects": [r.project[:100] for r in new],
                "names": [r.user_name[:255] for r in new],
                "phones": [r.submitted_by[:50] for r in new],
                "first": [r.whatsapp_message_date for r in new],
                "last": [r.last_submitted_at for r in new],
                "resubmitted": [r.resubmitted for r in new],
                "comments": [COMMENT.format(project=r.project) for r in new],
            },
        )
        return cur

    def _send_resubmissions(self, subs: Sequence[Resubmission]) -> None:
        self._conn.execute(
            self._store._q("resubmit_reviews"),
            {
                "ids": [r.review_id for r in subs],
                "phones": [r.submitted_by[:50] for r in subs],
                "names": [r.user_name[:255] for r in subs],
                "at": [r.last_submitted_at for r in subs],
            },
        )


def mark_taken(plan: Plan, taken: set[str]) -> Plan:
    """Sightings whose insert lost to a row someone else wrote for the same (drop, date)."""
    decisions = tuple(
        replace(d, outcome=Outcome.TAKEN)
        if d.outcome is Outcome.CREATED and d.sighting.drop_number in taken
        else d
        for d in plan.decisions
    )
    return replace(
        plan,
        new_reviews=tuple(r for r in plan.new_reviews if r.drop_number not in taken),
        decisions=decisions,
    )
