"""The poster's rule and the daemon's reply sender, driven through in-memory fakes of its ports
and a virtual clock: no test here sleeps."""

from __future__ import annotations

import ast
import threading
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

import wa_monitor
from tests.support.fakes import FakeEchoes, FakeOutbox, FakePoster, RecordingLog, SenderClock
from wa_monitor.core.ports import NoEchoes
from wa_monitor.core.records import Delivery, OutboxMessage, SendResult
from wa_monitor.core.replies import (
    ECHO_SLACK,
    IDLE_POLL_S,
    RETRY_DOWN_MAX_S,
    RETRY_MAX_S,
    Caps,
    RealClock,
    Route,
    Sender,
    ThreadLanes,
    Unsettled,
    Withdrawn,
    echoes_of,
    post_once,
    reconcile,
    retry_in,
    speakable,
)
from wa_monitor.errors import TransientError

LAWLEY, MOHADIN, VELO = "1@g.us", "2@g.us", "3@g.us"
T0 = datetime(2025, 11, 11, 9, tzinfo=UTC)


def message(drop: str, chat: str = LAWLEY, text: str | None = None) -> OutboxMessage:
    return OutboxMessage(uuid4(), chat, drop, text or f"about {drop}", T0, T0, 0)


def sender(
    outbox: FakeOutbox,
    poster: object,
    echoes: FakeEchoes | None = None,
    **options: object,
) -> Sender:
    settings: dict[str, object] = {
        "outbox": outbox,
        "routes": [Route("main", poster, echoes or FakeEchoes())],
        "allowed": frozenset({LAWLEY, VELO}),
        "window_s": 3600,
        "interval_s": 1,
        "poll_s": 1,
        "stop": threading.Event(),
        "log": RecordingLog(),
        "clock": outbox.clock,
    }
    return Sender(**(settings | options))  # type: ignore[arg-type]


def test_each_outcome_is_recorded_and_only_allowed_groups_are_posted_to() -> None:
    outbox = FakeOutbox().add(
        message("A"), message("B", MOHADIN), message("C", VELO), message("D", LAWLEY)
    )
    poster = FakePoster(Delivery.SENT, Delivery.DOWN, Delivery.UNKNOWN)
    s = sender(outbox, poster)
    while s.step():
        pass
    assert outbox.done == [
        ("A", Delivery.SENT),
        ("B", "blocked"),
        ("C", Delivery.DOWN),
        ("D", Delivery.UNKNOWN),
    ]
    assert [r for r, _ in poster.posted] == [LAWLEY, VELO, LAWLEY]
    assert outbox.held_calls[0] == (10, 60)  # the caps' defaults


def test_stranded_and_unknown_posts_are_settled_by_messages_db_never_by_posting_again() -> None:
    outbox = FakeOutbox(left=[message("A"), message("Z")]).add(message("B"))
    poster = FakePoster(Delivery.UNKNOWN)
    s = sender(outbox, poster, FakeEchoes("about A", "about B"))
    while s.step():
        pass
    assert outbox.done == [("A", Delivery.SENT), ("Z", Delivery.UNKNOWN), ("B", Delivery.SENT)]
    assert poster.posted == [(LAWLEY, "about B")]  # A and Z were not posted again


def test_an_echo_that_an_identical_sent_reply_accounts_for_proves_nothing() -> None:
    # The same wrong drop posted twice: two identical answers. The first was posted (its echo is
    # in messages.db); the sender was killed after claiming the second, before posting it.
    outbox = FakeOutbox().add(message("A"))
    poster = FakePoster(Delivery.SENT)
    echoes = FakeEchoes("about A")
    assert sender(outbox, poster, echoes).step()
    outbox.left.append(message("A"))  # what the next sender finds: 'sending', never posted
    assert not sender(outbox, poster, echoes).step()
    assert outbox.done == [("A", Delivery.SENT), ("A", Delivery.UNKNOWN)]
    # Posted, killed before it was marked: its own echo is there beside the first's.
    echoes.found.append("about A")
    outbox.left.append(message("A"))
    assert not sender(outbox, poster, echoes).step()
    assert outbox.done[-1] == ("A", Delivery.SENT)
    assert len(poster.posted) == 1


