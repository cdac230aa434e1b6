"""`wa-monitor status`: every environment of the config folder side by side, as ops compare them,
with each one's liveness: is a monitor running, since when, when did it last read the bridge.

Each environment is read with its own database URL: WA_MONITOR_DATABASE_URL_<NAME> (e.g.
WA_MONITOR_DATABASE_URL_DEV) when set, else the URL the service itself uses. `measure()` is the
one place these figures are computed, on a connection the caller has (the web app's /healthz
and /metrics); `assess()` opens one for it (`status`, `alerts check`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from wa_monitor.adapters import logs
from wa_monitor.adapters.bridge import BridgeError
from wa_monitor.adapters.postgres import figures
from wa_monitor.adapters.postgres.db import (
    Database,
    LockHolder,
    SchemaState,
    latest_version,
    resolve_url,
    url_variable,
)
from wa_monitor.adapters.postgres.figures import PgFigures
from wa_monitor.core.alerts import BridgeHealth, lag
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
class Limits:
    """What makes an environment unhealthy beyond being unreachable or unmigrated."""

    max_behind: int | None = None  # more bridge messages waiting than this; or no monitor runs
    max_idle: timedelta | None = None  # messages wait and the monitor read nothing for this long

    @property
    def needs_a_monitor(self) -> bool:
        return self.max_behind is not None or self.max_idle is not None


@dataclass(frozen=True, slots=True)
class BridgeStatus:
    """One of the environment's bridges: the newest message its monitor read from it, how far
    that is behind the freshest bridge's, its monitor's last read, and whether it runs."""

    name: str
    newest_message_at: datetime | None = None
    lag_seconds: float | None = None  # behind the freshest bridge's newest message
    last_read_at: datetime | None = None
    running: bool = False
    cursor_rowid: int | None = None


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
    last_cycle_at: datetime | None = None  # when the saved position last moved
    behind: int | None = None  # messages of enabled groups stored after the cursor
    invalid_today: int | None = None  # invalid drop submissions posted today (local day)
    replies_waiting: int | None = None  # replies in the outbox not yet posted
    replies_unknown: int | None = None  # replies that may or may not have been posted
    # Liveness: the instance lock's holder is the running monitor.
    running: bool | None = None  # None: the database could not be asked
    running_since: datetime | None = None  # the holder's session start
    running_pid: int | None = None  # the holder's backend pid (PostgreSQL's, not the host's)
    last_read_at: datetime | None = None  # the monitor last read the bridge (heartbeat)
    newest_message_at: datetime | None = None  # the bridge's newest message, any chat
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Bridge rows processed with the read time or their id's hex (wa_monitor_flawed_rows).
    flawed_rows: int | None = None
    bridge: str = ""  # the bridge this host reads (its file: behind, newest_message_at)
    bridges: tuple[BridgeStatus, ...] = ()  # every configured bridge
    lagging: tuple[str, ...] = ()  # with several bridges, each one behind or not read
    # Drop messages skipped today for their sender (a bot number, the bridge's own account),
    # and who sent them: an agent listed in bot_senders by mistake shows here.
    skipped_today: int | None = None
    skipped_senders: tuple[figures.SkippedSender, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def idle_for(self) -> timedelta | None:
        """How long since the monitor last read the bridge."""
        return None if self.last_read_at is None else self.checked_at - self.last_read_at

    @property
    def bridge_quiet_for(self) -> timedelta | None:
        """How long since the bridge stored its newest message."""
        return None if self.newest_message_at is None else self.checked_at - self.newest_message_at

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["problems"] = list(self.problems)
        out["skipped_senders"] = [_plain(sender) for sender in out["skipped_senders"]]
        for name in ("idle_for", "bridge_quiet_for"):
            value = getattr(self, name)
            out[f"{name}_seconds"] = None if value is None else round(value.total_seconds(), 1)
        out["bridges"] = [_plain(b) for b in out["bridges"]]
        return _plain(out)


class Figures(Protocol):
    """What `measure` reads: the environment's schema and its bridge's file.
    adapters/postgres/figures.PgFigures, or FakeFigures in tests/support/fakes.py."""

    def schema_state(self) -> SchemaState: ...

    def lock_holder(self) -> LockHolder | None: ...

    def review_counts(self, today: date) -> figures.ReviewCounts: ...

    def progress(self, bridge: str) -> figures.Progress: ...

    def bridges(self) -> list[figures.BridgeProgress]: ...

    def flawed_rows(self) -> int: ...

    def skipped_since(self, since: datetime) -> list[figures.SkippedSender]: ...

    def replies_day(self, start: datetime, until: datetime) -> figures.RepliesDay: ...

    def backlog(self, cursor_rowid: int) -> tuple[int, datetime | None]:
        """The bridge's messages of enabled groups after the cursor, and its newest message's
        time; BridgeError when its file cannot be read."""
        ...


def collect(env: str, *, limits: Limits | None = None) -> EnvStatus:
    """One environment of the config folder; anything that went wrong is in `problems`."""
    try:
        path = find_config(env)
        settings = load_settings(path, expect=env)
    except ConfigError as exc:
        return EnvStatus(env=env, config="", problems=(logs.redact(str(exc)),))
    return assess(settings, config=str(path), limits=limits)


def assess(
    settings: Settings,
    *,
    config: str = "",
    url: str | None = None,
    limits: Limits | None = None,
) -> EnvStatus:
    """An environment's figures and liveness on a connection of its own; never raises.

    `url` defaults to the environment's own (WA_MONITOR_DATABASE_URL_<ENV>, else the service's).
    """
    env = settings.environment.value
    base = EnvStatus(env=env, config=config, schema=settings.schema)
    if url is None:
        try:
            url = resolve_url(settings, own_variable=True)
        except ConfigError as exc:
            return replace(base, problems=(f"{exc} (or {url_variable(env)})",))
    db = Database(url, settings.schema, env)
    try:
        with db.session("status", connect_timeout=5) as conn:
            return measure(PgFigures(conn, db, settings), settings, base=base, limits=limits)
    except WaMonitorError as exc:
        return replace(base, problems=(f"database: {exc}",))


def measure(
    source: Figures,
    settings: Settings,
    *,
    base: EnvStatus | None = None,
    limits: Limits | None = None,
    counts: bool = True,
) -> EnvStatus:
    """The one computation of an environment's figures and liveness, read from its schema
    (status, alerts, and the web app on its own pool), then its bridge file. Without `counts`
    the review counts (a scan of the whole table) and the outbox's are left out (the dashboard's
    role may read neither). Database errors propagate (translated by the session `source` reads
    on); a bridge that cannot be read is a problem in the record."""
    env, limits = settings.environment.value, limits or Limits()
    if base is None:
        base = EnvStatus(env=env, config="", schema=settings.schema)
    status = replace(base, **_database_figures(source, settings, counts=counts))
    if status.migration_version is None or status.problems:
        return status
    try:
        behind, newest = source.backlog(status.cursor_rowid or 0)
    except BridgeError as exc:
        return replace(status, problems=(f"bridge: {exc}",))
    status = replace(status, behind=behind, newest_message_at=_local(newest, settings.tz))
    return replace(status, problems=_problems(status, limits))


def _problems(status: EnvStatus, limits: Limits) -> tuple[str, ...]:
    problems = []
    if limits.needs_a_monitor and not status.running:
        problems.append(f"no wa-monitor is running for environment {status.env}")
    if limits.needs_a_monitor:
        problems += status.lagging
    behind = status.behind or 0
    if limits.max_behind is not None and behind > limits.max_behind:
        problems.append(f"{behind} bridge messages not yet processed (> {limits.max_behind})")
    idle = status.idle_for
    if limits.max_idle is not None and behind > 0 and (idle is None or idle > limits.max_idle):
        since = "never" if idle is None else f"{_minutes(idle)} min ago"
        problems.append(
            f"{behind} bridge messages wait and the monitor last read the bridge {since} "
            f"(> {_minutes(limits.max_idle)} min)"
        )
    if status.replies_unknown:
        problems.append(
            f"{status.replies_unknown} replies may or may not have been posted (the bridge did "
            f"not say): see `wa-monitor replies list --env {status.env} --state unknown`, then "
            "`wa-monitor replies resolve`"
        )
    return tuple(problems)


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.0f}"


def _database_figures(source: Figures, settings: Settings, *, counts: bool) -> dict[str, Any]:
    state = source.schema_state()
    version = state.version
    if (problem := state.problem(settings.environment.value)) is not None:
        return {"migration_version": version, "problems": (problem,)}
    tz = settings.tz
    found: dict[str, Any] = {}
    if counts:
        reviews = source.review_counts(datetime.now(tz).date())
        found = {
            "reviews_total": reviews.total,
            "reviews_today": reviews.today,
            "latest_created_at": _local(reviews.latest_created_at, tz),
        }
    done = source.progress(settings.bridge)
    holder = source.lock_holder()
    per_bridge = _bridges(source.bridges(), settings)
    if counts:
        start = datetime.combine(datetime.now(tz).date(), time(), tzinfo=tz)
        replies = source.replies_day(start, start + timedelta(days=1))
        skipped = source.skipped_since(start)
        found |= {
            "skipped_today": sum(s.count for s in skipped),
            "skipped_senders": tuple(
                replace(s, last_sent_at=s.last_sent_at.astimezone(tz)) for s in skipped
            ),
            "invalid_today": replies.invalid,
            "replies_waiting": replies.waiting,
            "replies_unknown": replies.unknown,
        }
    return found | {
        "migration_version": version,
        "last_processed_at": _local(done.last_processed_at, tz),
        "last_processed_message_at": _local(done.last_processed_message_at, tz),
        "cursor_rowid": done.cursor_rowid,
        "last_cycle_at": _local(done.last_cycle_at, tz),
        "last_read_at": _local(done.last_read_at, tz),
        "running": holder is not None,
        "running_since": _local(holder.since, tz) if holder else None,
        "running_pid": holder.pid if holder else None,
        "flawed_rows": source.flawed_rows(),
        "bridge": settings.bridge,
        "bridges": per_bridge,
        "lagging": tuple(
            lag(
                [
                    BridgeHealth(b.name, b.newest_message_at, b.last_read_at, b.running)
                    for b in per_bridge
                ],
                max_lag=timedelta(minutes=settings.bridge_max_lag_minutes),
                now=datetime.now(UTC),
            )
        ),
    }


def _bridges(found: list[figures.BridgeProgress], settings: Settings) -> tuple[BridgeStatus, ...]:
    """Each configured bridge (one never read yet has no figures), in the config's order."""
    tz = settings.tz
    rows = {b.name: b for b in found}
    times = [b.newest_at for b in found if b.newest_at is not None]
    freshest = max(times) if times else None
    out = []
    for spec in settings.bridge_list:
        row = rows.get(spec.name)
        if row is None:
            out.append(BridgeStatus(name=spec.name))
            continue
        behind = (
            None
            if freshest is None or row.newest_at is None
            else round((freshest - row.newest_at).total_seconds(), 1)
        )
        out.append(
            BridgeStatus(
                name=spec.name,
                newest_message_at=_local(row.newest_at, tz),
                lag_seconds=behind,
                last_read_at=_local(row.read_at, tz),
                running=row.running_pid is not None,
                cursor_rowid=row.cursor_rowid,
            )
        )
    return tuple(out)


