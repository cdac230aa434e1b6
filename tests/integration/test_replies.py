"""Replies in the groups: the daemon's sender posts each outbox row through the bridge's HTTP API
(simulated) once, after its batch committed: within the window, one per interval per group, never
in a group the environment may not post in, and never twice when the outcome is unknown."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from tests.support.env import AGENT, LAWLEY, MOHADIN, SAST, VELO
from tests.support.fakes import FakeEchoes, FakeOutbox, RecordingLog, SenderClock
from tests.support.harness import Daemon, cli, wait_until
from tests.support.plans import BOT, dev_replying, outbox, prod_with_lists, production_beside
from tests.support.runs import reviews, say
from wa_monitor.adapters.bridge_api import BridgeApi
from wa_monitor.core.records import Delivery, OutboxMessage, SendResult
from wa_monitor.core.replies import RETRY_DOWN_MAX_S, Route, Sender
from wa_monitor.devtools.bridge_api import Fault, SimulatedBridgeApi
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod", "dev")


GROUPS = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test"}
INVALID = "Drop {drop} is not in the valid list for {project}."


@pytest.fixture
def api(bridge: BridgeWriter) -> Iterator[SimulatedBridgeApi]:
    """The bridge's HTTP API, posting into the same messages.db as the bot's own messages."""
    with SimulatedBridgeApi(bridge_db=bridge.path, bot_number=BOT, seed=1) as running:
        yield running


def now(minutes_ago: float = 0) -> datetime:
    return datetime.now(SAST) - timedelta(minutes=minutes_ago)


def prod(
    tmp_path: Path,
    bridge: BridgeWriter,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    api_url: str,
    interval: float = 0.2,
) -> Path:
    extra = f'bridge_api_url = "{api_url}"\nreply_interval_seconds = {interval}'
    return prod_with_lists(tmp_path / "prod", bridge.path, url, monkeypatch, GROUPS, extra)


def states(db: psycopg.Connection[Any], schema: str = "public") -> list[str]:
    return [r["state"] for r in outbox(db, schema)]


def test_an_invalid_drop_is_answered_once_in_its_group(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    config = prod(tmp_path, bridge, database_url, monkeypatch, api.url)
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("starting")
        say(bridge, "L1", "DR1000001 done", now())
        say(bridge, "L2", "DR7654321 photos", now())
        wait_until(lambda: states(db) == ["sent"], what="the reply to be sent", log=daemon)
        # The bot's reply lands in messages.db and names the drop: it must not count as a post.
        daemon.wait_for("💬 Replied in the group about DR7654321")
        assert daemon.stop()[0] == 0
    [sent] = api.sent()
    assert sent.recipient == LAWLEY
    assert INVALID.format(drop="DR7654321", project="Lawley") in sent.text
    assert set(reviews(db)) == {"DR1000001"}
    # A restart reads the bot's own message again and the replied message is in the ledger.
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("resuming")
        time.sleep(1.5)  # several polls and sender turns
        assert daemon.stop()[0] == 0
    assert len(api.sent()) == 1
    assert states(db) == ["sent"]


def test_a_backlog_older_than_the_window_sends_nothing(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    config = prod(tmp_path, bridge, database_url, monkeypatch, api.url)
    for i in range(5):  # posted 61 to 65 minutes ago: the bridge was down, the monitor catches up
        say(bridge, f"OLD{i}", f"DR765432{i}", now(minutes_ago=65 - i))
    say(bridge, "NEW", "DR7654329", now(minutes_ago=50))  # inside the hour: answered
    with Daemon(config, database_url) as daemon:
        wait_until(
            lambda: sorted(states(db)) == ["expired"] * 5 + ["sent"],
            what="5 replies expired and 1 sent",
            log=daemon,
        )
        daemon.wait_for("⌛ replies expired")
        assert daemon.stop()[0] == 0
    assert [m.text.split("\n")[2] for m in api.sent()] == [
        INVALID.format(drop="DR7654329", project="Lawley")
    ]


def test_at_most_one_reply_per_interval_per_group(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    config = prod(tmp_path, bridge, database_url, monkeypatch, api.url, interval=1.0)
    for i in range(4):
        say(bridge, f"L{i}", f"DR765432{i}", now())
    for i in range(2):
        say(bridge, f"M{i}", f"DR865432{i}", now(), chat=MOHADIN)
    with Daemon(config, database_url) as daemon:
        sent = api.wait_for(6, timeout_s=15)
        assert daemon.stop()[0] == 0
    assert len(sent) == 6
    for group, count in ((LAWLEY, 4), (MOHADIN, 2)):
        times = [m.at for m in sent if m.recipient == group]
        assert len(times) == count
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 0.95, gaps
    # The groups do not wait for each other: Mohadin's first reply comes before Lawley's last.
    first_mohadin = min(m.at for m in sent if m.recipient == MOHADIN)
    assert first_mohadin < max(m.at for m in sent if m.recipient == LAWLEY)


def test_dev_never_replies_in_a_production_group(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    folder = tmp_path / "etc"
    production_beside(folder, bridge.path, validate={"Lawley"})
    groups = {LAWLEY: "Lawley", VELO: "Velo Test"}
    dev = dev_replying(folder, bridge.path, database_url, monkeypatch, groups, api.url)
    say(bridge, "L1", "DR7654321", now())
    say(bridge, "V1", "DR7654322", now(), chat=VELO)
    env = {"WA_MONITOR_CONFIG_DIR": str(folder)}
    with Daemon(dev, database_url, env=env) as daemon:
        wait_until(lambda: states(db, "dev") == ["sent"], what="Velo's reply", log=daemon)
        daemon.wait_for("no replies in these groups")
        assert daemon.stop()[0] == 0
    assert [m.recipient for m in api.sent()] == [VELO]
    with psycopg.connect(database_url) as conn:
        projects = conn.execute("SELECT project FROM dev.invalid_drop_submissions").fetchall()
    assert sorted(p for (p,) in projects) == ["Lawley", "Velo Test"]  # recorded, not answered
    assert [r["chat_jid"] for r in outbox(db, "dev")] == [VELO]


def test_dev_without_productions_config_replies_nowhere(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    folder = tmp_path / "etc"
    dev = dev_replying(folder, bridge.path, database_url, monkeypatch, {VELO: "Velo Test"}, api.url)
    say(bridge, "V1", "DR7654322", now(), chat=VELO)
    with Daemon(dev, database_url, env={"WA_MONITOR_CONFIG_DIR": str(folder)}) as daemon:
        daemon.wait_for("dev posts nowhere: production's config is needed")
        wait_until(
            lambda: len(outbox(db, "dev")) == 0 and _invalid_count(database_url) == 1,
            what="the invalid drop recorded",
            log=daemon,
        )
        assert daemon.stop()[0] == 0
    assert api.sent() == ()


def _invalid_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM dev.invalid_drop_submissions").fetchone()
    return int(row[0]) if row else 0


def test_an_unknown_outcome_is_never_sent_again_until_resolved(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This bridge does not store its API sends in messages.db: nothing proves the post.
    with SimulatedBridgeApi(bot_number=BOT) as api:
        config = prod(tmp_path, bridge, database_url, monkeypatch, api.url)
        api.fault(Fault.DROP_AFTER_POST)
        say(bridge, "L1", "DR7654321", now())
        with Daemon(config, database_url) as daemon:
            wait_until(lambda: states(db) == ["unknown"], what="an unknown reply", log=daemon)
            daemon.wait_for("❓ reply may or may not have been posted")
            api.fault(Fault.NONE)
            # Several sender turns later it has still not been posted again.
            say(bridge, "L2", "DR7654322", now())
            wait_until(lambda: sorted(states(db)) == ["sent", "unknown"], what="the next reply")
            assert daemon.stop()[0] == 0
        assert len(api.sent()) == 2
        env = {"WA_MONITOR_CONFIG_DIR": str(config.parent)}
        shown = cli("status", url=database_url, env=env)
        assert shown.returncode == 1
        assert "1 replies may or may not have been posted" in shown.stdout
        listed = cli(
            "replies", "list", "--env", "prod", "--state", "unknown", url=database_url, env=env
        )
        reply_id = listed.stdout.split()[0]
        done = cli(
            "replies", "resolve", "--env", "prod", reply_id, "--resend", url=database_url, env=env
        )
        assert done.returncode == 0, done.stderr
        with Daemon(config, database_url) as daemon:
            wait_until(lambda: states(db) == ["sent", "sent"], what="the resend", log=daemon)
            assert daemon.stop()[0] == 0
        assert len(api.sent()) == 3  # posted again only because a person said so


def test_a_post_found_in_messages_db_is_settled_as_sent(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    config = prod(tmp_path, bridge, database_url, monkeypatch, api.url)
    api.fault(Fault.DROP_AFTER_POST)  # posted (and stored as the bot's message), answer lost
    say(bridge, "L1", "DR7654321", now())
    with Daemon(config, database_url) as daemon:
        wait_until(lambda: states(db) == ["sent"], what="the reply settled as sent", log=daemon)
        daemon.wait_for("(found in messages.db)")
        assert daemon.stop()[0] == 0
    assert len(api.sent()) == 1


OUTAGE_VAR = "WA_MONITOR_TEST_BRIDGE_OUTAGE_SECONDS"


@pytest.mark.slow
def test_replies_wait_out_a_bridge_outage(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    outage = float(os.environ.get(OUTAGE_VAR, "60"))  # shorter for a quick local run
    config = prod(tmp_path, bridge, database_url, monkeypatch, api.url)
    api.down()
    say(bridge, "L1", "DR7654321", now())
    say(bridge, "M1", "DR7654322", now(), chat=MOHADIN)
    with Daemon(config, database_url) as daemon:
        wait_until(lambda: len(outbox(db)) == 2, what="two replies written", log=daemon)
        down_until = datetime.now(SAST) + timedelta(seconds=outage)
        while datetime.now(SAST) < down_until:
            assert daemon.proc.poll() is None
            assert set(states(db)) <= {"pending", "sending"}  # tried, never given up or sent
            time.sleep(1)
        assert min(r["attempts"] for r in outbox(db)) >= 2, "it kept trying, with backoff"
        daemon.wait_for("⏳ reply not taken by the bridge; will retry")
        api.up()
        # The longest retry wait is 30 s: both replies go out within it.
        sent = api.wait_for(2, timeout_s=40)
        wait_until(lambda: states(db) == ["sent", "sent"], what="both marked sent", log=daemon)
        assert daemon.stop()[0] == 0
    assert sorted(m.recipient for m in sent) == sorted([LAWLEY, MOHADIN])
    assert len(api.sent()) == 2


def test_replies_over_the_hourly_caps_are_held_and_recorded(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    extra = (
        f'bridge_api_url = "{api.url}"\nreply_interval_seconds = 0\n'
        "reply_cap_per_sender_hour = 2\nreply_cap_per_group_hour = 3"
    )
    config = prod_with_lists(
        tmp_path / "prod", bridge.path, database_url, monkeypatch, GROUPS, extra
    )
    for i in range(4):  # one agent, four messages with a wrong drop each
        say(bridge, f"A{i}", f"DR765432{i}", now(minutes_ago=5 - i))
    for i in range(2):  # another agent in the same group
        say(bridge, f"B{i}", f"DR865432{i}", now(minutes_ago=1 - i / 2), sender="27829999999")
    with Daemon(config, database_url) as daemon:
        wait_until(
            lambda: sorted(states(db)) == ["held"] * 3 + ["sent"] * 3,
            what="3 replies sent and 3 held",
            log=daemon,
        )
        daemon.wait_for("🤐 replies held back")
        assert daemon.stop()[0] == 0
    rows = outbox(db)
    assert [(r["sender"], r["state"]) for r in rows] == [
        (AGENT, "sent"),
        (AGENT, "sent"),
        (AGENT, "held"),  # its sender had 2 replies this hour
        (AGENT, "held"),
        ("27829999999", "sent"),
        ("27829999999", "held"),  # the group had 3
    ]
    assert "its sender had 2 replies in the last hour" in rows[2]["detail"]
    assert "its group had 3 replies in the last hour" in rows[5]["detail"]
    assert len(api.sent()) == 3
    # Ops see what was held back.
    env = {"WA_MONITOR_CONFIG_DIR": str(config.parent)}
    listed = cli("replies", "list", "--env", "prod", "--state", "held", url=database_url, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count(" held ") == 3


def test_pending_replies_go_out_within_5_s_of_the_bridge_answering_again(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    api: SimulatedBridgeApi,
) -> None:
    config = prod(tmp_path, bridge, database_url, monkeypatch, api.url)
    api.down()
    with Daemon(config, database_url) as daemon:
        daemon.wait_for("starting")
        say(bridge, "L1", "DR7654321", now())
        say(bridge, "M1", "DR7654322", now(), chat=MOHADIN)
        daemon.wait_for("reply not taken by the bridge")
        time.sleep(12)  # an outage long enough for the old backoff to reach 16 s
        api.up()
        back = datetime.now(SAST)
        sent = api.wait_for(2, timeout_s=15)
        assert daemon.stop()[0] == 0
    assert len(sent) == 2
    assert max((m.at - back).total_seconds() for m in sent) <= 5.0


class LinkBackAt:
    """The bridge's own client (BridgeApi) against the simulated bridge, whose WhatsApp link is
    down (`fault`) until `until` on the sender's virtual clock: its answers, by virtual time."""

    def __init__(
        self, api: SimulatedBridgeApi, fault: Fault, clock: SenderClock, until: float
    ) -> None:
        self.api, self.clock, self.until = api, clock, until
        self.client = BridgeApi(api.url, connect_timeout_s=1.0, total_timeout_s=5.0)
        self.answers: list[tuple[float, Delivery]] = []
        api.fault(fault)

    def send(self, recipient: str, text: str) -> SendResult:
        if self.clock.now >= self.until:
            self.api.fault(Fault.NONE)
        result = self.client.send(recipient, text)
        self.answers.append((self.clock.now, result.outcome))
        return result


