"""`wa-monitor status`: every environment of the config folder side by side, as ops compare them.

Each environment is read with its own database URL: WA_MONITOR_DATABASE_URL_<NAME> (e.g.
WA_MONITOR_DATABASE_URL_DEV) when set, else the URL the service itself uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg

from wa_monitor.adapters import logs
from wa_monitor.adapters.bridge import Bridge, BridgeError
from wa_monitor.adapters.postgres.admin import query
from wa_monitor.adapters.postgres.db import (
    latest_version,
    resolve_url,
    schema_state,
    session,
    url_variable,
)
from wa_monitor.errors import ConfigError, WaMonitorError
from wa_monitor.settings import (
    ENV_NAME,
    Settings,
    config_dirs,
    find_config,
    load_settings,
)


def environment_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The environments `--env` can name: NAME.toml in the config folders, sorted."""
    names = {
        p.stem
        for folder in config_dirs(environ)
        if folder.is_dir()
        for p in folder.glob("*.toml")
        if ENV_NAME.fullmatch(p.stem)
    }
    return sorted(names)


@dataclass(frozen=True, slots=True)
class EnvStatus:
    env: str
    config: str
    schema: str | None = None
    migration_version: int | None = None
    latest_version: int = field(default_factory=latest_version)
    reviews_total: int | None = None
    reviews_today: int | None = None
    latest_created_at: datetime | None = None
    last_processed_at: datetime | None = None  # when the newest ledger entry was applied
    last_processed_message_at: datetime | None = None  # that message's time in the bridge
    cursor_rowid: int | None = None
    last_cycle_at: datetime | None = None
    behind: int | None = None  # messages of enabled groups stored after the cursor
    # Bridge rows processed with the read time or their id's hex (wa_monitor_flawed_rows).
    flawed_rows: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["problems"] = list(self.problems)
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items()}


def collect(env: str, *, max_behind: int | None) -> EnvStatus:
    """One environment's figures; anything that went wrong is in `problems`, never raised."""
    try:
        path = find_config(env)
        settings = load_settings(path, expect=env)
    except ConfigError as exc:
        return EnvStatus(env=env, config="", problems=(logs.redact(str(exc)),))
    base = EnvStatus(env=env, config=str(path), schema=settings.schema)
    try:
        url = resolve_url(settings, own_variable=True)
    except ConfigError as exc:
        return _with(base, problems=(f"{exc} (or {url_variable(env)})",))
    try:
        with session(
            url, schema=settings.schema, env=env, purpose="status", connect_timeout=5
        ) as conn:
            figures = _database_figures(conn, settings)
    except WaMonitorError as exc:
        return _with(base, problems=(f"database: {exc}",))
    status = _with(base, **figures)
    problems = list(status.problems)
    if status.migration_version is not None and not problems:
        try:
            with Bridge(
                settings.bridge_db, groups=list(settings.enabled_projects), tz=settings.tz, span=1
            ) as bridge:
                behind = bridge.pending(status.cursor_rowid or 0)
        except BridgeError as exc:
            problems.append(f"bridge: {exc}")
        else:
            status = _with(status, behind=behind)
            if max_behind is not None and behind > max_behind:
                problems.append(f"{behind} bridge messages not yet processed (> {max_behind})")
    return _with(status, problems=tuple(problems))


def _with(status: EnvStatus, **changes: Any) -> EnvStatus:
    values = asdict(status) | changes
    values["problems"] = tuple(values["problems"])
    return EnvStatus(**values)


def _database_figures(conn: psycopg.Connection[Any], settings: Settings) -> dict[str, Any]:
    schema, env = settings.schema, settings.environment.value
    state = schema_state(conn, schema)
    version = state.version
    if (problem := state.problem(env)) is not None:
        return {"migration_version": version, "problems": (problem,)}
    today = datetime.now(settings.tz).date()
    total, today_count, latest = _one(conn, "status_reviews", schema, {"today": today})
    processed, message = _one(conn, "status_ledger", schema) or (None, None)
    rowid, cycle = _one(conn, "status_cursor", schema) or (None, None)
    flawed = flawed_rows(conn, schema)
    tz = settings.tz
    return {
        "migration_version": version,
        "reviews_total": total,
        "reviews_today": today_count,
        "latest_created_at": _local(latest, tz),
        "last_processed_at": _local(processed, tz),
        "last_processed_message_at": _local(message, tz),
        "cursor_rowid": rowid,
        "last_cycle_at": _local(cycle, tz),
        "flawed_rows": flawed,
    }


def flawed_rows(conn: psycopg.Connection[Any], schema: str) -> int:
    """How many bridge rows were processed with something in place of their time or id."""
    return int(_one(conn, "status_flawed", schema)[0])


def _one(
    conn: psycopg.Connection[Any],
    name: str,
    schema: str,
    params: Mapping[str, date] | None = None,
) -> tuple[Any, ...]:
    row = conn.execute(query(name, schema), params).fetchone()
    return tuple(row) if row else ()


def _local(moment: datetime | None, tz: Any) -> datetime | None:
    return None if moment is None else moment.astimezone(tz)


_COLUMNS = (
    ("ENV", "env"),
    ("SCHEMA", "schema"),
    ("VERSION", "migration_version"),
    ("REVIEWS", "reviews_total"),
    ("TODAY", "reviews_today"),
    ("LATEST CREATED", "latest_created_at"),
    ("LAST PROCESSED", "last_processed_at"),
    ("BEHIND", "behind"),
    ("FLAWED", "flawed_rows"),
)


def table(statuses: list[EnvStatus]) -> str:
    """The figures as a table, then one line per problem."""
    rows = [[title for title, _ in _COLUMNS] + ["STATUS"]]
    for s in statuses:
        cells = [_cell(getattr(s, key)) for _, key in _COLUMNS]
        rows.append([*cells, "ok" if s.ok else "PROBLEM"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"{s.env}: {p}" for s in statuses for p in s.problems]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def report(*, as_json: bool, max_behind: int | None) -> tuple[str, bool]:
    """The status of every environment, and whether all of them are healthy."""
    names = environment_names()
    if not names:
        looked = ", ".join(str(d) for d in config_dirs())
        raise ConfigError(f"no environment files (NAME.toml) in {looked}")
    statuses = [collect(name, max_behind=max_behind) for name in names]
    healthy = all(s.ok for s in statuses)
    if as_json:
        text = json.dumps(
            {"ok": healthy, "environments": [s.as_json() for s in statuses]}, indent=2
        )
    else:
        text = table(statuses)
    return text, healthy
