"""The one way to PostgreSQL: the SQL files, connect() with one set of session settings, the
database URL, the schema's state, the instance lock's holder, and driver errors as ours.

Every caller (the daemon's store, the ops commands, status, doctor, the web app) goes through
here, so timeouts, keepalives and error messages are the same wherever a connection is made.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

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
}
MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# A dashboard transaction holding a review row must not stall the monitor for ever.
SESSION = "SET lock_timeout = '30s'; SET idle_in_transaction_session_timeout = '5min'"


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
    """The role may not do this (SQLSTATE 42501): a grant is missing, or it needs the owner."""


class SchemaMissing(NotMigrated):
    """The schema does not exist (SQLSTATE 3F000)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str


def named_queries(file: str = "queries.sql") -> dict[str, str]:
    """The `-- name: x` blocks of one of the files in sql/ (queries.sql unless told)."""
    return sqlfiles.named_queries(__package__, f"sql/{file}")


def migrations() -> list[Migration]:
    folder = resources.files(__package__).joinpath("sql/migrations")
    found = []
    for entry in folder.iterdir():
        if m := MIGRATION_FILE.match(entry.name):
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


def one_line(exc: BaseException) -> str:
    """A driver error as one line without secrets."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)


def from_pg_error(exc: psycopg.Error, *, schema: str, env: str) -> Exception:  # noqa: PLR0911
    """The driver's error as ours, by SQLSTATE: the one place that tells apart an unreachable
    server, a refused login, a missing privilege, a missing schema, and the transient rest."""
    fix = f"run `wa-monitor schema migrate --env {env}`"
    state = exc.sqlstate or ""
    if isinstance(exc, pg_errors.InvalidSchemaName):
        return SchemaMissing(f"schema {schema!r} does not exist ({one_line(exc)}): {fix}")
    if isinstance(exc, pg_errors.UndefinedTable):
        return NotMigrated(f"schema {schema!r} is missing or not migrated ({one_line(exc)}): {fix}")
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return RowRefused(f"the database refused a row: {one_line(exc)}")
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return PrivilegeDenied(
            f"the database role may not do this in schema {schema!r}: {one_line(exc)} (as the "
            f"database owner: `wa-monitor schema grant --env {env} --role ROLE`)"
        )
    if state.startswith("28") or _refused_at_login(exc):
        return AuthenticationFailed(f"database unavailable (it refused the login): {one_line(exc)}")
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


def connect(
    url: str, *, schema: str, env: str, purpose: str, connect_timeout: int = 10
) -> psycopg.Connection[Any]:
    """A connection in autocommit with the session settings every caller shares; a failure
    comes out as ours (StoreUnavailable, NotMigrated, StoreError), in one line, no secret."""
    name = f"wa-monitor-{env}-{purpose}" if purpose else f"wa-monitor-{env}"
    try:
        conn = psycopg.connect(url, **connection_options(name, connect_timeout=connect_timeout))
    except psycopg.Error as exc:
        raise from_pg_error(exc, schema=schema, env=env) from None
    try:
        conn.execute(SESSION)
    except psycopg.Error as exc:  # e.g. the link lost right after connecting
        conn.close()
        raise from_pg_error(exc, schema=schema, env=env) from None
    return conn


@contextmanager
def session(
    url: str, *, schema: str, env: str, purpose: str, connect_timeout: int = 10
) -> Iterator[psycopg.Connection[Any]]:
    """connect() for one command's work: closed after, driver errors translated inside too."""
    conn = connect(url, schema=schema, env=env, purpose=purpose, connect_timeout=connect_timeout)
    with conn:
        try:
            yield conn
        except psycopg.Error as exc:
            raise from_pg_error(exc, schema=schema, env=env) from None


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


def schema_state(conn: psycopg.Connection[Any], schema: str) -> SchemaState:
    """The one check of "is this schema migrated?", for the daemon, ops, status and doctor."""
    version = schema_version(conn, schema)
    missing: tuple[str, ...] = ()
    if version is not None:
        rows = conn.execute(
            compose(named_queries()["missing_tables"], schema),
            {"schema": schema, "tables": list(TABLES.values())},
        )
        missing = tuple(str(r[0]) for r in rows)
    return SchemaState(schema=schema, version=version, latest=latest_version(), missing=missing)


def require_current(conn: psycopg.Connection[Any], schema: str, env: str) -> int:
    """The schema's version, or NotMigrated saying the fix."""
    state = schema_state(conn, schema)
    if (problem := state.problem(env)) is not None or state.version is None:
        raise NotMigrated(problem or f"schema {schema!r} is not migrated")
    return state.version


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


def hold_table_lock(conn: psycopg.Connection[Any], schema: str, table: str, *, env: str) -> None:
    """Lock `schema`'s `table` (the instance election's, the sync's) in EXCLUSIVE mode in a
    transaction left open on `conn`, a connection of the holder's own that then stays idle
    until it closes. NOWAIT: LockBusy at once if another session holds it. The mode needs
    UPDATE on the environment's own table, so no role of another environment can take it or
    hold it; it takes no transaction id, so the open transaction holds back no VACUUM."""
    queries = named_queries("locks.sql")
    try:
        conn.execute(queries["lock_session"])
        conn.execute("BEGIN")
        conn.execute(compose(queries["table_lock"], schema, locked=sql.Identifier(schema, table)))
    except pg_errors.LockNotAvailable:
        conn.execute("ROLLBACK")
        raise LockBusy(instance_holder(conn, schema, table)) from None
    except psycopg.Error as exc:
        raise from_pg_error(exc, schema=schema, env=env) from None


def instance_holder(
    conn: psycopg.Connection[Any], schema: str, table: str = TABLES["instance"]
) -> LockHolder | None:
    """Who holds `schema`'s instance lock (a running monitor), or the lock on another of its
    lock tables, if anyone."""
    row = conn.execute(
        compose(named_queries()["instance_lock_holder"], schema),
        {"schema": schema, "table": table},
    ).fetchone()
    if row is None:
        return None
    return LockHolder(pid=int(row[0]), application=str(row[1] or ""), client=row[2], since=row[3])