@pytest.mark.parametrize("fault", [Fault.UNAVAILABLE, Fault.NOT_CONNECTED])
@pytest.mark.parametrize("outage_s", [20.0, 300.0])
def test_replies_go_out_within_5_s_of_a_bridge_that_answered_it_cannot_send(
    api: SimulatedBridgeApi, fault: Fault, outage_s: float
) -> None:
    """The bridge answers (503, or the reference bridge's 500 "Not connected to WhatsApp")
    but cannot send; the sender's waits are counted on a virtual clock, not slept."""
    outbox = FakeOutbox().add(
        OutboxMessage(uuid4(), LAWLEY, "DR7654321", "about DR7654321", now(), now(), 0),
        OutboxMessage(uuid4(), MOHADIN, "DR7654322", "about DR7654322", now(), now(), 0),
    )
    bridge = LinkBackAt(api, fault, outbox.clock, until=outage_s)
    stop = threading.Event()
    original = outbox.settle

    def settle(m: OutboxMessage, delivery: Delivery, detail: str, status: int | None) -> None:
        original(m, delivery, detail, status)
        if len(outbox.sent) == 2:
            stop.set()

    outbox.settle = settle  # type: ignore[method-assign]
    sender = Sender(
        outbox=outbox,
        routes=[Route("main", bridge, FakeEchoes())],
        allowed=frozenset({LAWLEY, MOHADIN}),
        window_s=3600,
        interval_s=1,
        poll_s=5,
        stop=stop,
        log=RecordingLog(),
        clock=outbox.clock,
    )
    try:
        sender.run()
    finally:
        bridge.client.close()
    assert len(api.sent()) == 2
    # Both replies within 5 s of the link's return (before: a 503 backed off to 30 s, so a
    # 300 s outage could leave them waiting ~30 s more, a 20 s one 11 s more)...
    assert max(outbox.sent_at.values()) - outage_s <= 5.0
    assert max(outbox.waits) <= RETRY_DOWN_MAX_S
    # ...and the bridge was not hammered meanwhile: at most one try a second per group.
    assert len(bridge.answers) <= 2 * (outage_s + 5)
    down = [delivery for at, delivery in bridge.answers if at < outage_s]
    assert down, "no post while the link was down"
    assert set(down) == {Delivery.DOWN}  # nothing posted, and told apart from a refusal
