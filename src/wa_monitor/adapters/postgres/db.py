"""The one way to PostgreSQL: `Database`, one environment's handle (its queries composed for
its schema, its connections and the web's pool, its schema's state, its table locks, driver
errors as ours), the registry of the named queries in sql/, and the database URL.

Every caller (the daemon's store, the ops commands, status, doctor, the web app) goes through
a handle, so timeouts, keepalives and error messages are the same wherever a connection is
made, and the schema is named in one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from wa_monitor.adapters import sqlfiles
from wa_monitor.adapters.logs import redact, register_secret, secrets_of_url
from wa_monitor.errors import (
    ConfigError,
    FatalError,
    NotMigrated,
    RowRefused,
    Standby,
    TransientError,
)
from wa_monitor.settings import DATABASE_URL_VAR, Settings

TABLES = {
    "reviews": "qa_photo_reviews",
    "ledger": "wa_monitor_ledger",
    "cursor": "wa_monitor_cursor",
    "migrations": "wa_monitor_migrations",
    "valid_drops": "valid_drops",
    "invalid": "invalid_drop_submissions",
    "outbox": "wa_monitor_outbox",
    "alerts": "wa_monitor_alerts",
    "sync_writes": "wa_monitor_sync_writes",
    "changes": "wa_monitor_review_changes",
    "sends": "wa_monitor_feedback_sends",
    "flawed": "wa_monitor_flawed_rows",
    "instance": "wa_monitor_instance",
    "sync_lock": "wa_monitor_sync_lock",
    "presence": "wa_monitor_review_presence",
    "photos": "wa_monitor_photos",
    "drop_posts": "wa_monitor_drop_posts",
    "photos_waiting": "wa_monitor_photos_waiting",
    "skipped": "wa_monitor_skipped",
    "daily": "wa_monitor_daily",
    "daily_zone": "wa_monitor_daily_zone",
    "daily_projects": "wa_monitor_daily_projects",
    "daily_times": "wa_monitor_daily_times",
    "photo_steps": "wa_monitor_photo_steps",
}
# The placeholders of the .sql files that name a table: the tables above (which a migrated
# schema must hold) and the dashboard's users.
IDENTIFIERS = TABLES | {"users": "wa_monitor_users", "throttle": "wa_monitor_login_throttle"}
MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


Connection = psycopg.Connection[Any]
AsyncConnection = psycopg.AsyncConnection[Any]
if TYPE_CHECKING:  # the pool is the web service's alone: imported where it is made
    from psycopg_pool import ConnectionPool
Pool: TypeAlias = "ConnectionPool[Connection]"


class StoreUnavailable(TransientError):
    """The database cannot be reached or refused the work for now."""


class DatabaseUnreachable(StoreUnavailable):
    """No PostgreSQL answered (SQLSTATE class 08, or no server at the address)."""


class AuthenticationFailed(StoreUnavailable):
    """A server answered and refused the login (SQLSTATE class 28): user, password, database
    name or pg_hba.conf. Transient for the daemon (a password may be being rotated)."""


class StandbyLock(Standby):
    """Another wa-monitor process holds this environment's lock: wait as a standby."""


class StoreError(FatalError):
    """The database said no in a way that retrying will not change."""


class PrivilegeDenied(StoreError):
    """The role may not do this (SQLSTATE 42501): a grant is missing, or it needs the owner.

    `reason` is the database's own words, for a caller that knows the right fix better than
    the message's generic one (a command only the owner may run is not fixed by a grant)."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class SchemaMissing(NotMigrated):
    """The schema does not exist (SQLSTATE 3F000)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str


@cache
def migrations() -> tuple[Migration, ...]:
    """The package's migrations, oldest first, read once: every overview asks for the latest
    version (the health figures), and reading the files each time cost it 2 ms."""
    folder = resources.files(__package__).joinpath("sql/migrations")
    found = []
    for entry in folder.iterdir():
        if m := MIGRATION_FILE.match(entry.name):
            found.append(Migration(int(m[1]), m[2], entry.read_text("utf-8")))
    return tuple(sorted(found, key=lambda m: m.version))


def latest_version() -> int:
    return migrations()[-1].version


def schema_sql() -> str:
    return resources.files(__package__).joinpath("sql/schema.sql").read_text("utf-8")


