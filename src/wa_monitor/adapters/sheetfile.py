"""The daily totals in a local file, for a site without SharePoint: an .xlsx workbook's
worksheet (openpyxl) or a .csv file, upserted by (date, project) like the SharePoint sheet.

The file is read once, changed in memory and put back in one rename, so a reader never sees
half a write and a failed run leaves the file as it was.
"""

from __future__ import annotations

import csv
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

from wa_monitor.adapters.workbooks import size_refusal
from wa_monitor.core.sheet import HEADER, Sheet, SheetPlan, TargetKind, Write, cells, read_sheet
from wa_monitor.errors import FatalError

DEFAULT_WORKSHEET = "Daily Drops"
DATE_FORMAT = "yyyy-mm-dd"


class SheetFileError(FatalError):
    """The file cannot be read or written: the message says which and why, in one line."""


class SheetFile:
    """A local .xlsx or .csv file as a sheet target."""

    def __init__(self, path: Path, *, worksheet: str = DEFAULT_WORKSHEET) -> None:
        suffix = path.suffix.lower()
        if suffix not in {".xlsx", ".csv"}:
            raise SheetFileError(f"{path}: --to takes a .xlsx or a .csv file")
        self.path = path
        self.kind = TargetKind.XLSX if suffix == ".xlsx" else TargetKind.CSV
        self.worksheet = worksheet
        self._sheet: Worksheet | None = None
        self._rows: list[list[Any]] = []

    @property
    def where(self) -> str:
        if self.kind is TargetKind.XLSX:
            return f"{self.path} worksheet {self.worksheet!r}"
        return str(self.path)

    def read(self) -> Sheet:
        """The file's rows; a file that does not exist yet is an empty sheet."""
        if self.kind is TargetKind.XLSX:
            sheet = self._load_xlsx()
            values = [list(r) for r in sheet.iter_rows(values_only=True)]
        else:
            values = self._rows = self._load_csv()
        return read_sheet(values)

    def apply(self, plan: SheetPlan) -> Iterator[Write]:
        """Make every write of the plan, save the file once, then yield the writes."""
        if not plan.writes and plan.header_row is None:
            return
        if self.kind is TargetKind.XLSX:
            self._apply_xlsx(plan)
        else:
            self._apply_csv(plan)
        yield from plan.writes

    # -- xlsx -----------------------------------------------------------------------------

    def _load_xlsx(self) -> Worksheet:
        if not self.path.exists():
            book = openpyxl.Workbook()
            sheet = _worksheet(self.path, book.active)
            sheet.title = self.worksheet
        else:
            if (reason := size_refusal(self.path)) is not None:
                raise SheetFileError(reason)
            try:
                book = openpyxl.load_workbook(self.path)
            except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
                raise SheetFileError(f"{self.path}: not a readable .xlsx workbook: {exc}") from None
            if self.worksheet in book.sheetnames:
                sheet = _worksheet(self.path, book[self.worksheet])
            else:
                sheet = book.create_sheet(self.worksheet)
        self._sheet = sheet
        return sheet

    def _apply_xlsx(self, plan: SheetPlan) -> None:
        sheet = self._sheet or self._load_xlsx()
        if plan.header_row is not None:
            for column, title in enumerate(HEADER, start=1):
                sheet.cell(plan.header_row, column, title)
        for write in plan.writes:
            total = write.total
            day = sheet.cell(write.row, 1, total.day)
            day.number_format = DATE_FORMAT
            sheet.cell(write.row, 2, total.project)
            sheet.cell(write.row, 3, total.drops)
        book = sheet.parent
        if book is None:
            raise SheetFileError(f"{self.path}: the worksheet lost its workbook")
        with self._replacing(binary=True) as out:
            book.save(out)

    # -- csv ------------------------------------------------------------------------------

    def _load_csv(self) -> list[list[Any]]:
        try:
            # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte-order mark.
            with self.path.open(encoding="utf-8-sig", newline="") as f:
                return [list(r) for r in csv.reader(f)]
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise SheetFileError(f"{self.path}: not a readable CSV file: {exc}") from None

    def _apply_csv(self, plan: SheetPlan) -> None:
        rows = [list(r) for r in self._rows]

        def put(row: int, cells: tuple[object, ...]) -> None:
            while len(rows) < row:
                rows.append([])
            line = rows[row - 1]
            while len(line) < len(cells):
                line.append("")
            line[: len(cells)] = [str(c) for c in cells]

        if plan.header_row is not None:
            put(plan.header_row, HEADER)
        for write in plan.writes:
            put(write.row, cells(write.total))
        with self._replacing(binary=False) as out:
            csv.writer(out).writerows(rows)
        self._rows = rows

    # -- saving ---------------------------------------------------------------------------

    @contextmanager
    def _replacing(self, *, binary: bool) -> Iterator[IO[Any]]:
        """A temporary file beside the target that replaces it in one rename when complete.

        A symbolic link is written through: the file it leads to is replaced (the temporary
        file beside that one, so the rename stays on one file system), the link stays a link."""
        target = Path(os.path.realpath(self.path))
        folder = target.parent
        try:
            if not self.path.is_symlink():
                folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
        except OSError as exc:
            raise SheetFileError(f"{self.path}: cannot write: {exc.strerror}") from None
        temp = Path(name)
        try:
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
            os.chmod(temp, mode)
            if binary:
                with os.fdopen(fd, "wb") as out:
                    yield out
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                    yield out
            os.replace(temp, target)
        except OSError as exc:
            raise SheetFileError(f"{self.path}: cannot write: {exc.strerror}") from None
        finally:
            temp.unlink(missing_ok=True)


def _worksheet(path: Path, found: object) -> Worksheet:
    if not isinstance(found, Worksheet):
        raise SheetFileError(f"{path}: the sheet to write is a chart, not a worksheet")
    return found