@pytest.mark.parametrize(
    ("echoes", "alike", "settled"),
    [
        (0, 0, Delivery.UNKNOWN),  # not found: proves nothing
        (1, 0, Delivery.SENT),
        (1, 1, Delivery.UNKNOWN),  # the one echo is another post's
        (2, 1, Delivery.SENT),
    ],
)
def test_one_reconciliation_against_messages_db(echoes: int, alike: int, settled: Delivery) -> None:
    asked: list[datetime] = []

    def settled_alike(since: datetime) -> int:
        asked.append(since)
        return alike

    found = FakeEchoes(*["DR1 done"] * echoes)
    assert reconcile(found, LAWLEY, "DR1 done", T0, settled_alike) is settled
    assert asked in ([], [T0 - ECHO_SLACK])  # since the claim, less the slack


def test_a_post_whose_outcome_could_not_be_recorded_is_settled_not_posted_again() -> None:
    class LosesTheFirstMark(FakeOutbox):
        def settle(
            self, m: OutboxMessage, delivery: Delivery, detail: str, status: int | None
        ) -> None:
            if not self.done:
                self.left.append(m)  # the database went away: the row stays 'sending'
                self.done.append(("lost", delivery))
                raise TransientError("database unavailable")
            super().settle(m, delivery, detail, status)
            s.stop.set()

    outbox = LosesTheFirstMark().add(message("A"))
    poster = FakePoster(Delivery.SENT)
    s = sender(outbox, poster, FakeEchoes("about A"))
    s.run()  # virtual time: its wait for the database passes at once
    assert outbox.done == [("lost", Delivery.SENT), ("A", Delivery.SENT)]  # by messages.db
    assert len(poster.posted) == 1


@pytest.mark.parametrize(
    ("posted", "echoes", "settled"),
    [
        (Delivery.SENT, 0, Delivery.SENT),
        (Delivery.REFUSED, 0, Delivery.REFUSED),
        (Delivery.DOWN, 1, Delivery.DOWN),  # certainly not posted: messages.db is not asked
        (Delivery.UNKNOWN, 0, Delivery.UNKNOWN),  # not found proves nothing: a person decides
        (Delivery.UNKNOWN, 1, Delivery.SENT),  # the bot's own message proves the post
    ],
)
def test_the_one_poster_posts_a_claim_once_and_settles_it_once(
    posted: Delivery, echoes: int, settled: Delivery
) -> None:
    outbox = FakeOutbox()
    claim = message("A")
    poster = FakePoster(posted)
    echoed = FakeEchoes(*["about A"] * echoes)
    done = post_once(claim, [Route("main", poster, echoed)], store=outbox)
    assert poster.posted == [(LAWLEY, "about A")]
    assert outbox.done == [("A", settled)]
    assert done.delivery is settled
    assert done.posted == SendResult(posted, f"bridge said {posted.value}", done.posted.status)


def test_a_post_its_store_could_not_record_says_what_the_post_came_to() -> None:
    class Away(FakeOutbox):
        def settle(
            self, m: OutboxMessage, delivery: Delivery, detail: str, status: int | None
        ) -> None:
            raise TransientError("database unavailable")

    with pytest.raises(Unsettled) as lost:
        post_once(
            message("A"), [Route("main", FakePoster(Delivery.SENT), FakeEchoes())], store=Away()
        )
    assert lost.value.posted.outcome is Delivery.SENT
    assert isinstance(lost.value.__cause__, TransientError)


@pytest.mark.parametrize(
    ("first", "second", "through"),
    [
        (Delivery.DOWN, Delivery.SENT, "b"),  # certainly not posted by a: b posts it
        (Delivery.DOWN, Delivery.DOWN, "b"),  # every bridge down: free to try again
        (Delivery.DOWN, Delivery.UNKNOWN, "b"),
        (Delivery.SENT, None, "a"),
        (Delivery.REFUSED, None, "a"),  # a refused this message: b is not asked
        (Delivery.UNKNOWN, None, "a"),  # a may have posted it: never posted through b
    ],
)
def test_the_next_bridge_posts_only_what_the_one_before_certainly_did_not(
    first: Delivery, second: Delivery | None, through: str
) -> None:
    outbox = FakeOutbox().add(message("A"))
    claim = outbox.claim(0, 3600, per_sender=10, per_group=60)
    assert claim is not None
    a, b = FakePoster(first), FakePoster(*([second] if second else []))
    routes = [Route("a", a, FakeEchoes()), Route("b", b, FakeEchoes())]
    done = post_once(claim, routes, store=outbox, record=outbox.route)
    assert done.bridge == through
    assert outbox.routes == [("A", "a"), ("A", "b")][: 1 + (through == "b")]
    assert len(a.posted) == 1
    assert len(b.posted) == (through == "b")
    assert outbox.done == [("A", second if through == "b" else first)]


