"""The ops commands on an environment's schema: reset, drop, copy-from-prod and grant.

Each writing command is one transaction. Reset and drop refuse production whatever they are
told; copy only ever goes from production's schema into dev's.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from wa_monitor.adapters.postgres.db import (
    TABLES,
    compose,
    instance_holder,
    named_queries,
    require_current,
    schema_version,
    session,
)
from wa_monitor.errors import Refused
from wa_monitor.settings import PROD_SCHEMA, Environment, Settings

Confirm = Callable[[str], bool]


class Privilege(enum.StrEnum):
    SELECT = "SELECT"
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    TRUNCATE = "TRUNCATE"
    REFERENCES = "REFERENCES"
    TRIGGER = "TRIGGER"


_S, _I, _U, _T = Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE, Privilege.TRUNCATE
# What `wa-monitor run` does with each table (reviews: insert, lock FOR UPDATE, update; ledger:
# insert … RETURNING; cursor: upsert; migrations: read the version). Nothing else.
RUN_NEEDS: Mapping[str, frozenset[Privilege]] = {
    TABLES["reviews"]: frozenset({_S, _I, _U}),
    TABLES["ledger"]: frozenset({_S, _I}),
    TABLES["cursor"]: frozenset({_S, _I, _U}),
    TABLES["migrations"]: frozenset({_S}),
    TABLES["flawed"]: frozenset({_S, _I}),
    TABLES["instance"]: frozenset({_U}),  # LOCK TABLE … IN EXCLUSIVE MODE
}
# Dev's own role may also empty its tables, so `schema reset --env dev` works with dev's URL.
DEV_NEEDS: Mapping[str, frozenset[Privilege]] = {
    table: privileges | ({_T} if table not in {TABLES["migrations"], TABLES["instance"]} else set())
    for table, privileges in RUN_NEEDS.items()
}


# What `wa-monitor sync sharepoint` does (production only): read the reviews' daily counts and
# the schema's version, and record what it wrote to the sheet. It changes no review.
SYNC_NEEDS: Mapping[str, frozenset[Privilege]] = {
    TABLES["reviews"]: frozenset({_S}),
    TABLES["sync_writes"]: frozenset({_S, _I}),
    TABLES["migrations"]: frozenset({_S}),
}


class Service(enum.StrEnum):
    """The services with a database role of their own."""

    MONITOR = "monitor"  # wa-monitor run
    SYNC = "sync"  # wa-monitor sync sharepoint


def needs(
    env: Environment, service: Service = Service.MONITOR
) -> Mapping[str, frozenset[Privilege]]:
    """Table → the privileges the environment's service role must hold, and no more."""
    if service is Service.SYNC:
        return SYNC_NEEDS
    return DEV_NEEDS if env is Environment.DEV else RUN_NEEDS


@dataclass(frozen=True, slots=True)
class Emptied:
    reviews: int
    ledger: int


@dataclass(frozen=True, slots=True)
class Copied:
    selected: int  # production rows created within the window
    copied: int
    skipped: int  # dev already had the (drop_number, review_date)
    replaced: int
    ledger: int  # production ledger entries marked as applied in dev


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNITS["w"] = timedelta(weeks=1)
_DURATION = re.compile(r"(?:\d+[mhdw])+")


