"""The reply outbox under SIGKILL: the daemon killed at random moments while it drains a backlog
with invalid drops and posts their replies ends with every reply posted exactly once, as in a clean
run; a kill between a claim and its post leaves the reply 'unknown' (never posted twice), and a
person's `replies resolve --resend` completes it."""

from __future__ import annotations

import random
import shutil
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.support.database import Server
from tests.support.env import LAWLEY, MOHADIN, SAST, VELO, write_config
from tests.support.harness import Daemon, cli, max_rowid, position, seed_for, wait_until
from tests.support.plans import BOT, load_list
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp, message_id

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]

GROUPS = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test"}
VALID = {"Lawley": [f"DR{1_000_000 + i}" for i in range(50)]}
VALID["Mohadin"] = [f"DR{2_000_000 + i}" for i in range(50)]
MESSAGES = 1500
KILLS = 15

Replies = Counter[tuple[str, str]]


def write_backlog(bridge: BridgeWriter, rng: random.Random) -> int:
    """Recent messages (inside the reply window), a third naming drops, half of those invalid."""
    start = datetime.now(SAST) - timedelta(minutes=30)
    posts, invalid = [], 0
    for i in range(MESSAGES):
        chat = rng.choice(list(GROUPS))
        project = GROUPS[chat]
        if rng.random() < 0.33:
            if rng.random() < 0.5 or project not in VALID:
                text = f"DR{rng.randrange(5_000_000, 5_000_400)} done"
                invalid += project in VALID
            else:
                text = rng.choice(VALID[project]) + " photos"
        else:
            text = rng.choice(["ok", "on site", None, "Morning"])
        at = bridge_timestamp(start + timedelta(seconds=i))
        posts.append(
            Post(
                id=message_id(rng), chat_jid=chat, sender="27820000001", content=text, timestamp=at
            )
        )
    bridge.post_many(posts)
    return invalid


def setup(folder: Path, bridge: Path, url: str, api: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = write_config(
        folder,
        "prod",
        bridge_db=bridge,
        groups=GROUPS,
        bots=(BOT,),
        validate={"Lawley", "Mohadin"},
        # One agent posts the whole backlog: the hourly caps would hold most replies back.
        extra=f'bridge_api_url = "{api}"\nreply_interval_seconds = 0.01\nbatch_size = 10\n'
        "reply_cap_per_sender_hour = 10000\nreply_cap_per_group_hour = 10000",
    )
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", url)
    for project, drops in VALID.items():
        assert load_list(config, url, monkeypatch, project, drops) == 0
    return config


def finished(url: str, end: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM wa_monitor_outbox WHERE state IN ('pending', 'sending')"
        ).fetchone()
        return (position(conn) or 0) >= end and waiting == (0,)


def drain(config: Path, url: str, end: int) -> None:
    with Daemon(config, url) as daemon:
        # Its SIGTERM handler is installed before it says "starting": a stop sent earlier (the
        # work may already be done) would kill it by the signal's default action instead.
        daemon.wait_for("starting")
        wait_until(lambda: finished(url, end), timeout=180, what="drained and replied", log=daemon)
        assert daemon.stop()[0] == 0, daemon.stderr


def posted(api: SimulatedBridgeApi) -> Replies:
    return Counter((m.recipient, m.text) for m in api.sent())


def recorded(url: str) -> tuple[list[tuple[object, ...]], ...]:
    with psycopg.connect(url) as conn:
        invalid = conn.execute(
            "SELECT chat_jid, message_id, drop_number, project FROM invalid_drop_submissions "
            "ORDER BY 1, 2, 3"
        ).fetchall()
        reviews = conn.execute(
            "SELECT drop_number, project FROM qa_photo_reviews ORDER BY 1"
        ).fetchall()
    return invalid, reviews


def unknown(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id::text, chat_jid, text FROM wa_monitor_outbox WHERE state = 'unknown'"
        ).fetchall()
    return [(str(i), str(c), str(t)) for i, c, t in rows]


def test_sigkill_during_a_backlog_sends_every_reply_exactly_once(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    postgres: Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(seed_for("outbox-crash"))
    invalid = write_backlog(bridge, rng)
    end = max_rowid(bridge.path)
    clean_bridge = tmp_path / "clean" / "messages.db"
    clean_bridge.parent.mkdir()
    shutil.copy(bridge.path, clean_bridge)  # the clean run's bot posts go in its own copy

    with (
        postgres.database("prod") as clean_url,
        SimulatedBridgeApi(bridge_db=clean_bridge, bot_number=BOT) as api,
    ):
        config = setup(tmp_path / "clean", clean_bridge, clean_url, api.url, monkeypatch)
        drain(config, clean_url, end)
        expected, clean_records = posted(api), recorded(clean_url)
    assert sum(expected.values()) == invalid > 100

    with SimulatedBridgeApi(bridge_db=bridge.path, bot_number=BOT) as api:
        config = setup(tmp_path / "crashy", bridge.path, database_url, api.url, monkeypatch)
        kills = during_replies = 0
        while kills < KILLS and not finished(database_url, end):
            with Daemon(config, database_url) as daemon:
                # Timed from its first log line, not from the spawn: on a loaded machine the
                # interpreter's start-up alone outlasted the window, and no kill met a post.
                daemon.wait_for("starting")
                time.sleep(rng.uniform(0.2, 1.6))  # start-up, drain, or posting
                before = sum(posted(api).values())
                daemon.proc.send_signal(signal.SIGKILL)
                assert daemon.wait(10) == -signal.SIGKILL
            kills += 1
            during_replies += 0 < before < invalid
        drain(config, database_url, end)
        got = posted(api)
        lost = unknown(database_url)
        print(
            f"outbox crash: {invalid} replies, {kills} SIGKILLs ({during_replies} while "
            f"posting), {len(lost)} left unknown"
        )
        # The same invalid drop posted twice in a group is answered twice: compare multisets.
        assert not got - expected, "a reply was posted more often than in the clean run"
        # Posted, or unknown (claimed, killed before the post): never both, never neither.
        unknowns = Counter((chat, text) for _, chat, text in lost)
        assert got + unknowns == expected
        for reply_id, _, _ in lost:  # a person looked in the group: not there
            done = cli(
                "replies",
                "resolve",
                "--config",
                str(config),
                reply_id,
                "--resend",
                url=database_url,
            )
            assert done.returncode == 0, done.stderr
        drain(config, database_url, end)
        assert posted(api) == expected
    assert recorded(database_url) == clean_records
    assert during_replies >= 3