def test_an_unknown_post_is_looked_for_in_the_messages_db_of_the_bridge_it_went_through() -> None:
    outbox = FakeOutbox().add(message("A"))
    claim = outbox.claim(0, 3600, per_sender=10, per_group=60)
    assert claim is not None
    routes = [
        Route("a", FakePoster(Delivery.DOWN), FakeEchoes()),  # this host's file: nothing
        Route("b", FakePoster(Delivery.UNKNOWN), FakeEchoes("about A")),
    ]
    done = post_once(claim, routes, store=outbox, record=outbox.route)
    assert (done.delivery, done.bridge) == (Delivery.SENT, "b")
    # A reply stranded after its post through b is looked for there too; one from before
    # bridges were recorded, in this host's own.
    assert echoes_of(routes, "b") is routes[1].echoes
    assert echoes_of(routes, None) is routes[0].echoes
    assert isinstance(echoes_of(routes, "gone"), NoEchoes)


def test_a_claim_withdrawn_before_its_post_is_not_posted() -> None:
    outbox = FakeOutbox().add(message("A"))
    claim = outbox.claim(0, 3600, per_sender=10, per_group=60)
    assert claim is not None
    poster = FakePoster(Delivery.SENT)
    with pytest.raises(Withdrawn):
        post_once(claim, [Route("a", poster, FakeEchoes())], store=outbox, record=lambda *_: False)
    assert poster.posted == []
    assert outbox.done == []


# Calls shaped like a post, `<poster>.send(recipient, text)` or `.post(recipient, text)`.
_POST_CALL = {"send", "post"}


