"""`wa-monitor status` and `wa-monitor doctor`: is it healthy, and if not, why."""

from __future__ import annotations

import argparse
from datetime import timedelta

from wa_monitor.adapters import logs
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, count, leaf
from wa_monitor.errors import EXIT_FAILED, EXIT_OK
from wa_monitor.services import doctor, status
from wa_monitor.settings import CONFIG_DIR_VAR


def register(commands: Commands) -> None:
    status = commands.add_parser(
        "status",
        help=SUMMARIES["status"],
        description="For each environment file in the config folder: reviews in total and "
        "today (review_date in the environment's time zone), the latest created_at, when the "
        "ledger last applied a message and that message's time, how many bridge messages of "
        "enabled groups wait after the cursor, the migration version, and liveness: whether a "
        "monitor runs (it holds the environment's instance lock), since when, and when it last "
        "read the bridge (saved at least once a minute while it idles). Exits 1 when an "
        "environment is unreachable, unmigrated or cannot read its bridge file; with "
        "--max-behind or --max-idle also when no monitor runs, it is behind by more than N "
        "messages, or messages wait and it has read nothing for MINUTES; so it serves as a "
        "health check. The STATUS column says ok, STOPPED (no monitor runs: what --max-behind "
        "fails on) or PROBLEM.",
        epilog="Each environment NAME is read with $WA_MONITOR_DATABASE_URL_NAME (e.g. "
        "WA_MONITOR_DATABASE_URL_DEV) if set, else with $WA_MONITOR_DATABASE_URL (or the "
        f"systemd credential). The environments are the NAME.toml files in ${CONFIG_DIR_VAR} "
        "if set, else in ./config and /etc/wa-monitor.",
    )
    status.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    status.add_argument(
        "--wide",
        action="store_true",
        help="every column (schema, migration version, latest created_at, last processed, "
        "monitor since, flawed rows) with full times; the default table fits 100 columns",
    )
    status.add_argument(
        "--max-behind",
        metavar="N",
        type=count,
        default=None,
        help="exit 1 when no monitor runs or more than N bridge messages wait "
        "(default: do not check)",
    )
    status.add_argument(
        "--max-idle",
        metavar="MINUTES",
        type=count,
        default=None,
        help="exit 1 when no monitor runs, or bridge messages wait and the monitor has read "
        "nothing for more than MINUTES (a stuck monitor; default: do not check)",
    )
    status.set_defaults(handler=status_command)

    doctor = leaf(
        commands,
        "doctor",
        help=SUMMARIES["doctor"],
        description="Check one environment: the config parses; its schema matches the "
        "environment (dev never writes public); the log file is writable and its lines carry "
        "the environment's prefix; the bridge file exists, is readable, has the expected "
        "tables and columns (and its newest message time); the watched groups exist in it; "
        "the LID map (if configured) is readable; the database is reachable; the schema is "
        "migrated; the role holds exactly the privileges the service needs; [sharepoint] (if "
        "present) is complete and the client secret is set. Exit 0 only when all pass.",
        epilog="The database URL: $WA_MONITOR_DATABASE_URL_NAME if set, else the service's. "
        + CONFIG_HELP,
        handler=doctor_command,
    )
    doctor.add_argument(
        "--sharepoint",
        action="store_true",
        help="also get a token from Entra ID and reach the workbook's worksheet (prod, with "
        "$WA_MONITOR_SHAREPOINT_CLIENT_SECRET set)",
    )
    doctor.add_argument(
        "--web",
        action="store_true",
        help="check the dashboard instead of the monitor: its session secret is set, and the "
        "URL's role holds exactly what `wa-monitor web` needs (`schema grant --service web`)",
    )


def status_command(args: argparse.Namespace) -> int:
    limits = status.Limits(
        max_behind=args.max_behind,
        max_idle=None if args.max_idle is None else timedelta(minutes=args.max_idle),
    )
    text, healthy = status.report(as_json=args.json, limits=limits, wide=args.wide)
    print(logs.redact(text))
    return EXIT_OK if healthy else EXIT_FAILED


def doctor_command(args: argparse.Namespace) -> int:
    checks = doctor.diagnose(args.env, args.config, sharepoint=args.sharepoint, web=args.web)
    print(logs.redact(doctor.render(checks)))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED
