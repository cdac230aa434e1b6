"""Bridge faults end to end: the file missing, replaced, busy, locked, corrupt or in the wrong
schema. The daemon names the problem, retries on the backoff schedule, never crash-loops, and
works as soon as the file is right."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tests.support.env import LAWLEY, MOHADIN, sast, write_config
from tests.support.harness import (
    GROUPS,
    RETRY_LINE,
    Daemon,
    assert_backoff,
    cli,
    reviewed,
    seed_for,
)
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]


def config_for(tmp_path: Path, bridge: Path, url: str) -> Path:
    return write_config(tmp_path, "prod", bridge_db=bridge, groups=GROUPS)


def good_bridge(path: Path, posts: list[tuple[str, str]]) -> None:
    """A bridge file holding (message id, text) posts in the Lawley group."""
    with BridgeWriter(path) as writer:
        writer.post_many(
            Post(
                id=mid,
                chat_jid=LAWLEY,
                sender="27600000001",
                content=text,
                timestamp=bridge_timestamp(sast(11, 9) + timedelta(minutes=i)),
            )
            for i, (mid, text) in enumerate(posts)
        )


def named_with_backoff(daemon: Daemon, text: str) -> None:
    """Every retry line names the problem, on the backoff schedule: no crash loop, no flood."""
    lines = daemon.lines(RETRY_LINE)
    assert lines, daemon.stderr
    assert all(text in line for line in lines), lines
    assert_backoff(lines)
    assert daemon.stderr.count("starting") == 1  # one process, never restarted


def test_missing_bridge_file_is_waited_for(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "later" / "messages.db"
    config = config_for(tmp_path, path, database_url)
    with Daemon(config, database_url) as daemon:
        daemon.wait_for(RETRY_LINE, count=3)
        assert not path.exists()  # read-only: waiting never creates the file
        path.parent.mkdir()
        good_bridge(path, [("A1", "DR1000001")])
        daemon.wait_for("✅ Created QA review for DR1000001", timeout=30)
        code, _ = daemon.stop()
    assert code == 0
    named_with_backoff(daemon, f"bridge file {path} does not exist")


def wrong_schema(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE messages (id TEXT, chat_jid TEXT, sender TEXT, body TEXT)")
    conn.close()
    return (
        "missing column messages.content, column messages.timestamp, column messages.is_from_me, "
        "table chats"
    )


def corrupt(path: Path) -> str:
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    return "is not a readable SQLite database"


def not_sqlite(path: Path) -> str:
    path.write_text("this is a text file, not the bridge's database\n" * 100, "utf-8")
    return "is not a readable SQLite database"


@pytest.mark.parametrize("spoil", [wrong_schema, corrupt, not_sqlite])
def test_a_bad_file_is_named_retried_and_recovered_from(
    tmp_path: Path, database_url: str, spoil: Callable[[Path], str]
) -> None:
    path = tmp_path / "messages.db"
    problem = spoil(path)
    config = config_for(tmp_path, path, database_url)
    once = cli("run", "--config", str(config), "--once", "--give-up-after", "1", url=database_url)
    assert once.returncode == 1
    assert problem in once.stderr.splitlines()[-1]
    with Daemon(config, database_url) as daemon:
        daemon.wait_for(RETRY_LINE, count=2)
        fixed = tmp_path / "fixed.db"
        good_bridge(fixed, [("A1", "DR1000001")])
        os.replace(fixed, path)
        daemon.wait_for("✅ Created QA review for DR1000001", timeout=30)
        code, _ = daemon.stop()
    assert code == 0
    named_with_backoff(daemon, problem)


def test_a_locked_file_is_waited_out(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "messages.db"
    good_bridge(path, [("A1", "DR1000001")])
    config = config_for(tmp_path, path, database_url)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a writer (or a backup tool) that will not let go
    with Daemon(config, database_url) as daemon:
        daemon.wait_for(RETRY_LINE, count=3)
        assert reviewed(database_url) == set()
        holder.execute("COMMIT")
        holder.close()
        daemon.wait_for("✅ Created QA review for DR1000001", timeout=30)
        code, _ = daemon.stop()
    assert code == 0
    named_with_backoff(daemon, "is locked by a writer")


def test_a_replaced_file_with_rowids_from_1_is_rescanned(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "messages.db"
    first = [(f"A{i}", f"DR{1000000 + i}") for i in range(50)]
    good_bridge(path, first)
    config = config_for(tmp_path, path, database_url)
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("✅ Created", count=50)
        # A restored backup or a re-paired bridge: a new file whose rowids start again at 1.
        # It holds five messages already applied and three new ones, all below the old cursor.
        new = tmp_path / "new.db"
        good_bridge(
            new, [*first[:5], ("B1", "DR2000001"), ("B2", "DR1000001 fixed"), ("B3", "DR2000003")]
        )
        os.replace(new, path)
        daemon.wait_for("✅ Created QA review for DR2000003", timeout=30)
        code, _ = daemon.stop()
    assert code == 0
    assert "🔁 rescanning the bridge from the start" in daemon.stderr
    assert "file identity changed" in daemon.stderr
    assert reviewed(database_url) == {d for _, d in first} | {"DR2000001", "DR2000003"}
    assert daemon.stderr.count("✅ Created") == 52  # the five replayed messages changed nothing
    assert daemon.stderr.count("🔄 Resubmission for DR1000001") == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (53,)


def test_the_bridge_writing_flat_out_never_sees_busy(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    """The bridge writes continuously with its 5 s busy timeout while the daemon reads: no write
    may fail with SQLITE_BUSY, and the longest read transaction is measured and reported."""
    rng = random.Random(seed_for("busy bridge"))
    config = config_for(tmp_path, bridge.path, database_url)
    stop = threading.Event()
    written: list[str] = []
    busy: list[str] = []
    slowest_write = [0.0]

    def bridge_writes() -> None:
        with BridgeWriter(bridge.path) as writer:
            n = 0
            while not stop.is_set():
                posts = []
                for _ in range(rng.randint(1, 20)):
                    n += 1
                    text = f"DR{3000000 + n}" if rng.random() < 0.3 else "photos attached"
                    chat = rng.choice([LAWLEY, MOHADIN])
                    at = bridge_timestamp(sast(11, 8 + n // 3600 % 12, n // 60 % 60, n % 60))
                    posts.append(
                        Post(
                            id=f"W{n}",
                            chat_jid=chat,
                            sender="27600000001",
                            content=text,
                            timestamp=at,
                        )
                    )
                started = time.perf_counter()
                try:
                    writer.post_many(posts)
                except sqlite3.OperationalError as exc:
                    busy.append(str(exc))
                    continue
                slowest_write[0] = max(slowest_write[0], time.perf_counter() - started)
                written.extend(p.content for p in posts if p.content and p.content.startswith("DR"))

    with Daemon(config, database_url) as daemon:
        daemon.wait_for("starting")
        writer = threading.Thread(target=bridge_writes)
        writer.start()
        time.sleep(6.0)
        stop.set()
        writer.join()
        deadline = time.monotonic() + 60
        while set(written) - reviewed(database_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        code, _ = daemon.stop()
    assert code == 0, daemon.stderr
    longest = float(re.findall(r"longest_bridge_read_ms=([0-9.]+)", daemon.stderr)[-1])
    print(
        f"busy bridge: {len(written)} drops written in 6 s, {len(busy)} SQLITE_BUSY, "
        f"slowest bridge write {slowest_write[0] * 1000:.1f} ms, "
        f"longest monitor read transaction {longest} ms"
    )
    assert busy == []
    assert set(written) == reviewed(database_url)
    assert longest < 5000  # far inside the bridge's busy timeout


_CRASH_MID_WRITE = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 1")  # spill to the file, so the journal is hot
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE messages SET content = content || ' ' || hex(randomblob(64))")
conn.execute("INSERT INTO messages (id, chat_jid, content) SELECT 'X' || rowid, chat_jid, "
             "'DR9999999 never committed' FROM messages")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_bridge_killed_mid_write_is_waited_for_and_its_write_never_read(
    tmp_path: Path, database_url: str
) -> None:
    """The bridge dies inside a write and leaves a hot journal: a read-only reader may not
    roll it back, so the daemon names the problem, waits, and reads the file only after the
    bridge's next open has rolled the unfinished write back."""
    path = tmp_path / "messages.db"
    good_bridge(path, [(f"A{i}", f"DR{1000000 + i} {'x' * 2000}") for i in range(300)])
    crashed = subprocess.run([sys.executable, "-c", _CRASH_MID_WRITE, str(path)], check=False)
    assert crashed.returncode == -signal.SIGKILL
    assert (tmp_path / "messages.db-journal").stat().st_size > 0
    config = config_for(tmp_path, path, database_url)
    with Daemon(config, database_url) as daemon:
        daemon.wait_for(RETRY_LINE, count=2)
        assert reviewed(database_url) == set()
        with BridgeWriter(path):  # the bridge starts again: its first read rolls back
            pass
        daemon.wait_for("✅ Created", count=300, timeout=30)
        code, _ = daemon.stop()
    assert code == 0
    named_with_backoff(daemon, "has an unfinished write")
    assert reviewed(database_url) == {f"DR{1000000 + i}" for i in range(300)}


