"""`wa-monitor drops …`: each project's plan list of valid drops (import, list, check)."""

from __future__ import annotations

import argparse
import math
import textwrap
import time
from pathlib import Path

from wa_monitor.adapters.plan_files import delimiter_named, read_plan
from wa_monitor.adapters.postgres import plans
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, leaf, load
from wa_monitor.core.drops import find_drops
from wa_monitor.core.plans import PlanChange, PlanFile
from wa_monitor.errors import EXIT_FAILED, EXIT_OK, Refused

NOTE = """\
The lists live in the environment's schema (table valid_drops), keyed by project and drop: one
drop may be in several projects' plans. A project checks drops against its list when its
[[projects]] entry says validate = true and its list is not empty."""
MAX_SHRINK = 10.0  # percent of a list that --replace removes without --force
WIDTH = 80  # output lines fit a terminal of this many columns
SHOWN = 5  # cells with several drops named


def register(commands: Commands) -> None:
    drops = commands.add_parser("drops", help=SUMMARIES["drops"])
    actions = drops.add_subparsers(dest="drops_command", required=True, metavar="ACTION")

    imp = leaf(
        actions,
        "import",
        help="load a project's list of valid drops from an .xlsx or .csv file",
        description="Read the drop numbers in one column of FILE (.xlsx: of --sheet, default the "
        "first sheet; .csv: UTF-8, its delimiter sniffed), normalise them like drops in messages "
        "(dr 1234567 → DR1234567), and add those the project's list lacks, in one transaction. "
        "Cells without a drop number (a header) are skipped and counted; a cell with more than "
        "one drop number ('DR1 (cancelled; use DR2)') is named and skipped; a formula whose "
        "value was never computed (a workbook written by a script) is named, and stops "
        "--replace. Running it again with the same file changes nothing. With --replace, drops "
        "no longer in the file are removed, unless that is more than --max-shrink of the list. "
        "Prints added / unchanged / removed. A workbook that would unpack to more than 100 MB, "
        "or is compressed more than 100 to 1, is not opened.",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=import_command,
    )
    imp.add_argument("--project", required=True, help="the project's name, as in [[projects]]")
    imp.add_argument("file", type=Path, metavar="FILE", help="an .xlsx or .csv file")
    imp.add_argument("--sheet", help="the .xlsx sheet (e.g. HLD_Home; default: the first)")
    imp.add_argument("--column", default="A", help="the column holding the drops (default A)")
    imp.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="NAME",
        help="the .csv file's delimiter: comma, semicolon or tab (default: the one it uses)",
    )
    imp.add_argument(
        "--all-in-cell",
        action="store_true",
        help="read every drop number of a cell that holds several (default: skip the cell)",
    )
    imp.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be added and removed (counts, a few drops), change nothing",
    )
    imp.add_argument(
        "--replace", action="store_true", help="also remove drops that are not in the file"
    )
    imp.add_argument(
        "--max-shrink",
        type=_percent,
        metavar="PERCENT",
        help=f"with --replace: refuse to remove more than this share of the list "
        f"(default {MAX_SHRINK:g}%%)",
    )
    imp.add_argument(
        "--force",
        action="store_true",
        help="with --replace: remove drops even beyond --max-shrink",
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
    if (args.force or args.max_shrink is not None) and not args.replace:
        raise Refused("--force and --max-shrink go with --replace: nothing is removed without it")
    started = time.monotonic()
    plan = read_plan(
        args.file,
        sheet=args.sheet,
        column=args.column,
        delimiter=args.delimiter,
        all_in_cell=args.all_in_cell,
    )
    formulas = _formula_refusal(args.file, plan) if args.replace else None
    for line in _file_report(args.project, args.file, plan, hint=formulas is None):
        print(line)
    if not plan.drops:
        raise Refused(
            f"{args.file}: no drop numbers in column {args.column.upper()} "
            f"({plan.cells} non-empty cells); nothing imported"
        )
    if formulas and not args.dry_run:
        raise Refused(formulas)
    shrink = MAX_SHRINK if args.max_shrink is None else args.max_shrink
    max_shrink = None if args.force else shrink / 100
    done = plans.import_drops(
        Database.of(settings),
        args.project,
        plan.drops,
        replace=args.replace,
        dry_run=args.dry_run,
        max_shrink=max_shrink,
    )
    if args.dry_run:
        for line in _preview(done.change, replace=args.replace):
            print(line)
    refusal = formulas or done.refused
    if refusal is not None:
        raise Refused(refusal)
    if args.dry_run:
        return EXIT_OK
    unchanged = len(plan.drops) - done.added
    kept = ""
    if not args.replace and done.change.missing:
        kept = f"; {done.change.missing} not in the file kept (--replace removes them)"
    print(f"added {done.added}, unchanged {unchanged}, removed {done.removed}{kept}")
    took = time.monotonic() - started
    print(f"{args.project}'s list now holds {done.total} drops ({took:.1f} s)")
    return EXIT_OK


def _file_report(project: str, file: Path, plan: PlanFile, *, hint: bool) -> list[str]:
    """What was read and what was not, each thing once, in lines that fit 80 columns (`hint`:
    say how formulas get their values; a refusal that follows says it otherwise)."""
    lines = [f"{project}: {_count(len(plan.drops), 'drop')} in {file.name} ({plan.read_as})"]
    if plan.skipped.count:
        first = plan.skipped.first[0]
        lines.append(
            f"{_count(plan.skipped.count, 'cell')} without a drop skipped (e.g. {first.text!r})"
        )
    if plan.several.count:
        what = "read in full (--all-in-cell)" if plan.several_read else "skipped"
        lines.append(f"{_count(plan.several.count, 'cell')} with more than one drop {what}:")
        lines += [f"  {c.where}: {c.text!r}" for c in plan.several.first[:SHOWN]]
        if plan.several.count > SHOWN:
            lines.append(f"  and {plan.several.count - SHOWN} more")
        if not plan.several_read:
            lines.append("  (--all-in-cell reads every number of such a cell)")
    if plan.uncomputed.count:
        count = _count(plan.uncomputed.count, "formula")
        lines.append(f"{count} with no computed value, so no drop could be read from:")
        shown = plan.uncomputed.first
        named = ", ".join(c.where for c in shown)
        if plan.uncomputed.count > len(shown):
            named += f" and {plan.uncomputed.count - len(shown)} more"
        lines += textwrap.wrap(named, width=WIDTH, initial_indent="  ", subsequent_indent="  ")
        if hint:
            lines.append("  (open and save the file in Excel or LibreOffice to compute them)")
    return lines


def _formula_refusal(file: Path, plan: PlanFile) -> str | None:
    if not plan.uncomputed.count:
        return None
    # One line: the cells are named above it; what --replace would do to their drops is why.
    count = _count(plan.uncomputed.count, "formula")
    return (
        f"--replace refused: {count} without a computed value would lose their drops; "
        f"save {file.name} in Excel or LibreOffice first"
    )


def _preview(change: PlanChange, *, replace: bool) -> list[str]:
    """A dry run's report: what would be added and removed, with a few of each."""

    def some(drops: tuple[str, ...], count: int) -> str:
        more = f" and {count - len(drops)} more" if count > len(drops) else ""
        return f": {', '.join(drops)}{more}" if drops else ""

    lines = ["dry run, nothing changed:"]
    lines.append(f"  would add {change.adding}{some(change.adding_examples, change.adding)}")
    missing = some(change.missing_examples, change.missing)
    if replace:
        lines.append(f"  would remove {change.missing}{missing}")
    elif change.missing:
        lines.append(f"  would keep {change.missing} not in the file{missing}")
        lines.append("  (--replace removes them)")
    after = change.after(replace=replace)
    lines.append(f"  {change.project}'s list would hold {after} drops (it holds {change.before})")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _delimiter(text: str) -> str:
    try:
        return delimiter_named(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _percent(text: str) -> float:
    """A share of a list, in percent: 10 or 10%, from 0 to 100."""
    number = text.strip().removesuffix("%")
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 100:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a percentage from 0 to 100 (got {text!r})")
    return value


def list_command(args: argparse.Namespace) -> int:
    settings = load(args)
    found = {s.project: s for s in plans.sizes(Database.of(settings))}
    configured = {p.name: p for p in settings.projects}
    rows = [("PROJECT", "DROPS", "LAST IMPORT", "VALIDATE")]
    for name in sorted(set(found) | set(configured)):
        size = found.get(name)
        project = configured.get(name)
        validate = "-" if project is None else ("on" if project.validates else "off")
        if project is not None and project.validates and size is None:
            validate = "on, EMPTY: not validated"
        when = (
            # In the environment's zone, its offset shown (the database session's is UTC).
            size.imported_at.astimezone(settings.tz).isoformat(sep=" ", timespec="seconds")
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
    listed = plans.check(Database.of(settings), list(wanted))
    missing = False
    for drop in wanted:
        projects = listed.get(drop, [])
        missing |= not projects
        print(f"{drop}: {', '.join(projects) if projects else 'in no project plan'}")
    return EXIT_FAILED if missing else EXIT_OK
