"""The ops commands on an environment's schema: reset, drop, copy-from-prod and grant.

Each writing command is one transaction. Reset and drop refuse production whatever they are
told; copy only ever goes from production's schema into dev's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

from psycopg import errors as pg_errors
from psycopg import sql

from wa_monitor.adapters.postgres.db import (
    TABLES,
    Connection,
    Database,
    PrivilegeDenied,
    SchemaState,
)
from wa_monitor.adapters.postgres.figures import flawed_rows
from wa_monitor.adapters.postgres.plans import sizes_of
from wa_monitor.adapters.postgres.users import THROTTLE_TABLE, USERS_TABLE
from wa_monitor.core.privileges import Audit, Privilege, RoleGrants, Service, audit_role
from wa_monitor.core.records import Sighting
from wa_monitor.core.steps import Step
from wa_monitor.errors import Refused
from wa_monitor.settings import PROD_SCHEMA, Environment

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
    # The drain records photos and drop messages; the fetcher (a thread of the daemon, or
    # `photos fetch`) records each photo's state, and `photos prune` forgets cached copies.
    TABLES["photos"]: frozenset({SELECT, INSERT, UPDATE}),
    TABLES["drop_posts"]: frozenset({SELECT, INSERT}),
    # The photos no drop message claims yet, a row per batch and window's length of times (0035).
    # Those parked longer ago than photos_waiting_days are deleted by the drain (0036).
    TABLES["photos_waiting"]: frozenset({SELECT, INSERT, DELETE}),
    # Drop messages skipped for their sender, counted by `status` (migration 0017).
    TABLES["skipped"]: frozenset({SELECT, INSERT}),
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
    TABLES["photo_steps"]: frozenset({TRUNCATE}),
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
    # The daily totals come from the per-day summary (migrations 0019, 0024).
    TABLES["daily"]: frozenset({SELECT}),
    TABLES["daily_zone"]: frozenset({SELECT}),
    TABLES["daily_projects"]: frozenset({SELECT}),
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
    TABLES["photos"]: frozenset({SELECT}),  # the review page's photos, the lists' counts
    USERS_TABLE: frozenset({SELECT}),
    THROTTLE_TABLE: frozenset({SELECT, INSERT, UPDATE, DELETE}),
    # The review workflow: a reviewer's save and the feedback stamp update the review (under
    # a row lock), record the change, and claim and finish a send.
    TABLES["changes"]: frozenset({SELECT, INSERT}),
    TABLES["sends"]: frozenset({SELECT, INSERT}),
    # The overview lists the day's invalid drop numbers and whether each was answered.
    TABLES["invalid"]: frozenset({SELECT}),
    TABLES["outbox"]: frozenset({SELECT}),
    # Who has a review open: a reviewer's page writes and renews its mark, and deletes the
    # expired ones (migration 0014).
    TABLES["presence"]: frozenset({SELECT, INSERT, UPDATE, DELETE}),
    # The overview's figures, the queue's counts and the Quality page's figures come from the
    # per-day summary (migrations 0019, 0024), kept by triggers that need no right of the roles
    # that write reviews.
    TABLES["daily"]: frozenset({SELECT}),
    TABLES["daily_zone"]: frozenset({SELECT}),
    TABLES["daily_projects"]: frozenset({SELECT}),
    TABLES["daily_times"]: frozenset({SELECT}),
    # Which step a photo shows: a reviewer marks it and changes the mark (migration 0020).
    TABLES["photo_steps"]: frozenset({SELECT, INSERT, UPDATE, DELETE}),
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
                "bridge",  # the bridge it was posted through (migration 0027)
                "resolution",
                "resolved_by",
                "resolved_at",
            }
        )
    },
}
# A login notes itself (and a rehash) through this function only (SECURITY DEFINER, fixed
# search_path): the web role holds no UPDATE on wa_monitor_users.
# A logout ends the session on the server and a reviewer corrects a drop number the same way
# (migration 0015): no UPDATE of drop_number, none of session_epoch.
LOGGED_IN_FUNCTION = "wa_monitor_logged_in"
LOGGED_OUT_FUNCTION = "wa_monitor_logged_out"
CORRECT_DROP_FUNCTION = "wa_monitor_correct_drop"
FUNCTION_ARGUMENTS: Mapping[str, str] = {
    LOGGED_IN_FUNCTION: "bigint, text, text",
    LOGGED_OUT_FUNCTION: "bigint, integer",
    CORRECT_DROP_FUNCTION: "uuid, integer, text, text, text, boolean",
}
WEB_FUNCTIONS = frozenset(FUNCTION_ARGUMENTS)


class Examination:
    """services/doctor.Examined on one connection: what doctor asks, each answer's driver
    error translated by the handle."""

    def __init__(self, conn: Connection, db: Database) -> None:
        self._conn, self._db = conn, db

    def whoami(self) -> tuple[str, str, str]:
        """Who the connection logged in as: the role, the database, the server's version."""
        with self._db.translated():
            row = self._conn.execute(self._db.query("queries.whoami")).fetchone()
        return (str(row[0]), str(row[1]), str(row[2])) if row else ("?", "?", "?")

    def schema_state(self) -> SchemaState:
        with self._db.translated():
            return self._db.state(self._conn)

    def audit(self, service: Service) -> Audit:
        with self._db.translated():
            return audit(self._conn, self._db, service=service)

    def plan_sizes(self, projects: Sequence[str]) -> dict[str, int]:
        with self._db.translated():
            return sizes_of(self._conn, self._db, projects)

    def flawed_rows(self) -> int:
        with self._db.translated():
            return flawed_rows(self._conn, self._db)


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