def _post_calls(tree: ast.AST, inside_a_poster: bool = False) -> list[str]:
    """The post-shaped calls in `tree`, but those in a Poster's own `send` method (one Poster
    handing the post to another, as the alerts' bridge client made on first use does)."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef):
            method = isinstance(tree, ast.ClassDef) and node.name == "send"
            found += _post_calls(node, inside_a_poster or method)
            continue
        if (
            not inside_a_poster
            and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _POST_CALL
            and len(node.args) == 2
            and not node.keywords
        ):
            found.append(node.func.attr)
        found += _post_calls(node, inside_a_poster)
    return found


def test_every_message_this_project_sends_is_posted_by_the_one_poster() -> None:
    """Replies, a reviewer's feedback and alerts (WhatsApp and e-mail) all reach a Poster in one
    place, core/replies.post_once: no path posts and settles on its own."""
    package = Path(wa_monitor.__file__).parent
    posting: list[str] = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text("utf-8")
        # The bridge's stand-ins receive posts, never make them; a file with no such call is
        # not parsed (parsing the whole package costs most of a second).
        if "devtools" in path.parts or not any(f".{name}(" in text for name in _POST_CALL):
            continue
        posting += [f"{path.relative_to(package)}:{c}" for c in _post_calls(ast.parse(text))]
    assert posting == ["core/replies.py:send"]


def test_retries_back_off_and_are_bounded() -> None:
    assert [retry_in(n) for n in (1, 2, 3, 4, 5, 6, 20)] == [1, 2, 4, 8, 16, 30, RETRY_MAX_S]
    down = [retry_in(n, Delivery.DOWN) for n in (1, 2, 3, 20)]
    assert down == [1, 2, RETRY_DOWN_MAX_S, RETRY_DOWN_MAX_S]


class Outage:
    """The bridge is not there (connection refused) until `until` on the virtual clock."""

    def __init__(self, clock: SenderClock, until: float) -> None:
        self.clock, self.until = clock, until
        self.attempts: list[float] = []

    def send(self, recipient: str, text: str) -> SendResult:
        self.attempts.append(self.clock.now)
        if self.clock.now < self.until:
            return SendResult(Delivery.DOWN, "bridge not reachable")
        return SendResult(Delivery.SENT, "sent")


@pytest.mark.parametrize("outage_s", [5.0, 20.0, 300.0])
def test_after_an_outage_pending_replies_go_out_within_5_s_of_the_bridge_answering(
    outage_s: float,
) -> None:
    outbox = FakeOutbox().add(message("A"), message("B", VELO))
    bridge = Outage(outbox.clock, until=outage_s)

    s = sender(outbox, bridge, poll_s=5.0)

    def finished() -> None:
        if len(outbox.sent) == 2:
            s.stop.set()

    original = outbox.settle

    def settle(m: OutboxMessage, delivery: Delivery, detail: str, status: int | None) -> None:
        original(m, delivery, detail, status)
        finished()

    outbox.settle = settle  # type: ignore[method-assign]
    s.run()
    assert max(outbox.sent_at.values()) - outage_s <= 5.0
    # ...and the bridge was not hammered meanwhile: at most one try a second per group.
    assert len(bridge.attempts) <= 2 * (outage_s + 5)


def test_a_hung_post_in_one_group_does_not_delay_the_others() -> None:
    release = threading.Event()
    hung_in: list[str] = []

    class HangsInLawley:
        def send(self, recipient: str, text: str) -> SendResult:
            if recipient == LAWLEY:
                hung_in.append(recipient)
                release.wait(10)
            return SendResult(Delivery.SENT, "sent")

    outbox = FakeOutbox().add(message("A"), message("B", VELO), message("C", VELO))
    s = sender(outbox, HangsInLawley(), lanes=ThreadLanes(), clock=RealClock(), poll_s=0.01)
    s.interval_s = 0
    thread = threading.Thread(target=s.run, daemon=True)
    thread.start()
    try:
        # Both of Velo's replies go out while Lawley's post hangs.
        assert outbox.wait_sent("B", "C"), "Velo's replies waited for Lawley's hung post"
        assert sorted(outbox.sent_at) == ["B", "C"]
        assert hung_in == [LAWLEY]
    finally:
        release.set()
        assert outbox.wait_sent("A")
        s.stop.set()
        s.wake.set()
        thread.join(10)
    assert sorted(outbox.sent_at) == ["A", "B", "C"]


def test_the_sender_hands_its_caps_to_the_outbox() -> None:
    outbox = FakeOutbox().add(message("A"))
    s = sender(outbox, FakePoster(Delivery.SENT), caps=Caps(per_sender=3, per_group=7))
    assert s.step()
    assert outbox.held_calls == [(3, 7)]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("DR1234567\nAll items complete! ✅", "DR1234567\nAll items complete! ✅"),
        ("a\r\nb\rc\td", "a\nb\nc\td"),
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),  # ESC gone: the rest is harmless text
        ("bell\x07 nul\x00 del\x7f c1\x9b", "bell nul del c1"),
        ("\u202etxt.exe\u202c", "txt.exe"),  # right-to-left override, pop
        ("\u2066a\u2067b\u2068c\u2069", "abc"),  # isolates
        ("\u200eleft\u200fright\u061c", "leftright"),  # marks
        ("👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family"),  # ZWJ emoji stay whole
        ("\ufeffBOM", "BOM"),
    ],
)
def test_no_control_or_bidi_character_is_speakable(text: str, said: str) -> None:
    assert speakable(text) == said


def test_the_sender_posts_only_speakable_text() -> None:
    outbox = FakeOutbox().add(message("A", text="DR1\x1b\u202e done"))
    poster = FakePoster(Delivery.SENT)
    assert sender(outbox, poster).step()
    assert poster.posted == [(LAWLEY, "DR1 done")]


def test_an_idle_sender_looks_at_the_outbox_once_a_minute_and_a_batch_wakes_it() -> None:
    """Idle CPU: with nothing waiting the sender sleeps on its wake event for a minute, not for
    the poll interval; a batch that wrote a reply wakes it at once."""
    outbox = FakeOutbox()
    s = sender(outbox, FakePoster(Delivery.SENT), poll_s=5.0, interval_s=30.0)
    asked: list[float] = []
    wait = outbox.clock.wait

    def counted(event: threading.Event, timeout: float) -> bool:
        asked.append(timeout)
        if len(asked) == 2:
            outbox.add(message("A"))  # a batch wrote a reply...
            s.wake.set()  # ...and woke the sender
        if len(asked) == 3:
            s.stop.set()
        return wait(event, timeout)

    outbox.clock.wait = counted  # type: ignore[method-assign]
    s.run()
    assert IDLE_POLL_S >= 60
    assert asked == [IDLE_POLL_S] * 3
    assert outbox.done == [("A", Delivery.SENT)]  # posted on the wake, not a minute later
    assert outbox.clock.now == IDLE_POLL_S  # only the first wait ran its course
