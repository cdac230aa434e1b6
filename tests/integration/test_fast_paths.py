"""The speed paths keep the semantics: SQLite prefilter, short read transactions, batches,
and log lines written straight to the handlers."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.database import Server
from tests.support.env import LAWLEY, MOHADIN, VELO, sast, write_config
from tests.support.runs import run_once
from wa_monitor.adapters import logs
from wa_monitor.adapters.bridge import _READ, Bridge
from wa_monitor.core.drops import find_drops
from wa_monitor.core.records import START
from wa_monitor.devtools.simulator import BRIDGE_DDL, BridgeWriter, Post, bridge_timestamp

# Pieces that make near-drops likely: case, spaces, other digits, word characters around them.
_TEXT = st.lists(
    st.sampled_from(["D", "d", "R", "r", "DR", "dr ", "Dr", " ", "\n", "1", "23", "4567", "0"])
    | st.text(alphabet="0123456789xX\t.,-_é٣", max_size=3),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
@example("DR 1234567")
@example("photos dr1234567 done")
@example("Dr 12345678\nfixed")
@example("dR123456")
def test_sqlite_prefilter_never_hides_a_drop(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(BRIDGE_DDL)
    conn.execute(
        "INSERT INTO messages (id, chat_jid, sender, content) VALUES ('A', ?, '1', ?)",
        (LAWLEY, text),
    )
    rows = conn.execute(_READ, (0, 10, json.dumps([LAWLEY]))).fetchall()
    if find_drops(text):
        assert len(rows) == 1


def test_batch_size_does_not_change_the_result(
    tmp_path: Path,
    bridge: BridgeWriter,
    postgres: Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many tiny batches (each its own database transaction) give the same rows as one."""
    groups = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test"}
    for i in range(60):
        day, chat = 11 + i // 20, [LAWLEY, MOHADIN, VELO][i % 3]
        text = [f"DR{1000000 + i % 25}", f"DR{1000000 + i % 25} fixed", "morning", None][i % 4]
        bridge.post(
            Post(f"M{i}", chat, f"2760000000{i % 7}", text, bridge_timestamp(sast(day, 8, i)))
        )
    results = []
    for batch_size in (3, 10_000):
        folder = tmp_path / str(batch_size)
        folder.mkdir()
        config = write_config(
            folder, "prod", bridge_db=bridge.path, groups=groups, extra=f"batch_size = {batch_size}"
        )
        with postgres.database("prod") as url:
            assert run_once(config, url, monkeypatch) == 0
            results.append(_rows(url))
    assert results[0] == results[1]
    assert len(results[0]) == len({f"DR{1000000 + i % 25}" for i in range(60) if i % 4 < 2})
    assert any(row[-1] for row in results[0])  # resubmissions crossed batch boundaries too


def _rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT drop_number, review_date, project, submitted_by, whatsapp_message_date, "
            "last_submitted_at, resubmitted FROM public.qa_photo_reviews ORDER BY drop_number"
        ).fetchall()