def parse_duration(text: str) -> timedelta:
    """'90m', '24h', '7d', '2w' or a sum like '1d12h', as a positive timedelta."""
    value = text.strip().lower()
    hint = "use a whole number and a unit (m, h, d, w), like 90m, 24h, 7d or 1d12h"
    if not _DURATION.fullmatch(value):
        raise Refused(f"invalid duration {text!r}: {hint}")
    try:
        total = sum(
            (int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([mhdw])", value)), timedelta()
        )
    except OverflowError:
        raise Refused(f"invalid duration {text!r}: too long") from None
    if total <= timedelta(0):
        raise Refused(f"invalid duration {text!r}: it must be longer than zero")
    return total


def query(name: str, schema: str, **extra: sql.Composable) -> sql.Composed:
    """A named query of ops.sql, composed for `schema` (and `extra` identifiers)."""
    return compose(named_queries("ops.sql")[name], schema, **extra)


def connect(url: str, *, schema: str, env: str) -> AbstractContextManager[psycopg.Connection[Any]]:
    """A connection for one ops command (db.session); driver errors come out as ours."""
    return session(url, schema=schema, env=env, purpose="ops")


@contextmanager
def _writing(conn: psycopg.Connection[Any], schema: str) -> Iterator[None]:
    """One transaction that gives up on a lock after 10 s instead of queueing behind it."""
    with conn.transaction():
        conn.execute(query("lock_timeout", schema))
        yield


def _refuse_prod(settings: Settings, action: str) -> None:
    if settings.environment is Environment.PROD or settings.schema == PROD_SCHEMA:
        raise Refused(
            f"refusing to {action} production (schema {settings.schema!r}): "
            "only a dev environment can be reset or dropped"
        )


def _no_monitor_running(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Hold the environment's instance lock for this transaction, or refuse: a monitor runs."""
    schema = settings.schema
    exists = conn.execute(
        compose(named_queries()["instance_table_exists"], schema), {"schema": schema}
    ).fetchone()
    if not exists or not exists[0]:
        return  # not migrated: no monitor of this release can run on it
    try:
        with conn.transaction():  # a savepoint: the refusal must not abort the work's transaction
            conn.execute(query("instance_xact_lock", schema))
    except pg_errors.LockNotAvailable:
        pass
    else:
        return
    holder = instance_holder(conn, schema)
    who = f" ({holder.describe()})" if holder else ""
    env = settings.environment.value
    raise Refused(
        f"a wa-monitor is running for schema {schema!r}{who}: stop it first "
        f"(systemctl stop wa-monitor-{env}), then try again"
    )


def _require_migrated(conn: psycopg.Connection[Any], settings: Settings) -> int:
    return require_current(conn, settings.schema, settings.environment.value)


def _counts(conn: psycopg.Connection[Any], schema: str) -> Emptied:
    row = conn.execute(query("row_counts", schema)).fetchone() or (0, 0)
    return Emptied(reviews=int(row[0]), ledger=int(row[1]))


def reset(url: str, settings: Settings, *, confirm: Confirm) -> Emptied:
    """Empty the environment's reviews, ledger and cursor in one transaction."""
    _refuse_prod(settings, "reset")
    schema, env = settings.schema, settings.environment.value
    with connect(url, schema=schema, env=env) as conn:
        _require_migrated(conn, settings)
        before = _counts(conn, schema)
        if not confirm(
            f"Empty {schema}.qa_photo_reviews ({before.reviews} reviews), its ledger "
            f"({before.ledger} messages) and its cursor? The {env} monitor then starts over "
            "from the bridge's first message."
        ):
            raise Refused("not confirmed; nothing changed")
        with _writing(conn, schema):
            _no_monitor_running(conn, settings)
            emptied = _counts(conn, schema)
            conn.execute(query("reset", schema))
    return emptied


def drop(url: str, settings: Settings, *, confirm: Confirm) -> Emptied:
    """Drop the environment's whole schema in one transaction; never an object outside it."""
    _refuse_prod(settings, "drop")
    schema, env = settings.schema, settings.environment.value
    with connect(url, schema=schema, env=env) as conn:
        exists = conn.execute(
            compose(named_queries()["schema_exists"], schema), {"schema": schema}
        ).fetchone()
        if not exists or not exists[0]:
            raise Refused(f"schema {schema!r} does not exist: nothing to drop")
        if schema_version(conn, schema) is None:
            # A misconfigured `schema` could name another application's schema.
            raise Refused(
                f"schema {schema!r} holds no wa-monitor tables: not dropping a schema "
                "wa-monitor did not make (drop it with psql if you mean it)"
            )
        before = _counts(conn, schema)
        if not confirm(
            f"Drop schema {schema} and everything in it ({before.reviews} reviews, "
            f"{before.ledger} ledger messages)? `wa-monitor schema migrate --env {env}` "
            "creates it again, empty."
        ):
            raise Refused("not confirmed; nothing changed")
        with _writing(conn, schema):
            _no_monitor_running(conn, settings)
            outside = [
                str(r[0])
                for r in conn.execute(query("outside_dependents", schema), {"schema": schema})
            ]
            if outside:
                raise Refused(
                    f"refusing to drop schema {schema!r}: objects outside it depend on it and "
                    f"would be dropped too: {'; '.join(outside[:5])}"
                    + (f" (and {len(outside) - 5} more)" if len(outside) > 5 else "")
                )
            dropped = _counts(conn, schema)
            conn.execute(query("drop_schema", schema))
    return dropped


def copy_from_prod(url: str, settings: Settings, *, window: timedelta, replace: bool) -> Copied:
    """Copy production reviews created within `window` into dev, in one transaction.

    Conflicts on (drop_number, review_date) are skipped, or with `replace` overwritten. The
    production ledger entries of the messages that named a copied drop are added to dev's ledger,
    so the dev monitor never applies those messages on top of the copied rows; dev's cursor is
    left where it is.
    """
    schema, env = settings.schema, settings.environment.value
    if settings.environment is not Environment.DEV or schema == PROD_SCHEMA:
        raise Refused(
            "copy-from-prod copies production into a dev environment only; "
            f"{env!r} writes schema {schema!r}"
        )
    with connect(url, schema=schema, env=env) as conn, _writing(conn, schema):
        dev_version = _require_migrated(conn, settings)
        prod_version = schema_version(conn, PROD_SCHEMA)
        if prod_version is None:
            raise Refused(
                f"production's schema {PROD_SCHEMA!r} has no wa-monitor tables: nothing to copy"
            )
        if prod_version != dev_version:
            raise Refused(
                f"the schemas are at different migration versions ({PROD_SCHEMA} "
                f"{prod_version}, {schema} {dev_version}): run `wa-monitor schema migrate` for "
                "both environments first"
            )
        names = _shared_columns(conn, schema)
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in names)
        updates = sql.SQL(", ").join(
            sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c))
            for c in names
            if c not in {"drop_number", "review_date"}
        )
        prod = {
            "prod_reviews": sql.Identifier(PROD_SCHEMA, TABLES["reviews"]),
            "prod_ledger": sql.Identifier(PROD_SCHEMA, TABLES["ledger"]),
        }
        name = "copy_reviews_replace" if replace else "copy_reviews"
        row = conn.execute(
            query(name, schema, columns=columns, updates=updates, **prod), {"window": window}
        ).fetchone() or (0, 0, 0)
        ledger = conn.execute(query("copy_ledger", schema, **prod), {"window": window}).rowcount
    selected, copied, replaced = (int(v) for v in row)
    return Copied(
        selected=selected,
        copied=copied,
        skipped=selected - copied - replaced,
        replaced=replaced,
        ledger=max(ledger, 0),
    )


