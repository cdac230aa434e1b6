"""The sheet planner: one row per (date, project), rewritten in place, nothing else touched."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from wa_monitor.core.records import DailyCount
from wa_monitor.core.sheet import (
    HEADER,
    DuplicateProject,
    Sheet,
    SheetPlan,
    SheetRow,
    Write,
    WriteKind,
    as_count,
    as_day,
    cells,
    plan,
    read_sheet,
)

D10, D11, D12 = date(2025, 11, 10), date(2025, 11, 11), date(2025, 11, 12)
SERIAL_D11 = 45972  # what Excel hands back for a cell holding 2025-11-11


@pytest.mark.parametrize(
    ("cell", "day"),
    [
        (D11, D11),
        (datetime(2025, 11, 11, 0, 0), D11),
        (SERIAL_D11, D11),
        (float(SERIAL_D11), D11),
        ("45972", D11),
        ("2025-11-11", D11),
        (" 2025/11/11 ", D11),
        ("2025-11-11T00:00:00", D11),
        ("2025-11-11 00:00:00", D11),
        ("Date", None),
        ("11/12/2025", None),  # day-first or month-first: nobody can say
        ("2025-02-30", None),
        (45972.5, None),  # a time of day is not a day
        (True, None),
        (12, None),  # a count, not a serial of this century's days
        (None, None),
        ("", None),
    ],
)
def test_a_date_cell_is_read_as_excel_or_a_csv_hands_it_back(cell: object, day: date) -> None:
    assert as_day(cell) == day


@pytest.mark.parametrize(
    ("cell", "count"),
    [(12, 12), (12.0, 12), ("12", 12), (" 7 ", 7), (0, 0), (12.5, None), ("", None),
     (None, None), ("twelve", None), (-1, None), (False, None)],
)  # fmt: skip
def test_a_count_cell_is_a_whole_number(cell: object, count: int | None) -> None:
    assert as_count(cell) == count


def test_reading_skips_headers_blanks_and_other_content_but_counts_them_as_used() -> None:
    values: list[list[object]] = [
        ["Date", "Project", "Total Drops"],
        [SERIAL_D11, "Lawley", 12],
        [None, None, None],
        ["Notes: Mohadin paused", None, None],
        ["2025-11-11", " Mohadin ", "3"],
        [None, None, None, "a note in D"],
        [None, None, None],
    ]
    sheet = read_sheet(values)
    assert sheet.rows == (
        SheetRow(2, D11, "Lawley", 12),
        SheetRow(5, D11, "Mohadin", 3),
    )
    assert sheet.last_used_row == 6


def test_reading_a_block_that_does_not_start_at_a1() -> None:
    # Graph's usedRange starts at the first used cell: here B3, so column A is not in the block.
    sheet = read_sheet([["Lawley", 12], ["Mohadin", 3]], first_row=3, first_column=2)
    assert sheet == Sheet(rows=(), last_used_row=4)
    shifted = read_sheet([[SERIAL_D11, "Lawley", 12]], first_row=7, first_column=1)
    assert shifted.rows == (SheetRow(7, D11, "Lawley", 12),)


def lawley(day: date, drops: int) -> DailyCount:
    return DailyCount(day, "Lawley", drops)


def mohadin(day: date, drops: int) -> DailyCount:
    return DailyCount(day, "Mohadin", drops)


CASES = {
    "an empty sheet gets the header, then the rows in date and project order": (
        Sheet(rows=(), last_used_row=0),
        [mohadin(D11, 3), lawley(D11, 12), lawley(D10, 9)],
        SheetPlan(
            writes=(
                Write(WriteKind.APPEND, 2, lawley(D10, 9)),
                Write(WriteKind.APPEND, 3, lawley(D11, 12)),
                Write(WriteKind.APPEND, 4, mohadin(D11, 3)),
            ),
            unchanged=(),
            header_row=1,
            duplicates=(),
        ),
    ),
    "a rerun with the same counts writes nothing": (
        Sheet((SheetRow(2, D11, "Lawley", 12), SheetRow(3, D11, "Mohadin", 3)), 3),
        [lawley(D11, 12), mohadin(D11, 3)],
        SheetPlan(writes=(), unchanged=(lawley(D11, 12), mohadin(D11, 3)), header_row=None,
             duplicates=()),
    ),
    "a late drop rewrites its row in place": (
        Sheet((SheetRow(2, D11, "Lawley", 12), SheetRow(3, D11, "Mohadin", 3)), 3),
        [lawley(D11, 13), mohadin(D11, 3)],
        SheetPlan(writes=(Write(WriteKind.UPDATE, 2, lawley(D11, 13), previous=12),),
             unchanged=(mohadin(D11, 3),), header_row=None, duplicates=()),
    ),
    "a new key goes after the last used row, even when that row is not ours": (
        Sheet(rows=(SheetRow(2, D11, "Lawley", 12),), last_used_row=9),
        [lawley(D11, 12), lawley(D12, 4)],
        SheetPlan(writes=(Write(WriteKind.APPEND, 10, lawley(D12, 4)),),
             unchanged=(lawley(D11, 12),), header_row=None, duplicates=()),
    ),
    "names compare without case or extra spaces, and a blank count is rewritten": (
        Sheet(rows=(SheetRow(4, D11, "velo  test", None),), last_used_row=4),
        [DailyCount(D11, "Velo Test", 0)],
        SheetPlan(writes=(Write(WriteKind.UPDATE, 4, DailyCount(D11, "Velo Test", 0)),),
             unchanged=(), header_row=None, duplicates=()),
    ),
    "an old rerun's duplicate rows are reported, the first row kept up to date": (
        Sheet((SheetRow(2, D11, "Lawley", 12), SheetRow(3, D11, "Lawley", 12)), 3),
        [lawley(D11, 14)],
        SheetPlan(writes=(Write(WriteKind.UPDATE, 2, lawley(D11, 14), previous=12),),
             unchanged=(), header_row=None, duplicates=(SheetRow(3, D11, "Lawley", 12),)),
    ),
    "updates and appends come out in row order": (
        Sheet(rows=(SheetRow(5, D10, "Lawley", 1),), last_used_row=5),
        [mohadin(D10, 2), lawley(D10, 9)],
        SheetPlan(writes=(Write(WriteKind.UPDATE, 5, lawley(D10, 9), previous=1),
                     Write(WriteKind.APPEND, 6, mohadin(D10, 2))),
             unchanged=(), header_row=None, duplicates=()),
    ),
    "nothing wanted, nothing written, not even a header": (
        Sheet(rows=(), last_used_row=0), [], SheetPlan((), (), None, ()),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("sheet", "wanted", "expected"), CASES.values(), ids=CASES.keys())
def test_plan(sheet: Sheet, wanted: list[DailyCount], expected: SheetPlan) -> None:
    assert plan(sheet, wanted) == expected


def test_a_second_run_over_the_first_runs_result_writes_nothing() -> None:
    wanted = [lawley(D10, 9), lawley(D11, 12), mohadin(D11, 3)]
    first = plan(Sheet((), 0), wanted)
    grid: dict[int, tuple[object, ...]] = {first.header_row or 0: HEADER}
    for w in first.writes:
        # As Excel stores it: the ISO text becomes a serial number, "12" a number.
        day, project, drops = cells(w.total)
        grid[w.row] = ((date.fromisoformat(day) - date(1899, 12, 30)).days, project, drops)
    values = [list(grid.get(r, (None, None, None))) for r in range(1, max(grid) + 1)]
    again = plan(read_sheet(values), wanted)
    assert again.writes == ()
    assert len(again.unchanged) == 3


def test_two_projects_that_differ_only_in_case_are_refused() -> None:
    with pytest.raises(DuplicateProject, match="differ only in case"):
        plan(Sheet((), 0), [lawley(D11, 1), DailyCount(D11, "LAWLEY", 2)])


def test_a_row_of_ours_whose_drops_are_gone_is_set_to_zero_and_no_other_row_is() -> None:
    sheet = Sheet(
        (
            SheetRow(2, D11, "Lawley", 12),
            SheetRow(3, D11, "Mohadin", 3),  # ours; its reviews were deleted
            SheetRow(4, D11, "Mamelodi", 7),  # someone else's row: never touched
            SheetRow(5, D10, "Velo Test", 0),  # ours, already 0
        ),
        5,
    )
    ours = [(D11, "Lawley"), (D11, "mohadin"), (D10, "Velo Test"), (D12, "Lawley")]
    got = plan(sheet, [lawley(D11, 12)], ours=ours)
    assert got.writes == (Write(WriteKind.UPDATE, 3, mohadin(D11, 0), previous=3),)
    assert got.unchanged == (lawley(D11, 12), DailyCount(D10, "Velo Test", 0))
    # A row of ours that someone deleted is not written again for a day with no drops.
    assert plan(Sheet((), 0), [], ours=ours).writes == ()
