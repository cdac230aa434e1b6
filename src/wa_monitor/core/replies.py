"""Posting at most once: how every message this project sends (a reply in a group, a reviewer's
feedback, an alert) is claimed, posted outside any transaction and settled once.

The rule, whoever asks for a message:
- The message is claimed in the database first (a row or a field, committed) and posted only
  after the claim is visible to every other process: nothing is posted from inside a
  transaction, and a second claim of the same message is refused.
- One attempt comes to one `Delivery`: SENT; REFUSED or DOWN (certainly not posted: safe to try
  again); UNKNOWN (the request went out, no clear answer: it may be posted).
- An UNKNOWN post, or a claim whose poster died around its post, is settled by `reconcile`: the
  bot's own message with that text in that chat in messages.db (one no other settled message
  of the same text accounts for) proves a post; not finding it proves nothing, so it stays
  unknown — never posted again by code, settled by a person.
- Every text is made `speakable` before it is claimed: no control or bidi character reaches a
  group.
- With several bridges (linked devices on other hosts), a claimed message goes out through the
  first bridge whose API answers: this host's own first, the next only when the one before was
  DOWN (certainly not posted). The bridge is recorded on the claim, committed, before the post
  to it, so an unknown outcome is looked for in that bridge's own messages.db, and the message
  is never posted again through another.

The daemon's replies go through the outbox and the `Sender` below:
- A reply to a message older than the window is marked expired, never posted: catching up after
  an outage does not flood a group. A group gets at most one reply per interval, and at most
  `per_group` an hour; an agent's messages get at most `per_sender` replies an hour. A reply over
  a cap is held: recorded ('held'), never posted.
- Each group has its own lane: a hung post in one group never delays another group's replies.
- A post that reached no bridge, or that the bridge could not send at all (its WhatsApp link
  down: 503 or "not connected"), is DOWN and tried again within seconds, so pending replies go
  out within 5 s of the bridge sending again; a refusal of the message itself backs off longer.
- Only groups in `allowed` are ever posted to (dev: its own groups, never production's).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Generic, Protocol, TypeVar

from wa_monitor.core.ports import Claim, ClaimStore, Echoes, Log, NoEchoes, Outbox, Poster
from wa_monitor.core.records import Delivery, OutboxMessage, SendResult
from wa_monitor.errors import TransientError, WaMonitorError

RETRY_FIRST_S = 1.0
# The bridge refused the message (it answered): wait longer before asking again.
RETRY_MAX_S = 30.0
# Nothing reached the bridge, or it cannot send now (DOWN): ask again soon, so replies go out
# within seconds of its return.
RETRY_DOWN_MAX_S = 3.0
# How far before its claim a message found in messages.db may be stamped (clock skew, rounding).
ECHO_SLACK = timedelta(seconds=5)
# The dispatcher looks at the outbox at least this often while replies wait for a turn or retry.
WAITING_POLL_S = 1.0
# With nothing waiting, new replies come from the loop's batches, which set `wake`: the outbox is
# looked at only this often besides (for a reply an operator sent back with `replies resolve`).
IDLE_POLL_S = 60.0

# C0 and C1 controls (tab and newline are kept), DEL, and the bidi marks, embeddings, overrides
# and isolates that can reorder what a group member reads; a byte-order mark too.
_UNSPEAKABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def speakable(text: str) -> str:
    """`text` as it may reach a group: line ends made \\n, control and bidi characters removed."""
    return _UNSPEAKABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def retry_in(attempts: int, delivery: Delivery = Delivery.REFUSED) -> float:
    """Seconds before a post the bridge did not take is tried again: doubling, bounded (and
    bounded low when nothing reached the bridge, so its return is noticed within seconds)."""
    bound = RETRY_DOWN_MAX_S if delivery is Delivery.DOWN else RETRY_MAX_S
    return float(min(RETRY_FIRST_S * 2 ** max(attempts - 1, 0), bound))


def reconcile(
    echoes: Echoes,
    chat_jid: str,
    text: str,
    claimed_at: datetime,
    settled_alike: Callable[[datetime], int],
) -> Delivery:
    """An unknown post (a reply, feedback or an alert), settled against messages.db: SENT when
    the bot's messages of that text in that chat since the claim (less ECHO_SLACK) outnumber
    those that other posts of the same text, settled as sent since then, account for; else
    UNKNOWN (the bridge does not always store its API sends: absence proves nothing).

    `settled_alike(since)` counts those other posts: the same wrong drop posted twice gets two
    identical answers, and the first one's post must not pass for the second's."""
    since = claimed_at - ECHO_SLACK
    found = echoes.posts(chat_jid, text, since)
    if found == 0:
        return Delivery.UNKNOWN
    return Delivery.SENT if found > settled_alike(since) else Delivery.UNKNOWN


C = TypeVar("C", bound=Claim)
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Settled(Generic[R]):
    """How a claimed message was settled, and what its store recorded with it."""

    delivery: Delivery
    detail: str
    recorded: R
    posted: SendResult | None = None  # the post's own answer (none: settled without a post)
    bridge: str | None = None  # the route it went through (none: settled without a post)


class Unsettled(Exception):
    """A post whose outcome its store could not record (the database went away): `posted` is
    what the post came to; the cause is the store's error. The claim stays claimed, so it is
    settled later as a post that may have happened (stranded), never posted again by code."""

    def __init__(self, posted: SendResult) -> None:
        super().__init__(f"posted ({posted.outcome}), not recorded")
        self.posted = posted


def settle_once(
    claim: C,
    delivery: Delivery,
    detail: str,
    *,
    store: ClaimStore[C, R],
    echoes: Echoes,
    status: int | None = None,
) -> Settled[R]:
    """The one way every poster settles a claimed message, after its post (or after its poster
    died around it): an UNKNOWN outcome is first looked for in messages.db (reconcile), then the
    outcome is recorded once."""
    if delivery is Delivery.UNKNOWN:
        found = reconcile(
            echoes,
            claim.recipient,
            claim.text,
            claim.claimed_at,
            lambda since: store.sent_alike(claim, since),
        )
        if found is Delivery.SENT:
            delivery, detail = found, f"{detail}; found in messages.db"
    return Settled(delivery, detail, store.settle(claim, delivery, detail, status))


@dataclass(frozen=True, slots=True)
class Route:
    """One way a message may go out: a bridge's name, its API (or an e-mail relay) and where a
    post through it shows (its messages.db; NoEchoes: nowhere to look on this host)."""

    bridge: str
    poster: Poster
    echoes: Echoes


class Withdrawn(Exception):
    """The claim is no longer this poster's (settled elsewhere meanwhile): nothing was posted."""


