"""The ops commands on an environment's schema: reset, drop, copy-from-prod and grant.

Each writing command is one transaction. Reset and drop refuse production whatever they are
told; copy only ever goes from production's schema into dev's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from wa_monitor.adapters.postgres.db import (
    TABLES,
    PrivilegeDenied,
    compose,
    instance_holder,
    named_queries,
    require_current,
    schema_version,
    session,
)
from wa_monitor.adapters.postgres.users import THROTTLE_TABLE, USERS_TABLE
from wa_monitor.core.privileges import Audit, Privilege, RoleGrants, Service, audit_role
from wa_monitor.core.steps import Step
from wa_monitor.errors import Refused
from wa_monitor.settings import PROD_SCHEMA, Environment, Settings

Confirm = Callable[[str], bool]


# The privileges the needs below are made of, by their names.
SELECT, INSERT, UPDATE = Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE
DELETE, TRUNCATE = Privilege.DELETE, Privilege.TRUNCATE

# What `wa-monitor run` does with each table (reviews: insert, lock FOR UPDATE, update; ledger:
# insert … RETURNING; cursor: upsert; migrations: read the version; valid drops: look up (ops
# import them with the owner's URL); invalid submissions: insert; outbox: insert, claim, mark),
# and what `wa-monitor alerts check`, run with the service's URL, does with its incidents.
# Nothing else.
RUN_NEEDS: Mapping[str, frozenset[Privilege]] = {
    TABLES["reviews"]: frozenset({SELECT, INSERT, UPDATE}),
    TABLES["ledger"]: frozenset({SELECT, INSERT}),
    TABLES["cursor"]: frozenset({SELECT, INSERT, UPDATE}),
    TABLES["migrations"]: frozenset({SELECT}),
    TABLES["valid_drops"]: frozenset({SELECT}),
    TABLES["invalid"]: frozenset({SELECT, INSERT}),
    TABLES["outbox"]: frozenset({SELECT, INSERT, UPDATE}),
    TABLES["alerts"]: frozenset({SELECT, INSERT, UPDATE, DELETE}),
    TABLES["flawed"]: frozenset({SELECT, INSERT}),
    TABLES["instance"]: frozenset({UPDATE}),  # LOCK TABLE … IN EXCLUSIVE MODE
}
# Dev's own role may also empty its tables, so `schema reset --env dev` works with dev's URL.
DEV_NEEDS: Mapping[str, frozenset[Privilege]] = {
    **{
        table: privileges
        | (
            {TRUNCATE}
            if table not in {TABLES["migrations"], TABLES["valid_drops"], TABLES["instance"]}
            else set()
        )
        for table, privileges in RUN_NEEDS.items()
    },
    # The reviews' change trail and feedback sends are emptied with the reviews they belong to.
    TABLES["changes"]: frozenset({TRUNCATE}),
    TABLES["sends"]: frozenset({TRUNCATE}),
}


# What `wa-monitor sync sharepoint` does (production only): read the reviews' daily counts and
# the schema's version, record what it wrote to the sheet, and hold its lock. It changes no
# review.
SYNC_NEEDS: Mapping[str, frozenset[Privilege]] = {
    TABLES["reviews"]: frozenset({SELECT}),
    TABLES["sync_writes"]: frozenset({SELECT, INSERT}),
    TABLES["migrations"]: frozenset({SELECT}),
    # LOCK TABLE … IN EXCLUSIVE MODE: one sync at a time
    TABLES["sync_lock"]: frozenset({UPDATE}),
}


# What `wa-monitor web` does: read the pages' tables (the cursor and ledger for the health
# figures, migrations for the version check), read its users, count failed logins. Adding
# users is the command line's, with the owner's URL. It writes no table wide: the columns it
# writes are in WEB_COLUMNS, a login goes through WEB_FUNCTIONS.
WEB_NEEDS: Mapping[str, frozenset[Privilege]] = {
    TABLES["reviews"]: frozenset({SELECT}),
    TABLES["ledger"]: frozenset({SELECT}),
    TABLES["cursor"]: frozenset({SELECT}),
    TABLES["migrations"]: frozenset({SELECT}),
    TABLES["flawed"]: frozenset({SELECT}),  # counted with the health figures
    USERS_TABLE: frozenset({SELECT}),
    THROTTLE_TABLE: frozenset({SELECT, INSERT, UPDATE, DELETE}),
    # The review workflow: a reviewer's save and the feedback stamp update the review (under
    # a row lock), record the change, and claim and finish a send.
    TABLES["changes"]: frozenset({SELECT, INSERT}),
    TABLES["sends"]: frozenset({SELECT, INSERT}),
    # The overview lists the day's invalid drop numbers and whether each was answered.
    TABLES["invalid"]: frozenset({SELECT}),
    TABLES["outbox"]: frozenset({SELECT}),
}


# The columns the dashboard writes, and nothing else of those tables (migration 0011): a
# reviewer's verdict, the feedback stamp, a send's outcome and a person's resolution of it.
# Never drop_number, project, created_at or anything the monitor owns.
REVIEWER_COLUMNS = frozenset(
    {
        *(step.column for step in Step),
        "wrong_steps",
        "comment",
        "completed",
        "incomplete",
        "completed_photos",
        "outstanding_photos",
        "reviewed_by",
        "reviewed_at",
        "feedback_sent",
        "updated_at",
        "version",
    }
)
WEB_COLUMNS: Mapping[str, Mapping[Privilege, frozenset[str]]] = {
    TABLES["reviews"]: {UPDATE: REVIEWER_COLUMNS},
    TABLES["sends"]: {
        UPDATE: frozenset(
            {
                "state",
                "finished_at",
                "bridge_status",
                "bridge_answer",
                "resolution",
                "resolved_by",
                "resolved_at",
            }
        )
    },
}
# A login notes itself (and a rehash) through this function only (SECURITY DEFINER, fixed
# search_path): the web role holds no UPDATE on wa_monitor_users.
LOGGED_IN_FUNCTION = "wa_monitor_logged_in"
LOGGED_IN_ARGUMENTS = "bigint, text, text"
WEB_FUNCTIONS = frozenset({LOGGED_IN_FUNCTION})


def spell(privileges: Mapping[str, frozenset[Privilege]]) -> str:
    """A needs mapping as --help says it: 'SELECT, UPDATE on qa_photo_reviews; …'."""
    order = list(Privilege)
    return "; ".join(
        f"{', '.join(p.value for p in sorted(held, key=order.index))} on {table}"
        for table, held in privileges.items()
    )


def spell_columns(columns: Mapping[str, Mapping[Privilege, frozenset[str]]]) -> str:
    """Column needs as --help says them: 'UPDATE (a, b) on qa_photo_reviews; …'."""
    return "; ".join(
        f"{privilege.value} ({', '.join(sorted(names))}) on {table}"
        for table, by_privilege in columns.items()
        for privilege, names in by_privilege.items()
    )


def column_needs(service: Service) -> Mapping[str, Mapping[Privilege, frozenset[str]]]:
    """Table → privilege → the columns (never the whole table) the service's role must hold."""
    return WEB_COLUMNS if service is Service.WEB else {}


