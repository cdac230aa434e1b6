"""The file target: the same upsert by (date, project) into a real .xlsx or .csv file."""

from __future__ import annotations

import csv
import time
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from wa_monitor.adapters.sheetfile import SheetFile, SheetFileError
from wa_monitor.core.records import DailyCount
from wa_monitor.core.sheet import plan

D11, D12 = date(2025, 11, 11), date(2025, 11, 12)
WANTED = [DailyCount(D11, "Lawley", 12), DailyCount(D11, "Mohadin", 3)]


def sync(path: Path, wanted: list[DailyCount], **kw: str) -> list[int]:
    target = SheetFile(path, **kw)
    return [w.row for w in target.apply(plan(target.read(), wanted))]


def xlsx_rows(path: Path, sheet: str = "Daily Drops") -> list[tuple[object, ...]]:
    book = openpyxl.load_workbook(path)
    found = book[sheet]
    assert isinstance(found, Worksheet)
    return [tuple(r) for r in found.iter_rows(values_only=True)]


def test_a_new_workbook_round_trips_through_openpyxl(tmp_path: Path) -> None:
    path = tmp_path / "drops.xlsx"
    assert sync(path, WANTED) == [2, 3]
    assert xlsx_rows(path) == [
        ("Date", "Project", "Total Drops"),
        (datetime(2025, 11, 11), "Lawley", 12),
        (datetime(2025, 11, 11), "Mohadin", 3),
    ]
    cell = openpyxl.load_workbook(path)["Daily Drops"]["A2"]
    assert cell.is_date
    assert cell.number_format == "yyyy-mm-dd"
    # A rerun leaves the file alone; a late drop and a new day change one row and add one.
    stamp = path.stat().st_mtime_ns
    assert sync(path, WANTED) == []
    assert path.stat().st_mtime_ns == stamp
    assert sync(path, [DailyCount(D11, "Lawley", 13), DailyCount(D12, "Lawley", 2)]) == [2, 4]
    assert xlsx_rows(path)[1:] == [
        (datetime(2025, 11, 11), "Lawley", 13),
        (datetime(2025, 11, 11), "Mohadin", 3),
        (datetime(2025, 11, 12), "Lawley", 2),
    ]


def test_other_sheets_and_cells_of_a_workbook_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "ops.xlsx"
    book = openpyxl.Workbook()
    first = book.active
    assert isinstance(first, Worksheet)
    first.title = "Plan"
    first["A1"] = "HLD_Home"
    totals = book.create_sheet("Totals")
    totals.append(["Date", "Project", "Total Drops", "Checked"])
    totals.append([datetime(2025, 11, 11), "Lawley", 10, "yes"])
    totals.append([None, None, None, None])
    totals.append(["Total", None, "=SUM(C2:C2)"])
    book.save(path)
    assert sync(path, WANTED, worksheet="Totals") == [2, 5]
    assert xlsx_rows(path, "Totals") == [
        ("Date", "Project", "Total Drops", "Checked"),
        (datetime(2025, 11, 11), "Lawley", 12, "yes"),
        (None, None, None, None),
        ("Total", None, "=SUM(C2:C2)", None),
        (datetime(2025, 11, 11), "Mohadin", 3, None),
    ]
    assert xlsx_rows(path, "Plan") == [("HLD_Home",)]


def test_a_csv_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "drops.csv"
    assert sync(path, WANTED) == [2, 3]
    assert path.read_bytes() == (
        b"Date,Project,Total Drops\r\n2025-11-11,Lawley,12\r\n2025-11-11,Mohadin,3\r\n"
    )
    assert sync(path, WANTED) == []
    assert sync(path, [DailyCount(D11, "Mohadin", 5), DailyCount(D12, "Velo Test", 1)]) == [3, 4]
    with path.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [
            ["Date", "Project", "Total Drops"],
            ["2025-11-11", "Lawley", "12"],
            ["2025-11-11", "Mohadin", "5"],
            ["2025-11-12", "Velo Test", "1"],
        ]


def test_a_csv_saved_by_excel_with_a_byte_order_mark_and_a_note_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffDate,Project,Total Drops,Note\r\n2025/11/11,Lawley,9,late\r\n".encode())
    assert sync(path, WANTED) == [2, 3]
    with path.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [
            ["Date", "Project", "Total Drops", "Note"],
            ["2025-11-11", "Lawley", "12", "late"],
            ["2025-11-11", "Mohadin", "3"],
        ]


def test_a_file_that_is_not_a_workbook_fails_in_one_line_and_is_left_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "drops.xlsx"
    path.write_text("not a zip", encoding="utf-8")
    with pytest.raises(SheetFileError, match=r"not a readable \.xlsx workbook"):
        sync(path, WANTED)
    assert path.read_text("utf-8") == "not a zip"
    with pytest.raises(SheetFileError, match=r"takes a \.xlsx or a \.csv"):
        SheetFile(tmp_path / "drops.ods")


def test_a_zip_bomb_as_the_workbook_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    """A 20 kB workbook whose sheet unpacks to 20 MB of one byte: openpyxl would hold it all."""
    path = tmp_path / "drops.xlsx"
    sync(path, WANTED)
    with zipfile.ZipFile(path) as src:
        parts = {info.filename: src.read(info) for info in src.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for part, data in parts.items():
            out.writestr(part, data)
        out.writestr("xl/media/padding.bin", b"\0" * 20_000_000)
    before = path.read_bytes()
    started = time.monotonic()
    with pytest.raises(SheetFileError, match=r"'xl/media/padding.bin' is compressed 1,0\d\d to 1"):
        sync(path, WANTED)
    assert time.monotonic() - started < 1.0
    assert path.read_bytes() == before


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_symbolic_link_is_written_through_to_its_target_and_stays_a_link(
    tmp_path: Path, suffix: str
) -> None:
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / f"drops{suffix}"
    link = tmp_path / f"latest{suffix}"
    link.symlink_to(target)  # dangling: the first run creates the target
    assert sync(link, WANTED) == [2, 3]
    assert sync(link, [DailyCount(D11, "Lawley", 13)]) == [2]
    assert link.is_symlink()
    assert link.resolve() == target
    assert target.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest" + suffix, "shared"]
    assert [p.name for p in (tmp_path / "shared").iterdir()] == [target.name]  # no temp left


def test_a_link_into_a_folder_that_does_not_exist_is_refused_in_one_line(tmp_path: Path) -> None:
    link = tmp_path / "drops.csv"
    link.symlink_to(tmp_path / "gone" / "drops.csv")
    with pytest.raises(SheetFileError, match="cannot write") as caught:
        sync(link, WANTED)
    assert "\n" not in str(caught.value)
    assert link.is_symlink()
    assert not (tmp_path / "gone").exists()
