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

SHOWN = 40  # characters of a cell's text repeated in a report


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
class PlanFile:
    read_as: str  # how the column was read: 'sheet HLD_Home, column B'
    drops: tuple[str, ...]  # distinct, normalised like message drops, in file order
    cells: int  # non-empty cells read in the column (uncomputed formulas not included)
    skipped: tuple[Noted, ...]  # cells that hold no drop number (e.g. the header)
    several: tuple[Noted, ...]  # cells with more than one drop number
    several_read: bool  # True: their numbers were imported (--all-in-cell); else left out
    uncomputed: tuple[str, ...]  # where the formulas with no computed value are


def collect(cells: Iterable[RawCell], *, read_as: str, all_in_cell: bool = False) -> PlanFile:
    """The plan in a column's cells: one drop per cell unless `all_in_cell`."""
    drops: dict[str, None] = {}
    skipped: list[Noted] = []
    several: list[Noted] = []
    uncomputed: list[str] = []
    count = 0
    for cell in cells:
        if cell.uncomputed:
            uncomputed.append(cell.where)
            continue
        text = "" if cell.value is None else str(cell.value).strip()
        if not text:
            continue
        count += 1
        found = find_drops(text)
        if not found:
            skipped.append(Noted(cell.where, text[:SHOWN]))
            continue
        if len(found) > 1:
            several.append(Noted(cell.where, text[:SHOWN]))
            if not all_in_cell:
                continue
        drops.update(dict.fromkeys(found))
    return PlanFile(
        read_as=read_as,
        drops=tuple(drops),
        cells=count,
        skipped=tuple(skipped),
        several=tuple(several),
        several_read=all_in_cell,
        uncomputed=tuple(uncomputed),
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
