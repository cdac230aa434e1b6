"""Reading the bridge file: its time text, its senders, and what it does to rowids."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.env import LAWLEY, OTHER, VELO
from wa_monitor.adapters.bridge import (
    Bridge,
    BridgeBusy,
    BridgeCorrupt,
    BridgeMissing,
    BridgeSchemaError,
    _parse_text,
    parse_timestamp,
)
from wa_monitor.core.records import START
from wa_monitor.devtools.simulator import BridgeWriter, Post, create_lid_map
from wa_monitor.errors import Rescan

JHB = ZoneInfo("Africa/Johannesburg")


def open_bridge(path: Path, *, lid_map: Path | None = None, span: int = 1000) -> Bridge:
    return Bridge(path, groups=[LAWLEY, VELO], tz=JHB, span=span, lid_map=lid_map)


# -- time text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-11 12:25:30+02:00", datetime(2025, 11, 11, 10, 25, 30, tzinfo=UTC)),
        ("2025-11-11T12:25:30+02:00", datetime(2025, 11, 11, 10, 25, 30, tzinfo=UTC)),
        ("2025-11-11 10:25:30+00:00", datetime(2025, 11, 11, 10, 25, 30, tzinfo=UTC)),
        ("2025-11-11 10:25:30Z", datetime(2025, 11, 11, 10, 25, 30, tzinfo=UTC)),
        ("2025-11-11 12:25:30.123456789+02:00", datetime(2025, 11, 11, 10, 25, 30, 123456, UTC)),
        ("2025-11-11 12:25:30.5 +0200 SAST", datetime(2025, 11, 11, 10, 25, 30, 500000, UTC)),
        ("2025-11-11 12:25:30", datetime(2025, 11, 11, 10, 25, 30, tzinfo=UTC)),  # local time
        (1762856730, datetime(2025, 11, 11, 10, 25, 30, tzinfo=UTC)),
        ("1762856730000", datetime(2025, 11, 11, 10, 25, 30, tzinfo=UTC)),
    ],
)
def test_bridge_time_text_is_read_as_an_instant(text: object, expected: datetime) -> None:
    assert parse_timestamp(text, JHB) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "yesterday",
        "2025-13-01 00:00:00",
        "2025-11-11 25:00:00",
        "2025-11-11 1",
        "2025-11-11 12:00:00+25:00",
        b"\xff\xfe",
        1e30,
    ],
)
def test_unreadable_time_text_is_none(text: object) -> None:
    assert parse_timestamp(text, JHB) is None


def test_instants_compare_across_an_offset_change() -> None:
    # As strings "...23:30+00:00" > "...00:10+02:00", but the second is later in time.
    before = parse_timestamp("2025-11-11 23:30:00+00:00", JHB)
    after = parse_timestamp("2025-11-12 01:40:00+02:00", JHB)
    assert before is not None
    assert after is not None
    assert after > before


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
    st.sampled_from([" ", "T"]),
    st.booleans(),
)
def test_any_offset_round_trips(naive: datetime, minutes: int, sep: str, colon: bool) -> None:
    moment = naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    text = moment.isoformat(sep=sep)
    if not colon:
        text = text[:-3] + text[-2:]
    assert parse_timestamp(text, JHB) == moment


# The bridge's own shape, from a real moment, sometimes with one character swapped for a near
# miss: what the fast path (datetime.fromisoformat) makes of it must be what the general parser
# makes of it, the same instant or both unreadable.
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-24 * 60 + 1, max_value=24 * 60 - 1),
    st.sampled_from([" ", "T"]),
    st.none() | st.tuples(st.integers(0, 24), st.sampled_from("09 x:-+Z٣２")),
)
@settings(max_examples=1000)
@example(datetime(2000, 1, 1), 0, " ", (23, "9"))  # +00:90: fromisoformat takes it, we do not
@example(datetime(2000, 1, 1), 0, " ", (20, "2"))  # +20:00
@example(datetime(2000, 1, 1), 0, " ", (20, "9"))  # +90:00
@example(datetime(2000, 2, 28), 0, " ", (9, "9"))  # 2000-02-29 exists; 2000-02-98 does not
def test_the_fast_path_reads_what_the_general_parser_reads(
    naive: datetime, minutes: int, sep: str, swap: tuple[int, str] | None
) -> None:
    offset = timezone(timedelta(minutes=minutes))
    text = naive.replace(microsecond=0, tzinfo=offset).isoformat(sep=sep)
    if swap is not None:
        at, char = swap
        text = text[:at] + char + text[at + 1 :]
    assert parse_timestamp(text, JHB) == _parse_text(text, JHB)


def test_the_fast_path_keeps_the_offset() -> None:
    moment = parse_timestamp("2025-11-11 12:25:30-03:30", JHB)
    assert moment == datetime(2025, 11, 11, 15, 55, 30, tzinfo=UTC)
    assert moment is not None
    assert moment.utcoffset() == timedelta(hours=-3, minutes=-30)


@given(st.one_of(st.text(), st.binary(), st.integers(), st.floats(allow_nan=True), st.none()))
def test_garbage_time_never_raises(value: object) -> None:
    result = parse_timestamp(value, JHB)
    assert result is None or result.tzinfo is not None


# -- reading ---------------------------------------------------------------------------------


def post(
    bridge: BridgeWriter,
    mid: str,
    content: str | None,
    *,
    chat: str = LAWLEY,
    sender: str = "27640412391",
    ts: object = "2025-11-11 12:25:30+02:00",
) -> None:
    bridge.post(Post(id=mid, chat_jid=chat, sender=sender, content=content, timestamp=ts))


def test_a_read_done_again_for_bytes_that_are_not_utf8_returns_each_row_once(
    bridge: BridgeWriter,
) -> None:
    """The row the read stands on (not one it returns: no drop) has an id that is not UTF-8,
    so the read is done again with the lenient decoder; its rows must not come twice."""
    post(bridge, "A1", "DR1000001")
    bridge.execute(
        "INSERT INTO messages (id, chat_jid, sender, content, timestamp) VALUES "
        f"(CAST(X'4142FF' AS TEXT), '{LAWLEY}', '1', 'no drop here', '2025-11-11 12:00:00+02:00')"
    )
    with open_bridge(bridge.path) as reader:
        batch = reader.read(START)
    assert [m.message_id for m in batch.messages] == ["A1"]
    assert batch.position.anchor == (LAWLEY, "text:4142ff")  # its exact bytes, found again


def test_reads_only_watched_groups_and_rows_that_can_hold_a_drop(bridge: BridgeWriter) -> None:
    post(bridge, "A1", "DR1234567 photos")
    post(bridge, "A2", "morning team")
    post(bridge, "A3", "DR7654321", chat=OTHER)
    post(bridge, "A4", None)
    post(bridge, "A5", "dr 1111111", chat=VELO)
    with open_bridge(bridge.path) as reader:
        batch = reader.read(START)
    assert [m.message_id for m in batch.messages] == ["A1", "A5"]
    assert batch.caught_up
    assert batch.position.rowid == 5
    assert batch.position.anchor == (VELO, "A5")


def test_reads_in_batches_of_span_rowids(bridge: BridgeWriter) -> None:
    for i in range(10):
        post(bridge, f"M{i}", f"DR{1000000 + i}")
    with open_bridge(bridge.path, span=4) as reader:
        first = reader.read(START)
        second = reader.read(first.position)
        third = reader.read(second.position)
    assert [len(b.messages) for b in (first, second, third)] == [4, 4, 2]
    assert not first.caught_up
    assert third.caught_up


def test_senders_resolve_lids_and_names(bridge: BridgeWriter, tmp_path: Path) -> None:
    lid_map = tmp_path / "whatsapp.db"
    create_lid_map(lid_map, {"210987654321098": "27821234567"})
    bridge.chat("27821234567@s.whatsapp.net", "Thabo Field")
    post(bridge, "L1", "DR1234567", sender="210987654321098@lid")
    post(bridge, "L2", "DR1234568", sender="210987654321098")  # bare digits can be a LID too
    post(bridge, "P1", "DR1234569", sender="27640412391:12@s.whatsapp.net")
    with open_bridge(bridge.path, lid_map=lid_map) as reader:
        messages = reader.read(START).messages
    assert [(m.phone, m.sender_name) for m in messages] == [
        ("27821234567", "Thabo Field"),
        ("27821234567", "Thabo Field"),
        ("27640412391", None),
    ]


def test_the_file_is_opened_read_only(bridge: BridgeWriter) -> None:
    post(bridge, "A1", "DR1234567")
    with open_bridge(bridge.path) as reader:
        reader.read(START)
        conn, _ = reader._connection()
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            conn.execute("DELETE FROM messages")


def test_replace_reinsert_comes_back_with_a_new_rowid(bridge: BridgeWriter) -> None:
    post(bridge, "A1", "DR1234567")
    post(bridge, "A2", "DR1234568")
    with open_bridge(bridge.path) as reader:
        first = reader.read(START)
        post(bridge, "A1", "DR1234567")  # re-delivered: deleted and inserted again
        again = reader.read(first.position)
    assert [m.message_id for m in again.messages] == ["A1"]
    assert again.messages[0].rowid > first.position.rowid


def renumber(bridge: BridgeWriter) -> None:
    """Rebuild the table so rowids start again at 1, as VACUUM may do to a table like this."""
    with bridge.transaction():
        bridge.execute("CREATE TEMP TABLE keep AS SELECT * FROM messages ORDER BY rowid")
        bridge.execute("DELETE FROM messages")
        bridge.execute("INSERT INTO messages SELECT * FROM keep ORDER BY rowid")
        bridge.execute("DROP TABLE keep")


def test_renumbered_rowids_ask_for_a_rescan(bridge: BridgeWriter) -> None:
    for i in range(5):
        post(bridge, f"A{i}", f"DR{1000000 + i}")
    post(bridge, "A0", "DR1000000")  # re-delivered: leaves a gap at rowid 1
    with open_bridge(bridge.path) as reader:
        position = reader.read(START).position
        renumber(bridge)
        post(bridge, "A9", "DR1000009")  # rowid 6 again: below or at the saved position
        with pytest.raises(Rescan, match="moved or vanished"):
            reader.read(position)


def test_a_replaced_file_asks_for_a_rescan(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    with BridgeWriter(path) as writer:
        writer.post(Post("A1", LAWLEY, "1", "DR1234567", "2025-11-11 12:00:00+02:00"))
    with open_bridge(path) as reader:
        position = reader.read(START).position
        path.rename(tmp_path / "old.db")
        with BridgeWriter(path) as writer:
            writer.post(Post("B1", LAWLEY, "1", "DR7654321", "2025-11-11 12:00:00+02:00"))
        with pytest.raises(Rescan, match="replaced"):
            reader.read(position)
        fresh = reader.read(START)
    assert [m.message_id for m in fresh.messages] == ["B1"]


def test_missing_file_is_named_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "messages.db"
    with open_bridge(path) as reader, pytest.raises(BridgeMissing, match="does not exist"):
        reader.read(START)
    assert not path.exists()


def test_wrong_schema_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE messages (id TEXT, chat_jid TEXT, body TEXT)")
    conn.close()
    with open_bridge(path) as reader, pytest.raises(BridgeSchemaError) as err:
        reader.read(START)
    text = str(err.value)
    assert "column messages.sender" in text
    assert "column messages.content" in text
    assert "table chats" in text


def test_corrupt_file_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with open_bridge(path) as reader, pytest.raises(BridgeCorrupt, match="not a readable SQLite"):
        reader.read(START)


def test_a_writer_holding_the_lock_is_busy_not_fatal(bridge: BridgeWriter) -> None:
    post(bridge, "A1", "DR1234567")
    locker = sqlite3.connect(bridge.path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with open_bridge(bridge.path) as reader, pytest.raises(BridgeBusy, match="locked"):
            reader.read(START)
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def test_nul_bytes_and_blob_content_still_reach_the_parser(bridge: BridgeWriter) -> None:
    post(bridge, "N1", "abc\x00DR1234567")
    bridge.execute(
        "INSERT INTO messages (id, chat_jid, sender, content, timestamp) VALUES (?, ?, ?, ?, ?)",
        ("B1", LAWLEY, "1", b"DR7654321 blob", "2025-11-11 12:00:00+02:00"),
    )
    with open_bridge(bridge.path) as reader:
        messages = reader.read(START).messages
    assert [m.content for m in messages] == ["abc\x00DR1234567", "DR7654321 blob"]
