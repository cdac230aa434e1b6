"""The command line: the one place that wires the parts together and configures logging."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from wa_monitor import __version__, logs
from wa_monitor.bridge import Bridge
from wa_monitor.errors import FatalError, NotMigrated, TransientError, WaMonitorError
from wa_monitor.monitor import Rules
from wa_monitor.monitor import run as run_loop
from wa_monitor.settings import (
    CONFIG_DIR_VAR,
    DATABASE_URL_VAR,
    ConfigError,
    Settings,
    find_config,
    load_settings,
)
from wa_monitor.store import Store, latest_version

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
    args = build_parser().parse_args(argv)
    try:
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
    except NotMigrated as exc:
        print(f"wa-monitor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except WaMonitorError as exc:
        print(f"wa-monitor: {logs.redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILED


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
    _install_signals(stop)
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
    try:
        totals = run_loop(
            source=bridge,
            sink=store,
            rules=rules,
            stop=stop,
            poll_interval=settings.poll_interval_seconds,
            once=args.once,
            give_up_after=(args.give_up_after or 60.0) if args.once else 600.0,
            log=log,
        )
    except NotMigrated as exc:
        log.error("❌ cannot start", error=str(exc))
        return EXIT_CONFIG
    except (FatalError, TransientError) as exc:
        log.error("❌ stopped", error=str(exc))
        return EXIT_FAILED
    finally:
        bridge.close()
        store.close()
    log.info(
        "stopped",
        **totals.fields(),
        longest_bridge_read_ms=round(bridge.longest_read_seconds * 1000, 1),
    )
    return EXIT_OK


def _install_signals(stop: threading.Event) -> None:
    def request_stop(signum: int, _: FrameType | None) -> None:
        stop.set()

    def reopen_logs(signum: int, _: FrameType | None) -> None:
        logs.reopen()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, reopen_logs)


__all__ = ["DATABASE_URL_VAR", "main"]
