"""What a service's database role may do, against what it holds: the privilege audit's rules.

The PostgreSQL adapter (adapters/postgres/admin.py) says what each service needs and reads what
a role holds; audit_role() compares the two, in the environment its Database handle serves,
and says, for ops, what is missing or extra and the command that fixes each. Pure.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

# PostgreSQL's own schema (production's): every role has USAGE on it through PUBLIC by default,
# which opens no table by itself.
PUBLIC_SCHEMA = "public"


class AuditedEnvironment(Protocol):
    """The environment an audit is for, and its schema: the Database handle is one, so no
    signature here carries a schema of its own."""

    @property
    def environment(self) -> str: ...

    @property
    def schema(self) -> str: ...


class Privilege(enum.StrEnum):
    SELECT = "SELECT"
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    TRUNCATE = "TRUNCATE"
    REFERENCES = "REFERENCES"
    TRIGGER = "TRIGGER"


class Service(enum.StrEnum):
    """The services with a database role of their own."""

    MONITOR = "monitor"  # wa-monitor run
    SYNC = "sync"  # wa-monitor sync sharepoint
    WEB = "web"  # wa-monitor web, the dashboard


@dataclass(frozen=True, slots=True)
class RoleGrants:
    """What a role holds, as the database says it.

    The grants themselves (tables, schemas) need not be read for a role grants cannot limit
    (`limitless`): nothing in them would change the audit.
    """

    role: str
    superuser: bool = False
    owns_tables: bool = False  # owns (or is a member of the owner of) the schema's tables
    create_databases: bool = False
    create_roles: bool = False
    database: str = ""
    create_schemas: bool = False  # CREATE on the database, its own or PUBLIC's
    tables: frozenset[tuple[str, str, Privilege]] = frozenset()  # (schema, table, privilege)
    schemas: frozenset[tuple[str, str]] = frozenset()  # (schema, USAGE or CREATE)
    wa_monitor_schemas: frozenset[str] = frozenset()  # every environment's schema
    # Column-level grants only (a table-wide one is in `tables`): (schema, table, column, priv).
    columns: frozenset[tuple[str, str, str, Privilege]] = frozenset()
    # wa-monitor's own functions the role may execute: (schema, function name).
    functions: frozenset[tuple[str, str]] = frozenset()

    @property
    def limitless(self) -> bool:
        return self.superuser or self.owns_tables


@dataclass(frozen=True, slots=True)
class Audit:
    """What a role holds against what the environment's service needs: each problem with its
    fix. `ok` is true only when it holds exactly that, and nothing in another schema."""

    role: str
    problems: tuple[str, ...]
    fixes: tuple[str, ...]
    other_envs: tuple[str, ...]  # other wa-monitor schemas it holds table privileges in

    @property
    def ok(self) -> bool:
        return not self.problems

    @classmethod
    def no_such_role(cls, role: str | None) -> Audit:
        return cls(role or "?", (f"role {role} does not exist",), (), ())


def audit_role(
    grants: RoleGrants,
    needed: Mapping[str, frozenset[Privilege]],
    db: AuditedEnvironment,
    *,
    service: Service = Service.MONITOR,
    allow_other_env: bool = False,
    needed_columns: Mapping[str, Mapping[Privilege, frozenset[str]]] | None = None,
    needed_functions: frozenset[str] = frozenset(),
) -> Audit:
    """Compare what `grants` holds with `needed` (table → privileges), `needed_columns` (table →
    privilege → the columns it is granted on, never the whole table) and `needed_functions`
    (names the role may execute) in the schema of `db`'s environment: what is missing, what is
    extra, and how to fix each."""
    schema, env = db.schema, db.environment
    user = grants.role
    quoted = user  # as psql takes a plain name; doctor and grant print it for people
    if grants.limitless:
        what = (
            "a superuser: it can read and write every schema"
            if grants.superuser
            else f"the owner of schema {schema!r}'s tables: it can do anything to them"
        )
        return Audit(
            user,
            (f"role {user} is {what}, and grants cannot limit it",),
            (
                f"create a dedicated role for wa-monitor-{env} (CREATE ROLE wa_monitor_{env} "
                "LOGIN PASSWORD '…'), then as the database owner: wa-monitor schema grant "
                f"--env {env} --role wa_monitor_{env} (docs/DEPLOYMENT.md, Roles and URLs)",
            ),
            (),
        )
    held = grants.tables
    wanted = {(schema, t, p) for t, ps in needed.items() for p in ps}
    other_envs = tuple(sorted({s for s, _, _ in held} & (grants.wa_monitor_schemas - {schema})))
    excused = set(other_envs) if allow_other_env else set()
    extra_held = {(s, t, p) for s, t, p in held - wanted if s not in excused}
    missing, extra = _grouped(wanted - held), _grouped(extra_held)
    missing_columns, extra_columns = _column_diff(grants, needed_columns or {}, db, excused=excused)
    missing += _columns_grouped(missing_columns)
    extra += _columns_grouped(extra_columns)
    wanted_functions = {(schema, f) for f in needed_functions}
    held_functions = {(s, f) for s, f in grants.functions if s not in excused}
    extra_functions = held_functions - wanted_functions
    missing += [f"EXECUTE on {s}.{f}" for s, f in sorted(wanted_functions - held_functions)]
    extra += [f"EXECUTE on {s}.{f}" for s, f in sorted(extra_functions)]
    extra_schemas_of = (
        {s for s, _, _ in extra_held}
        | {g[0] for g in extra_columns}
        | {s for s, _ in extra_functions}
    )
    extra_schemas = sorted(
        (s, p)
        for s, p in grants.schemas - {(schema, "USAGE"), (PUBLIC_SCHEMA, "USAGE")}
        if not (p == "USAGE" and s in excused)
    )
    lacks_usage = (schema, "USAGE") not in grants.schemas
    grant = f"as the database owner: wa-monitor schema grant --env {env} --role {user}"
    if service is not Service.MONITOR:
        grant += f" --service {service.value}"
    problems: list[str] = []
    fixes: list[str] = []
    if missing or lacks_usage:
        problems.append(
            "lacks " + "; ".join((["USAGE on " + schema] if lacks_usage else []) + missing)
        )
        fixes.append(grant)
    if extra:
        problems.append("may also " + "; ".join(extra))
        fixes.extend(
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {other} FROM {quoted}"
            for other in sorted(
                ({s for s, _, _ in extra_held} | {g[0] for g in extra_columns}) - {schema}
            )
        )
        fixes.extend(
            f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {other} FROM {quoted}"
            for other in sorted({s for s, _ in extra_functions} - {schema})
        )
        if schema in extra_schemas_of:
            fixes.append(grant)  # it revokes in the environment's schema first
    if extra_schemas:
        problems.append("may also " + ", ".join(f"{p} on schema {s}" for s, p in extra_schemas))
        fixes.extend(
            f"REVOKE {p} ON SCHEMA {s} FROM {quoted} (and FROM PUBLIC)" for s, p in extra_schemas
        )
    if grants.create_schemas:
        problems.append(f"may create schemas in database {grants.database}")
        fixes.append(f"REVOKE CREATE ON DATABASE {grants.database} FROM {quoted} (and FROM PUBLIC)")
    if grants.create_databases or grants.create_roles:
        problems.append("may create databases or roles")
        fixes.append(f"ALTER ROLE {quoted} NOCREATEDB NOCREATEROLE")
    return Audit(
        user,
        tuple(f"role {user} {p}" for p in problems),
        tuple(dict.fromkeys(fixes)),
        other_envs,
    )


def _column_diff(
    grants: RoleGrants,
    needed: Mapping[str, Mapping[Privilege, frozenset[str]]],
    db: AuditedEnvironment,
    *,
    excused: set[str],
) -> tuple[set[tuple[str, str, str, Privilege]], set[tuple[str, str, str, Privilege]]]:
    """Column grants missing and extra. A column need met by a
    table-wide grant is not missing (that grant is reported as extra instead)."""
    wanted = {
        (db.schema, table, column, privilege)
        for table, by_privilege in needed.items()
        for privilege, columns in by_privilege.items()
        for column in columns
    }
    held = {g for g in grants.columns if g[0] not in excused}
    missing = {g for g in wanted - held if (g[0], g[1], g[3]) not in grants.tables}
    return missing, held - wanted


def _columns_grouped(items: set[tuple[str, str, str, Privilege]]) -> list[str]:
    by_grant: dict[tuple[str, str, Privilege], list[str]] = defaultdict(list)
    for s, t, c, p in sorted(items):
        by_grant[(s, t, p)].append(c)
    return [f"{p.value} ({', '.join(cs)}) on {s}.{t}" for (s, t, p), cs in by_grant.items()]


def _grouped(items: set[tuple[str, str, Privilege]]) -> list[str]:
    """'SELECT, INSERT on dev.qa_photo_reviews' per table, in a stable order."""
    by_table: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s, t, p in sorted(items):
        by_table[(s, t)].append(p.value)
    return [f"{', '.join(ps)} on {s}.{t}" for (s, t), ps in by_table.items()]