@cache
def registry() -> Mapping[str, str]:
    """Every named query of the .sql files in sql/ (schema.sql and the migrations aside), read
    once, by "file.name": `users.add` is the `-- name: add` block of sql/users.sql."""
    folder = resources.files(__package__).joinpath("sql")
    found: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql") or entry.name == "schema.sql":
            continue
        stem = entry.name.removesuffix(".sql")
        for name, text in sqlfiles.named_queries(__package__, f"sql/{entry.name}").items():
            found[f"{stem}.{name}"] = text
    return MappingProxyType(found)


def one_line(exc: BaseException) -> str:
    """A driver error as one line without secrets."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)


def _refused_at_login(exc: psycopg.Error) -> bool:
    """A failed connect whose server answered with a FATAL error (a refused login).

    libpq gives no SQLSTATE for errors while connecting; what it keeps is the server's own
    reply, which starts with its severity. No reply (refused, timed out, no route, a name that
    does not resolve) means nobody answered. A server that is starting up or shutting down
    says so with its own SQLSTATE once connected, which the checks above and below handle.
    """
    pgconn = getattr(exc, "pgconn", None)
    if pgconn is None or exc.sqlstate is not None:
        return False
    if pgconn.used_password or pgconn.needs_password:
        return True
    message = pgconn.error_message.decode("utf-8", "replace")
    return "FATAL:" in message and "starting up" not in message and "shutting down" not in message


# -- the URL ---------------------------------------------------------------------------------


def url_variable(env: str) -> str:
    """The variable that names one environment's URL for status and doctor (…_URL_DEV)."""
    return f"{DATABASE_URL_VAR}_{env.upper().replace('-', '_')}"


def resolve_url(settings: Settings, *, own_variable: bool = False) -> str:
    """The environment's database URL, its secrets registered for redaction before any use.

    The service's URL comes from $WA_MONITOR_DATABASE_URL or the systemd credential; with
    `own_variable` (status, doctor: several environments in one process) the environment's
    own variable ($WA_MONITOR_DATABASE_URL_DEV) wins when it is set.
    """
    env = settings.environment.value
    url = os.environ.get(url_variable(env), "").strip() if own_variable else ""
    url = url or settings.require_database_url()
    register_secret(*secrets_of_url(url))
    try:
        conninfo_to_dict(url)
    except psycopg.Error as exc:
        # A person must fix it; retrying (or systemd restarting us) will not.
        raise ConfigError(f"the database URL cannot be parsed: {one_line(exc)}") from None
    return url


# -- connecting ------------------------------------------------------------------------------


def connection_options(application_name: str, *, connect_timeout: int = 10) -> dict[str, Any]:
    """The libpq options of every connection wa-monitor makes, the web service's pool too."""
    return {
        "autocommit": True,
        "application_name": application_name,
        "connect_timeout": connect_timeout,
        # Notice a dead peer in about a minute, not after the kernel's two hours: keepalives
        # when the link is idle, and a bound on unacknowledged data when a query or COMMIT is
        # in flight (keepalives do not probe then).
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": 60_000,
    }


# -- the schema's state ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a schema holds of wa-monitor's: its version and any table it lacks."""

    schema: str
    version: int | None  # None: the schema or its migrations table does not exist
    latest: int
    missing: tuple[str, ...] = ()

    def problem(self, env: str) -> str | None:
        """None when the schema is current and whole; else one line with the fix."""
        fix = f"run `wa-monitor schema migrate --env {env}`"
        if self.version is None:
            return f"schema {self.schema!r} does not exist or is not migrated: {fix}"
        if self.version < self.latest:
            return f"schema {self.schema!r} is at version {self.version}, not {self.latest}: {fix}"
        if self.version > self.latest:
            return (
                f"schema {self.schema!r} is at version {self.version}, newer than this "
                f"wa-monitor knows ({self.latest}): upgrade wa-monitor"
            )
        if self.missing:
            return (
                f"schema {self.schema!r} is at version {self.version} but lacks "
                f"{', '.join(self.missing)}"
            )
        return None


# -- the instance lock -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockHolder:
    """The session that holds an environment's instance lock (or its sync lock)."""

    pid: int
    application: str
    client: str | None
    since: Any  # the holder's backend_start (timestamptz)

    def describe(self) -> str:
        where = f", from {self.client}" if self.client else ""
        return f"backend pid {self.pid}, {self.application or 'no name'}{where}"


