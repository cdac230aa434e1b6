"""The drain's two ways for photo rows: the plain ones (the bridge's own shapes) go from SQLite
to PostgreSQL as one JSON text, never an object each; every other one is read as a row, as
before. Real bridge files, real PostgreSQL. What is pinned: each photo row takes exactly one of
the two ways, and both record what the row path makes of it, however odd its bytes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.support.env import AGENT, GROUPS, LAWLEY, VELO, write_config
from tests.support.runs import run_once, say
from wa_monitor.adapters.bridge import Bridge, exact_key
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.records import START, BridgeMessage
from wa_monitor.devtools.simulator import BridgeWriter, Post, create_lid_map

JHB = ZoneInfo("Africa/Johannesburg")
NOW = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
LID, LID_PHONE = "210987654321098", "27821234567"
BOT, BOT_LID = "27000000001", "310987654321098"
SHA = bytes(range(32))

# (id, sender, timestamp, content, filename, is_from_me, file_sha256, file_length, media_type)
PLAIN: dict[str, tuple[object, ...]] = {
    "PLAIN1": ("PLAIN1", AGENT, "2025-11-11 09:00:00+02:00", None, "image_1.jpg", 0, SHA, 10),
    "PLAIN2": ("PLAIN2", AGENT, "2025-11-11 09:00:01+02:00", "", "v.mp4", None, SHA, 0),
    "PLAIN3": ("PLAIN3", f"{AGENT}@s.whatsapp.net", "2025-11-11 07:00:02+00:00", None, None, 0),
    "PLAINLID": ("PLAINLID", f"{LID}@lid", "2025-11-11 09:00:03+02:00", None, "x.jpg", 0, SHA),
    # JSON-hostile, but plain: quotes and a backslash in a printable file name and a caption
    # that cannot name a drop (the caption itself never leaves SQLite on this way).
    "PLAINQ": ("PLAINQ", AGENT, "2025-11-11 09:00:04+02:00", 'he said "ok" \\ ', 'a"b\\c.jpg', 0),
    "PLAINSHORT": ("PLAINSHORT", AGENT, "2025-11-11 09:00:05+02:00", None, "s.jpg", 0, b"x", -5),
    "PLAINBOT": ("PLAINBOT", BOT, "2025-11-11 09:00:06+02:00", None, "b.jpg", 0),
    "PLAINBOTLID": ("PLAINBOTLID", BOT_LID, "2025-11-11 09:00:07+02:00", None, "b.jpg", 0),
    "PLAINLENGTH": ("PLAINLENGTH", AGENT, "2025-11-11 09:00:08+02:00", None, "l.jpg", 0, SHA, "x"),
    "PLAINFEB": ("PLAINFEB", AGENT, "2024-02-29 09:00:00+02:00", None, "f.jpg", 0),
}
ODD: dict[str, tuple[object, ...]] = {
    "ODDT": ("ODDT", AGENT, "2025-11-11T09:00:00+02:00", None, "t.jpg", 0),
    "ODDFRAC": ("ODDFRAC", AGENT, "2025-11-11 09:00:00.5+02:00", None, "f.jpg", 0),
    "ODDZ": ("ODDZ", AGENT, "2025-11-11 07:00:00Z", None, "z.jpg", 0),
    # An offset Python reads and PostgreSQL refuses as text: sent as UTC, it is recorded.
    "ODDOFFSET": ("ODDOFFSET", AGENT, "2025-11-12 01:00:00+16:00", None, "o.jpg", 0),
    "ODDFEB30": ("ODDFEB30", AGENT, "2025-02-30 09:00:00+02:00", None, "b.jpg", 0),
    "ODDHOUR": ("ODDHOUR", AGENT, "2025-11-11 24:00:00+02:00", None, "h.jpg", 0),
    "ODDFUTURE": ("ODDFUTURE", AGENT, "2099-01-01 09:00:00+02:00", None, "u.jpg", 0),
    "ODDANCIENT": ("ODDANCIENT", AGENT, "2001-01-01 09:00:00+02:00", None, "a.jpg", 0),
    "ODDNOTIME": ("ODDNOTIME", AGENT, None, None, "n.jpg", 0),
    "ODDEPOCH": ("ODDEPOCH", AGENT, 1762844400, None, "e.jpg", 0),
    "ODD-ID": ("ODD-ID", AGENT, "2025-11-11 09:00:00+02:00", None, "i.jpg", 0),
    "ODDKEYED": ("text:41", AGENT, "2025-11-11 09:00:00+02:00", None, "k.jpg", 0),
    "ODDPLUS": ("ODDPLUS", "+27 82 555 0100", "2025-11-11 09:00:00+02:00", None, "p.jpg", 0),
    "ODDDEVICE": ("ODDDEVICE", f"{AGENT}:12@s.whatsapp.net", "2025-11-11 09:00:00+02:00", None),
    "ODDME": ("ODDME", AGENT, "2025-11-11 09:00:00+02:00", None, "m.jpg", 1),
    "ODDMETEXT": ("ODDMETEXT", AGENT, "2025-11-11 09:00:00+02:00", None, "m.jpg", "no"),
    "ODDLIDT": ("ODDLIDT", f"{LID}@lid", "2025-11-11T09:05:00+02:00", None, "t.jpg", 0),
    "ODDDR": ("ODDDR", AGENT, "2025-11-11 09:00:00+02:00", "drill hole", "d.jpg", 0),
    "ODDNAME": ("ODDNAME", AGENT, "2025-11-11 09:00:00+02:00", None, "é.jpg", 0),
    # A caption naming a drop, full of what JSON and PostgreSQL choke on.
    "ODDCAPTION": (
        "ODDCAPTION",
        AGENT,
        "2025-11-11 09:00:00+02:00",
        'DR7654321 "quoted" \\ back\x00slash',
        "c.jpg",
        0,
    ),
}
# Rows whose bytes Python's sqlite3 cannot bind as str: written with SQL casts.
RAW_ODD = {
    "ODDBLOB": "INSERT INTO messages VALUES (x'4f4444ff', ?, ?, NULL, ?, 0, 'image', 'r.jpg',"
    " '', NULL, NULL, NULL, 5)",
    "ODDNUL": "INSERT INTO messages VALUES (CAST(x'4f44440041' AS TEXT), ?, ?, NULL, ?, 0,"
    " 'image', 'r.jpg', '', NULL, NULL, NULL, 5)",
    "ODDSURROGATE": "INSERT INTO messages VALUES ('ODDSURROGATE', ?, ?,"
    " CAST(x'445231323334353637eda080' AS TEXT), ?, 0, 'image', 'r.jpg', '', NULL, NULL, NULL, 5)",
    "ODDBADNAME": "INSERT INTO messages VALUES ('ODDBADNAME', ?, ?, NULL, ?, 0, 'image',"
    " CAST(x'61ff00' AS TEXT), '', NULL, NULL, NULL, 5)",
    "ODDBLOBTIME": "INSERT INTO messages VALUES ('ODDBLOBTIME', ?, ?, NULL, CAST(? AS BLOB), 0,"
    " 'image', 'r.jpg', '', NULL, NULL, NULL, 5)",
}


def photo(bridge: BridgeWriter, fields: tuple[object, ...], chat: str = LAWLEY) -> None:
    mid, sender, ts, content, *rest = fields
    filename, me, sha, length, media = (*rest, None, None, None, None, None)[:5]
    bridge.post(
        Post(
            id=str(mid),
            chat_jid=chat,
            sender=str(sender),
            content=content,  # type: ignore[arg-type]
            timestamp=ts,
            is_from_me=me,  # type: ignore[arg-type]
            media_type=str(media or ("video" if str(filename).endswith(".mp4") else "image")),
            filename=filename,  # type: ignore[arg-type]
            file_sha256=sha,  # type: ignore[arg-type]
            file_length=length,  # type: ignore[arg-type]
        )
    )


def write_all(bridge: BridgeWriter) -> None:
    for fields in [*PLAIN.values(), *ODD.values()]:
        photo(bridge, fields)
    photo(bridge, ("PLAINVELO", AGENT, "2025-11-11 09:00:00+02:00", None, "v.jpg", 0), VELO)
    conn = sqlite3.connect(bridge.path)
    with conn:
        for sql in RAW_ODD.values():
            conn.execute(sql, (LAWLEY, AGENT, "2025-11-11 09:00:00+02:00"))
    conn.close()


def reader(path: Path, lid_map: Path) -> Bridge:
    return Bridge(
        path,
        groups=[LAWLEY, VELO],
        tz=JHB,
        span=100_000,
        lid_map=lid_map,
        clock=lambda: NOW,
        photos=True,
    )


@pytest.fixture
def lid_map(tmp_path: Path) -> Path:
    path = tmp_path / "whatsapp.db"
    create_lid_map(path, {LID: LID_PHONE, BOT_LID: BOT})
    return path


def test_each_photo_row_takes_one_way_and_the_plain_way_reads_what_the_row_way_does(
    bridge: BridgeWriter, lid_map: Path
) -> None:
    write_all(bridge)
    with reader(bridge.path, lid_map) as r:
        batch = r.read(START)
        assert batch.photo_rows is not None
        plain = json.loads(batch.photo_rows.payload)
        as_rows = {m.message_id: m for m in batch.messages if m.media is not None}
        # The row way's reading of the plain rows, as the dashboard reads a drop's messages.
        by_row_way = r.messages([(p["c"], p["i"]) for p in plain])

    assert {p["i"] for p in plain} == {*PLAIN, "PLAINVELO"}
    assert batch.photo_rows.count == len(plain)
    raw = {exact_key("blob", b"ODD\xff"), exact_key("text", b"ODD\x00A")}
    raw |= {"ODDSURROGATE", "ODDBADNAME", "ODDBLOBTIME"}
    assert set(as_rows) == {exact_key("text", str(f[0]).encode()) for f in ODD.values()} | raw
    for p in plain:
        chat, mid, rowid, sender, ts, kind, filename, sha, length = (
            p[k] for k in ("c", "i", "r", "s", "t", "m", "f", "h", "n")
        )
        m: BridgeMessage = by_row_way[(chat, mid)]
        assert m.media is not None
        assert (m.flaw, m.from_me) == (None, False)
        assert (rowid, sender, kind, filename) == (
            m.rowid,
            m.sender_id,
            m.media.media_type,
            m.media.filename,
        )
        assert datetime.fromisoformat(ts) == m.sent_at
        assert (bytes.fromhex(sha) if sha else None) == m.media.file_sha256
        assert length == m.media.file_length
    senders = {(s.chat_jid, s.sender_id): (s.phone, s.rows) for s in batch.photo_rows.senders}
    assert senders[(LAWLEY, LID)] == (LID_PHONE, 1)
    assert senders[(LAWLEY, BOT_LID)] == (BOT, 1)
    assert senders[(LAWLEY, AGENT)][1] == 7
    times = [datetime.fromisoformat(p["t"]) for p in plain]
    assert (batch.photo_rows.first, batch.photo_rows.last) == (min(times), max(times))


def photos(db: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    """Every photo the drain recorded or keeps waiting for a drop message (photos.sql, seen):
    bridge rowid, sender, time, type, file name, SHA-256, length, caption's drop, drop."""
    seen = Database(db.info.dsn, "public", "prod").query("photos.seen")
    return {r[1]: tuple(r[2:11]) for r in db.execute(seen).fetchall()}


