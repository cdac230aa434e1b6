"""Crash anywhere, stop gracefully: the daemon killed at random moments over a large backlog ends
with exactly the rows, ledger and flags of one clean run."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.database import Server
from tests.support.env import write_config
from tests.support.harness import (
    GROUPS,
    Daemon,
    cli,
    cursor_of,
    max_rowid,
    position,
    seed_for,
    snapshot,
    wait_for_progress,
    wait_until,
    write_backlog,
)
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]

BACKLOG = 20_000
KILLS = 20
HOST_ZONES = ["UTC", "Africa/Johannesburg", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
# Small batches so that a kill lands between, inside and across many transactions.
BATCH = 10


def configured(tmp_path: Path, bridge: Path, name: str, batch: int = BATCH) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return write_config(
        folder, "prod", bridge_db=bridge, groups=GROUPS, extra=f"batch_size = {batch}"
    )


def clean_run(tmp_path: Path, bridge: Path, postgres: Server) -> object:
    with postgres.database("prod") as url:
        # One big batch: the result may not depend on how the backlog was cut into batches.
        config = configured(tmp_path, bridge, "clean", batch=20_000)
        done = cli("run", "--config", str(config), "--once", url=url, timeout=300)
        assert done.returncode == 0, done.stderr
        return snapshot(url)


def consistent(url: str, bridge: Path) -> None:
    """The last batch committed entirely or not at all: the ledger holds exactly the messages
    naming drops at or below the saved cursor, none above it."""
    import sqlite3

    position = cursor_of(url) or 0
    with psycopg.connect(url) as conn:
        above = conn.execute(
            "SELECT count(*) FROM wa_monitor_ledger WHERE bridge_rowid > %s", (position,)
        ).fetchone()
        ledger = {
            (c, m) for c, m in conn.execute("SELECT chat_jid, message_id FROM wa_monitor_ledger")
        }
    assert above == (0,), "ledger rows beyond the saved cursor: a batch half-committed"
    src = sqlite3.connect(f"file:{bridge}?mode=ro", uri=True)
    try:
        rows = src.execute(
            "SELECT chat_jid, id, content FROM messages WHERE rowid <= ? AND chat_jid IN "
            f"({','.join('?' * len(GROUPS))})",
            (position, *GROUPS),
        ).fetchall()
    finally:
        src.close()
    from wa_monitor.core.drops import find_drops

    expected = {(c, m) for c, m, text in rows if find_drops(text)}
    assert ledger == expected, "messages at or below the cursor missing from the ledger"


def test_sigkill_at_random_moments_changes_nothing(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, postgres: Server
) -> None:
    rng = random.Random(seed_for("crash"))
    backlog = write_backlog(bridge, rng, messages=BACKLOG)
    assert backlog.messages >= BACKLOG
    end = max_rowid(bridge.path)
    started = time.monotonic()
    expected = clean_run(tmp_path, bridge.path, postgres)
    clean_seconds = time.monotonic() - started

    config = configured(tmp_path, bridge.path, "crashy")
    watch = psycopg.connect(database_url, autocommit=True)
    kills = mid_backlog = 0
    while kills < KILLS or (mid_backlog < KILLS and (position(watch) or 0) < end):
        assert kills < 200, "the backlog never drained between kills"
        before = position(watch) or 0
        # The host's zone changes between restarts too: the monitor's dates may not follow it.
        zone = {"TZ": rng.choice(HOST_ZONES)}
        with Daemon(config, database_url, env=zone) as daemon:
            if rng.random() < 0.25 or before >= end:
                time.sleep(rng.uniform(0.0, 0.6))  # anywhere: imports, connect, lock, work
            else:
                # Once work is under way, somewhere inside the stream of transactions.
                wait_for_progress(daemon, watch, before)
                time.sleep(rng.uniform(0.0, 0.03))
            daemon.proc.send_signal(signal.SIGKILL)
            assert daemon.wait(10) == -signal.SIGKILL
        kills += 1
        mid_backlog += 0 < (position(watch) or 0) < end
        consistent(database_url, bridge.path)
    watch.close()
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("starting")
        wait_until(lambda: cursor_of(database_url) == end, timeout=120, what="the backlog to drain")
        code, _ = daemon.stop()
        assert code == 0, daemon.stderr
    got = snapshot(database_url)
    print(
        f"crash: {backlog.messages} messages ({backlog.drops} drops, {backlog.redeliveries} "
        f"re-deliveries), {len(got.reviews)} reviews, {got.resubmitted} resubmitted, "
        f"{len(got.ledger)} ledger rows; {kills} SIGKILLs survived, {mid_backlog} mid-backlog; "
        f"clean run {clean_seconds:.1f}s"
    )
    assert got == expected
    assert mid_backlog >= KILLS // 2
    assert len(got.reviews) > 500
    assert got.resubmitted > 50


def test_sigterm_mid_batch_exits_0_fast_with_the_batch_whole(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, postgres: Server
) -> None:
    rng = random.Random(seed_for("sigterm"))
    write_backlog(bridge, rng, messages=8_000)
    end = max_rowid(bridge.path)
    expected = clean_run(tmp_path, bridge.path, postgres)
    # Batches big enough that a SIGTERM lands inside one more often than between two.
    config = configured(tmp_path, bridge.path, "stopped", batch=1000)
    stops: list[float] = []
    watch = psycopg.connect(database_url, autocommit=True)
    # Each batch's transaction takes half a second, so a SIGTERM lands inside one.
    watch.execute("""
        CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$;
        CREATE TRIGGER slow BEFORE INSERT ON wa_monitor_ledger
            FOR EACH STATEMENT EXECUTE FUNCTION slow();
    """)
    while (before := position(watch) or 0) < end:
        with Daemon(config, database_url) as daemon:
            wait_for_progress(daemon, watch, before)
            time.sleep(rng.uniform(0.0, 0.4))
            code, took = daemon.stop()
        assert code == 0, daemon.stderr
        assert took < 5.0
        assert "stopped" in daemon.stderr
        stops.append(took)
        consistent(database_url, bridge.path)
        assert len(stops) < 100
    watch.close()
    print(f"sigterm: {len(stops)} stops, slowest exit {max(stops):.2f}s")
    assert snapshot(database_url) == expected
