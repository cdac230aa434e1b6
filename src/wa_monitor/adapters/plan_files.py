"""Reads a project's plan list (the valid drop numbers) from an .xlsx workbook or a .csv file."""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from openpyxl.utils.cell import column_index_from_string

from wa_monitor.core.drops import find_drops
from wa_monitor.errors import Refused

_COLUMN = re.compile(r"^[A-Za-z]{1,3}$")


@dataclass(frozen=True, slots=True)
class PlanFile:
    drops: tuple[str, ...]  # distinct, normalised like message drops, in file order
    cells: int  # non-empty cells read in the column
    skipped: tuple[str, ...]  # non-empty cells that hold no drop number (e.g. the header)


def read_plan(path: Path, *, sheet: str | None = None, column: str = "A") -> PlanFile:
    """The drop numbers in one column of `path` (.xlsx: of `sheet`, default the first)."""
    if not _COLUMN.fullmatch(column):
        raise Refused(f"invalid column {column!r}: use a letter like A (or AB)")
    index = column_index_from_string(column.upper())
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        cells = _xlsx_cells(path, sheet, index)
    elif suffix == ".csv":
        if sheet is not None:
            raise Refused("--sheet is for .xlsx workbooks; a .csv file has one sheet")
        cells = _csv_cells(path, index)
    else:
        raise Refused(f"{path}: not an .xlsx or .csv file")
    return _collect(cells)


def _collect(cells: Iterable[object]) -> PlanFile:
    drops: dict[str, None] = {}
    skipped: list[str] = []
    count = 0
    for cell in cells:
        text = "" if cell is None else str(cell).strip()
        if not text:
            continue
        count += 1
        found = find_drops(text)
        if not found:
            skipped.append(text[:40])
        for drop in found:
            drops[drop] = None
    return PlanFile(drops=tuple(drops), cells=count, skipped=tuple(skipped))


def _xlsx_cells(path: Path, sheet: str | None, index: int) -> Iterator[object]:
    try:
        # read_only streams the rows: a 25,000-row plan is read in a second, not loaded whole.
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise Refused(f"{path}: no such file") from None
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Refused(f"{path}: not a readable .xlsx workbook ({exc})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(book.sheetnames)
            raise Refused(f"{path}: no sheet {sheet!r} (it has: {names})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        for row in ws.iter_rows(min_col=index, max_col=index, values_only=True):
            yield row[0] if row else None
    finally:
        book.close()


def _csv_cells(path: Path, index: int) -> Iterator[object]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f):
                yield row[index - 1] if len(row) >= index else None
    except FileNotFoundError:
        raise Refused(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Refused(f"{path}: not a readable UTF-8 .csv file ({exc})") from None
