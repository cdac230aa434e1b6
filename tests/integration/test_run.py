"""`wa-monitor run --once` end to end: real bridge files in, real review rows out."""

from __future__ import annotations

import gc
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.env import AGENT, GROUPS, LAWLEY, MOHADIN, OTHER, VELO, sast, write_config
from tests.support.harness import cli
from tests.support.runs import reviews, run_once, say
from wa_monitor.adapters.postgres.db import latest_version
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, create_lid_map

pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture
def prod(tmp_path: Path, bridge: BridgeWriter) -> Path:
    return write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS, bots=("27000000001",)
    )


def test_a_posted_drop_becomes_one_review(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge.chat(f"{AGENT}@s.whatsapp.net", "Sipho Agent")
    say(bridge, "A1", "DR1752028 all photos", sast(11, 12, 25, 30))
    assert run_once(prod, database_url, monkeypatch) == 0
    row = reviews(db)["DR1752028"]
    assert row["project"] == "Lawley"
    assert row["user_name"] == "Sipho Agent"
    assert row["submitted_by"] == AGENT
    assert row["whatsapp_message_date"] == sast(11, 12, 25, 30)
    assert row["last_submitted_at"] == sast(11, 12, 25, 30)
    assert row["review_date"] == date(2025, 11, 11)
    assert "WhatsApp" in row["monitor_note"]
    assert row["comment"] is None  # the reviewer's alone
    assert (row["completed"], row["incomplete"], row["resubmitted"]) == (False, False, False)
    assert (row["completed_photos"], row["outstanding_photos"]) == (0, 12)
    assert row["feedback_sent"] is None
    assert not any(row[k] for k in row if k.startswith("step_"))


def test_every_drop_of_a_message_and_no_others(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111, dr 2222222 and Dr3333333 (not DR1234 or XDR4444444)", sast(11, 9))
    say(bridge, "A2", "DR5555555", sast(11, 9), chat=OTHER)  # a group nobody watches
    say(bridge, "A3", "DR6666666 received ✅", sast(11, 9), sender="27000000001")  # the bot
    say(bridge, "A4", None, sast(11, 9))  # a photo without caption
    assert run_once(prod, database_url, monkeypatch) == 0
    assert sorted(reviews(db)) == ["DR1111111", "DR2222222", "DR3333333"]


def test_same_day_repeat_changes_nothing(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111", sast(11, 9))
    say(bridge, "A2", "DR1111111 again", sast(11, 10), sender="27111111111")
    assert run_once(prod, database_url, monkeypatch) == 0
    row = reviews(db)["DR1111111"]
    assert (row["resubmitted"], row["submitted_by"]) == (False, AGENT)
    assert row["last_submitted_at"] == sast(11, 9)


@pytest.mark.parametrize("how", ["word", "later_day", "after_feedback"])
def test_resubmission_marks_the_review_for_another_look(
    how: str,
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111", sast(11, 9))
    assert run_once(prod, database_url, monkeypatch) == 0
    db.execute("UPDATE qa_photo_reviews SET incomplete = true, comment = 'x'")
    if how == "after_feedback":
        db.execute("UPDATE qa_photo_reviews SET feedback_sent = %s", (sast(11, 11),))
    text, at = {
        "word": ("DR1111111 fixed", sast(11, 10)),
        "later_day": ("DR1111111", sast(12, 8)),
        "after_feedback": ("DR1111111 see now", sast(11, 12)),
    }[how]
    bridge.chat("27222222222@s.whatsapp.net", "Other Agent")
    say(bridge, "A2", text, at, sender="27222222222")
    assert run_once(prod, database_url, monkeypatch) == 0
    row = reviews(db)["DR1111111"]
    assert row["resubmitted"] is True
    assert row["incomplete"] is False
    assert row["feedback_sent"] is None
    assert (row["submitted_by"], row["user_name"]) == ("27222222222", "Other Agent")
    assert row["last_submitted_at"] == at
    # The first sighting keeps the daily counts where they were.
    assert row["whatsapp_message_date"] == sast(11, 9)
    assert row["review_date"] == date(2025, 11, 11)
    assert row["updated_at"] > row["created_at"]
    assert len(reviews(db)) == 1


def test_a_message_before_feedback_is_not_a_resubmission(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111", sast(11, 9))
    assert run_once(prod, database_url, monkeypatch) == 0
    db.execute("UPDATE qa_photo_reviews SET feedback_sent = %s", (sast(11, 11),))
    say(bridge, "A2", "DR1111111 one more", sast(11, 10))  # sent before the feedback
    assert run_once(prod, database_url, monkeypatch) == 0
    row = reviews(db)["DR1111111"]
    assert row["resubmitted"] is False
    assert row["feedback_sent"] == sast(11, 11)


def test_offset_change_across_midnight_uses_the_local_day(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The bridge host switched from UTC to SAST around midnight. 23:00 SAST on the 11th, then
    # 00:30 SAST on the 12th written in UTC: a later local day, so a resubmission.
    say(bridge, "A1", "DR1111111", "2025-11-11 21:00:00+00:00")
    say(bridge, "A2", "DR1111111", "2025-11-11 22:30:00+00:00")
    # As text "2025-11-12 00:10+02:00" sorts after A2, but it is 22:10 UTC: before A2. In the
    # messages' own time order it is the resubmission (a later local day than A1, and "fixed"),
    # and A2, twenty minutes later on the same day, a repeat.
    say(bridge, "A3", "DR1111111 fixed", "2025-11-12 00:10:00+02:00")
    say(bridge, "A4", "DR2222222", "2025-11-11 22:10:00+00:00")
    assert run_once(prod, database_url, monkeypatch) == 0
    rows = reviews(db)
    first = rows["DR1111111"]
    assert first["review_date"] == date(2025, 11, 11)
    assert first["resubmitted"] is True
    assert first["last_submitted_at"] == sast(12, 0, 10)
    assert rows["DR2222222"]["review_date"] == date(2025, 11, 12)


def test_late_history_is_read_and_never_undoes_newer_work(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111", sast(12, 9))
    assert run_once(prod, database_url, monkeypatch) == 0
    db.execute("UPDATE qa_photo_reviews SET feedback_sent = %s", (sast(12, 10),))
    # History sync inserts old messages after newer ones.
    say(bridge, "H1", "DR2222222", sast(5, 9), sender=f"{AGENT}@s.whatsapp.net")
    say(bridge, "H2", "DR1111111 done", sast(5, 10), sender=f"{AGENT}@s.whatsapp.net")
    assert run_once(prod, database_url, monkeypatch) == 0
    rows = reviews(db)
    assert rows["DR2222222"]["review_date"] == date(2025, 11, 5)
    assert rows["DR2222222"]["submitted_by"] == AGENT
    # In the messages' own time order H2 (the 5th) is DR1111111's first sighting and A1 (the
    # 12th) its resubmission, as one bridge holding everything would have had it; the feedback
    # sent after both is newer work, and stays.
    late = rows["DR1111111"]
    assert late["whatsapp_message_date"] == sast(5, 10)
    assert late["review_date"] == date(2025, 11, 5)
    assert late["resubmitted"] is True
    assert late["last_submitted_at"] == sast(12, 9)
    assert late["feedback_sent"] == sast(12, 10)


def test_a_redelivered_message_is_applied_once(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111", sast(11, 9))
    say(bridge, "A2", "DR1111111 fixed", sast(11, 10))
    assert run_once(prod, database_url, monkeypatch) == 0
    db.execute(
        "UPDATE qa_photo_reviews SET feedback_sent = %s, resubmitted = false", (sast(11, 11),)
    )
    say(bridge, "A2", "DR1111111 fixed", sast(11, 10))  # INSERT OR REPLACE: new rowid, same id
    assert run_once(prod, database_url, monkeypatch) == 0
    row = reviews(db)["DR1111111"]
    assert row["feedback_sent"] == sast(11, 11)  # the replay did not clear the feedback
    assert row["resubmitted"] is False
    ledger = db.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone()
    assert ledger == (2,)


def test_lid_senders_are_resolved_to_phone_numbers(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lid_map = tmp_path / "whatsapp.db"
    create_lid_map(lid_map, {"210987654321098": "27821234567"})
    bridge.chat("27821234567@s.whatsapp.net", "Thabo Field")
    config = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS, lid_map_db=lid_map
    )
    say(bridge, "L1", "DR1111111", sast(11, 9), sender="210987654321098@lid")
    assert run_once(config, database_url, monkeypatch) == 0
    row = reviews(db)["DR1111111"]
    assert (row["submitted_by"], row["user_name"]) == ("27821234567", "Thabo Field")


def test_unreadable_timestamp_is_logged_and_the_drop_still_lands(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    say(bridge, "A1", "DR1111111", "the day after tomorrow")
    before = datetime.now().astimezone()
    assert run_once(prod, database_url, monkeypatch) == 0
    row = reviews(db)["DR1111111"]
    assert row["whatsapp_message_date"] >= before
    log = (tmp_path / "logs" / "wa-monitor-prod.log").read_text(encoding="utf-8")
    assert "unreadable timestamp" in log
    assert "the day after tomorrow" in log


def test_prod_and_dev_on_one_bridge_write_only_their_own_schema(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prod = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    dev = write_config(
        tmp_path, "dev", bridge_db=bridge.path, groups={VELO: "Velo Test", LAWLEY: "Lawley"}
    )
    say(bridge, "A1", "DR1111111", sast(11, 9))
    say(bridge, "V1", "DR9999999 test", sast(11, 9), chat=VELO)
    assert run_once(prod, database_url, monkeypatch) == 0
    assert run_once(dev, database_url, monkeypatch) == 0
    assert sorted(reviews(db, "public")) == ["DR1111111"]
    assert sorted(reviews(db, "dev")) == ["DR1111111", "DR9999999"]
    # Same drop, two environments, two independent rows.
    db.execute("UPDATE dev.qa_photo_reviews SET completed = true")
    assert reviews(db, "public")["DR1111111"]["completed"] is False
    dev_log = (tmp_path / "logs" / "wa-monitor-dev.log").read_text(encoding="utf-8")
    prod_log = (tmp_path / "logs" / "wa-monitor-prod.log").read_text(encoding="utf-8")
    created_dev = [line for line in dev_log.splitlines() if "✅ Created" in line]
    assert len(created_dev) == 2
    assert all(line.startswith("[DEV] ") for line in created_dev)
    assert "✅ Created QA review for DR9999999 (Velo Test)" in dev_log
    assert "[DEV]" not in prod_log
    assert prod_log.count("✅ Created") == 1


def test_run_puts_the_garbage_collector_back_as_it_was(
    prod: Path, bridge: BridgeWriter, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop runs with the collector tuned for it; a caller in the same process (these
    tests, an embedding program) gets its own settings back: nothing left frozen if nothing
    was, its own frozen objects not thawed if it had some (the conftest freezes what
    collection made; unfreeze() thaws all or nothing, and the count moves a little as frozen
    objects die, so whether anything is frozen is what is compared)."""
    say(bridge, "A1", "DR1111111", sast(11, 9))
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert run_once(prod, database_url, monkeypatch) == 0
    assert gc.get_threshold() == threshold
    assert (gc.get_freeze_count() > 0) == (frozen > 0)


def test_the_stopped_line_says_the_peak_memory_of_the_daemon_itself(
    prod: Path, bridge: BridgeWriter, database_url: str, tmp_path: Path
) -> None:
    """From the kernel's high-water mark of the daemon's own memory (the benchmark's target 6
    reads it): a parent holding 300 MB when it starts the daemon must not show in it."""
    say(bridge, "A1", "DR1111111", sast(11, 9))
    ballast = b"x" * (300 * 1024 * 1024)  # this process is big when it starts the daemon
    done = cli("run", "--once", "--config", str(prod), url=database_url)
    del ballast
    assert done.returncode == 0, done.stderr
    peaks = re.findall(r" stopped .*peak_rss_mb=([0-9.]+)", done.stderr)
    assert len(peaks) == 1, done.stderr
    assert 10 < float(peaks[0]) < 200


def test_restart_mid_stream_loses_nothing_and_repeats_nothing(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(30):
        say(bridge, f"A{i}", f"DR{1000000 + i}", sast(11, 9, i))
    assert run_once(prod, database_url, monkeypatch) == 0
    for i in range(30, 60):
        say(bridge, f"A{i}", f"DR{1000000 + i} done", sast(11, 10, i - 30))
    say(bridge, "A5", "DR1000005 done", sast(11, 11))  # a re-delivery among the new ones
    assert run_once(prod, database_url, monkeypatch) == 0
    assert run_once(prod, database_url, monkeypatch) == 0
    rows = reviews(db)
    assert len(rows) == 60
    assert not any(r["resubmitted"] for r in rows.values())
    assert db.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (60,)


def refuse_insert_of(
    db: psycopg.Connection[Any], drop: str, table: str = "qa_photo_reviews"
) -> None:
    """A real fault inside the write transaction: inserting `drop`'s review (or, with
    table="wa_monitor_ledger", claiming the message naming it) fails."""
    column = "drops" if table == "wa_monitor_ledger" else "drop_number"
    db.execute("""
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'disk on fire'; END $$""")
    db.execute(
        sql.SQL(
            "CREATE TRIGGER refuse BEFORE INSERT ON {} FOR EACH ROW "
            "WHEN (NEW.{} = {}) EXECUTE FUNCTION refuse()"
        ).format(sql.Identifier(table), sql.Identifier(column), sql.Literal(drop))
    )


def test_a_failed_batch_leaves_no_trace_and_is_redone(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111", sast(11, 9))
    say(bridge, "A2", "DR2222222", sast(11, 9))
    # The second insert of the batch fails.
    refuse_insert_of(db, "DR2222222")
    assert run_once(prod, database_url, monkeypatch) == 1
    assert reviews(db) == {}
    assert db.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (0,)
    # (The election names its holder in the bridge's cursor row, still at the start.)
    moved = db.execute("SELECT max(bridge_rowid) FROM wa_monitor_cursor").fetchone()
    assert moved in {(0,), (None,)}
    db.execute("DROP TRIGGER refuse ON qa_photo_reviews")
    assert run_once(prod, database_url, monkeypatch) == 0
    assert sorted(reviews(db)) == ["DR1111111", "DR2222222"]


@pytest.mark.parametrize("table", ["qa_photo_reviews", "wa_monitor_ledger"])
def test_a_batch_that_fails_behind_one_in_flight_leaves_the_ones_before_whole(
    table: str,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Batches overlap (one commits while the next is read): a failing batch still takes
    nothing with it but itself and what follows, and no line is logged for a batch that did
    not commit. The insert fails at COMMIT's answer; the claim, before the batch is planned."""
    config = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS, extra="batch_size = 2"
    )
    for i in range(1, 11):
        say(bridge, f"A{i}", f"DR{1000000 + i}", sast(11, 9, i))
    refuse_insert_of(db, "DR1000007", table)
    log_file = tmp_path / "logs" / "wa-monitor-prod.log"
    assert run_once(config, database_url, monkeypatch) == 1
    gc.collect()  # a pipeline left open by the failure would complain now (stderr, in a daemon)
    assert "disk on fire" in capfd.readouterr().err
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")]
    committed = [f"DR{1000000 + i}" for i in range(1, 7)]  # the batches of rowids 1-2, 3-4, 5-6
    assert sorted(reviews(db)) == committed
    assert db.execute("SELECT bridge_rowid FROM wa_monitor_cursor").fetchone() == (6,)
    assert db.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (6,)
    assert _created(log_file) == committed
    db.execute(sql.SQL("DROP TRIGGER refuse ON {}").format(sql.Identifier(table)))
    assert run_once(config, database_url, monkeypatch) == 0
    everything = [f"DR{1000000 + i}" for i in range(1, 11)]
    assert sorted(reviews(db)) == everything
    assert _created(log_file) == everything  # each once, over both runs


def _created(log_file: Path) -> list[str]:
    marker = "✅ Created QA review for "
    lines = log_file.read_text("utf-8").splitlines()
    return sorted(line.split(marker)[1].split()[0] for line in lines if marker in line)


@pytest.mark.migrated
def test_unmigrated_schema_exits_2_naming_the_fix(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, "dev", bridge_db=bridge.path, groups=GROUPS)
    assert run_once(config, database_url, monkeypatch) == 2
    assert "wa-monitor schema migrate --env dev" in capsys.readouterr().err


def test_migrate_is_idempotent(
    prod: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    assert main(["schema", "migrate", "--config", str(prod)]) == 0
    assert f"already at version {latest_version()}" in capsys.readouterr().out


def test_the_password_never_reaches_the_output(
    prod: Path,
    bridge: BridgeWriter,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://wa:Sup3rSecretPw@127.0.0.1:1/nowhere?connect_timeout=1"
    assert run_once(prod, url, monkeypatch) == 1
    out = capsys.readouterr()
    log = (tmp_path / "logs" / "wa-monitor-prod.log").read_text(encoding="utf-8")
    assert "database unavailable" in out.err
    for text in (out.out, out.err, log):
        assert "Sup3rSecretPw" not in text


def test_a_group_enabled_later_is_read_from_the_start(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "A1", "DR1111111", sast(11, 9))
    say(bridge, "M1", "DR2222222", sast(11, 9), chat=MOHADIN)  # posted before anyone watched
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    assert run_once(config, database_url, monkeypatch) == 0
    assert sorted(reviews(db)) == ["DR1111111"]
    say(bridge, "A2", "DR1111111 fixed", sast(11, 10))
    config = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley", MOHADIN: "Mohadin"}
    )
    assert run_once(config, database_url, monkeypatch) == 0
    rows = reviews(db)
    assert sorted(rows) == ["DR1111111", "DR2222222"]
    assert rows["DR2222222"]["project"] == "Mohadin"
    assert rows["DR1111111"]["resubmitted"] is True
    assert db.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (3,)
