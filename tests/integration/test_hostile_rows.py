"""Hostile bridge rows: times at the calendar's ends or decades ahead, ids of any bytes on a read
boundary, a file rewritten in place. No row may stop the pipeline, make it loop, or be skipped
silently; a row processed with something in place of its own time or id is recorded."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.support.env import AGENT, LAWLEY, OTHER, VELO, write_config
from tests.support.harness import cli
from tests.support.runs import reviews, run_once, say
from wa_monitor.adapters.bridge import READ_SPAN, Bridge, parse_timestamp
from wa_monitor.core.records import START, Flaw
from wa_monitor.core.reviews import plan, sightings
from wa_monitor.devtools.simulator import BridgeWriter, Post

JHB = ZoneInfo("Africa/Johannesburg")
WEST = ZoneInfo("America/Los_Angeles")
NOW = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
CALENDAR_ENDS = [
    "0001-01-01 00:30:00+05:00",  # year 0 in UTC: before the calendar
    "9999-12-31 23:59:59Z",  # past its end in any zone east of UTC
    "0001-01-01 00:00:00+00:00",  # Go's zero time: before the calendar in any zone west of UTC
    "0001-01-01 00:00:00",  # Go's zero time without an offset, taken in the zone
    "9999-12-31 23:59:59.999999-14:00",
]


def reader(path: Path, *, tz: ZoneInfo = JHB, span: int = 100_000) -> Bridge:
    return Bridge(path, groups=[LAWLEY, VELO], tz=tz, span=span, clock=lambda: NOW)


def post(bridge: BridgeWriter, mid: str, content: str, ts: object, chat: str = LAWLEY) -> None:
    bridge.post(Post(id=mid, chat_jid=chat, sender=AGENT, content=content, timestamp=ts))


# -- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", CALENDAR_ENDS)
@pytest.mark.parametrize("tz", [JHB, WEST, UTC])
def test_a_time_at_the_calendars_ends_is_unreadable_not_an_overflow(
    bridge: BridgeWriter, text: str, tz: ZoneInfo
) -> None:
    assert parse_timestamp(text, tz) is None
    post(bridge, "E1", "DR1000001", text)
    with reader(bridge.path, tz=tz) as r:
        [message] = r.read(START).messages
    assert message.sent_at == NOW
    assert message.flaw is Flaw.UNREADABLE_TIME
    # The review rules take the local day of it in any zone, and of the ones near it.
    found = sightings([message], projects={LAWLEY: "Lawley"}, bot_senders=frozenset(), tz=WEST)
    assert [d.outcome.value for d in plan(found, {}, WEST).decisions] == ["created"]


@pytest.mark.parametrize(
    ("text", "flaw"),
    [
        ("2099-01-01 09:00:00+02:00", Flaw.FUTURE_TIME),
        ("2025-11-12 13:00:00+02:00", Flaw.FUTURE_TIME),  # 1 day and 1 hour ahead
        ("2025-11-12 11:00:00+02:00", None),  # 23 hours ahead: a clock off, still its time
        ("1970-01-01 00:00:00Z", Flaw.ANCIENT_TIME),
        ("2008-12-31 23:59:59Z", Flaw.ANCIENT_TIME),
    ],
)
def test_a_time_far_ahead_or_before_whatsapp_is_not_a_submission_time(
    bridge: BridgeWriter, text: str, flaw: Flaw | None
) -> None:
    post(bridge, "F1", "DR1000001", text)
    with reader(bridge.path) as r:
        [message] = r.read(START).messages
    assert message.flaw is flaw
    assert message.sent_at == (NOW if flaw else parse_timestamp(text, JHB))
    assert message.timestamp_ok is (flaw is None)


# -- ids on a read boundary ----------------------------------------------------------------------

ODD_IDS = {
    "not utf-8": "CAST(X'4142FF' AS TEXT)",
    "a NUL": "CAST(X'41004243' AS TEXT)",
    "a BLOB": "X'DEADBEEF'",
    "a BLOB of utf-8": "CAST('A5' AS BLOB)",
    "NULL": "NULL",
    "a carriage return": "'A\rB'",
    "looks like a key": "'text:41'",
}


@pytest.mark.parametrize("sql_id", ODD_IDS.values(), ids=ODD_IDS.keys())
def test_the_row_a_read_stands_on_is_found_again_whatever_its_id(
    bridge: BridgeWriter, sql_id: str
) -> None:
    post(bridge, "A5", "DR1000001", "2025-11-11 09:00:00+02:00", chat=VELO)  # same text as a BLOB
    bridge.execute(
        "INSERT INTO messages (id, chat_jid, sender, content, timestamp) VALUES "
        f"({sql_id}, '{OTHER}', '1', 'no drop', '2025-11-11 09:00:00+02:00')"
    )
    with reader(bridge.path) as r:
        first = r.read(START)
        assert first.position.rowid == 2
        assert first.position.anchor is not None
        assert "\x00" not in first.position.anchor[1]
        assert first.position.anchor[1].isprintable()
        post(bridge, "A6", "DR1000002", "2025-11-11 09:01:00+02:00")
        second = r.read(first.position)  # no Rescan: the anchor is where it was
    assert [m.message_id for m in second.messages] == ["A6"]


@pytest.mark.migrated("prod")
def test_a_read_boundary_on_an_id_that_is_not_utf8_does_not_rescan_for_ever(
    tmp_path: Path, database_url: str
) -> None:
    """2,500 rowids a read: the row at the boundary, in a chat nobody watches, has an id that is
    not UTF-8. `run --once` read up to it, could not find it again, rescanned, for ever."""
    path = tmp_path / "messages.db"
    with BridgeWriter(path) as writer:
        writer.post_many(
            Post(f"C{i}", OTHER, "1", "chatter", "2025-11-11 08:00:00+02:00")
            for i in range(READ_SPAN - 2)
        )
        writer.post(Post("A1", LAWLEY, AGENT, "DR1000001", "2025-11-11 09:00:00+02:00"))
        writer.execute(
            "INSERT INTO messages (id, chat_jid, sender, content, timestamp) VALUES "
            f"(CAST(X'4142FF' AS TEXT), '{OTHER}', '1', 'x', '2025-11-11 09:00:00+02:00')"
        )
        writer.post(Post("A2", LAWLEY, AGENT, "DR1000002", "2025-11-11 09:05:00+02:00"))
    config = write_config(tmp_path, "prod", bridge_db=path, groups={LAWLEY: "Lawley"})
    try:
        done = cli("run", "--config", str(config), "--once", url=database_url, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("run --once did not finish: the read boundary's anchor never matched")
    assert done.returncode == 0, done.stderr
    assert "rescanning" not in done.stderr
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT drop_number FROM qa_photo_reviews ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == ["DR1000001", "DR1000002"]


# -- the file rewritten in place -------------------------------------------------------------


def rewrite_in_place(path: Path, posts: list[Post]) -> None:
    """Write a new bridge file and copy its bytes over the old one: the same inode."""
    fresh = path.with_name("fresh.db")
    with BridgeWriter(fresh) as writer:
        writer.post_many(posts)
    inode = path.stat().st_ino
    with path.open("r+b") as old:
        old.truncate(0)
        old.write(fresh.read_bytes())
    assert path.stat().st_ino == inode


@pytest.mark.migrated("prod")
def test_a_file_rewritten_in_place_is_read_again_from_the_start(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bridge's history re-synced into the same inode: new messages under the old rowids,
    the last message read now further up. Reading on from the old rowid lost the new ones."""
    path = tmp_path / "messages.db"
    at = "2025-11-11 09:00:00+02:00"
    old = [Post(f"A{i}", LAWLEY, AGENT, f"DR100000{i}", at) for i in range(1, 4)]
    with BridgeWriter(path) as writer:
        writer.post_many(old)
    config = write_config(tmp_path, "prod", bridge_db=path, groups={LAWLEY: "Lawley"})
    assert run_once(config, database_url, monkeypatch) == 0
    news = [Post(f"B{i}", LAWLEY, AGENT, f"DR200000{i}", at) for i in range(1, 4)]
    rewrite_in_place(path, news + old)
    assert run_once(config, database_url, monkeypatch) == 0
    assert sorted(reviews(db)) == [f"DR100000{i}" for i in range(1, 4)] + [
        f"DR200000{i}" for i in range(1, 4)
    ]
    assert db.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (6,)


