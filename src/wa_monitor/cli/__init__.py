"""The command line: the one place that wires the parts together and maps errors to exits.

Every leaf command sets its handler (`set_defaults(handler=…)`) in the module of its group;
main() parses, calls it, and turns the error hierarchy into exit codes here and nowhere else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from wa_monitor import __version__
from wa_monitor.adapters import logs
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES
from wa_monitor.errors import WaMonitorError

DESCRIPTION = """\
Watch the WhatsApp bridge's messages.db for drop numbers (DR1234567) posted in project groups
and keep one QA photo review row per drop in PostgreSQL, for one environment (prod or dev).
Each environment has a TOML file; the database URL comes only from $WA_MONITOR_DATABASE_URL
(or the systemd credential 'database_url')."""

# Each command and the module of cli/ that registers it. Only the module of the command being
# run is imported: the daemon must not load the dashboard's web framework, the Graph client or
# openpyxl (together 30 MB of the daemon's memory and a second of its start-up). The others
# are listed with their one-line summary, so `wa-monitor --help` still shows every command.
COMMANDS = {
    "run": "run",
    "schema": "schema",
    "status": "health",
    "doctor": "health",
    "alerts": "alerts",
    "drops": "drops",
    "replies": "replies",
    "photos": "photos",
    "sync": "sync",
    "web": "web",
    "users": "users",
    "demo": "demo",
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the full options of the command `argv` names and a summary line for
    every other (all of them summaries when it names none: `wa-monitor --help`)."""
    named = next((a for a in argv if not a.startswith("-")), None)
    wanted = {COMMANDS[named]} if named in COMMANDS else set()
    parser = argparse.ArgumentParser(
        prog="wa-monitor",
        description=DESCRIPTION,
        epilog=CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wa-monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registered: set[str] = set()
    for command, module in COMMANDS.items():
        if module not in wanted:
            commands.add_parser(command, help=SUMMARIES[command])
        elif module not in registered:
            importlib.import_module(f"wa_monitor.cli.{module}").register(commands)
            registered.add(module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = _attach_values(sys.argv[1:] if argv is None else argv)
    args = build_parser(words).parse_args(words)
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