def _shared_columns(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """Review columns both tables have (an adopted prod table may have more), except the id."""
    columns = query("review_columns", schema)
    dev = [str(r[0]) for r in conn.execute(columns, {"schema": schema})]
    prod = {str(r[0]) for r in conn.execute(columns, {"schema": PROD_SCHEMA})}
    return [c for c in dev if c in prod and c != "id"]


def grant_statements(
    settings: Settings, role: str, service: Service = Service.MONITOR
) -> list[sql.Composed]:
    """The SQL that leaves `role` with exactly what the environment's service needs."""
    schema = settings.schema
    if service is Service.SYNC and (
        settings.environment is not Environment.PROD or schema != PROD_SCHEMA
    ):
        raise Refused(
            f"the sync role reads production only; environment {settings.environment.value!r} "
            "is never synced"
        )
    role_id = sql.Identifier(role)
    statements = [query("revoke_tables", PROD_SCHEMA, role=role_id)]
    if schema != PROD_SCHEMA:
        statements.append(query("revoke_tables", schema, role=role_id))
    statements.append(query("revoke_create", PROD_SCHEMA, role=role_id))
    if schema != PROD_SCHEMA:
        statements.append(query("revoke_create", schema, role=role_id))
    statements.append(query("grant_usage", schema, role=role_id))
    for table, privileges in needs(settings.environment, service).items():
        listed = sql.SQL(", ").join(sql.SQL(p.value) for p in Privilege if p in privileges)
        statements.append(
            query(
                "grant_table",
                schema,
                role=role_id,
                privileges=listed,
                table=sql.Identifier(schema, table),
            )
        )
    return statements


def render(statements: list[sql.Composed]) -> str:
    """Statements as psql would take them; identifiers quoted as PostgreSQL quotes them."""
    return "\n".join(s.as_string(None) for s in statements)


def grant(url: str, settings: Settings, role: str, service: Service = Service.MONITOR) -> None:
    """Apply grant_statements() in one transaction, after checking the role can be limited."""
    schema, env = settings.schema, settings.environment.value
    statements = grant_statements(settings, role, service)
    with connect(url, schema=schema, env=env) as conn, _writing(conn, schema):
        _require_migrated(conn, settings)
        info = conn.execute(
            query("role_info", schema),
            {"role": role, "schema": schema, "tables": list(TABLES.values())},
        ).fetchone()
        if info is None:
            raise Refused(
                f"role {role!r} does not exist: create it first "
                f"(CREATE ROLE {sql.Identifier(role).as_string(None)} LOGIN PASSWORD '…')"
            )
        superuser, owner = info
        if superuser or owner:
            what = "a superuser" if superuser else f"the owner of schema {schema!r}'s tables"
            raise Refused(
                f"role {role!r} is {what}: grants cannot limit it; give the {env} service a "
                "role of its own (README: Roles and URLs)"
            )
        for statement in statements:
            conn.execute(statement)