@pytest.mark.migrated("prod")
def test_the_drain_records_every_photo_once_whatever_its_bytes(
    tmp_path: Path,
    bridge: BridgeWriter,
    lid_map: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_all(bridge)
    say(bridge, "D1", "DR1752028", "2025-11-11 09:10:00+02:00", sender=f"{LID}@lid")
    config = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS, bots=(BOT,), lid_map_db=lid_map
    )
    assert run_once(config, database_url, monkeypatch) == 0
    db.execute("DELETE FROM public.wa_monitor_cursor")  # and again: nothing twice
    assert run_once(config, database_url, monkeypatch) == 0

    found = photos(db)
    with reader(bridge.path, lid_map) as r:
        batch = r.read(START)
    assert batch.photo_rows is not None
    plain_ids = {p["i"] for p in json.loads(batch.photo_rows.payload)}
    odd = {m.message_id: m for m in batch.messages if m.media is not None and m.from_me is False}
    # Everything but the bot's (by number and by LID) and the own account's, recorded once.
    assert set(found) == (plain_ids - {"PLAINBOT", "PLAINBOTLID"}) | set(odd)
    assert not {"ODDME", "ODDMETEXT"} & set(found)
    assert found["PLAINLID"][1] == LID_PHONE
    assert found["PLAINQ"][4] == 'a"b\\c.jpg'
    assert found["PLAINSHORT"][5:7] == (None, None)
    assert found["ODDOFFSET"][2] == datetime(2025, 11, 11, 9, 0, tzinfo=UTC)
    assert found["ODDCAPTION"][7] == "DR7654321"
    assert found["ODDSURROGATE"][7] == "DR1234567"
    assert found["ODDBADNAME"][4] == "a\ufffd\ufffd"
    for mid, m in odd.items():
        assert m.media is not None
        assert found[mid][:7] == (
            m.rowid,
            m.phone,
            m.sent_at if m.timestamp_ok else found[mid][2],  # the daemon's own read time
            m.media.media_type,
            m.media.filename,
            m.media.file_sha256,
            m.media.file_length,
        )
    # The plain and the odd photos near D1 (its sender's, by LID) are its own, whichever way
    # they came; an agent's own photos are not.
    assert found["PLAINLID"][8] == found["ODDLIDT"][8] == "DR1752028"
    assert found["PLAIN3"][8] != "DR1752028"


