"""Reads a project's plan list (the valid drop numbers) from an .xlsx workbook or a .csv file.

What the cells mean is core/plans.py's; this module finds them: an .xlsx only after its size
was checked (adapters/workbooks.py), each formula's saved value or the fact that it has none,
and a .csv file's delimiter (comma, semicolon or tab) sniffed when it is not given.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import openpyxl
from openpyxl.utils.cell import column_index_from_string, get_column_letter

from wa_monitor.adapters.workbooks import size_refusal
from wa_monitor.core.plans import PlanFile, RawCell, collect
from wa_monitor.errors import Refused

_COLUMN = re.compile(r"^[A-Za-z]{1,3}$")
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t"}
_NAMES = {char: name for name, char in DELIMITERS.items()}
_SAMPLE = 64 * 1024  # characters of a .csv file looked at to tell its delimiter
_SAMPLE_ROWS = 200


def delimiter_named(text: str) -> str:
    """A --delimiter value: comma, semicolon or tab, by name or as the character itself."""
    if text in _NAMES:
        return text
    if text in {"\\t", "TAB"}:
        return "\t"
    if (char := DELIMITERS.get(text.lower())) is not None:
        return char
    raise ValueError(f"{text!r}: use comma, semicolon or tab")


def read_plan(
    path: Path,
    *,
    sheet: str | None = None,
    column: str = "A",
    delimiter: str | None = None,
    all_in_cell: bool = False,
) -> PlanFile:
    """The drop numbers in one column of `path` (.xlsx: of `sheet`, default the first; .csv:
    split by `delimiter`, default the one the file uses)."""
    if not _COLUMN.fullmatch(column):
        raise Refused(f"invalid column {column!r}: use a letter like A (or AB)")
    letter = column.upper()
    index = column_index_from_string(letter)
    suffix = path.suffix.lower()
    cells: Iterable[RawCell]
    if suffix == ".xlsx":
        if delimiter is not None:
            raise Refused("--delimiter is for .csv files; an .xlsx workbook has cells")
        title, cells = _xlsx_cells(path, sheet, index)
        read_as = f"sheet {title}, column {letter}"
    elif suffix == ".csv":
        if sheet is not None:
            raise Refused("--sheet is for .xlsx workbooks; a .csv file has one sheet")
        used = delimiter if delimiter is not None else _sniff(path)
        cells = _csv_cells(path, index, used)
        how = "" if delimiter is not None else ", sniffed"
        read_as = f"column {letter}, {_NAMES[used]}-separated{how}"
    else:
        raise Refused(f"{path}: not an .xlsx or .csv file")
    return collect(cells, read_as=read_as, all_in_cell=all_in_cell)


# -- xlsx ----------------------------------------------------------------------------------


def _open(path: Path, *, data_only: bool) -> openpyxl.Workbook:
    try:
        # read_only streams the rows: a 25,000-row plan is read in a second, not loaded whole.
        return openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except FileNotFoundError:
        raise Refused(f"{path}: no such file") from None
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Refused(f"{path}: not a readable .xlsx workbook ({exc})") from None


def _xlsx_cells(path: Path, sheet: str | None, index: int) -> tuple[str, list[RawCell]]:
    """The sheet's title and its column's cells. Read first with formulas as formulas (so a
    formula is known as one); only when there are formulas, read again for the values the
    workbook saved for them: a formula nobody computed (openpyxl writes none) has no value."""
    if path.exists() and (reason := size_refusal(path)) is not None:
        raise Refused(f"{reason} (if it is a real plan, save its column as .csv and import that)")
    book = _open(path, data_only=False)
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(book.sheetnames)
            raise Refused(f"{path}: no sheet {sheet!r} (it has: {names})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        title = _printable(ws.title)
        letter = get_column_letter(index)
        cells: list[RawCell] = []
        formulas: set[int] = set()  # the rows whose cell is a formula, for the second read
        for row, found in enumerate(ws.iter_rows(min_col=index, max_col=index), start=1):
            cell = found[0] if found else None
            value = getattr(cell, "value", None)
            where = f"{title}!{letter}{row}"
            if getattr(cell, "data_type", None) == "f":
                formulas.add(row)
                value = None
            cells.append(RawCell(where, value))
    finally:
        book.close()
    if formulas:
        saved = _saved_values(path, sheet, index, formulas)
        cells = [
            RawCell(c.where, saved[row], uncomputed=saved[row] is None)
            if (row := i + 1) in formulas
            else c
            for i, c in enumerate(cells)
        ]
    return title, cells


def _printable(name: str) -> str:
    """A sheet's name as shown: a hostile workbook's control characters escaped."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in name)


def _saved_values(
    path: Path, sheet: str | None, index: int, formulas: set[int]
) -> dict[int, object]:
    """Row → the value the workbook saved for the formula there (None: none was saved)."""
    book = _open(path, data_only=True)
    try:
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        values: dict[int, object] = dict.fromkeys(formulas)
        for row, found in enumerate(
            ws.iter_rows(min_col=index, max_col=index, values_only=True), start=1
        ):
            if row in values:
                values[row] = found[0] if found else None
        return values
    finally:
        book.close()


# -- csv -----------------------------------------------------------------------------------


def _sniff(path: Path) -> str:
    """The delimiter that splits the file's first rows alike: the one that splits (nearly)
    every row into more than one field. A one-column file (or a note with a ';' in a comma
    file) splits few rows, and is read as commas, which changes nothing for one column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            sample = f.read(_SAMPLE)
            complete = len(sample) < _SAMPLE
    except FileNotFoundError:
        raise Refused(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"{path}: not a readable UTF-8 .csv file ({exc})") from None
    lines = sample.splitlines(keepends=True)
    if not complete:
        lines = lines[:-1]  # cut in the middle
    text = "".join(lines[:_SAMPLE_ROWS])
    best, best_split = ",", 0
    for char in DELIMITERS.values():
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=char) if any(r)]
        except csv.Error:
            continue
        split = sum(len(r) > 1 for r in rows)
        # Most rows, and at least two, split: a header and a row of data at least.
        if split >= 2 and split >= 0.8 * len(rows) and split > best_split:
            best, best_split = char, split
    return best


def _csv_cells(path: Path, index: int, delimiter: str) -> Iterator[RawCell]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                value = row[index - 1] if len(row) >= index else None
                yield RawCell(f"line {reader.line_num}", value)
    except FileNotFoundError:
        raise Refused(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Refused(f"{path}: not a readable UTF-8 .csv file ({exc})") from None