def test_the_same_message_at_the_same_rowid_with_another_time_means_a_rewrite(
    bridge: BridgeWriter,
) -> None:
    post(bridge, "A1", "DR1000001", "2025-11-11 09:00:00+02:00")
    post(bridge, "A2", "DR1000002", "2025-11-11 09:01:00+02:00")
    with reader(bridge.path) as r:
        position = r.read(START).position
        bridge.execute("UPDATE messages SET timestamp = '2025-11-10 07:00:00+02:00' WHERE id='A2'")
        bridge.execute("UPDATE messages SET content = 'DR3000001' WHERE id='A1'")
        with pytest.raises(Exception, match="rewritten in place"):
            r.read(position)
        # A re-delivery (deleted, inserted again further up, its rowid left empty) is not.
        again = r.read(START).position
        post(bridge, "A2", "DR1000002", "2025-11-10 07:00:00+02:00")
        assert [m.message_id for m in r.read(again).messages] == ["A2"]


# -- end to end ------------------------------------------------------------------------------


@pytest.mark.migrated("prod")
def test_poison_rows_are_recorded_and_every_drop_after_them_is_created(
    bridge: BridgeWriter,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each of these stopped `run` (exit 1 on every restart) or poisoned a review; now each is
    processed with the read time or its id's bytes, recorded, and logged once."""
    extra = 'timezone = "America/Los_Angeles"'
    config = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"}, extra=extra
    )
    say(bridge, "P1", "DR1000001", "0001-01-01 00:30:00+05:00")
    say(bridge, "P2", "DR1000002", "9999-12-31 23:59:59Z")
    say(bridge, "P3", "DR1000003", "0001-01-01 00:00:00+00:00")
    say(bridge, "P4", "DR1000004", "2099-01-01 00:00:00+02:00")
    bridge.execute(
        "INSERT INTO messages (id, chat_jid, sender, content, timestamp) VALUES "
        f"(CAST(X'50350036' AS TEXT), '{LAWLEY}', '{AGENT}', 'DR1000005', "
        "'2025-11-11 09:00:00+02:00')"
    )
    say(bridge, "N1", "no drop, last row of the batch", "2025-11-11 09:00:00+02:00", chat=OTHER)
    bridge.execute("UPDATE messages SET id = CAST(X'4E0031' AS TEXT) WHERE id = 'N1'")
    assert run_once(config, database_url, monkeypatch) == 0
    say(bridge, "V1", "DR1000006", datetime.now(UTC) - timedelta(minutes=1))
    say(bridge, "P4b", "DR1000004 done", datetime.now(UTC) + timedelta(minutes=1))
    assert run_once(config, database_url, monkeypatch) == 0
    made = reviews(db)
    assert sorted(made) == [f"DR100000{i}" for i in range(1, 7)]
    # The 2099 message did not become the last submission: the real one after it counts.
    assert made["DR1000004"]["resubmitted"] is True
    assert made["DR1000004"]["last_submitted_at"] < datetime.now(UTC) + timedelta(hours=1)
    flawed = db.execute(
        "SELECT message_id, flaw FROM wa_monitor_flawed_rows ORDER BY bridge_rowid"
    ).fetchall()
    assert flawed == [
        ("P1", "unreadable_time"),
        ("P2", "unreadable_time"),
        ("P3", "unreadable_time"),
        ("P4", "future_time"),
        ("text:50350036", "raw_id"),
    ]
    log = (tmp_path / "logs" / "wa-monitor-prod.log").read_text("utf-8")
    assert log.count("timestamp is in the future") == 1
    assert log.count("message id is not plain text") == 1
    # status and doctor show how many rows were processed so.
    env = {"WA_MONITOR_CONFIG_DIR": str(tmp_path)}
    shown = cli("status", "--json", url=database_url, env=env)
    [prod] = json.loads(shown.stdout)["environments"]
    assert prod["flawed_rows"] == 5
    doctor = cli("doctor", "--env", "prod", url=database_url, env=env)
    assert "PASS  flawed bridge rows: 5 bridge rows processed" in doctor.stdout


