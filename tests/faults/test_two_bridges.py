"""Two bridges, one environment: two linked devices' messages.db files holding the same traffic,
each in its own order, with its own outages, history syncs, rewrites and crashes. Whatever the
two deliver, and in whatever order, the reviews, resubmissions, invalid-drop records, replies
and ledger equal those of one bridge that held everything in time order: nothing counted or
written twice, nothing missed."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import LAWLEY, MOHADIN, OTHER, VELO, sast, write_config
from tests.support.harness import Daemon, max_rowid, seed_for, wait_until
from tests.support.plans import load_list
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp, message_id

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]

BOT = "27000000001"
AGENTS = ("27825550147", "27825550148", "27825550149")
VALID = [f"DR{1000000 + i}" for i in range(1, 13)]  # Lawley's plan list
INVALID = [f"DR{1900000 + i}" for i in range(1, 4)]  # posted in Lawley, not in its plan
MOHADIN_DROPS = [f"DR{2000000 + i}" for i in range(1, 8)]  # Mohadin does not validate
GROUP_NAMES = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test", OTHER: "Other"}
# Everything the monitor writes, emptied between the reference run and the bridges' run.
WRITTEN = (
    "qa_photo_reviews, wa_monitor_ledger, wa_monitor_cursor, invalid_drop_submissions, "
    "wa_monitor_outbox, wa_monitor_flawed_rows, wa_monitor_drop_posts, wa_monitor_photos"
)


@dataclass(frozen=True)
class Message:
    post: Post
    at: datetime


def traffic(rng: random.Random, count: int) -> list[Message]:
    """A day and a half of a busy project's messages, in time order: drops posted, repeated,
    resubmitted ("done", a later day), several in one message, drops not in the plan,
    chatter."""
    start = sast(11, 7)
    seconds = sorted(rng.sample(range(0, 36 * 3600), count))
    out = []
    for offset in seconds:
        at = start + timedelta(seconds=offset)
        if rng.random() < 0.6:
            chat, pool = LAWLEY, VALID + INVALID
        else:
            chat, pool = MOHADIN, MOHADIN_DROPS
        roll = rng.random()
        if roll < 0.5:
            text: str | None = rng.choice(pool)
        elif roll < 0.7:
            text = f"{rng.choice(pool)} {rng.choice(['done', 'fixed', 'updated'])}"
        elif roll < 0.8:
            text = f"{rng.choice(pool)} and {rng.choice(pool)}"
        else:
            text = rng.choice(["photos attached", "ok", None, "morning team"])
        post = Post(
            id=message_id(rng),
            chat_jid=chat,
            sender=rng.choice(AGENTS),
            content=text,
            timestamp=bridge_timestamp(at),
        )
        out.append(Message(post, at))
    return out


def config(folder: Path, bridges: dict[str, Path], *, batch_size: int = 20_000) -> Path:
    return write_config(
        folder,
        "prod",
        bridges=bridges,
        groups={LAWLEY: "Lawley", MOHADIN: "Mohadin"},
        validate={"Lawley"},
        bots=(BOT,),
        extra=f"batch_size = {batch_size}\nphotos = false",
    )


def writer(path: Path) -> BridgeWriter:
    bridge = BridgeWriter(path)
    bridge.chats(GROUP_NAMES)
    return bridge


def run(cfg: Path, name: str, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", url)
    args = ["run", "--config", str(cfg), "--bridge", name, "--once", "--give-up-after", "10"]
    assert main(args) == 0


def written(db: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """What the monitor wrote, as one bridge's run and the bridges' run must both leave it."""
    queries = {
        "reviews": "SELECT drop_number, review_date, whatsapp_message_date, submitted_by, "
        "user_name, last_submitted_at, resubmitted, incomplete, feedback_sent, drop_not_in_plan "
        "FROM qa_photo_reviews",
        "invalid": "SELECT chat_jid, message_id, drop_number, project, submitted_by, "
        "whatsapp_message_date, action FROM invalid_drop_submissions",
        "replies": "SELECT kind, chat_jid, message_id, drop_number, text, message_at, sender "
        "FROM wa_monitor_outbox",
        "ledger": "SELECT chat_jid, message_id, drops, sent_at FROM wa_monitor_ledger",
    }
    return {k: sorted(db.execute(q).fetchall()) for k, q in queries.items()}


def same(
    found: dict[str, list[tuple[Any, ...]]], expected: dict[str, list[tuple[Any, ...]]]
) -> None:
    """Each table equal, its differences shown row by row when not."""
    for table, rows in expected.items():
        extra = sorted(set(found[table]) - set(rows))
        missing = sorted(set(rows) - set(found[table]))
        assert (extra, missing) == ([], []), f"{table}: written {extra}, not {missing}"
        assert found[table] == rows, f"{table}: a row written twice"


def reference(
    tmp_path: Path,
    messages: Sequence[Message],
    url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, list[tuple[Any, ...]]]:
    """One bridge holding every message in time order, drained; then the tables emptied."""
    folder = tmp_path / "reference"
    folder.mkdir()
    with writer(folder / "messages.db") as bridge:
        bridge.post_many(m.post for m in messages)
    cfg = config(folder, {"one": folder / "messages.db"})
    assert load_list(cfg, url, monkeypatch, "Lawley", VALID) == 0
    run(cfg, "one", url, monkeypatch)
    found = written(db)
    db.execute(f"TRUNCATE {WRITTEN} CASCADE")
    assert found["reviews"], "the reference run wrote nothing: the comparison is empty"
    assert any(r[6] for r in found["reviews"]), "no resubmission in the traffic"
    assert found["invalid"], "no invalid drop in the traffic"
    assert found["replies"], "no reply in the traffic"
    return found


Arrivals = dict[str, list[tuple[datetime, Message]]]


def deliver(
    arrivals: Arrivals,
    bridges: dict[str, BridgeWriter],
    rng: random.Random,
    tick: Callable[[datetime], None],
    *,
    step: timedelta = timedelta(minutes=30),
) -> None:
    """Write each bridge's messages as their arrival times come, half an hour at a time; what
    arrives in one step is written in a random order (a history sync's order is its own).
    `tick(now)` runs after each step's writes."""
    first = min(at for queue in arrivals.values() for at, _ in queue)
    last = max(at for queue in arrivals.values() for at, _ in queue)
    now = first
    while now <= last + step:
        for name, queue in arrivals.items():
            due = [m for at, m in queue if now - step < at <= now]
            if len(due) > 1 and rng.random() < 0.5:
                rng.shuffle(due)
            if due:
                bridges[name].post_many(m.post for m in due)
        tick(now)
        now += step


def test_two_bridges_in_different_orders_apply_what_one_bridge_would(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bridge a gets each message when it is posted; bridge b gets each one up to two hours
    late, in its own order; their monitors run turn about."""
    rng = random.Random(seed_for("two bridges in different orders"))
    messages = traffic(rng, 220)
    expected = reference(tmp_path, messages, database_url, db, monkeypatch)
    paths = {"a": tmp_path / "a.db", "b": tmp_path / "b.db"}
    cfg = config(tmp_path, paths)
    arrivals: Arrivals = {
        "a": [(m.at, m) for m in messages],
        "b": [(m.at + timedelta(minutes=rng.randint(0, 120)), m) for m in messages],
    }
    with writer(paths["a"]) as a, writer(paths["b"]) as b:
        order = ["a", "b"]

        def tick(_: datetime) -> None:
            rng.shuffle(order)
            for name in order:
                run(cfg, name, database_url, monkeypatch)

        deliver(arrivals, {"a": a, "b": b}, rng, tick)
    same(written(db), expected)


def test_a_bridge_down_for_an_hour_and_back_with_its_history_applies_it_once(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bridge a is down 10:00-11:00 and syncs that hour's history only at 12:00; bridge b is
    down 10:30-12:00 and syncs at 13:00. Messages of 10:30-11:00 reach neither in time and come
    in as late history after newer ones were applied."""
    rng = random.Random(seed_for("a bridge down for an hour"))
    # A drop first posted in the hour both bridges missed, and again after it: its review's
    # first sighting is 10:40's, which arrives after 11:30's was applied. And a drop at 10:15,
    # which only b has in time: the traffic alone may have none then (a seed's half hour of
    # chatter), and then every message would come in through a first.
    first, again, b_only = (
        Message(
            Post(
                id=mid,
                chat_jid=MOHADIN,
                sender=who,
                content=drop,
                timestamp=bridge_timestamp(at),
            ),
            at,
        )
        for mid, who, at, drop in (
            ("F1RST0000000000000001", AGENTS[0], sast(11, 10, 40), "DR2000099"),
            ("AGA1N0000000000000002", AGENTS[1], sast(11, 11, 30), "DR2000099"),
            ("B0NLY0000000000000003", AGENTS[2], sast(11, 10, 15), "DR2000098"),
        )
    )
    messages = sorted([*traffic(rng, 220), first, again, b_only], key=lambda m: m.at)
    expected = reference(tmp_path, messages, database_url, db, monkeypatch)
    paths = {"a": tmp_path / "a.db", "b": tmp_path / "b.db"}
    cfg = config(tmp_path, paths)

    def arrival(m: Message, down: tuple[datetime, datetime], synced: datetime) -> datetime:
        return synced if down[0] <= m.at < down[1] else m.at

    arrivals: Arrivals = {
        "a": [(arrival(m, (sast(11, 10), sast(11, 11)), sast(11, 12)), m) for m in messages],
        "b": [(arrival(m, (sast(11, 10, 30), sast(11, 12)), sast(11, 13)), m) for m in messages],
    }
    late = [m for at, m in arrivals["a"] if sast(11, 10, 30) <= m.at < sast(11, 11)]
    assert late, "nothing in the hour both bridges missed"
    with writer(paths["a"]) as a, writer(paths["b"]) as b:

        def tick(_: datetime) -> None:
            for name in ("a", "b"):
                run(cfg, name, database_url, monkeypatch)

        deliver(arrivals, {"a": a, "b": b}, rng, tick)
    same(written(db), expected)
    # Each message once in the ledger, under the bridge that delivered it first.
    bridges = dict(db.execute("SELECT bridge, count(*) FROM wa_monitor_ledger GROUP BY 1"))
    assert set(bridges) == {"a", "b"}


def test_a_bridge_rewritten_in_place_is_read_again_and_applies_nothing_twice(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half way, bridge b's file is rewritten in place (every row deleted and stored again in
    another order: new rowids, the same file) while bridge a goes on."""
    rng = random.Random(seed_for("a bridge rewritten in place"))
    messages = traffic(rng, 160)
    expected = reference(tmp_path, messages, database_url, db, monkeypatch)
    paths = {"a": tmp_path / "a.db", "b": tmp_path / "b.db"}
    cfg = config(tmp_path, paths)
    arrivals: Arrivals = {
        "a": [(m.at + timedelta(minutes=rng.randint(0, 90)), m) for m in messages],
        "b": [(m.at, m) for m in messages],
    }
    middle = messages[len(messages) // 2].at
    with writer(paths["a"]) as a, writer(paths["b"]) as b:
        rewritten = False

        def tick(now: datetime) -> None:
            nonlocal rewritten
            if now >= middle and not rewritten:
                rows = [m for at, m in arrivals["b"] if at <= now]
                rng.shuffle(rows)
                with b.transaction():
                    b.execute("DELETE FROM messages")
                b.post_many(m.post for m in rows)
                rewritten = True
            for name in ("b", "a"):
                run(cfg, name, database_url, monkeypatch)

        deliver(arrivals, {"a": a, "b": b}, rng, tick)
    assert rewritten
    same(written(db), expected)


def _caught_up(url: str, files: dict[str, Path]) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = dict(conn.execute("SELECT bridge, bridge_rowid FROM wa_monitor_cursor"))
    return all(rows.get(name) == max_rowid(path) for name, path in files.items())


def _cursor(db: psycopg.Connection[Any], bridge: str) -> int:
    row = db.execute(
        "SELECT bridge_rowid FROM wa_monitor_cursor WHERE bridge = %s", (bridge,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def test_a_sigkill_of_one_bridges_monitor_mid_batch_loses_and_doubles_nothing(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both bridges' monitors drain the same backlog side by side (a in time order, b in its
    own); a's is killed with SIGKILL at a random moment, mid-batch, and started again."""
    rng = random.Random(seed_for("a sigkill of one bridge's monitor"))
    messages = traffic(rng, 1500)
    expected = reference(tmp_path, messages, database_url, db, monkeypatch)
    paths = {"a": tmp_path / "a.db", "b": tmp_path / "b.db"}
    cfg = config(tmp_path, paths, batch_size=40)
    shuffled = list(messages)
    rng.shuffle(shuffled)
    with writer(paths["a"]) as a, writer(paths["b"]) as b:
        a.post_many(m.post for m in messages)
        b.post_many(m.post for m in shuffled)
    with (
        Daemon(cfg, database_url, args=("--bridge", "a")) as first,
        Daemon(cfg, database_url, args=("--bridge", "b")) as other,
    ):
        # Killed at a random point of its drain, ten batches or more before its end: a
        # wall-clock moment could come after the whole backlog was drained (a fast machine),
        # and no batch would be cut short.
        target = rng.randrange(40, len(messages) - 400)
        wait_until(
            lambda: _cursor(db, "a") >= target or first.proc.poll() is not None,
            what=f"bridge a's monitor past rowid {target}",
            log=first,
        )
        assert first.proc.poll() is None, first.stderr
        first.stop(signal.SIGKILL)
        with Daemon(cfg, database_url, args=("--bridge", "a")) as again:
            # Its SIGTERM is the daemon's to handle only once it has started: stopped before,
            # it dies of the signal (-15) however sound it is.
            again.wait_for("resuming")
            deadline = time.monotonic() + 120
            while not _caught_up(database_url, paths):
                assert time.monotonic() < deadline, again.stderr + other.stderr
                time.sleep(0.2)
            for daemon in (again, other):
                code, _ = daemon.stop()
                assert code == 0, daemon.stderr
    same(written(db), expected)