@contextmanager
def _writing(conn: Connection, db: Database) -> Iterator[None]:
    """One transaction that gives up on a lock after 10 s instead of queueing behind it."""
    with conn.transaction():
        conn.execute(db.query("ops.lock_timeout"))
        yield


def _refuse_prod(db: Database, action: str) -> None:
    if db.environment == Environment.PROD or db.schema == PROD_SCHEMA:
        raise Refused(
            f"refusing to {action} production (schema {db.schema!r}): "
            "only a dev environment can be reset or dropped"
        )


def _no_monitor_running(conn: Connection, db: Database) -> None:
    """Hold the environment's instance lock for this transaction, or refuse: a monitor runs."""
    exists = conn.execute(
        db.query("queries.instance_table_exists"), {"schema": db.schema}
    ).fetchone()
    if not exists or not exists[0]:
        return  # not migrated: no monitor of this release can run on it
    try:
        with conn.transaction():  # a savepoint: the refusal must not abort the work's transaction
            conn.execute(db.query("ops.instance_xact_lock"))
    except pg_errors.LockNotAvailable:
        pass
    else:
        return
    holder = db.lock_holder(conn)
    who = f" ({holder.describe()})" if holder else ""
    raise Refused(
        f"a wa-monitor is running for schema {db.schema!r}{who}: stop it first "
        f"(systemctl stop wa-monitor-{db.environment}), then try again"
    )


def _counts(conn: Connection, db: Database) -> Emptied:
    row = conn.execute(db.query("ops.row_counts")).fetchone() or (0, 0)
    return Emptied(reviews=int(row[0]), ledger=int(row[1]))


def reset(db: Database, *, confirm: Confirm) -> Emptied:
    """Empty the environment's reviews, ledger, cursor, invalid drops, reply outbox, review
    trail, feedback sends, flawed rows and skipped messages in one transaction (ops.reset);
    plan lists stay."""
    _refuse_prod(db, "reset")
    schema, env = db.schema, db.environment
    with db.session("ops") as conn:
        db.require_current(conn)
        before = _counts(conn, db)
        if not confirm(
            f"Empty {schema}.qa_photo_reviews ({before.reviews} reviews, with their trail and "
            f"feedback sends), its ledger ({before.ledger} messages), its cursor, its invalid "
            "drop submissions, its reply outbox and its record of flawed rows and skipped "
            f"messages? (The plan lists stay.) The {env} monitor then starts over from the "
            "bridge's first message."
        ):
            raise Refused("not confirmed; nothing changed")
        with _writing(conn, db):
            _no_monitor_running(conn, db)
            emptied = _counts(conn, db)
            conn.execute(db.query("ops.reset"))
    return emptied


