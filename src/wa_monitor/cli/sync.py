"""`wa-monitor sync sharepoint`: production's daily drop totals into the SharePoint workbook
(or, with --to, a local .xlsx or .csv file)."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path

from wa_monitor.adapters import logs
from wa_monitor.adapters.graph import GraphWorkbook, WorkbookLocation
from wa_monitor.adapters.postgres.admin import parse_duration
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.sync_record import PgSyncBook, sync_lock
from wa_monitor.adapters.sheetfile import DEFAULT_WORKSHEET, SheetFile
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, leaf, load
from wa_monitor.core.ports import SheetTarget
from wa_monitor.errors import EXIT_OK, ConfigError, Refused
from wa_monitor.services import sharepoint
from wa_monitor.settings import (
    PROD_SCHEMA,
    SHAREPOINT_CREDENTIAL,
    SHAREPOINT_SECRET_VAR,
    Environment,
    Settings,
)

DESCRIPTION = """\
Write each local day's distinct drops per project (by the local date of whatsapp_message_date,
the same count the dashboard shows) as rows `Date | Project | Total Drops` into the worksheet
named in the config's [sharepoint] table, through Microsoft Graph. A row is keyed by (date,
project): a rerun, a range or a run after late drops rewrites the key's row in place and never
adds a second one; rows that are not ours (a header, notes, formulas) are left alone. By
default a run covers yesterday (final) and today (provisional). Each row written is recorded in
the schema (wa_monitor_sync_writes).

Production only: any other environment is refused (exit 2) before anything is read, since dev
data never reaches SharePoint. Exit 1 when Graph or the database fails part-way: the message
lists the rows written and those not, and the next run writes the rest."""

EPILOG = f"""\
The client secret comes only from ${SHAREPOINT_SECRET_VAR} or the systemd credential
'{SHAREPOINT_CREDENTIAL}', never from the TOML file. The database URL (a read-only role: `schema
grant --service sync`) from $WA_MONITOR_DATABASE_URL. Try a first run with --dry-run.
{CONFIG_HELP}"""


def register(commands: Commands) -> None:
    group = commands.add_parser("sync", help=SUMMARIES["sync"])
    targets = group.add_subparsers(dest="sync_command", required=True, metavar="TARGET")
    cmd = leaf(
        targets,
        "sharepoint",
        help="upsert production's daily drops per project into the SharePoint workbook",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        handler=sharepoint_command,
    )
    when = cmd.add_mutually_exclusive_group()
    when.add_argument(
        "--date", type=_day, metavar="YYYY-MM-DD", help="only this local day (e.g. a re-count)"
    )
    when.add_argument(
        "--since",
        metavar="DAYS",
        help="the last DAYS days up to today: 7d is today and the six days before (default: 2d, "
        "yesterday and today)",
    )
    cmd.add_argument(
        "--dry-run",
        action="store_true",
        help="read the counts and the sheet, print what would be written, write nothing",
    )
    cmd.add_argument(
        "--to",
        type=Path,
        metavar="PATH",
        help="write to this .xlsx (its worksheet named as in [sharepoint], or 'Daily Drops') or "
        ".csv file instead of SharePoint, with the same upsert by (date, project)",
    )
    cmd.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date like 2025-11-11 (got {text!r})") from None


def sharepoint_command(args: argparse.Namespace) -> int:
    # Before anything is read: dev data never reaches SharePoint, whatever the flags.
    if args.env is not None and args.env != Environment.PROD.value:
        raise Refused(
            f"refusing to sync environment {args.env!r}: only prod is synced to SharePoint "
            "(dev data never leaves the database)"
        )
    settings = load(args)
    if settings.environment is not Environment.PROD or settings.schema != PROD_SCHEMA:
        raise Refused(
            f"refusing to sync environment {settings.environment.value!r} (schema "
            f"{settings.schema!r}): only prod, schema public, is synced to SharePoint"
        )
    since = parse_duration(args.since) if args.since else None
    days = sharepoint.days_to_sync(datetime.now(settings.tz).date(), on=args.date, since=since)
    logs.configure(prefix=settings.log_prefix, log_file=None, level=args.log_level, tz=settings.tz)
    log = logs.get()
    with ExitStack() as stack:
        target = _target(args.to, settings, stack, log)
        db = Database.of(settings)
        stack.enter_context(sync_lock(db))
        conn = stack.enter_context(db.session("sync"))
        db.require_current(conn)
        report = sharepoint.sync(
            book=PgSyncBook(conn, db, settings.timezone),
            days=days,
            target=target,
            dry_run=args.dry_run,
            log=log,
        )
    for line in report.lines():
        print(line)
    return EXIT_OK


def _target(to: Path | None, settings: Settings, stack: ExitStack, log: object) -> SheetTarget:
    """The file named by --to, else the SharePoint worksheet of [sharepoint]."""
    config = settings.sharepoint
    if to is not None:
        return SheetFile(to, worksheet=config.worksheet if config else DEFAULT_WORKSHEET)
    if config is None:
        raise ConfigError(
            "no [sharepoint] table in the config: add tenant_id, client_id, drive_id, item_id "
            "and worksheet (docs/OPERATIONS.md, SharePoint sync), or write to a file with "
            "--to PATH.xlsx"
        )
    secret = settings.require_sharepoint_secret()
    logs.register_secret(secret)
    location = WorkbookLocation.of(config)
    book = GraphWorkbook(location, client_secret=secret, log=log, ca_file=config.ca_file)
    stack.callback(book.close)
    return book
