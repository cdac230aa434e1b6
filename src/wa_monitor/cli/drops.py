"""`wa-monitor drops …`: each project's plan list of valid drops (import, list, check)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from wa_monitor.adapters.plan_files import read_plan
from wa_monitor.adapters.postgres import plans
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, database, leaf, load
from wa_monitor.core.drops import find_drops
from wa_monitor.errors import EXIT_FAILED, EXIT_OK, Refused

NOTE = """\
The lists live in the environment's schema (table valid_drops), keyed by project and drop: one
drop may be in several projects' plans. A project checks drops against its list when its
[[projects]] entry says validate = true and its list is not empty."""


def register(commands: Commands) -> None:
    drops = commands.add_parser("drops", help=SUMMARIES["drops"])
    actions = drops.add_subparsers(dest="drops_command", required=True, metavar="ACTION")

    imp = leaf(
        actions,
        "import",
        help="load a project's list of valid drops from an .xlsx or .csv file",
        description="Read the drop numbers in one column of FILE (.xlsx: of --sheet, default the "
        "first sheet; .csv: UTF-8), normalise them like drops in messages (dr 1234567 → "
        "DR1234567), and add those the project's list lacks, in one transaction. Cells without "
        "a drop number (a header) are skipped and counted. Running it again with the same file "
        "changes nothing. With --replace, drops no longer in the file are removed. Prints "
        "added / unchanged / removed.",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=import_command,
    )
    imp.add_argument("--project", required=True, help="the project's name, as in [[projects]]")
    imp.add_argument("file", type=Path, metavar="FILE", help="an .xlsx or .csv file")
    imp.add_argument("--sheet", help="the .xlsx sheet (e.g. HLD_Home; default: the first)")
    imp.add_argument("--column", default="A", help="the column holding the drops (default A)")
    imp.add_argument(
        "--replace", action="store_true", help="also remove drops that are not in the file"
    )

    leaf(
        actions,
        "list",
        help="each project's list size, and whether it validates",
        description="Per project: the drops in its list, when the list was last added to, and "
        "whether validation is on for it in the config (a list that is empty while validate is "
        "on means that project's drops are not checked).",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=list_command,
    )

    chk = leaf(
        actions,
        "check",
        help="which projects' plans list these drops",
        description="For each drop number given (any spelling agents use), the projects whose "
        "plan lists it. Exits 1 when a drop is in no plan.",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=check_command,
    )
    chk.add_argument("drops", nargs="+", metavar="DR", help="drop numbers, e.g. DR1234567")


def import_command(args: argparse.Namespace) -> int:
    settings = load(args)
    names = [p.name for p in settings.projects]
    if args.project not in names:
        raise Refused(
            f"no project {args.project!r} in the config's [[projects]] (it has: "
            f"{', '.join(names) or 'none'})"
        )
    started = time.monotonic()
    plan = read_plan(args.file, sheet=args.sheet, column=args.column)
    if not plan.drops:
        raise Refused(
            f"{args.file}: no drop numbers in column {args.column.upper()} "
            f"({plan.cells} non-empty cells); nothing imported"
        )
    done = plans.import_drops(database(settings), args.project, plan.drops, replace=args.replace)
    skipped = ""
    if plan.skipped:
        skipped = f"; {len(plan.skipped)} cells without a drop skipped (e.g. {plan.skipped[0]!r})"
    kept = f"; {done.kept} not in the file kept (--replace removes them)" if done.kept else ""
    print(
        f"{args.project}: {len(plan.drops)} drops in {args.file.name}{skipped}\n"
        f"added {done.added}, unchanged {done.unchanged}, removed {done.removed}{kept}; "
        f"the list now holds {done.total} ({time.monotonic() - started:.1f} s)"
    )
    return EXIT_OK


def list_command(args: argparse.Namespace) -> int:
    settings = load(args)
    found = {s.project: s for s in plans.sizes(database(settings))}
    configured = {p.name: p for p in settings.projects}
    rows = [("PROJECT", "DROPS", "LAST IMPORT", "VALIDATE")]
    for name in sorted(set(found) | set(configured)):
        size = found.get(name)
        project = configured.get(name)
        validate = "-" if project is None else ("on" if project.validates else "off")
        if project is not None and project.validates and size is None:
            validate = "on, EMPTY: not validated"
        when = (
            size.imported_at.isoformat(sep=" ", timespec="seconds")
            if size and size.imported_at
            else "-"
        )
        rows.append((name, str(size.drops if size else 0), when, validate))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return EXIT_OK


def check_command(args: argparse.Namespace) -> int:
    settings = load(args)
    wanted: dict[str, str] = {}
    for text in args.drops:
        found = find_drops(text)
        if not found:
            raise Refused(f"{text!r} is not a drop number (DR and 6 to 8 digits)")
        wanted.update(dict.fromkeys(found, text))
    listed = plans.check(database(settings), list(wanted))
    missing = False
    for drop in wanted:
        projects = listed.get(drop, [])
        missing |= not projects
        print(f"{drop}: {', '.join(projects) if projects else 'in no project plan'}")
    return EXIT_FAILED if missing else EXIT_OK