def post_once(
    claim: C,
    routes: Sequence[Route],
    *,
    store: ClaimStore[C, R],
    record: Callable[[C, str], bool] | None = None,
) -> Settled[R]:
    """The one poster: a message claimed (committed) is posted once, outside any transaction,
    and settled once (`settle_once`). Every message this project sends goes through here: the
    outbox's replies (`Sender`), a reviewer's feedback, the alerts.

    Through the first route whose API answers: the next only while the one before was DOWN
    (nothing reached WhatsApp there); any other answer, UNKNOWN above all, ends it.
    `record(claim, bridge)` (the store's own `route`) writes the route's bridge on the claim,
    committed, before its post (but the bridge the claim was made with: written with it, in
    its own transaction, a moment ago); when it says the claim is no longer this poster's,
    nothing more is posted (Withdrawn). An
    UNKNOWN outcome is looked for in that route's messages.db. Unsettled when the post's outcome
    could not be recorded (its cause: the store's error)."""
    if not routes:
        raise ValueError("nowhere to post: no route")
    text = speakable(claim.text)
    down: list[str] = []  # each bridge that could not send, in its own words
    for route in routes:
        if record is not None and route.bridge != claim.bridge and not record(claim, route.bridge):
            raise Withdrawn(f"claim withdrawn before its post through {route.bridge}")
        posted = route.poster.send(claim.recipient, text)
        if posted.outcome is not Delivery.DOWN:
            break
        down.append(f"{route.bridge}: {posted.detail}")
    detail = "; ".join(down) if len(down) > 1 else posted.detail
    try:
        settled = settle_once(
            claim,
            posted.outcome,
            detail,
            store=store,
            echoes=route.echoes,
            status=posted.status,
        )
    except WaMonitorError as exc:
        raise Unsettled(posted) from exc
    return Settled(settled.delivery, settled.detail, settled.recorded, posted, route.bridge)