class LockBusy(Exception):
    """Another session holds the table lock asked for; `holder` says which, if it still can."""

    def __init__(self, holder: LockHolder | None) -> None:
        super().__init__("the lock is held by another session")
        self.holder = holder

    def who(self) -> str:
        """' (backend pid …, name, from host)', or nothing when the holder is gone."""
        return f" ({self.holder.describe()})" if self.holder else ""


# -- the handle ------------------------------------------------------------------------------


class Database:
    """One environment's PostgreSQL: its URL, its schema and its name, and everything that
    needs them. The one place that knows the schema: every query of the registry is composed
    here with `sql.Identifier(schema, table)`, every connection (and the web's pool) is made
    here, and every driver error is translated here with the environment's fix in its words.

    Repositories take the handle and the connection they work on; nothing else passes a
    schema around.
    """

    def __init__(self, url: str, schema: str, environment: str) -> None:
        self.url = url
        self.schema = schema
        self.environment = environment
        self._names: dict[str, sql.Composable] = {
            key: sql.Identifier(schema, table) for key, table in IDENTIFIERS.items()
        }
        self._names["schema"] = sql.Identifier(schema)
        self._composed: dict[str, sql.Composed] = {}

    @classmethod
    def of(cls, settings: Settings, *, own_variable: bool = False) -> Database:
        """The handle of the environment `settings` describe. Its URL comes from resolve_url():
        its secrets registered for redaction before any use, one that cannot be parsed a
        ConfigError."""
        url = resolve_url(settings, own_variable=own_variable)
        return cls(url, settings.schema, settings.environment.value)

    @classmethod
    def unconnected(cls, settings: Settings) -> Database:
        """A handle that only composes SQL (`schema grant --print`): it has no URL, and its
        connect() refuses."""
        return cls("", settings.schema, settings.environment.value)

    def __repr__(self) -> str:  # never the URL: it may hold a password
        return f"Database(schema={self.schema!r}, environment={self.environment!r})"

    # -- SQL ---------------------------------------------------------------------------------

    def prepared(
        self, conn: Connection, name: str, params: Mapping[str, Any]
    ) -> psycopg.Cursor[Any]:
        """Run the registry's query `name` prepared on `conn` (planned once per connection).
        For the fixed-shape lookups every request makes (a session's user, a thumbnail's
        photo), whose plan is the same for any values and whose planning was most of their
        time (the thumbnail's: 0.3 of 0.47 ms at 1,000,000 reviews). The web pool prepares
        nothing else: its pages' optional filters want plans made with their values."""
        threshold, conn.prepare_threshold = conn.prepare_threshold, 0
        try:
            return conn.execute(self.query(name), params, prepare=True)
        finally:
            conn.prepare_threshold = threshold

    def query(self, name: str, **extra: sql.Composable) -> sql.Composed:
        """The registry's query `name` ("file.name") with its {placeholders} filled by this
        schema's identifiers, never by strings; `extra` fills further placeholders with
        composables the caller built from identifiers (not kept: composed on each call)."""
        if extra:
            return self.compose(registry()[name], **extra)
        if (composed := self._composed.get(name)) is None:
            composed = self._composed[name] = self.compose(registry()[name])
        return composed

    def compose(self, text: str, **extra: sql.Composable) -> sql.Composed:
        """Packaged SQL text (a migration, a registry query) with this schema's identifiers."""
        return sql.SQL(text).format(**(self._names | extra))

    def table(self, name: str) -> sql.Identifier:
        """One of this schema's tables by its real name, composed."""
        return sql.Identifier(self.schema, name)

    # -- errors ------------------------------------------------------------------------------

    def error(self, exc: psycopg.Error) -> Exception:  # noqa: PLR0911
        """The driver's error as ours, by SQLSTATE: the one place that tells apart an
        unreachable server, a refused login, a missing privilege, a missing schema, and the
        transient rest; the fix names this environment."""
        schema, env = self.schema, self.environment
        fix = f"run `wa-monitor schema migrate --env {env}`"
        state = exc.sqlstate or ""
        if isinstance(exc, pg_errors.InvalidSchemaName):
            return SchemaMissing(f"schema {schema!r} does not exist ({one_line(exc)}): {fix}")
        if isinstance(exc, pg_errors.UndefinedTable):
            return NotMigrated(
                f"schema {schema!r} is missing or not migrated ({one_line(exc)}): {fix}"
            )
        if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
            return RowRefused(f"the database refused a row: {one_line(exc)}")
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return PrivilegeDenied(
                f"the database role may not do this in schema {schema!r}: {one_line(exc)} (as "
                f"the database owner: `wa-monitor schema grant --env {env} --role ROLE`)",
                reason=one_line(exc),
            )
        if state.startswith("28") or _refused_at_login(exc):
            return AuthenticationFailed(
                f"database unavailable (it refused the login): {one_line(exc)}"
            )
        if state.startswith("08") or (isinstance(exc, psycopg.OperationalError) and not state):
            return DatabaseUnreachable(f"database unavailable (unreachable): {one_line(exc)}")
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
            return StoreUnavailable(f"database unavailable: {one_line(exc)}")
        if isinstance(exc, psycopg.InterfaceError):
            return StoreUnavailable(f"database connection lost: {one_line(exc)}")
        return StoreError(f"database error: {one_line(exc)}")

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Driver errors raised in the block come out as ours (error())."""
        try:
            yield
        except psycopg.Error as exc:
            raise self.error(exc) from None

    # -- connections -------------------------------------------------------------------------

    def connect(self, purpose: str, *, connect_timeout: int = 10) -> Connection:
        """A connection in autocommit with the session settings every caller shares; a failure
        comes out as ours (StoreUnavailable, NotMigrated, StoreError), in one line, no secret."""
        env = self.environment
        if not self.url:
            raise ConfigError(f"no database URL for environment {env}")
        name = f"wa-monitor-{env}-{purpose}" if purpose else f"wa-monitor-{env}"
        options = connection_options(name, connect_timeout=connect_timeout)
        try:
            conn = psycopg.connect(self.url, **options)
        except psycopg.Error as exc:
            raise self.error(exc) from None
        try:
            conn.execute(registry()["queries.session"])
        except psycopg.Error as exc:  # e.g. the link lost right after connecting
            conn.close()
            raise self.error(exc) from None
        return conn

    @contextmanager
    def session(self, purpose: str, *, connect_timeout: int = 10) -> Iterator[Connection]:
        """connect() for one command's work: closed after, driver errors translated inside."""
        conn = self.connect(purpose, connect_timeout=connect_timeout)
        with conn:
            try:
                yield conn
            except psycopg.Error as exc:
                raise self.error(exc) from None

    async def connect_async(self, application_name: str) -> AsyncConnection:
        """An asyncio connection of the web service's (a CSV export's own), never prepared,
        with the session settings every caller shares; the caller closes it."""
        options = connection_options(application_name, connect_timeout=5)
        try:
            conn = await AsyncConnection.connect(self.url, **options, prepare_threshold=None)
        except psycopg.Error as exc:
            raise self.error(exc) from None
        try:
            await conn.execute(registry()["queries.session"])
        except BaseException as exc:
            await conn.close()
            if isinstance(exc, psycopg.Error):
                raise self.error(exc) from None
            raise
        return conn

    def pool(self, application_name: str, *, max_size: int = 8) -> Pool:
        """The web service's connections: autocommit, and never prepared, so each query is
        planned with its filter values (a generic plan could not drop the unused filters)."""
        every, web_session = registry()["queries.session"], self.query("dashboard.session")

        def configure(conn: Connection) -> None:
            conn.execute(every)  # what every wa-monitor connection has, then the web's own
            conn.execute(web_session)

        from psycopg_pool import ConnectionPool  # noqa: PLC0415 - see Pool above

        return ConnectionPool(
            self.url,
            min_size=1,
            max_size=max_size,
            kwargs={
                **connection_options(application_name, connect_timeout=5),
                "prepare_threshold": None,
            },
            configure=configure,
            open=False,
            timeout=10,
            name=application_name,
        )

    @contextmanager
    def borrowed(self, pool: Pool, *, timeout: float | None = None) -> Iterator[Connection]:
        """A connection of `pool` for the block, given back after; driver errors in the block
        (and a pool that has none to give within `timeout`: DatabaseUnreachable) come out as
        ours."""
        try:
            with pool.connection(timeout=timeout) as conn:
                yield conn
        except psycopg.Error as exc:
            raise self.error(exc) from None

    # -- the schema's state ------------------------------------------------------------------

    def version(self, conn: Connection) -> int | None:
        """The schema's migration version; None when the schema or its tables do not exist."""
        params = {"schema": self.schema}
        row = conn.execute(self.query("queries.schema_exists"), params).fetchone()
        if not row or not row[0]:
            return None
        row = conn.execute(self.query("queries.migrations_table_exists"), params).fetchone()
        if not row or not row[0]:
            return None
        versions = [r[0] for r in conn.execute(self.query("queries.applied_versions"))]
        return max(versions) if versions else None

    def state(self, conn: Connection) -> SchemaState:
        """The one check of "is this schema migrated?", for the daemon, ops, status, doctor."""
        version = self.version(conn)
        missing: tuple[str, ...] = ()
        if version is not None:
            rows = conn.execute(
                self.query("queries.missing_tables"),
                {"schema": self.schema, "tables": list(TABLES.values())},
            )
            missing = tuple(str(r[0]) for r in rows)
        return SchemaState(
            schema=self.schema, version=version, latest=latest_version(), missing=missing
        )

    def require_current(self, conn: Connection) -> int:
        """The schema's version, or NotMigrated saying the fix."""
        state = self.state(conn)
        if (problem := state.problem(self.environment)) is not None or state.version is None:
            raise NotMigrated(problem or f"schema {self.schema!r} is not migrated")
        return state.version

    # -- table locks -------------------------------------------------------------------------

    def hold_table_lock(self, conn: Connection, table: str) -> None:
        """Lock this schema's `table` (the instance election's, the sync's) in EXCLUSIVE mode
        in a transaction left open on `conn`, a connection of the holder's own that then stays
        idle until it closes. NOWAIT: LockBusy at once if another session holds it. The mode
        needs UPDATE on the environment's own table, so no role of another environment can
        take it or hold it; it takes no transaction id, so the open transaction holds back no
        VACUUM."""
        try:
            conn.execute(self.query("locks.lock_session"))
            conn.execute("BEGIN")
            conn.execute(self.query("locks.table_lock", locked=self.table(table)))
        except pg_errors.LockNotAvailable:
            conn.execute("ROLLBACK")
            raise LockBusy(self.lock_holder(conn, table)) from None
        except psycopg.Error as exc:
            raise self.error(exc) from None

    def hold_bridge(self, conn: Connection, bridge: str) -> None:
        """Be the monitor of `bridge`: hold the instance table in ROW EXCLUSIVE mode in a
        transaction left open on `conn` (the election's own connection, idle until it closes),
        then, in a short transaction of another session that orders the elections, name
        `conn`'s session as the bridge's holder. LockBusy if a live session of another monitor
        holds the bridge (or a monitor of a release before 21 the whole table). Both modes need
        a write privilege on the environment's own table, so no role of another environment can
        take them or block them; neither takes a transaction id on `conn`, so its open
        transaction holds back no VACUUM. The caller closes `conn` on LockBusy."""
        instance = self.table(TABLES["instance"])
        try:
            conn.execute(self.query("locks.lock_session"))
            me = conn.execute(self.query("queries.my_backend")).fetchone()
            conn.execute("BEGIN")
            conn.execute(self.query("locks.monitor_lock", locked=instance))
        except pg_errors.LockNotAvailable:
            conn.execute("ROLLBACK")
            raise LockBusy(self.lock_holder(conn)) from None
        except psycopg.Error as exc:
            raise self.error(exc) from None
        assert me is not None  # noqa: S101 - a session always sees itself
        with self.session("election") as other, other.transaction():
            other.execute(self.query("locks.election_lock", locked=instance))
            held = other.execute(
                self.query("queries.bridge_holder"), {"schema": self.schema, "bridge": bridge}
            ).fetchone()
            if held is not None and int(held[0]) != int(me[0]):
                raise LockBusy(
                    LockHolder(
                        pid=int(held[0]), application=str(held[1]), client=held[2], since=held[3]
                    )
                )
            other.execute(
                self.query("queries.claim_bridge"),
                {"bridge": bridge, "pid": me[0], "started": me[1]},
            )

    def lock_holder(self, conn: Connection, table: str = TABLES["instance"]) -> LockHolder | None:
        """Who holds this schema's instance lock (a running monitor), or the lock on another
        of its lock tables, if anyone."""
        row = conn.execute(
            self.query("queries.instance_lock_holder"), {"schema": self.schema, "table": table}
        ).fetchone()
        if row is None:
            return None
        return LockHolder(
            pid=int(row[0]), application=str(row[1] or ""), client=row[2], since=row[3]
        )