def drop(db: Database, *, confirm: Confirm) -> Emptied:
    """Drop the environment's whole schema in one transaction; never an object outside it."""
    _refuse_prod(db, "drop")
    schema, env = db.schema, db.environment
    with _as_owner("drop", env), db.session("ops") as conn:
        exists = conn.execute(db.query("queries.schema_exists"), {"schema": schema}).fetchone()
        if not exists or not exists[0]:
            raise Refused(f"schema {schema!r} does not exist: nothing to drop")
        if db.version(conn) is None:
            # A misconfigured `schema` could name another application's schema.
            raise Refused(
                f"schema {schema!r} holds no wa-monitor tables: not dropping a schema "
                "wa-monitor did not make (drop it with psql if you mean it)"
            )
        before = _counts(conn, db)
        if not confirm(
            f"Drop schema {schema} and everything in it ({before.reviews} reviews, "
            f"{before.ledger} ledger messages)? `wa-monitor schema migrate --env {env}` "
            "creates it again, empty."
        ):
            raise Refused("not confirmed; nothing changed")
        with _writing(conn, db):
            _no_monitor_running(conn, db)
            outside = [
                str(r[0])
                for r in conn.execute(db.query("ops.outside_dependents"), {"schema": schema})
            ]
            if outside:
                raise Refused(
                    f"refusing to drop schema {schema!r}: objects outside it depend on it and "
                    f"would be dropped too: {'; '.join(outside[:5])}"
                    + (f" (and {len(outside) - 5} more)" if len(outside) > 5 else "")
                )
            dropped = _counts(conn, db)
            conn.execute(db.query("ops.drop_schema"))
    return dropped


def copy_from_prod(db: Database, *, window: timedelta, replace: bool) -> Copied:
    """Copy production reviews created within `window` into dev, in one transaction.

    Conflicts on (drop_number, review_date) are skipped, or with `replace` overwritten. The
    production ledger entries of the messages that named a copied drop are added to dev's ledger,
    so the dev monitor never applies those messages on top of the copied rows; dev's cursor is
    left where it is.
    """
    schema, env = db.schema, db.environment
    if env != Environment.DEV or schema == PROD_SCHEMA:
        raise Refused(
            "copy-from-prod copies production into a dev environment only; "
            f"{env!r} writes schema {schema!r}"
        )
    prod_db = Database(db.url, PROD_SCHEMA, Environment.PROD.value)
    with (
        _as_owner("copy-from-prod", env),
        db.session("ops") as conn,
        _writing(conn, db),
    ):
        dev_version = db.require_current(conn)
        prod_version = prod_db.version(conn)
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
        names = _shared_columns(conn, db)
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in names)
        updates = sql.SQL(", ").join(
            # A replaced row moves on from dev's own version, so a page open on it is refused.
            db.query(
                "ops.replace_version" if c == "version" else "ops.replace_column",
                column=sql.Identifier(c),
                target=sql.Identifier(TABLES["reviews"]),
            )
            for c in names
            if c not in {"drop_number", "review_date"}
        )
        prod = {
            "prod_reviews": prod_db.table(TABLES["reviews"]),
            "prod_ledger": prod_db.table(TABLES["ledger"]),
        }
        name = "ops.copy_reviews_replace" if replace else "ops.copy_reviews"
        row = conn.execute(
            db.query(name, columns=columns, updates=updates, **prod), {"window": window}
        ).fetchone() or (0, 0, 0)
        ledger = conn.execute(db.query("ops.copy_ledger", **prod), {"window": window}).rowcount
    selected, copied, replaced = (int(v) for v in row)
    return Copied(
        selected=selected,
        copied=copied,
        skipped=selected - copied - replaced,
        replaced=replaced,
        ledger=max(ledger, 0),
    )