def echoes_of(routes: Sequence[Route], bridge: str | None) -> Echoes:
    """Where a post through `bridge` shows: that bridge's own messages.db. A claim that names
    none went out before bridges were recorded, through its claimer's own bridge (the first
    route); a bridge no longer configured proves nothing here."""
    if bridge is None:
        return routes[0].echoes if routes else NoEchoes()
    return next((r.echoes for r in routes if r.bridge == bridge), NoEchoes())


class Clock(Protocol):
    """How the sender waits: on an event, for at most `timeout` seconds (tests move time)."""

    def wait(self, event: threading.Event, timeout: float) -> bool: ...


# How often a sender looks for replies stranded by a sender that is gone (another bridge's, on
# a host that died): their group's lane stays shut until one is settled.
STRANDED_EVERY_S = 60.0


class RealClock:
    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)


class Lanes(Protocol):
    """Where a claimed post is carried out: one lane per group."""

    def start(self, chat_jid: str, work: Callable[[], None]) -> None: ...

    def join(self, timeout: float) -> None: ...


class ThreadLanes:
    """A thread per post in flight: at most one per group (the outbox claims one reply per group
    at a time), so a group whose post hangs holds up no other group."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def start(self, chat_jid: str, work: Callable[[], None]) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=work, name=f"reply {chat_jid}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the posts in flight, all of them within `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))


class InlineLanes:
    """Each post carried out at once, in the caller's thread (unit tests, `step()` by step)."""

    def start(self, chat_jid: str, work: Callable[[], None]) -> None:
        work()

    def join(self, timeout: float) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Caps:
    """How many replies an hour a group, and an agent's messages, may get (0: none)."""

    per_sender: int = 10
    per_group: int = 60


