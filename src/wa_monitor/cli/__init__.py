"""The command line: the one place that wires the parts together and maps errors to exits.

Every leaf command sets its handler (`set_defaults(handler=…)`) in the module of its group;
main() parses, calls it, and turns the error hierarchy into exit codes here and nowhere else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wa_monitor import __version__
from wa_monitor.adapters import logs
from wa_monitor.cli import alerts, demo, drops, health, replies, run, schema, sync, users, web
from wa_monitor.cli.common import CONFIG_HELP
from wa_monitor.errors import WaMonitorError

DESCRIPTION = """\
Watch the WhatsApp bridge's messages.db for drop numbers (DR1234567) posted in project groups
and keep one QA photo review row per drop in PostgreSQL, for one environment (prod or dev).
Each environment has a TOML file; the database URL comes only from $WA_MONITOR_DATABASE_URL
(or the systemd credential 'database_url')."""

GROUPS = (run, schema, sync, drops, replies, health, alerts, web, users, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wa-monitor",
        description=DESCRIPTION,
        epilog=CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wa-monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_attach_values(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.handler(args))
    except WaMonitorError as exc:
        # One line, no secret; the exception says its exit code (2: config, schema, refused).
        print(f"wa-monitor: {logs.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code


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