def _shared_columns(conn: Connection, db: Database) -> list[str]:
    """Review columns both tables have (an adopted prod table may have more), except the id."""
    columns = db.query("ops.review_columns")
    dev = [str(r[0]) for r in conn.execute(columns, {"schema": db.schema})]
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
            f"WA_MONITOR_DATABASE_URL, not a service role's ({exc.reason}); run it as the owner, "
            f'e.g. WA_MONITOR_DATABASE_URL="$OWNER_URL" wa-monitor schema {action} --env {env}'
        ) from None


def grant_statements(
    db: Database,
    role: str,
    service: Service = Service.MONITOR,
    *,
    allow_other_env: bool = False,
) -> list[sql.Composed]:
    """The SQL that leaves `role` with exactly what the environment's service needs.

    It revokes the role's table privileges in production's schema too (a dev role must hold
    none there), unless the role is allowed to serve another environment as well.
    """
    env = Environment(db.environment)
    if service is Service.SYNC and (env is not Environment.PROD or db.schema != PROD_SCHEMA):
        raise Refused(
            f"the sync role reads production only; environment {env.value!r} is never synced"
        )
    role_id = sql.Identifier(role)
    prod_db = Database(db.url, PROD_SCHEMA, Environment.PROD.value)
    cleared = [db] if allow_other_env or db.schema == PROD_SCHEMA else [prod_db, db]
    statements = [d.query("ops.revoke_tables", role=role_id) for d in cleared]
    statements += [d.query("ops.revoke_functions", role=role_id) for d in cleared]
    statements += [d.query("ops.revoke_create", role=role_id) for d in cleared]
    statements.append(db.query("ops.grant_usage", role=role_id))
    for table, privileges in needs(env, service).items():
        listed = sql.SQL(", ").join(sql.SQL(p.value) for p in Privilege if p in privileges)
        statements.append(
            db.query("ops.grant_table", role=role_id, privileges=listed, table=db.table(table))
        )
    for table, by_privilege in column_needs(service).items():
        for privilege, columns in by_privilege.items():
            statements.append(
                db.query(
                    "ops.grant_columns",
                    role=role_id,
                    privilege=sql.SQL(privilege.value),
                    columns=sql.SQL(", ").join(map(sql.Identifier, sorted(columns))),
                    table=db.table(table),
                )
            )
    for function in sorted(function_needs(service)):
        statements.append(
            db.query(
                "ops.grant_function",
                role=role_id,
                function=db.table(function),
                arguments=sql.SQL(FUNCTION_ARGUMENTS[function]),
            )
        )
    return statements


def render(statements: list[sql.Composed]) -> str:
    """Statements as psql would take them; identifiers quoted as PostgreSQL quotes them."""
    return "\n".join(s.as_string(None) for s in statements)


def audit(
    conn: Connection,
    db: Database,
    role: str | None = None,
    *,
    service: Service = Service.MONITOR,
    allow_other_env: bool = False,
) -> Audit:
    """Audit `role` (the current one when None) for the environment; no change is made."""
    env, schema = db.environment, db.schema
    row = conn.execute(db.query("ops.role_attributes"), {"role": role}).fetchone()
    if row is None:
        return Audit.no_such_role(role)
    user, superuser, createdb, createrole, database, db_create = row
    user = str(user)
    owns = conn.execute(
        db.query("ops.role_info"),
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
                for s, t, p in conn.execute(db.query("ops.table_privileges"), params)
            ),
            schemas=frozenset(
                (str(s), str(p)) for s, p in conn.execute(db.query("ops.schema_privileges"), params)
            ),
            wa_monitor_schemas=frozenset(
                str(r[0]) for r in conn.execute(db.query("ops.wa_monitor_schemas"))
            ),
            columns=frozenset(
                (str(s), str(t), str(c), Privilege(p))
                for s, t, c, p in conn.execute(db.query("ops.column_privileges"), params)
            ),
            functions=frozenset(
                (str(s), str(f))
                for s, f in conn.execute(db.query("ops.function_privileges"), params)
            ),
        )
    needed = needs(Environment(env), service)
    return audit_role(
        grants,
        needed,
        db,
        service=service,
        allow_other_env=allow_other_env,
        needed_columns=column_needs(service),
        needed_functions=function_needs(service),
    )