def test_a_batch_is_read_in_short_transactions_and_loses_nothing(
    bridge: BridgeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wa_monitor.adapters.bridge.READ_SPAN", 3)
    for i in range(10):
        text = f"DR{2000000 + i}" if i % 3 else "no drop here"
        bridge.post(Post(f"C{i}", LAWLEY, "1", text, "2025-11-11 12:00:00+02:00"))
    with Bridge(bridge.path, groups=[LAWLEY], tz=UTC, span=100) as reader:
        batch = reader.read(START)
        transactions = reader.read_transactions
    assert [m.message_id for m in batch.messages] == [f"C{i}" for i in range(10) if i % 3]
    assert batch.position.rowid == 10
    assert batch.caught_up
    assert transactions == 4 + 1  # rowids 1-3, 4-6, 7-9, 10; then the names, once a batch


def test_log_lines_go_to_stderr_and_the_file_and_follow_a_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "logs" / "wa-monitor-dev.log"
    logs.configure(prefix="[DEV]", log_file=log_file, level="INFO")
    log = logs.get()
    log.info("✅ Created QA review for DR1234567 (Velo Test)", by="27640412391")
    log.debug("not at INFO")
    log_file.rename(tmp_path / "logs" / "wa-monitor-dev.log.1")  # logrotate moves it away
    logs.reopen()  # SIGHUP
    log.warning("after rotation", n=2)
    rotated = (tmp_path / "logs" / "wa-monitor-dev.log.1").read_text("utf-8").splitlines()
    current = log_file.read_text("utf-8").splitlines()
    err = capsys.readouterr().err.splitlines()
    assert len(rotated) == 1
    assert rotated[0].startswith("[DEV] ")
    assert "✅ Created QA review for DR1234567 (Velo Test) by=27640412391" in rotated[0]
    assert len(current) == 1
    assert "WARNING after rotation n=2" in current[0]
    assert err == rotated + current


def test_lines_held_for_a_batch_come_out_whole_and_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "wa-monitor-prod.log"
    logs.configure(prefix="", log_file=log_file, level="INFO")
    log = logs.get()
    with logs.batched():
        for i in range(3):
            log.info(f"✅ Created QA review for DR100000{i} (Lawley)")
        with logs.batched():  # nested: still one block
            log.info("🔄 Resubmission for DR1000000 (Lawley)")
        assert log_file.read_text("utf-8") == ""  # held until the block ends
    log.info("cycle done")
    lines = log_file.read_text("utf-8").splitlines()
    assert [line.split(" INFO ", 1)[1].strip() for line in lines] == [
        "✅ Created QA review for DR1000000 (Lawley)",
        "✅ Created QA review for DR1000001 (Lawley)",
        "✅ Created QA review for DR1000002 (Lawley)",
        "🔄 Resubmission for DR1000000 (Lawley)",
        "cycle done",
    ]
    assert capsys.readouterr().err.splitlines() == lines


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_the_emitter_writes_what_the_logger_writes(tmp_path: Path, level: str) -> None:
    """The per-review lines skip structlog's dispatch, not its processors, level or sink."""
    log_file = tmp_path / "wa-monitor-dev.log"
    logs.configure(prefix="[DEV]", log_file=log_file, level=level)
    log = logs.get()
    at = sast(11, 9, 30)
    with logs.batched():
        logs.emitter(log, "info")("✅ Created QA review for DR1000001 (Velo)", by="27 6", at=at)
        log.info("✅ Created QA review for DR1000001 (Velo)", by="27 6", at=at)
        logs.emitter(log, "debug")("repeat of DR1000001", by="2764")
    logs.emitter(log, "warning")("not held", n=1)
    lines = [line.split(" ", 2)[2] for line in log_file.read_text("utf-8").splitlines()]
    created = (
        'INFO    ✅ Created QA review for DR1000001 (Velo) by="27 6" at=2025-11-11T09:30:00+02:00'
    )
    expected = [created, created]
    if level == "DEBUG":
        expected.append("DEBUG   repeat of DR1000001 by=2764")
    assert lines == [*expected, "WARNING not held n=1"]


def test_the_emitters_fast_path_quotes_escapes_and_formats_as_the_logger(tmp_path: Path) -> None:
    """A line with no exc_info skips format_exc_info, and bare values skip the quoting checks:
    the same text comes out for every kind of value, and a traceback still does."""
    log_file = tmp_path / "wa-monitor-prod.log"
    logs.configure(prefix="", log_file=log_file, level="INFO")
    log = logs.get()
    values = {
        "bare": "120363400000000001@g.us",
        "empty": "",
        "space": "Agent 013",
        "quote": 'say "hi"',
        "eq": "a=b",
        "back": "c:\\x",
        "ctl": "line\nfake",
        "bidi": "\u202ename",
        "accent": "José",
        "at": sast(11, 9, 30),
        "n": 7,
    }
    logs.emitter(log, "info")("fast", **values)
    log.info("fast", **values)
    try:
        int("boom")
    except ValueError:
        logs.emitter(log, "info")("failed", exc_info=True)
    lines = log_file.read_text("utf-8").splitlines()
    assert lines[0].split(" ", 1)[1] == lines[1].split(" ", 1)[1]
    assert lines[1].split(" ", 1)[1] == (
        'INFO    fast bare=120363400000000001@g.us empty="" space="Agent 013" '
        'quote="say \\"hi\\"" eq="a=b" back=c:\\x ctl="line\\nfake" bidi="\\u202ename" '
        "accent=José at=2025-11-11T09:30:00+02:00 n=7"
    )
    assert "ValueError: invalid literal for int() with base 10: 'boom'" in "\n".join(lines[2:])


def test_a_secret_is_redacted_in_held_lines_and_single_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "wa-monitor-prod.log"
    logs.configure(prefix="", log_file=log_file, level="INFO")
    logs.register_secret("Hunter2Secret")
    log = logs.get()
    with logs.batched():
        log.info("✅ Created QA review for DR1000000 (Lawley)", by="Hunter2Secret")
        log.info("Hunter2Secret in the event itself")
    log.warning("after the block", error="password=Hunter2Secret")
    text = log_file.read_text("utf-8")
    assert "Hunter2Secret" not in text
    assert "Hunter2Secret" not in capsys.readouterr().err
    assert text.count(logs.REDACTED) == 3


def test_each_line_starts_with_the_local_time_to_the_millisecond(tmp_path: Path) -> None:
    """The stamp is cached per millisecond; lines still carry the time they were logged."""
    log_file = tmp_path / "wa-monitor-prod.log"
    logs.configure(prefix="[DEV]", log_file=log_file, level="INFO")
    log = logs.get()
    before = datetime.now().astimezone()
    for i in range(500):
        log.info("tick", i=i)
        if i == 250:
            time.sleep(1.1)  # across a second: the cached date and time must move on
    after = datetime.now().astimezone()
    stamps = [line.split(" ")[1] for line in log_file.read_text("utf-8").splitlines()]
    moments = [datetime.fromisoformat(s) for s in stamps]
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", s) for s in stamps
    )
    assert moments == sorted(moments)
    assert before - timedelta(milliseconds=1) <= moments[0]
    assert moments[-1] <= after
    assert moments[251] - moments[250] >= timedelta(seconds=1)
    assert all(m.utcoffset() == before.utcoffset() for m in moments)


