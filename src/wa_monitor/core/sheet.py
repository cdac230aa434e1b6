"""The daily-totals sheet: which of its rows are ours, and what a run must write to it.

A row `Date | Project | Total Drops` (columns A to C) is keyed by (date, project). A run reads
what the sheet holds, and the planner says, for each wanted total, whether its row is rewritten
in place, left as it is, or appended after the last used row: never a second row for a key, and
nothing written to a row that is not one of ours (a header, a note, a blank line, a chart's
data). Pure: cell values in, writes out.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from wa_monitor.core.records import DailyCount

HEADER = ("Date", "Project", "Total Drops")
# Excel's day 0; serial 61 is 1900-03-01 (Excel counts a 29 February 1900 that never was, so
# earlier serials are off by one: no sync ever wrote a date that old).
_EXCEL_EPOCH = date(1899, 12, 30)
_FIRST_SERIAL, _LAST_SERIAL = 61, 2_958_465  # 1900-03-01 .. 9999-12-31
_ISO_DAY = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ][0-9:.]*)?")
_SERIAL_TEXT = re.compile(r"\d{2,7}(?:\.0*)?")
_COUNT_TEXT = re.compile(r"\d{1,9}(?:\.0*)?")


@dataclass(frozen=True, slots=True)
class SheetRow:
    """A row of the sheet that holds a daily total, at its 1-based row number."""

    index: int
    day: date
    project: str
    drops: int | None  # None: the count cell is blank or not a whole number

    @property
    def key(self) -> tuple[date, str]:
        return (self.day, project_key(self.project))


@dataclass(frozen=True, slots=True)
class Sheet:
    """What a read of the sheet found: our rows, and the last row with anything in it."""

    rows: tuple[SheetRow, ...]
    last_used_row: int  # 0: the sheet is empty


class WriteKind(enum.StrEnum):
    UPDATE = "update"  # the key's row is there with another count: rewrite it in place
    APPEND = "append"  # the key has no row: add one after the last used row


@dataclass(frozen=True, slots=True)
class Write:
    kind: WriteKind
    row: int  # 1-based row number
    total: DailyCount
    previous: int | None = None  # the count the row held before an update


@dataclass(frozen=True, slots=True)
class SheetPlan:
    writes: tuple[Write, ...]
    unchanged: tuple[DailyCount, ...]
    header_row: int | None  # the sheet was empty: write HEADER at this row first
    duplicates: tuple[SheetRow, ...]  # later rows repeating a key (an old job's reruns): left


class TargetKind(enum.StrEnum):
    SHAREPOINT = "sharepoint"
    XLSX = "xlsx"
    CSV = "csv"


class DuplicateProject(ValueError):
    """Two wanted totals share a key: their project names differ only in case or spacing."""


def project_key(name: str) -> str:
    """A project name as compared: spaces collapsed, case folded ('Velo  test' = 'Velo Test')."""
    return " ".join(name.split()).casefold()


def key_of(count: DailyCount) -> tuple[date, str]:
    return (count.day, project_key(count.project))


def cells(count: DailyCount) -> tuple[str, str, int]:
    """The row as written: the date as ISO text (Excel reads it as a date), the count."""
    return (count.day.isoformat(), count.project, count.drops)


def as_day(value: object) -> date | None:
    """A date cell as Excel or a CSV may hand it back: a date, an Excel serial number (as a
    number or as text), or ISO-like text ('2025-11-11', '2025/11/11', '2025-11-11T00:00:00').
    Anything else (a header, a note, '11/12/2025' whose order nobody knows) is None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_serial(value)
    text = value.strip() if isinstance(value, str) else ""
    if m := _ISO_DAY.fullmatch(text):
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return _from_serial(float(text)) if _SERIAL_TEXT.fullmatch(text) else None


def _from_serial(serial: float) -> date | None:
    if not _FIRST_SERIAL <= serial <= _LAST_SERIAL or serial != int(serial):
        return None
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def as_count(value: object) -> int | None:
    """A count cell: a whole number, as a number or as text ('12', 12, 12.0); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str) and _COUNT_TEXT.fullmatch(value.strip()):
        return int(float(value.strip()))
    return None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_sheet(
    values: Sequence[Sequence[object]], *, first_row: int = 1, first_column: int = 1
) -> Sheet:
    """Our rows among a block of cell values whose top-left cell is (first_row, first_column),
    both 1-based (A1 is (1, 1)). A row is ours when column A holds a date and column B a
    project name; any other row only counts towards the last used row."""
    rows: list[SheetRow] = []
    last_used = 0

    def cell(line: Sequence[object], column: int) -> object:
        i = column - first_column
        return line[i] if 0 <= i < len(line) else None

    for offset, line in enumerate(values):
        if all(_blank(v) for v in line):
            continue
        index = first_row + offset
        last_used = index
        day, project = as_day(cell(line, 1)), cell(line, 2)
        if day is None or not isinstance(project, str) or not project.strip():
            continue
        rows.append(SheetRow(index, day, project.strip(), as_count(cell(line, 3))))
    return Sheet(rows=tuple(rows), last_used_row=last_used)


def plan(
    sheet: Sheet, wanted: Iterable[DailyCount], *, ours: Iterable[tuple[date, str]] = ()
) -> SheetPlan:
    """The writes that leave one row per wanted key holding its count, touching nothing else.

    A key's first row is the one kept up to date; a later row with the same key (the old job
    appended one on each rerun) is reported in `duplicates` and left alone. New keys are
    appended in (date, project) order after the last used row; an empty sheet gets HEADER first.
    `ours` are the (date, project) rows this job wrote before on the days being synced: one of
    them that no longer has any drop (its reviews deleted, or moved to another project) is set
    to 0 where it stands, not left with a count that is no longer true.
    """
    by_key: dict[tuple[date, str], SheetRow] = {}
    duplicates: list[SheetRow] = []
    for row in sheet.rows:
        if row.key in by_key:
            duplicates.append(row)
        else:
            by_key[row.key] = row

    seen: dict[tuple[date, str], DailyCount] = {}
    for total in wanted:
        if (key := key_of(total)) in seen:
            raise DuplicateProject(
                f"projects {seen[key].project!r} and {total.project!r} on {total.day} "
                "differ only in case or spacing: one sheet row cannot hold both"
            )
        seen[key] = total
    for day, project in ours:
        key = (day, project_key(project))
        if key not in seen and (kept := by_key.get(key)) is not None:
            seen[key] = DailyCount(day=day, project=kept.project, drops=0)

    writes: list[Write] = []
    unchanged: list[DailyCount] = []
    missing: list[DailyCount] = []
    for key, total in seen.items():
        found = by_key.get(key)
        if found is None:
            missing.append(total)
        elif found.drops == total.drops:
            unchanged.append(total)
        else:
            writes.append(Write(WriteKind.UPDATE, found.index, total, previous=found.drops))

    header_row = 1 if sheet.last_used_row == 0 and missing else None
    next_row = max(sheet.last_used_row, header_row or 0) + 1
    for total in sorted(missing, key=key_of):
        writes.append(Write(WriteKind.APPEND, next_row, total))
        next_row += 1
    writes.sort(key=lambda w: w.row)
    return SheetPlan(
        writes=tuple(writes),
        unchanged=tuple(unchanged),
        header_row=header_row,
        duplicates=tuple(duplicates),
    )