def function_needs(service: Service) -> frozenset[str]:
    """The schema's functions the service's role must be able to execute, and no other."""
    return WEB_FUNCTIONS if service is Service.WEB else frozenset()


def needs(
    env: Environment, service: Service = Service.MONITOR
) -> Mapping[str, frozenset[Privilege]]:
    """Table → the privileges the environment's service role must hold, and no more."""
    if service is Service.SYNC:
        return SYNC_NEEDS
    if service is Service.WEB:
        return WEB_NEEDS
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
    with _as_owner("drop", env), connect(url, schema=schema, env=env) as conn:
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
    with (
        _as_owner("copy-from-prod", env),
        connect(url, schema=schema, env=env) as conn,
        _writing(conn, schema),
    ):
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
            # A replaced row moves on from dev's own version, so a page open on it is refused.
            sql.SQL("{c} = {t}.{c} + 1" if c == "version" else "{c} = excluded.{c}").format(
                c=sql.Identifier(c), t=sql.Identifier(TABLES["reviews"])
            )
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


@contextmanager
def _as_owner(action: str, env: str) -> Iterator[None]:
    """A privilege error in a command only the database owner can run: say so, exit 2."""
    try:
        yield
    except PrivilegeDenied as exc:
        raise Refused(
            f"`wa-monitor schema {action}` needs the database owner's URL in "
            f"WA_MONITOR_DATABASE_URL, not a service role's ({exc}); run it as the owner, "
            f'e.g. WA_MONITOR_DATABASE_URL="$OWNER_URL" wa-monitor schema {action} --env {env}'
        ) from None


def grant_statements(
    settings: Settings,
    role: str,
    service: Service = Service.MONITOR,
    *,
    allow_other_env: bool = False,
) -> list[sql.Composed]:
    """The SQL that leaves `role` with exactly what the environment's service needs.

    It revokes the role's table privileges in production's schema too (a dev role must hold
    none there), unless the role is allowed to serve another environment as well.
    """
    schema = settings.schema
    if service is Service.SYNC and (
        settings.environment is not Environment.PROD or schema != PROD_SCHEMA
    ):
        raise Refused(
            f"the sync role reads production only; environment {settings.environment.value!r} "
            "is never synced"
        )
    role_id = sql.Identifier(role)
    cleared = [schema] if allow_other_env else list(dict.fromkeys([PROD_SCHEMA, schema]))
    statements = [query("revoke_tables", s, role=role_id) for s in cleared]
    statements += [query("revoke_functions", s, role=role_id) for s in cleared]
    statements += [query("revoke_create", s, role=role_id) for s in cleared]
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
    for table, by_privilege in column_needs(service).items():
        for privilege, columns in by_privilege.items():
            statements.append(
                query(
                    "grant_columns",
                    schema,
                    role=role_id,
                    privilege=sql.SQL(privilege.value),
                    columns=sql.SQL(", ").join(map(sql.Identifier, sorted(columns))),
                    table=sql.Identifier(schema, table),
                )
            )
    for function in sorted(function_needs(service)):
        statements.append(
            query(
                "grant_function",
                schema,
                role=role_id,
                function=sql.Identifier(schema, function),
                arguments=sql.SQL(LOGGED_IN_ARGUMENTS),
            )
        )
    return statements


