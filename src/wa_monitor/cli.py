"""The command line: the one place that wires the parts together and configures logging."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from wa_monitor import __version__, doctor, logs, ops, status
from wa_monitor.bridge import Bridge
from wa_monitor.errors import FatalError, NotMigrated, TransientError, WaMonitorError
from wa_monitor.monitor import Rules
from wa_monitor.monitor import run as run_loop
from wa_monitor.notify import SystemdNotifier
from wa_monitor.settings import (
    CONFIG_DIR_VAR,
    DATABASE_URL_VAR,
    ConfigError,
    Settings,
    find_config,
    load_settings,
)
from wa_monitor.store import Store, latest_version
from wa_monitor.waker import InotifyWaker

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

DESCRIPTION = """\
Watch the WhatsApp bridge's messages.db for drop numbers (DR1234567) posted in project groups
and keep one QA photo review row per drop in PostgreSQL, for one environment (prod or dev).
Each environment has a TOML file; the database URL comes only from $WA_MONITOR_DATABASE_URL
(or the systemd credential 'database_url')."""

CONFIG_HELP = f"""\
--env NAME reads NAME.toml from ${CONFIG_DIR_VAR} if set, else from ./config, then
/etc/wa-monitor. --config PATH names the file directly."""


def _add_target(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--env", metavar="NAME", help="environment name: prod or dev")
    group.add_argument("--config", metavar="PATH", type=Path, help="path of a TOML config file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wa-monitor",
        description=DESCRIPTION,
        epilog=CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wa-monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="the daemon: turn new bridge messages into reviews",
        description="Process new bridge messages into reviews. Without --once, keep polling "
        "until SIGTERM or SIGINT, then finish or roll back the batch in hand and exit 0. "
        "Exit 2 on a bad config or an unmigrated schema, 1 when the work cannot go on.",
        epilog=CONFIG_HELP,
    )
    _add_target(run)
    run.add_argument(
        "--once", action="store_true", help="process everything now in the bridge, then exit 0"
    )
    run.add_argument(
        "--give-up-after",
        metavar="SECONDS",
        type=float,
        default=None,
        help="with --once: how long to retry an unreachable database or bridge file before "
        "exiting 1 (default 60); the daemon never gives up",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    schema = commands.add_parser("schema", help="create and manage the environment's schema")
    schema_cmds = schema.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    migrate = schema_cmds.add_parser(
        "migrate",
        help="create the schema and its tables at the current version (idempotent)",
        description="Create the environment's schema if missing, and its tables and indexes at "
        f"the current version ({latest_version()}). Safe to run again; prod and dev get the "
        "identical structure. An existing qa_photo_reviews table is adopted.",
        epilog=CONFIG_HELP,
    )
    _add_target(migrate)
    _add_ops_commands(commands, schema_cmds)

    demo = commands.add_parser(
        "demo",
        help="show prod and dev side by side on an embedded database and a simulated bridge",
        description="Start an embedded PostgreSQL and a simulated WhatsApp bridge, run the prod "
        "and dev monitors side by side on the same bridge file, then print the comparison ops "
        "run by hand (drops and latest created_at per environment) and the tail of each log.",
    )
    demo.add_argument("--seconds", type=float, default=20.0, help="how long the bridge writes")
    demo.add_argument(
        "--dir", type=Path, default=None, help="working folder (default: a new temporary one)"
    )
    return parser


def load(args: argparse.Namespace) -> Settings:
    if args.config is not None:
        return load_settings(args.config)
    return load_settings(find_config(args.env), expect=args.env)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_attach_values(sys.argv[1:] if argv is None else argv))
    try:
        if handler := getattr(args, "handler", None):
            return int(handler(args))
        if args.command == "demo":
            from wa_monitor.demo import run_demo  # noqa: PLC0415 - pulls in the embedded server

            return run_demo(seconds=args.seconds, workdir=args.dir)
        settings = load(args)
        url = settings.require_database_url()
        logs.register_secret(*logs.secrets_of_url(url))
        if args.command == "schema":
            return schema_command(args, settings, url)
        return run_command(args, settings, url)
    except ConfigError as exc:
        print(f"wa-monitor: {logs.redact(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    except WaMonitorError as exc:
        # A fatal error says its exit code (2: not migrated, refused); anything else is 1.
        print(f"wa-monitor: {logs.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, FatalError) else EXIT_FAILED


def schema_command(args: argparse.Namespace, settings: Settings, url: str) -> int:
    with Store(url, schema=settings.schema, env=settings.environment.value) as store:
        applied = store.migrate()
        version = store.require_migrated()
    if applied:
        print(f"schema {settings.schema}: applied version(s) {applied}; now at version {version}")
    else:
        print(f"schema {settings.schema}: already at version {version}; nothing to do")
    return EXIT_OK


def run_command(args: argparse.Namespace, settings: Settings, url: str) -> int:
    try:
        logs.configure(prefix=settings.log_prefix, log_file=settings.log_file, level=args.log_level)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"log_file {settings.log_file}: cannot be opened: {reason}") from None
    log = logs.get()
    stop = threading.Event()
    # Wake on the bridge's writes, not at the next poll; the poll stays as the fallback.
    waker = InotifyWaker(settings.bridge_db, stop)
    _install_signals(stop, on_stop=waker.poke)
    env = settings.environment.value
    log.info(
        "starting",
        env=env,
        schema=settings.schema,
        bridge=str(settings.bridge_db),
        groups=len(settings.enabled_projects),
        once=args.once,
        version=__version__,
    )
    if not settings.enabled_projects:
        log.warning("no enabled [[projects]] in the config: nothing will be read")
    rules = Rules(
        projects=settings.enabled_projects, bot_senders=settings.bot_senders, tz=settings.tz
    )
    store = Store(
        url, schema=settings.schema, env=env, application_name=f"wa-monitor-{env}", exclusive=True
    )
    bridge = Bridge(
        settings.bridge_db,
        groups=list(settings.enabled_projects),
        tz=settings.tz,
        span=settings.batch_size,
        lid_map=settings.lid_map_db,
    )
    notifier = SystemdNotifier.from_environ()  # sends nothing unless systemd runs us
    try:
        with _gc_tuned_for_the_loop():
            totals = run_loop(
                source=bridge,
                sink=store,
                rules=rules,
                stop=stop,
                poll_interval=settings.poll_interval_seconds,
                once=args.once,
                waker=waker,
                give_up_after=(args.give_up_after or 60.0) if args.once else 600.0,
                notifier=notifier,
                log=log,
            )
    except NotMigrated as exc:
        log.error("❌ cannot start", error=str(exc))
        return EXIT_CONFIG
    except (FatalError, TransientError) as exc:
        log.error("❌ stopped", error=str(exc))
        return EXIT_FAILED
    finally:
        notifier.stopping()
        notifier.close()
        bridge.close()
        store.close()
        waker.close()
    log.info(
        "stopped",
        **totals.fields(),
        longest_bridge_read_ms=round(bridge.longest_read_seconds * 1000, 1),
        **_peak_rss(),
    )
    return EXIT_OK


# Young objects between two collections of the first generation (Python's default: 700).
GC_YOUNG_THRESHOLD = 10_000


@contextmanager
def _gc_tuned_for_the_loop() -> Iterator[None]:
    """The cyclic garbage collector set for a loop that makes ~100,000 short-lived records a
    drain, almost none of them in cycles (reference counting frees them): the young generation
    is collected every 10,000 allocations, not 700, and what start-up made (modules, settings,
    the driver's types) is frozen, so that no collection walks it again. Both together took a
    1M drain from 2.95 s to 2.68 s (medians of five); peak memory stayed at 64 MB. Put back
    as it was afterwards, for a caller that goes on in the same process (the tests)."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _peak_rss() -> dict[str, float]:
    """This process's peak resident memory, from the kernel's high-water mark of its own
    address space (rusage's ru_maxrss would also count the parent's, which a process started
    with vfork inherits until exec). Empty where /proc is not there."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return {}
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return {"peak_rss_mb": round(int(line.split()[1]) / 1024, 1)}
    return {}


def _install_signals(stop: threading.Event, on_stop: Callable[[], None]) -> None:
    def request_stop(signum: int, _: FrameType | None) -> None:
        stop.set()
        on_stop()

    def reopen_logs(signum: int, _: FrameType | None) -> None:
        logs.reopen()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, reopen_logs)


# -- ops commands: schema reset|drop|copy-from-prod|grant, status, doctor ----------------------

OWNER_NOTE = """\
Runs with the URL in $WA_MONITOR_DATABASE_URL: the database owner's for drop, copy-from-prod,
migrate and grant; reset also works with dev's own service URL."""


def _add_ops_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    schema_cmds: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    reset = schema_cmds.add_parser(
        "reset",
        help="empty dev's reviews, ledger and cursor so the dev monitor starts over",
        description="Empty the dev environment in one transaction: its qa_photo_reviews, its "
        "ledger and its cursor, so the dev monitor reads the bridge again from the first "
        "message. Refuses prod whatever the flags, and refuses while the dev monitor runs "
        "(stop it first). Without --yes it asks on a terminal and refuses without one.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
    )
    _add_target(reset)
    reset.add_argument("--yes", action="store_true", help="do not ask")
    reset.set_defaults(handler=reset_command)

    drop = schema_cmds.add_parser(
        "drop",
        help="drop dev's whole schema (schema migrate creates it again)",
        description="Drop the dev environment's schema and everything in it, in one "
        "transaction. Refuses prod whatever the flags, refuses while the dev monitor runs, and "
        "refuses when an object outside the schema (a view, a foreign key) depends on it. "
        "Without --yes it asks on a terminal and refuses without one.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
    )
    _add_target(drop)
    drop.add_argument("--yes", action="store_true", help="do not ask")
    drop.set_defaults(handler=drop_command)

    copy = schema_cmds.add_parser(
        "copy-from-prod",
        help="copy production reviews created within a window into dev",
        description="Copy the production reviews (schema public) created within --since into "
        "the dev environment's schema, in one transaction. A review dev already has for the "
        "same (drop_number, review_date) is skipped, or with --replace overwritten. The "
        "production ledger entries of the copied drops' messages are added to dev's ledger so "
        "the dev monitor never applies those messages again; dev's cursor is left alone. Both "
        "schemas must be at the same migration version. Prints how many rows were copied, "
        "skipped and replaced. Only ever production -> dev.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
    )
    target = copy.add_mutually_exclusive_group()
    target.add_argument("--env", metavar="NAME", help="the dev environment (default: dev)")
    target.add_argument("--config", metavar="PATH", type=Path, help="its TOML config file")
    copy.set_defaults(env="dev")
    copy.add_argument(
        "--since",
        required=True,
        metavar="DURATION",
        help="window by created_at: a whole number and a unit m, h, d or w (90m, 24h, 7d, 1d12h)",
    )
    copy.add_argument(
        "--replace",
        action="store_true",
        help="overwrite dev's row on a conflict instead of skipping",
    )
    copy.set_defaults(handler=copy_command)

    grant = schema_cmds.add_parser(
        "grant",
        help="give a role exactly the privileges the environment's service needs",
        description="Least privilege, in one transaction: revoke the role's table privileges in "
        "schema public (and in the environment's schema), then grant USAGE on the environment's "
        "schema and only what `wa-monitor run` does to its four tables (dev's role may also "
        "TRUNCATE them, for schema reset). Neither role may create objects anywhere. The role "
        "must exist, log in, and be neither a superuser nor the tables' owner. Run it again "
        "after `schema drop` + `schema migrate`.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
    )
    _add_target(grant)
    grant.add_argument("--role", required=True, help="the service's database role")
    grant.add_argument(
        "--print",
        action="store_true",
        help="only print the SQL (no database needed), e.g. to review it or run it with psql",
    )
    grant.set_defaults(handler=grant_command)

    status = commands.add_parser(
        "status",
        help="every environment side by side: reviews, today, latest, lag, version",
        description="For each environment file in the config folder: reviews in total and "
        "today (review_date in the environment's time zone), the latest created_at, when the "
        "ledger last applied a message and that message's time, how many bridge messages of "
        "enabled groups wait after the cursor, and the migration version. Exits 1 when an "
        "environment is unreachable, unmigrated, cannot read its bridge file, or is behind by "
        "more than --max-behind messages; so it can serve as a health check.",
        epilog="Each environment NAME is read with $WA_MONITOR_DATABASE_URL_NAME (e.g. "
        "WA_MONITOR_DATABASE_URL_DEV) if set, else with $WA_MONITOR_DATABASE_URL (or the "
        f"systemd credential). The environments are the NAME.toml files in ${CONFIG_DIR_VAR} "
        "if set, else in ./config and /etc/wa-monitor.",
    )
    status.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    status.add_argument(
        "--max-behind",
        metavar="N",
        type=_count,
        default=None,
        help="exit 1 when more than N bridge messages wait (default: do not check)",
    )
    status.set_defaults(handler=status_command)

    doctor = commands.add_parser(
        "doctor",
        help="check an environment end to end; each check passes or fails with its fix",
        description="Check one environment: the config parses; its schema matches the "
        "environment (dev never writes public); the log file is writable and its lines carry "
        "the environment's prefix; the bridge file exists, is readable, has the expected "
        "tables and columns (and its newest message time); the watched groups exist in it; "
        "the LID map (if configured) is readable; the database is reachable; the schema is "
        "migrated; the role holds exactly the privileges the service needs. Exit 0 only when "
        "all pass.",
        epilog="The database URL: $WA_MONITOR_DATABASE_URL_NAME if set, else the service's. "
        + CONFIG_HELP,
    )
    _add_target(doctor)
    doctor.set_defaults(handler=doctor_command)


def _attach_values(argv: Sequence[str]) -> list[str]:
    """`--since -1d` as `--since=-1d`: argparse would take the value for an option and say so
    in two lines; the duration check says what is wrong with it in one."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--since" and arg.startswith("-"):
            out[-1] = f"--since={arg}"
        else:
            out.append(arg)
    return out


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0 (got {text!r})")
    return int(text)


def _database_url(settings: Settings) -> str:
    url = settings.require_database_url()
    logs.register_secret(*logs.secrets_of_url(url))
    return url


def _confirm(args: argparse.Namespace, settings: Settings) -> ops.Confirm:
    env = settings.environment.value

    def confirm(question: str) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise ops.Refused("refusing without --yes: there is no terminal to ask on")
        answer = input(f"{question}\nType {env!r} to go on: ")
        return answer.strip() == env

    return confirm


def reset_command(args: argparse.Namespace) -> int:
    settings = load(args)
    emptied = ops.reset(_database_url(settings), settings, confirm=_confirm(args, settings))
    print(
        f"schema {settings.schema}: emptied {emptied.reviews} reviews, {emptied.ledger} ledger "
        f"messages and the cursor; the {settings.environment.value} monitor starts over from "
        "the bridge's first message"
    )
    return EXIT_OK


def drop_command(args: argparse.Namespace) -> int:
    settings = load(args)
    gone = ops.drop(_database_url(settings), settings, confirm=_confirm(args, settings))
    env = settings.environment.value
    print(
        f"dropped schema {settings.schema} ({gone.reviews} reviews, {gone.ledger} ledger "
        f"messages); create it again with `wa-monitor schema migrate --env {env}`, then "
        f"`wa-monitor schema grant --env {env} --role ROLE`"
    )
    return EXIT_OK


def copy_command(args: argparse.Namespace) -> int:
    window = ops.parse_duration(args.since)
    settings = load(args)
    done = ops.copy_from_prod(
        _database_url(settings), settings, window=window, replace=args.replace
    )
    print(
        f"copied {done.copied}, skipped {done.skipped}, replaced {done.replaced} "
        f"(of {done.selected} production reviews created in the last {args.since.strip()}) "
        f"into schema {settings.schema}; {done.ledger} production ledger messages marked as "
        "applied in dev"
    )
    return EXIT_OK


def grant_command(args: argparse.Namespace) -> int:
    settings = load(args)
    if args.print:
        print(ops.render(ops.grant_statements(settings, args.role)))
        return EXIT_OK
    ops.grant(_database_url(settings), settings, args.role)
    print(
        f"role {args.role}: holds exactly what wa-monitor-{settings.environment.value} needs "
        f"in schema {settings.schema}; check with `wa-monitor doctor --env "
        f"{settings.environment.value}` run with its URL"
    )
    return EXIT_OK


def status_command(args: argparse.Namespace) -> int:
    text, healthy = status.report(as_json=args.json, max_behind=args.max_behind)
    print(logs.redact(text))
    return EXIT_OK if healthy else EXIT_FAILED


def doctor_command(args: argparse.Namespace) -> int:
    checks = doctor.diagnose(args.env, args.config)
    print(logs.redact(doctor.render(checks)))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


__all__ = ["DATABASE_URL_VAR", "main"]
