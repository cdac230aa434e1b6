"""Two bridges, one outbox: a reply goes out once, through the first bridge whose API answers;
an unknown outcome is looked for in the messages.db of the bridge it went through, and never
posted again through the other; the hourly caps hold with two senders claiming at once. Real
PostgreSQL, two simulated bridges (each its own messages.db and HTTP API)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import LAWLEY, MOHADIN, VELO
from tests.support.fakes import RecordingLog
from tests.support.harness import wait_until
from wa_monitor.adapters.bridge_api import BridgeApi
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.outbox import PgOutbox
from wa_monitor.adapters.replies import BridgeEchoes
from wa_monitor.core.ports import NoEchoes
from wa_monitor.core.records import Delivery, OutboxMessage
from wa_monitor.core.replies import Caps, Route, Sender
from wa_monitor.devtools.bridge_api import BOT_NUMBER, Fault, SimulatedBridgeApi

pytestmark = pytest.mark.migrated("prod")

AGENT = "27825550147"


@dataclass
class Host:
    """One bridge: its messages.db and its (simulated) HTTP API."""

    name: str
    api: SimulatedBridgeApi
    db: Path

    def route(self) -> Route:
        return Route(
            self.name, BridgeApi(self.api.url, connect_timeout_s=0.5), BridgeEchoes(self.db)
        )


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    made = []
    for name in ("host-a", "host-b"):
        (tmp_path / name).mkdir()
        path = tmp_path / name / "messages.db"
        made.append(Host(name, SimulatedBridgeApi(bridge_db=path, bot_number=BOT_NUMBER), path))
    a, b = made
    with a.api, b.api:
        yield a, b


def reply(db: psycopg.Connection[Any], message_id: str, chat: str = LAWLEY) -> None:
    db.execute(
        "INSERT INTO wa_monitor_outbox (kind, chat_jid, message_id, drop_number, project, text, "
        "message_at, sender) VALUES ('invalid_drop', %s, %s, 'DR1000001', 'Lawley', %s, %s, %s)",
        (
            chat,
            message_id,
            f"DR1000001 is not in the plan ({message_id})",
            datetime.now(UTC),
            AGENT,
        ),
    )


def outbox_rows(db: psycopg.Connection[Any]) -> list[tuple[str, str | None, str]]:
    return db.execute(
        "SELECT state, bridge, coalesce(detail, '') FROM wa_monitor_outbox ORDER BY created_at"
    ).fetchall()


def sender(outbox: PgOutbox, *routes: Route, **caps: int) -> Sender:
    return Sender(
        outbox=outbox,
        routes=routes,
        allowed=frozenset({LAWLEY, MOHADIN, VELO}),
        window_s=3600,
        interval_s=0,
        poll_s=1,
        stop=threading.Event(),
        log=RecordingLog(),
        caps=Caps(**caps) if caps else None,
    )


@pytest.fixture
def outbox(database_url: str) -> Iterator[PgOutbox]:
    box = PgOutbox(Database(database_url, "public", "prod"))
    yield box
    box.close()


@pytest.mark.parametrize("fault", ["refused", Fault.UNAVAILABLE, Fault.NOT_CONNECTED])
def test_a_reply_goes_out_once_through_the_next_bridge_when_the_first_ones_api_is_down(
    db: psycopg.Connection[Any],
    outbox: PgOutbox,
    hosts: tuple[Host, Host],
    fault: str,
) -> None:
    a, b = hosts
    if fault == "refused":
        a.api.down()  # connection refused
    else:
        a.api.fault(Fault(fault))  # 503, or the reference bridge's 500 "Not connected"
    reply(db, "M1")
    routes = (a.route(), b.route())
    assert sender(outbox, *routes).step()
    assert [m.recipient for m in b.api.sent()] == [LAWLEY]
    assert a.api.sent() == ()
    assert [s[:2] for s in outbox_rows(db)] == [("sent", "host-b")]
    # Nothing left to post: the reply is not posted again through either bridge.
    a.api.up() if fault == "refused" else a.api.fault(Fault.NONE)
    assert not sender(outbox, *routes).step()
    assert len(a.api.sent()) + len(b.api.sent()) == 1


def test_every_bridge_down_leaves_the_reply_to_try_again(
    db: psycopg.Connection[Any], outbox: PgOutbox, hosts: tuple[Host, Host]
) -> None:
    a, b = hosts
    a.api.down()
    b.api.fault(Fault.NOT_CONNECTED)
    reply(db, "M1")
    assert sender(outbox, a.route(), b.route()).step()
    assert (a.api.sent(), b.api.sent()) == ((), ())
    [(state, _, detail)] = outbox_rows(db)
    assert state == "pending"
    # What each bridge said, for ops: one refused the connection, one has no WhatsApp link.
    assert detail.startswith("host-a: bridge not reachable")
    assert "; host-b: the bridge cannot send now: Not connected to WhatsApp" in detail


def test_an_unknown_post_is_not_posted_again_through_the_other_bridge(
    db: psycopg.Connection[Any], outbox: PgOutbox, hosts: tuple[Host, Host]
) -> None:
    a, b = hosts
    # Host A's bridge posts, then the connection drops before its answer; nothing of it shows in
    # its own messages.db (the bridge does not always store its API sends).
    a.api.fault(Fault.DROP_AFTER_POST)
    a.api.bridge_db = None
    reply(db, "M1")
    assert sender(outbox, a.route(), b.route()).step()
    assert len(a.api.sent()) == 1
    assert b.api.sent() == ()
    assert [s[:2] for s in outbox_rows(db)] == [("unknown", "host-a")]


def test_an_unknown_post_is_settled_by_the_sending_bridges_own_messages_db(
    db: psycopg.Connection[Any], outbox: PgOutbox, hosts: tuple[Host, Host]
) -> None:
    a, b = hosts
    a.api.down()
    b.api.fault(Fault.DROP_AFTER_POST)  # posts (into its own messages.db), no answer
    reply(db, "M1")
    assert sender(outbox, a.route(), b.route()).step()
    assert len(b.api.sent()) == 1
    # Host A's file (this host's) has no trace of it; host B's has the bot's message.
    (state, bridge, detail) = outbox_rows(db)[0]
    assert (state, bridge) == ("sent", "host-b")
    assert "found in messages.db" in detail


def test_a_post_stranded_mid_send_is_settled_by_the_bridge_recorded_on_its_claim(
    database_url: str, db: psycopg.Connection[Any], outbox: PgOutbox, hosts: tuple[Host, Host]
) -> None:
    """Host A's sender claimed a reply, found its own bridge down, recorded host B and posted
    there, and died before it recorded the outcome. Host A's next sender (its own bridge first)
    looks for the post in host B's messages.db, where it is."""
    a, b = hosts
    reply(db, "M1")
    dying = PgOutbox(Database(database_url, "public", "prod"))
    claimed = dying.claim(0, 3600, per_sender=10, per_group=60)
    assert claimed is not None
    assert dying.route(claimed, "host-b")
    b.api.post_message(claimed.chat_jid, claimed.text)
    dying.close()
    wait_until(lambda: bool(outbox.stranded()), timeout=10, what="the dead sender's session to end")
    assert not sender(outbox, a.route(), b.route()).step()
    (state, bridge, detail) = outbox_rows(db)[0]
    assert (state, bridge) == ("sent", "host-b")
    assert "found in messages.db" in detail
    assert len(a.api.sent()) + len(b.api.sent()) == 1


def test_a_claim_no_longer_this_senders_is_not_posted(
    db: psycopg.Connection[Any], outbox: PgOutbox
) -> None:
    reply(db, "M1")
    claimed = outbox.claim(0, 3600, per_sender=10, per_group=60)
    assert claimed is not None
    db.execute("UPDATE wa_monitor_outbox SET state = 'unknown'")  # settled elsewhere meanwhile
    assert not outbox.route(claimed, "host-a")


# -- the hourly caps, with a sender per bridge -------------------------------------------------


def test_a_cap_checked_by_two_senders_between_their_claims_lets_no_extra_reply_through(
    database_url: str, db: psycopg.Connection[Any], outbox: PgOutbox
) -> None:
    """Each sender holds what is over the cap, then claims: both looked before either claimed.
    The claim itself counts the hour's replies, so the second finds the cap reached."""
    for n, chat in enumerate((LAWLEY, MOHADIN, VELO, LAWLEY)):
        reply(db, f"M{n}", chat)
    other = PgOutbox(Database(database_url, "public", "prod"))
    try:
        first = outbox.claim(0, 3600, per_sender=2, per_group=60)
        assert first is not None
        outbox.settle(first, Delivery.SENT, "ok", 200)
        assert outbox.hold(2, 60) == other.hold(2, 60) == 0  # one sent: under the cap
        claimed = [outbox.claim(0, 3600, per_sender=2, per_group=60)]
        claimed.append(other.claim(0, 3600, per_sender=2, per_group=60))
        assert sum(c is not None for c in claimed) == 1
    finally:
        other.close()


def test_two_senders_claiming_at_once_never_pass_a_cap(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    """Two senders (one per bridge's monitor) claim side by side as fast as they can, round after
    round: the replies claimed in the hour never exceed the sender's cap."""
    cap, rounds = 3, 8
    outboxes = [PgOutbox(Database(database_url, "public", "prod")) for _ in range(2)]
    try:
        for r in range(rounds):
            db.execute("DELETE FROM wa_monitor_outbox")
            for n in range(8):
                reply(db, f"R{r}M{n}", (LAWLEY, MOHADIN, VELO)[n % 3] if n < 3 else f"{n}@g.us")
            won: list[OutboxMessage] = []
            claim_all = partial(claim_until_capped, threading.Barrier(2), won, cap)
            threads = [threading.Thread(target=claim_all, args=(box,)) for box in outboxes]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(won) == cap, f"round {r}: {len(won)} claimed under a cap of {cap}"
    finally:
        for box in outboxes:
            box.close()


def claim_until_capped(
    start: threading.Barrier, won: list[OutboxMessage], cap: int, box: PgOutbox
) -> None:
    start.wait()
    while (claimed := box.claim(0, 3600, per_sender=cap, per_group=60)) is not None:
        won.append(claimed)


def test_an_unknown_post_through_another_hosts_bridge_is_found_by_that_bridges_sender(
    db: psycopg.Connection[Any], outbox: PgOutbox, hosts: tuple[Host, Host]
) -> None:
    """Host A's bridge is down; its sender posts through host B's, which loses the answer. Host
    A cannot read host B's messages.db (another machine): unknown. Host B's sender looks for it
    in its own file, finds the bot's message, and settles it as sent; nothing is posted again."""
    a, b = hosts
    a.api.down()
    b.api.fault(Fault.DROP_AFTER_POST)
    reply(db, "M1")
    unreadable = Route(b.name, b.route().poster, NoEchoes())
    assert sender(outbox, a.route(), unreadable).step()
    assert [s[:2] for s in outbox_rows(db)] == [("unknown", "host-b")]
    b.api.fault(Fault.NONE)
    assert not sender(outbox, b.route(), a.route()).step()  # host B's own sender
    (state, bridge, detail) = outbox_rows(db)[0]
    assert (state, bridge) == ("sent", "host-b")
    assert detail.endswith("; found in bridge host-b's messages.db")
    assert len(a.api.sent()) + len(b.api.sent()) == 1