def grant(
    db: Database,
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
    schema, env = db.schema, db.environment
    statements = grant_statements(db, role, service, allow_other_env=allow_other_env)
    with (
        _as_owner("grant", env),
        db.session("ops") as conn,
        _writing(conn, db),
    ):
        db.require_current(conn)
        info = conn.execute(
            db.query("ops.role_info"),
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
                "role of its own (docs/DEPLOYMENT.md, Roles and URLs)"
            )
        if not allow_other_env:
            _refuse_other_env(conn, db, role, other_roles or {})
        for statement in statements:
            conn.execute(statement)
        return audit(conn, db, role, service=service, allow_other_env=allow_other_env)


def _refuse_other_env(
    conn: Connection, db: Database, role: str, other_roles: Mapping[str, str]
) -> None:
    """A role that serves another environment: granting (and revoking its rights elsewhere)
    would take that environment's service down. One slipped word must not do that."""
    env = db.environment
    flag = "--allow-other-env"
    named = sorted(e for e, r in other_roles.items() if r == role)
    if named:
        raise Refused(
            f"role {role!r} is environment {named[0]}'s service role, not {env}'s: granting it "
            f"to {env} would revoke what wa-monitor-{named[0]} needs; check --role (or pass "
            f"{flag} if one role really serves both)"
        )
    found = audit(conn, db, role).other_envs
    if found:
        where = ", ".join(found)
        raise Refused(
            f"role {role!r} holds privileges in schema {where}, another wa-monitor "
            f"environment's: it serves that environment, and granting it to {env} would revoke "
            f"them; check --role, or revoke them first (REVOKE ALL ON ALL TABLES IN SCHEMA "
            f"{found[0]} FROM {sql.Identifier(role).as_string(None)}), or pass {flag}"
        )


Key = tuple[str, str]  # a message's chat JID and id, as the ledger keys it
LEDGER_PAGE = 1000


def complete_ledger(
    conn: Connection, db: Database, sightings_of: Callable[[Sequence[Key]], Sequence[Sighting]]
) -> int:
    """Complete the ledger entries written before version 21 (no project, sender, name or
    resubmission word) from the messages as `sightings_of` finds them (the bridge file): their
    drops can then be folded again in time order when an older message arrives late, as every
    later drop's are. An entry whose message the bridge no longer holds stays as it was (its
    drop's late messages stay stale). How many were completed."""
    after, completed = ("", ""), 0
    while True:
        page = conn.execute(
            db.query("ops.ledger_before_21"),
            {"chat": after[0], "id": after[1], "limit": LEDGER_PAGE},
        ).fetchall()
        if not page:
            return completed
        keys = [(str(chat), str(mid)) for chat, mid in page]
        firsts: dict[Key, Sighting] = {}
        for s in sightings_of(keys):
            firsts.setdefault((s.chat_jid, s.message_id), s)
        found = list(firsts.values())
        if found:
            completed += conn.execute(
                db.query("ops.complete_ledger"),
                {
                    "chats": [s.chat_jid for s in found],
                    "ids": [s.message_id for s in found],
                    "projects": [s.project for s in found],
                    "senders": [s.phone for s in found],
                    "names": [s.user_name for s in found],
                    "resubmit": [s.says_resubmitted for s in found],
                },
            ).rowcount
        after = keys[-1]
