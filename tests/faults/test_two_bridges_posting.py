"""Two bridges posting: both hosts' monitors drain the same recent backlog (inside the reply
window), each posting through its own bridge's API; one is killed with SIGKILL mid-batch and
started again. The replies posted through the two APIs together, the reviews and the
invalid-drop records equal those of one bridge holding everything: no reply posted twice, on
either API or across them, none lost."""

from __future__ import annotations

import random
import signal
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faults.test_outbox_crash import unknown
from tests.faults.test_two_bridges import same, written
from tests.support.database import Server
from tests.support.env import LAWLEY, MOHADIN, OTHER, SAST, VELO, write_config
from tests.support.harness import Daemon, cli, max_rowid, seed_for, wait_until
from tests.support.plans import load_list
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp, message_id

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]

BOT = "27000000001"
AGENTS = ("27825550147", "27825550148", "27825550149")
PLANS = {
    "Lawley": [f"DR{1_000_000 + i}" for i in range(30)],
    "Mohadin": [f"DR{2_000_000 + i}" for i in range(30)],
}
CHATS = {LAWLEY: "Lawley", MOHADIN: "Mohadin"}
MESSAGES = 700

Replies = Counter[tuple[str, str]]


def recent_traffic(rng: random.Random) -> list[Post]:
    """Messages of the last forty minutes in time order: drops in the plan, drops not in it
    (each answered with a reply), repeats, chatter."""
    start = datetime.now(SAST) - timedelta(minutes=40)
    posts = []
    for i in range(MESSAGES):
        chat = rng.choice(list(CHATS))
        roll = rng.random()
        if roll < 0.2:
            text: str | None = f"DR{rng.randrange(5_000_000, 5_000_300)} done"
        elif roll < 0.45:
            text = rng.choice(PLANS[CHATS[chat]]) + rng.choice(["", " photos", " fixed"])
        else:
            text = rng.choice(["ok", "on site", None, "Morning"])
        at = bridge_timestamp(start + timedelta(seconds=3 * i))
        posts.append(
            Post(
                id=message_id(rng),
                chat_jid=chat,
                sender=rng.choice(AGENTS),
                content=text,
                timestamp=at,
            )
        )
    return posts