class Sender:
    """Posts waiting replies until `stop` is set; `wake` says a batch has just written some."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        routes: Sequence[Route],
        allowed: frozenset[str],
        window_s: float,
        interval_s: float,
        poll_s: float,
        stop: threading.Event,
        log: Log,
        caps: Caps | None = None,
        clock: Clock | None = None,
        lanes: Lanes | None = None,
    ) -> None:
        if not routes:
            raise ValueError("a reply sender needs a bridge to post through")
        self.outbox, self.routes = outbox, tuple(routes)
        self.allowed = allowed
        self.window_s, self.interval_s, self.poll_s = window_s, interval_s, poll_s
        self.caps = caps or Caps()
        self.stop = stop
        self.wake = threading.Event()
        self.log = log
        self.clock = clock or RealClock()
        self.lanes = lanes or InlineLanes()
        self._recovered = False
        self._recovered_at = 0.0
        self._lock = threading.Lock()
        self._in_flight: set[object] = set()

    def run(self) -> None:
        """The dispatcher's body: never raises; a database that is away is waited for."""
        while not self.stop.is_set():
            try:
                busy = self.step()
            except Exception as exc:  # noqa: BLE001 - the thread must outlive a bad row
                self._failed(exc)
                self.clock.wait(self.stop, max(self.poll_s, 1.0))
                continue
            if not busy:
                # Replies waiting for their group's turn, a lane or a retry: look again soon.
                waiting = self.outbox.waiting()
                pause = min(self.poll_s, max(self.interval_s, 0.05), WAITING_POLL_S)
                self.clock.wait(self.wake, pause if waiting else max(self.poll_s, IDLE_POLL_S))
                self.wake.clear()
        self.lanes.join(timeout=8.0)

    def step(self) -> bool:
        """Hand one due reply to its group's lane; True when one was handled."""
        if not self._recovered or time.monotonic() - self._recovered_at >= STRANDED_EVERY_S:
            with self._lock:
                in_flight = set(self._in_flight)
            for stranded in self.outbox.stranded():
                if stranded.id not in in_flight:
                    self._settle_unknown(stranded, "the sender stopped around this post")
            self._look_for_own_posts()
            self._recovered, self._recovered_at = True, time.monotonic()
        if expired := self.outbox.expire(self.window_s):
            self.log.info(
                "⌛ replies expired: their messages are older than the reply window",
                count=expired,
                window_s=self.window_s,
            )
        if held := self.outbox.hold(self.caps.per_sender, self.caps.per_group):
            self.log.warning(
                "🤐 replies held back: over the hourly cap of their group or sender",
                count=held,
                per_group=self.caps.per_group,
                per_sender=self.caps.per_sender,
            )
        message = self.outbox.claim(
            self.interval_s,
            self.window_s,
            per_sender=self.caps.per_sender,
            per_group=self.caps.per_group,
        )
        if message is None:
            return False
        if message.chat_jid not in self.allowed:
            self.outbox.block(message, "not a group this environment may reply in")
            self.log.warning(
                "🚫 reply not sent: not a group this environment may reply in",
                chat=message.chat_jid,
                drop=message.drop_number,
            )
            return True
        with self._lock:
            self._in_flight.add(message.id)
        self.lanes.start(message.chat_jid, lambda: self._deliver(message))
        return True

    def _deliver(self, message: OutboxMessage) -> None:
        """One claimed reply: posted once, its outcome recorded (in its group's lane)."""
        try:
            settled = post_once(
                message,
                self.routes,
                store=self.outbox,
                record=self.outbox.route,
            )
            posted = settled.posted
            if posted is not None and posted.outcome is Delivery.UNKNOWN:
                self._said_unknown(message, settled.delivery, posted.detail)
            elif settled.delivery is Delivery.SENT:
                self.log.info(
                    f"💬 Replied in the group about {message.drop_number}",
                    chat=message.chat_jid,
                    bridge=settled.bridge,
                )
            else:
                self.log.warning(
                    "⏳ reply not taken by the bridge; will retry",
                    drop=message.drop_number,
                    outcome=settled.delivery.value,
                    detail=settled.detail,
                    retry_in_s=retry_in(message.attempts, settled.delivery),
                )
        except Withdrawn:
            self.log.warning(
                "reply not posted: its claim is no longer this sender's",
                drop=message.drop_number,
                reply=str(message.id),
            )
        except Exception as exc:  # noqa: BLE001 - the lane must outlive a bad row
            # Not recorded: the store's own error says why (a database away is waited for).
            error = exc.__cause__ if isinstance(exc, Unsettled) else exc
            assert isinstance(error, Exception)  # noqa: S101 - Unsettled is raised from one
            if isinstance(self.lanes, InlineLanes):
                raise error from None
            self._failed(error)
        finally:
            with self._lock:
                self._in_flight.discard(message.id)
            self.wake.set()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, TransientError):
            self.log.warning("⏳ reply sender waiting for the database", error=str(exc))
        else:
            self.log.error("❌ reply sender failed; trying again", error=str(exc))
        # A post whose outcome could not be recorded is left 'sending': settle it (by
        # messages.db, else as unknown) before anything else is claimed.
        self._recovered = False

    def _settle_unknown(self, message: OutboxMessage, detail: str) -> None:
        """A post that may have happened: proof from the messages.db of the bridge it went
        through (recorded on its claim), else a person decides."""
        echoes = echoes_of(self.routes, message.bridge)
        settled = settle_once(
            message, Delivery.UNKNOWN, detail, store=self.outbox, echoes=echoes
        ).delivery
        self._said_unknown(message, settled, detail)

    def _look_for_own_posts(self) -> None:
        """Replies another host's sender posted through this host's bridge with no clear
        answer, left unknown there because it cannot read this bridge's messages.db: looked for
        here, in the file of the bridge they went through. Found: sent (a settling, never a
        post); not found: still a person's to decide."""
        own = self.routes[0]
        for message in self.outbox.unknown_through(own.bridge):
            found = reconcile(
                own.echoes,
                message.chat_jid,
                message.text,
                message.claimed_at,
                partial(self.outbox.sent_alike, message),
            )
            if found is Delivery.SENT and self.outbox.found_sent(message, own.bridge):
                self.log.info(
                    f"💬 Replied in the group about {message.drop_number} "
                    f"(found in bridge {own.bridge}'s messages.db)",
                    chat=message.chat_jid,
                )

    def _said_unknown(self, message: OutboxMessage, settled: Delivery, detail: str) -> None:
        if settled is Delivery.SENT:
            self.log.info(
                f"💬 Replied in the group about {message.drop_number} (found in messages.db)",
                chat=message.chat_jid,
            )
            return
        self.log.error(
            "❓ reply may or may not have been posted: not sent again; "
            "see `wa-monitor replies list --unknown`",
            drop=message.drop_number,
            chat=message.chat_jid,
            reply=str(message.id),
            detail=detail,
        )
