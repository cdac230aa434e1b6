"""A project's plan list as read from a file, and what importing it would change. Pure: cell
values in, drop numbers and verdicts out (the files are read in adapters/plan_files.py).

A plan file is read as what it is. A cell with two drop numbers ("DR1 (cancelled; use DR2)")
is a note a person wrote, not two planned drops: it is reported and left out unless asked for.
A formula whose value was never computed (a workbook written by a script) holds no number we
can read: it is named, so an import never loses those drops without a word.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wa_monitor.core.drops import find_drops
from wa_monitor.errors import Refused

SHOWN = 40  # characters of a cell's text repeated in a report
KEPT = 10  # cells of each kind an import names (all are counted)
MAX_DROPS = 1_000_000  # distinct drops in one file; Mohadin's plan, the largest known, had 22,140


@dataclass(frozen=True, slots=True)
class RawCell:
    """One cell of the plan's column, as a file reader found it."""

    where: str  # 'HLD_Home!B7' in a workbook, 'line 7' in a .csv file
    value: object
    uncomputed: bool = False  # a formula with no computed value saved: its value is unknown


@dataclass(frozen=True, slots=True)
class Noted:
    """A cell the import reports: where it is and (the start of) what it says."""

    where: str
    text: str


@dataclass(frozen=True, slots=True)
class Noticed:
    """The cells of one kind an import reports: how many, and the first few of them (a file
    of a million such cells is counted, not held)."""

    count: int
    first: tuple[Noted, ...]


class _Tally:
    """Counts cells of one kind and keeps the first KEPT of them, while a file is read."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[Noted] = []

    def add(self, where: str, text: str) -> None:
        self.count += 1
        if len(self.first) < KEPT:
            self.first.append(Noted(where, text[:SHOWN]))

    def done(self) -> Noticed:
        return Noticed(self.count, tuple(self.first))


@dataclass(frozen=True, slots=True)
class PlanFile:
    read_as: str  # how the column was read: 'sheet HLD_Home, column B'
    drops: tuple[str, ...]  # distinct, normalised like message drops, in file order
    cells: int  # non-empty cells read in the column (uncomputed formulas not included)
    skipped: Noticed  # cells that hold no drop number (e.g. the header)
    several: Noticed  # cells with more than one drop number
    several_read: bool  # True: their numbers were imported (--all-in-cell); else left out
    uncomputed: Noticed  # formulas with no computed value (their text is empty)


def collect(
    cells: Iterable[RawCell],
    *,
    read_as: str,
    all_in_cell: bool = False,
    max_drops: int = MAX_DROPS,
) -> PlanFile:
    """The plan in a column's cells: one drop per cell unless `all_in_cell`. More than
    `max_drops` distinct drops is not a project's plan: Refused."""
    drops: dict[str, None] = {}
    skipped, several, uncomputed = _Tally(), _Tally(), _Tally()
    count = 0
    for cell in cells:
        if cell.uncomputed:
            uncomputed.add(cell.where, "")
            continue
        text = "" if cell.value is None else str(cell.value).strip()
        if not text:
            continue
        count += 1
        found = find_drops(text)
        if not found:
            skipped.add(cell.where, text)
            continue
        if len(found) > 1:
            several.add(cell.where, text)
            if not all_in_cell:
                continue
        drops.update(dict.fromkeys(found))
        if len(drops) > max_drops:
            raise Refused(
                f"more than {max_drops:,} drop numbers by {cell.where}: not one project's "
                "plan (the largest known, Mohadin's, had 22,140)"
            )
    return PlanFile(
        read_as=read_as,
        drops=tuple(drops),
        cells=count,
        skipped=skipped.done(),
        several=several.done(),
        several_read=all_in_cell,
        uncomputed=uncomputed.done(),
    )


@dataclass(frozen=True, slots=True)
class PlanChange:
    """What an import of a file would do to one project's list, before it does it."""

    project: str
    before: int  # the list's size now
    adding: int  # drops of the file the list lacks
    missing: int  # drops of the list the file lacks: removed by --replace, else kept
    adding_examples: tuple[str, ...]
    missing_examples: tuple[str, ...]

    def after(self, *, replace: bool) -> int:
        return self.before + self.adding - (self.missing if replace else 0)


def share(part: int, whole: int) -> str:
    """`part` of `whole` as a whole percentage, never rounded to 0% or 100% when it is not."""
    if whole <= 0 or part <= 0:
        return "0%"
    percent = round(100 * part / whole)
    return f"{min(max(percent, 1), 99) if part < whole else 100}%"


def shrink_refusal(change: PlanChange, *, max_shrink: float) -> str | None:
    """Why a --replace of `change` must not go ahead without --force, or None when it may:
    it would remove more than `max_shrink` (a fraction, 0.1 = 10%) of the list. A truncated
    or wrong-column file that still holds a few drops would otherwise empty a plan."""
    if change.missing == 0 or change.missing <= max_shrink * change.before:
        return None
    limit = f"{max_shrink * 100:g}%"
    return (
        f"would remove {change.missing} of {change.before} drops "
        f"({share(change.missing, change.before)}) from {change.project}'s plan; more than "
        f"{limit}: check the file, or pass --force"
    )