def render(statements: list[sql.Composed]) -> str:
    """Statements as psql would take them; identifiers quoted as PostgreSQL quotes them."""
    return "\n".join(s.as_string(None) for s in statements)


def audit(
    conn: psycopg.Connection[Any],
    settings: Settings,
    role: str | None = None,
    *,
    service: Service = Service.MONITOR,
    allow_other_env: bool = False,
) -> Audit:
    """Audit `role` (the current one when None) for the environment; no change is made."""
    env, schema = settings.environment.value, settings.schema
    row = conn.execute(query("role_attributes", schema), {"role": role}).fetchone()
    if row is None:
        return Audit.no_such_role(role)
    user, superuser, createdb, createrole, database, db_create = row
    user = str(user)
    owns = conn.execute(
        query("role_info", schema),
        {"role": user, "schema": schema, "tables": list(TABLES.values())},
    ).fetchone()
    grants = RoleGrants(
        role=user,
        superuser=bool(superuser),
        owns_tables=bool(owns and owns[1]),
        create_databases=bool(createdb),
        create_roles=bool(createrole),
        database=str(database),
        create_schemas=bool(db_create),
    )
    if not grants.limitless:
        params = {"role": user}
        grants = replace(
            grants,
            tables=frozenset(
                (str(s), str(t), Privilege(p))
                for s, t, p in conn.execute(query("table_privileges", schema), params)
            ),
            schemas=frozenset(
                (str(s), str(p))
                for s, p in conn.execute(query("schema_privileges", schema), params)
            ),
            wa_monitor_schemas=frozenset(
                str(r[0]) for r in conn.execute(query("wa_monitor_schemas", schema))
            ),
            columns=frozenset(
                (str(s), str(t), str(c), Privilege(p))
                for s, t, c, p in conn.execute(query("column_privileges", schema), params)
            ),
            functions=frozenset(
                (str(s), str(f))
                for s, f in conn.execute(query("function_privileges", schema), params)
            ),
        )
    needed = needs(settings.environment, service)
    return audit_role(
        grants,
        needed,
        schema=schema,
        env=env,
        service=service,
        allow_other_env=allow_other_env,
        needed_columns=column_needs(service),
        needed_functions=function_needs(service),
    )


def grant(
    url: str,
    settings: Settings,
    role: str,
    service: Service = Service.MONITOR,
    *,
    other_roles: Mapping[str, str] | None = None,
    allow_other_env: bool = False,
) -> Audit:
    """Apply grant_statements() in one transaction, after checking the role can be limited and
    serves no other environment; return the audit of what the role then holds.

    `other_roles` maps the other environments to their configured service roles.
    """
    schema, env = settings.schema, settings.environment.value
    statements = grant_statements(settings, role, service, allow_other_env=allow_other_env)
    with (
        _as_owner("grant", env),
        connect(url, schema=schema, env=env) as conn,
        _writing(conn, schema),
    ):
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
        if not allow_other_env:
            _refuse_other_env(conn, settings, role, other_roles or {})
        for statement in statements:
            conn.execute(statement)
        return audit(conn, settings, role, service=service, allow_other_env=allow_other_env)


def _refuse_other_env(
    conn: psycopg.Connection[Any], settings: Settings, role: str, other_roles: Mapping[str, str]
) -> None:
    """A role that serves another environment: granting (and revoking its rights elsewhere)
    would take that environment's service down. One slipped word must not do that."""
    env = settings.environment.value
    flag = "--allow-other-env"
    named = sorted(e for e, r in other_roles.items() if r == role)
    if named:
        raise Refused(
            f"role {role!r} is environment {named[0]}'s service role, not {env}'s: granting it "
            f"to {env} would revoke what wa-monitor-{named[0]} needs; check --role (or pass "
            f"{flag} if one role really serves both)"
        )
    found = audit(conn, settings, role).other_envs
    if found:
        where = ", ".join(found)
        raise Refused(
            f"role {role!r} holds privileges in schema {where}, another wa-monitor "
            f"environment's: it serves that environment, and granting it to {env} would revoke "
            f"them; check --role, or revoke them first (REVOKE ALL ON ALL TABLES IN SCHEMA "
            f"{found[0]} FROM {sql.Identifier(role).as_string(None)}), or pass {flag}"
        )