def _local(moment: datetime | None, tz: Any) -> datetime | None:
    return None if moment is None else moment.astimezone(tz)


# (title, field, shown in the narrow table that fits an 80-100-column terminal)
_COLUMNS = (
    ("ENV", "env", True),
    ("SCHEMA", "schema", False),
    ("VERSION", "migration_version", False),
    ("REVIEWS", "reviews_total", True),
    ("TODAY", "reviews_today", True),
    ("LATEST CREATED", "latest_created_at", False),
    ("LAST PROCESSED", "last_processed_at", False),
    ("BEHIND", "behind", True),
    ("INVALID TODAY", "invalid_today", True),
    ("REPLIES WAITING", "replies_waiting", True),
    ("SKIPPED", "skipped_today", True),
    ("MONITOR", "running", True),
    ("SINCE", "running_since", False),
    ("LAST READ", "last_read_at", True),
    ("FLAWED", "flawed_rows", False),
)


def verdict(status: EnvStatus) -> str:
    """One word: PROBLEM (what a health check fails on), STOPPED (no monitor runs: what
    `--max-behind` and `--max-idle` fail on), or ok."""
    if status.problems:
        return "PROBLEM"
    return "STOPPED" if status.running is False else "ok"


def table(statuses: list[EnvStatus], *, wide: bool = False) -> str:
    """The figures as a table (the narrow one unless `wide`), then one line per problem."""
    columns = [(title, key) for title, key, narrow in _COLUMNS if wide or narrow]
    rows = [[title for title, _ in columns] + ["STATUS"]]
    for s in statuses:
        cells = [_cell(key, getattr(s, key), wide=wide) for _, key in columns]
        rows.append([*cells, verdict(s)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [
        f"{s.env}: bridge {b.name}: {_bridge_line(b)}"
        for s in statuses
        if len(s.bridges) > 1
        for b in s.bridges
    ]
    lines += [f"{s.env}: {p}" for s in statuses for p in s.problems]
    lines += [_skipped_line(s.env, sender) for s in statuses for sender in s.skipped_senders]
    lines += [
        f"{s.env}: no wa-monitor is running: start wa-monitor-{s.env} (--max-behind fails on it)"
        for s in statuses
        if verdict(s) == "STOPPED"
    ]
    zones = _zones(statuses, [key for _, key in columns])
    lines += [zones] if zones else []
    return "\n".join(lines)


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


def _bridge_line(b: BridgeStatus) -> str:
    newest = _cell("", b.newest_message_at, wide=True)
    behind = "-" if b.lag_seconds is None else f"{b.lag_seconds / 60:.0f} min behind"
    read = _cell("", b.last_read_at, wide=True)
    return (
        f"newest message {newest} ({behind}), last read {read}, "
        f"monitor {'running' if b.running else 'stopped'}"
    )


def _skipped_line(env: str, sender: figures.SkippedSender) -> str:
    count, last = sender.count, sender.last_sent_at
    why = {
        "bot_sender": "listed in bot_senders",
        "own_account": "the bridge's own account; own_account_posts_drops is false",
    }.get(sender.reason, sender.reason)
    return (
        f"{env}: skipped {count} drop message{'s' if count != 1 else ''} from "
        f"{sender.sender} today ({why}; last {last:%H:%M})"
    )


def _zones(statuses: list[EnvStatus], keys: list[str]) -> str | None:
    """The zone the table's times are in, with its offset, said once (each environment's when
    they differ): a narrow cell has no room for it, and the host's zone may be another."""
    zones: dict[str, str] = {}
    for s in statuses:
        moment = next((v for k in keys if isinstance(v := getattr(s, k), datetime)), None)
        if moment is not None and moment.tzinfo is not None:
            offset = f"UTC{moment.isoformat(timespec='seconds')[19:]}"
            name = getattr(moment.tzinfo, "key", None)
            zones[s.env] = f"{name}, {offset}" if name else offset
    if not zones:
        return None
    if len(set(zones.values())) == 1:
        return f"times are local: {next(iter(zones.values()))}"
    return "times are local: " + "; ".join(f"{env} {zone}" for env, zone in zones.items())


def _cell(key: str, value: object, *, wide: bool) -> str:
    if value is None:
        return "-"
    if key == "running":
        return "running" if value else "stopped"
    if isinstance(value, datetime):
        if wide:
            return value.isoformat(sep=" ", timespec="seconds")
        return value.strftime("%m-%d %H:%M")  # the environment's local time, as in --wide
    return str(value)


def report(*, as_json: bool, limits: Limits | None = None, wide: bool = False) -> tuple[str, bool]:
    """The status of every environment, and whether all of them are healthy."""
    names = environment_names()
    if not names:
        looked = ", ".join(str(d) for d in config_dirs())
        raise ConfigError(f"no environment files (NAME.toml) in {looked}")
    statuses = [collect(name, limits=limits) for name in names]
    healthy = all(s.ok for s in statuses)
    if as_json:
        text = json.dumps(
            {"ok": healthy, "environments": [s.as_json() for s in statuses]}, indent=2
        )
    else:
        text = table(statuses, wide=wide)
    return text, healthy
