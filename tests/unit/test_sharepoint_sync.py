"""The SharePoint job (services/sharepoint.sync) on in-memory fakes of its ports: the schema's
counts and record (FakeSyncBook) and a worksheet (FakeSheet). What the job decides: rows
written and recorded, a dry run that writes nothing, drops without a project left out and said,
a repeated row left alone, a run stopped midway reported with what was and was not written and
completed by the next. The SQL and the real workbooks: tests/integration/test_sync.py."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support.fakes import FakeSheet, FakeSyncBook, RecordingLog
from wa_monitor.core.records import DailyCount
from wa_monitor.core.sheet import HEADER
from wa_monitor.services.sharepoint import Days, SyncIncomplete, sync

MON, TUE = date(2025, 11, 10), date(2025, 11, 11)
DAYS = Days(MON, TUE)


def run(book: FakeSyncBook, sheet: FakeSheet, *, dry_run: bool = False) -> list[str]:
    return sync(book=book, days=DAYS, target=sheet, dry_run=dry_run, log=RecordingLog()).lines()


def test_a_first_run_writes_the_header_and_a_row_per_day_and_project_and_records_each() -> None:
    book = FakeSyncBook([DailyCount(MON, "Lawley", 3), DailyCount(TUE, "Lawley", 5)])
    sheet = FakeSheet()

    lines = run(book, sheet)

    assert sheet.cells == {
        1: HEADER,
        2: ("2025-11-10", "Lawley", 3),
        3: ("2025-11-11", "Lawley", 5),
    }
    assert book.recorded == [
        ("memory.xlsx", MON, "Lawley", 3, "append"),
        ("memory.xlsx", TUE, "Lawley", 5, "append"),
    ]
    assert lines[-1] == "memory.xlsx: 2025-11-10..2025-11-11: 0 updated, 2 appended, 0 unchanged"


def test_a_later_run_rewrites_a_changed_count_in_place_and_leaves_the_rest() -> None:
    book = FakeSyncBook([DailyCount(MON, "Lawley", 3), DailyCount(TUE, "Lawley", 5)])
    sheet = FakeSheet()
    run(book, sheet)
    sheet.cells[4] = ("a note someone typed", "", "")  # not ours: never touched
    book.totals = [DailyCount(MON, "Lawley", 3), DailyCount(TUE, "Lawley", 7)]

    lines = run(book, sheet)

    assert sheet.cells[3] == ("2025-11-11", "Lawley", 7)
    assert sheet.cells[4] == ("a note someone typed", "", "")
    assert lines[0] == "wrote 2025-11-11 Lawley = 7 (row 3, was 5)"
    assert lines[-1].endswith("1 updated, 0 appended, 1 unchanged")


def test_a_row_the_job_wrote_whose_drops_are_gone_is_set_to_zero() -> None:
    book = FakeSyncBook([DailyCount(TUE, "Lawley", 5), DailyCount(TUE, "Mohadin", 2)])
    sheet = FakeSheet()
    run(book, sheet)
    book.totals = [DailyCount(TUE, "Lawley", 5)]  # Mohadin's reviews moved or deleted

    run(book, sheet)

    assert sheet.cells[3] == ("2025-11-11", "Mohadin", 0)


def test_a_dry_run_says_what_it_would_write_and_writes_and_records_nothing() -> None:
    book = FakeSyncBook([DailyCount(TUE, "Lawley", 5)])
    sheet = FakeSheet()

    lines = run(book, sheet, dry_run=True)

    assert lines[0] == "would write 2025-11-11 Lawley = 5 (row 2, new)"
    assert lines[-1].endswith("(dry run: nothing written)")
    assert sheet.cells == {}
    assert book.recorded == []


def test_drops_without_a_project_are_said_and_counted_nowhere() -> None:
    book = FakeSyncBook([DailyCount(TUE, "Lawley", 5), DailyCount(TUE, " ", 2)])
    sheet, log = FakeSheet(), RecordingLog()

    report = sync(book=book, days=DAYS, target=sheet, dry_run=False, log=log)

    assert report.no_project == 2
    assert [w.total.project for w in report.written] == ["Lawley"]
    (warned,) = log.having("drops without a project")
    assert warned.fields["drops"] == 2


def test_a_row_repeating_a_day_and_project_is_left_and_said() -> None:
    book = FakeSyncBook([DailyCount(TUE, "Lawley", 5)])
    sheet = FakeSheet({1: HEADER, 2: ("2025-11-11", "Lawley", 4), 3: ("2025-11-11", "Lawley", 4)})
    log = RecordingLog()

    sync(book=book, days=DAYS, target=sheet, dry_run=False, log=log)

    assert sheet.cells[2] == ("2025-11-11", "Lawley", 5)
    assert sheet.cells[3] == ("2025-11-11", "Lawley", 4)  # an old job's rerun: left
    (warned,) = log.having("sheet row repeats a date and project")
    assert warned.fields["row"] == 3


def test_a_run_stopped_midway_says_what_was_written_and_the_next_run_writes_the_rest() -> None:
    book = FakeSyncBook([DailyCount(MON, "Lawley", 3), DailyCount(TUE, "Lawley", 5)])
    sheet = FakeSheet(fails_after=1)

    with pytest.raises(SyncIncomplete) as stopped:
        run(book, sheet)

    message = str(stopped.value)
    assert "stopped after 1 of 2 rows" in message
    assert "not written: 2025-11-11 Lawley = 5 (row 3, new)" in message
    assert [r[1] for r in book.recorded] == [MON]  # recorded as it reached the sheet
    sheet.fails_after = None
    lines = run(book, sheet)
    assert lines[-1].endswith("0 updated, 1 appended, 1 unchanged")
    assert sheet.cells[3] == ("2025-11-11", "Lawley", 5)