def write_bridge(path: Path, posts: Sequence[Post]) -> None:
    with BridgeWriter(path) as bridge:
        bridge.chats({LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test", OTHER: "Other"})
        bridge.post_many(posts)


def configure(
    folder: Path, apis: dict[str, tuple[Path, str]], url: str, mp: pytest.MonkeyPatch
) -> Path:
    """The environment with one [[bridges]] table per bridge, each with its own API."""
    caps = "reply_cap_per_sender_hour = 10000\nreply_cap_per_group_hour = 10000"
    tables = [
        f'[[bridges]]\nname = "{name}"\ndb = "{db}"\napi_url = "{api}"'
        for name, (db, api) in apis.items()
    ]
    config = write_config(
        folder,
        "prod",
        groups=CHATS,
        bots=(BOT,),
        validate=set(PLANS),
        # The agents post the whole backlog at once: the hourly caps would hold replies back.
        extra="reply_interval_seconds = 0.01\nbatch_size = 10\nphotos = false\n"
        f"{caps}\n" + "\n".join(tables),
    )
    mp.setenv("WA_MONITOR_DATABASE_URL", url)
    for project, drops in PLANS.items():
        assert load_list(config, url, mp, project, drops) == 0
    return config


def cursors(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            str(b): int(r)
            for b, r in conn.execute("SELECT bridge, bridge_rowid FROM wa_monitor_cursor")
        }


def drained(url: str, files: dict[str, Path]) -> bool:
    """Every bridge's cursor at its file's end (bot posts included) and no reply in flight."""
    at = cursors(url)
    with psycopg.connect(url, autocommit=True) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM wa_monitor_outbox WHERE state IN ('pending', 'sending')"
        ).fetchone()
    return waiting == (0,) and all(at.get(n) == max_rowid(p) for n, p in files.items())


def posted(*apis: SimulatedBridgeApi) -> Replies:
    return sum((Counter((m.recipient, m.text) for m in api.sent()) for api in apis), Counter())


def drain(config: Path, url: str, files: dict[str, Path], name: str) -> None:
    with Daemon(config, url, args=("--bridge", name)) as daemon:
        daemon.wait_for("starting")
        wait_until(lambda: drained(url, files), timeout=180, what="drained", log=daemon)
        assert daemon.stop()[0] == 0, daemon.stderr


def test_a_sigkill_of_one_posting_bridges_monitor_posts_each_reply_once_across_both(
    tmp_path: Path,
    database_url: str,
    postgres: Server,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(seed_for("a sigkill of one posting bridge's monitor"))
    posts = recent_traffic(rng)
    shuffled = list(posts)
    rng.shuffle(shuffled)

    one = tmp_path / "reference" / "messages.db"
    one.parent.mkdir()
    write_bridge(one, posts)
    with (
        postgres.database("prod") as clean_url,
        SimulatedBridgeApi(bridge_db=one, bot_number=BOT) as api,
    ):
        cfg = configure(one.parent, {"one": (one, api.url)}, clean_url, monkeypatch)
        drain(cfg, clean_url, {"one": one}, "one")
        expected = posted(api)
        with psycopg.connect(clean_url) as clean:
            reference = written(clean)
    assert sum(expected.values()) > 50, "too few replies in the traffic"
    assert reference["reviews"], "the reference run reviewed nothing"
    assert reference["invalid"], "no invalid drop in the traffic"

    files = {"a": tmp_path / "a.db", "b": tmp_path / "b.db"}
    write_bridge(files["a"], posts)
    write_bridge(files["b"], shuffled)
    with (
        SimulatedBridgeApi(bridge_db=files["a"], bot_number=BOT) as api_a,
        SimulatedBridgeApi(bridge_db=files["b"], bot_number=BOT) as api_b,
    ):
        apis = {"a": (files["a"], api_a.url), "b": (files["b"], api_b.url)}
        cfg = configure(tmp_path / "two", apis, database_url, monkeypatch)
        with (
            Daemon(cfg, database_url, args=("--bridge", "a")) as first,
            Daemon(cfg, database_url, args=("--bridge", "b")) as other,
        ):
            first.wait_for("starting")
            other.wait_for("starting")
            target = rng.randrange(40, MESSAGES - 200)
            wait_until(
                lambda: (
                    cursors(database_url).get("a", 0) >= target or first.proc.poll() is not None
                ),
                timeout=120,
                what=f"bridge a's monitor past rowid {target}",
                log=first,
            )
            assert first.proc.poll() is None, first.stderr
            before = sum(posted(api_a, api_b).values())
            first.stop(signal.SIGKILL)
            assert first.proc.returncode == -signal.SIGKILL
            with Daemon(cfg, database_url, args=("--bridge", "a")) as again:
                again.wait_for("resuming")
                wait_until(
                    lambda: drained(database_url, files),
                    timeout=180,
                    what="both bridges drained and replied",
                    log=again,
                )
                for daemon in (again, other):
                    code, _ = daemon.stop()
                    assert code == 0, daemon.stderr
        got = posted(api_a, api_b)
        lost = unknown(database_url)
        print(
            f"two bridges posting: {sum(expected.values())} replies, SIGKILL at rowid {target} "
            f"after {before} posts; a posted {len(api_a.sent())}, b {len(api_b.sent())}; "
            f"{len(lost)} left unknown"
        )
        assert not got - expected, f"posted more often than by one bridge: {got - expected}"
        assert got + Counter((chat, text) for _, chat, text in lost) == expected
        for reply_id, _, _ in lost:  # a person looked in the group: not there
            done = cli(
                "replies", "resolve", "--config", str(cfg), reply_id, "--resend", url=database_url
            )
            assert done.returncode == 0, done.stderr
        if lost:
            drain(cfg, database_url, files, "a")
        assert posted(api_a, api_b) == expected
    same(written(db), reference)