def test_rowids_renumbered_in_place_are_rescanned(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    """VACUUM (or a rebuild) may renumber rowids in place: same file, lower rowids. New
    messages then land at rowids the daemon has already passed; it must notice and rescan."""
    first = [(f"A{i}", f"DR{1000000 + i}") for i in range(50)]
    good_bridge(bridge.path, first)
    good_bridge(bridge.path, first[:10])  # re-delivered: rowids 1-10 become gaps
    config = config_for(tmp_path, bridge.path, database_url)
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("cycle done")
        with bridge.transaction():  # what VACUUM may do to a table without INTEGER PRIMARY KEY
            bridge.execute("CREATE TEMP TABLE keep AS SELECT * FROM messages ORDER BY rowid")
            bridge.execute("DELETE FROM messages")
            bridge.execute("INSERT INTO messages SELECT * FROM keep ORDER BY rowid")
            bridge.execute("DROP TABLE keep")
        # Rowids 51-65: past the saved position (60) and below it alike.
        good_bridge(bridge.path, [(f"B{i}", f"DR{2000000 + i}") for i in range(15)])
        daemon.wait_for("✅ Created", count=65, timeout=30)
        code, _ = daemon.stop()
    assert code == 0
    assert "🔁 rescanning the bridge from the start" in daemon.stderr
    # Seen as the anchor message moving down, or (if the daemon looked before the new
    # messages came) as the file ending before the saved position.
    assert "moved or vanished" in daemon.stderr or "before the saved position" in daemon.stderr
    assert len(reviewed(database_url)) == 65
    assert daemon.stderr.count("✅ Created") == 65
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (65,)