def test_the_records_built_per_message_are_frozen_for_mypy(tmp_path: Path) -> None:
    """They are plain slotted dataclasses at run time (cheaper to build); the type checker,
    which CI runs, must still refuse any assignment to them."""
    program = """
from wa_monitor.core.records import BridgeMessage, Decision, NewReview, Sighting
def change(m: BridgeMessage, s: Sighting, d: Decision, r: NewReview) -> str:
    m.content = "x"
    s.drop_number = "DR1"
    d.sighting = s
    r.project = "p"
    return s.drop_number + r.project
"""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-c", program],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # not the project's mypy settings, which name the files to check
        env={**os.environ, "MYPYPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )
    refused = re.findall(r'Property "(\w+)" defined in "(\w+)" is read-only', done.stdout)
    assert sorted(refused) == [
        ("content", "BridgeMessage"),
        ("drop_number", "Sighting"),
        ("project", "NewReview"),
        ("sighting", "Decision"),
    ], done.stdout
    assert "Found 4 errors" in done.stdout


def test_a_gap_of_deleted_rows_wider_than_a_batch_is_crossed(
    bridge: BridgeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wa_monitor.adapters.bridge.READ_SPAN", 3)
    for i in range(1, 11):
        bridge.post(Post(f"G{i}", LAWLEY, "1", f"DR{3000000 + i}", "2025-11-11 12:00:00+02:00"))
    bridge.execute("DELETE FROM messages WHERE rowid BETWEEN 2 AND 9")  # the bridge pruned them
    seen: list[str] = []
    with Bridge(bridge.path, groups=[LAWLEY], tz=UTC, span=4) as reader:
        position = START
        for _ in range(5):  # it used to stand still at rowid 1 for ever
            batch = reader.read(position)
            seen += [m.message_id for m in batch.messages]
            position = batch.position
            if batch.caught_up:
                break
    assert batch.caught_up
    assert seen == ["G1", "G10"]
    assert position.rowid == 10


def test_every_line_of_an_uncaught_traceback_carries_the_prefix(tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    program = (
        "import threading\n"
        "from pathlib import Path\n"
        "from wa_monitor.adapters import logs\n"
        f"logs.configure(prefix='[DEV]', log_file=Path({str(log)!r}))\n"
        "t = threading.Thread(target=lambda: 1 / 0, name='replies'); t.start(); t.join()\n"
        "raise KeyError('the main thread')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    for text in (done.stderr, log.read_text(encoding="utf-8")):
        lines = [line for line in text.splitlines() if line.strip()]
        assert any("ZeroDivisionError" in line for line in lines)
        assert any("KeyError: 'the main thread'" in line for line in lines)
        assert all(line.startswith("[DEV] ") for line in lines), lines