@pytest.mark.migrated("prod")
def test_a_message_the_database_refuses_is_recorded_and_skipped(
    bridge: BridgeWriter,
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the cause (here a constraint someone added to the shared table), a message whose
    writes the database refuses stopped its whole batch, and `run` exited 1 on every restart."""
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    db.execute(
        "ALTER TABLE qa_photo_reviews "
        "ADD CONSTRAINT not_this_one CHECK (drop_number <> 'DR6666666')"
    )
    at = "2025-11-11 09:00:00+02:00"
    say(bridge, "A1", "DR1000001", at)
    say(bridge, "A2", "DR6666666", at)
    say(bridge, "A3", "DR1000002 and DR1000003", at)
    assert run_once(config, database_url, monkeypatch) == 0
    say(bridge, "A4", "DR6666666 again", at)  # the last message of its batch
    assert run_once(config, database_url, monkeypatch) == 0
    assert run_once(config, database_url, monkeypatch) == 0  # nothing left to try again
    assert sorted(reviews(db)) == ["DR1000001", "DR1000002", "DR1000003"]
    refused = db.execute(
        "SELECT message_id, flaw, detail FROM wa_monitor_flawed_rows ORDER BY bridge_rowid"
    ).fetchall()
    assert [r[:2] for r in refused] == [("A2", "refused"), ("A4", "refused")]
    assert all("not_this_one" in r[2] for r in refused)
    assert db.execute("SELECT message_id FROM wa_monitor_ledger ORDER BY 1").fetchall() == [
        ("A1",),
        ("A3",),
    ]
    log = (tmp_path / "logs" / "wa-monitor-prod.log").read_text("utf-8")
    assert log.count("the database refused this message") == 2