def test_odd_photo_rows_too_big_for_one_read_are_read_in_the_next_and_none_twice(
    bridge: BridgeWriter, lid_map: Path
) -> None:
    # Captions that say "dr" but name no drop make their rows odd; 900,000 characters each,
    # so that the third reaches READ_CHARS and the read stops there, the rest for the next.
    wide = "drill " * 150_000
    for i in range(6):
        photo(bridge, (f"PLAIN{i}A", AGENT, f"2025-11-11 09:0{i}:00+02:00", None, "a.jpg", 0))
        photo(bridge, (f"ODDWIDE{i}", AGENT, f"2025-11-11 09:0{i}:01+02:00", wide, "w.jpg", 0))
        photo(bridge, (f"PLAIN{i}B", AGENT, f"2025-11-11 09:0{i}:02+02:00", None, "b.jpg", 0))
    seen: list[str] = []
    reads = 0
    with reader(bridge.path, lid_map) as r:
        position = START
        while True:
            batch = r.read(position)
            reads += 1
            seen += [m.message_id for m in batch.messages]
            if batch.photo_rows is not None:
                seen += [p["i"] for p in json.loads(batch.photo_rows.payload)]
            position = batch.position
            if batch.caught_up:
                break
        transactions = r.read_transactions
    assert sorted(seen) == sorted(
        [f"PLAIN{i}A" for i in range(6)]
        + [f"ODDWIDE{i}" for i in range(6)]
        + [f"PLAIN{i}B" for i in range(6)]
    )
    assert transactions > 2  # the reads were cut short, not taken whole
