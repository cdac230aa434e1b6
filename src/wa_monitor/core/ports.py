"""The ports the loop (and the SharePoint job) depend on: small Protocols the adapters
implement, and the null ones."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, Protocol, TypeVar

from wa_monitor.core.photos import Photo
from wa_monitor.core.records import (
    BridgeBatch,
    BridgePosition,
    Delivery,
    OutboxMessage,
    PhotoRows,
    Plan,
    PlanLists,
    ReviewState,
    SendResult,
    Sighting,
    Skip,
)
from wa_monitor.core.sheet import Sheet, SheetPlan, TargetKind, Write

# The batch's fresh sightings, the reviews of their drops, and what the plan lists say of them.
Planner = Callable[[Sequence[Sighting], Mapping[str, ReviewState], PlanLists], Plan]


class Source(Protocol):
    def read(self, position: BridgePosition) -> BridgeBatch: ...


class BatchWrite(Protocol):
    """A batch's transaction on its way (Sink.start): plan() sends the writes and COMMIT,
    finish() waits for the COMMIT. The caller may work between the calls."""

    def plan(self, planner: Planner) -> None: ...

    def finish(self) -> tuple[int, Plan]: ...


class Sink(Protocol):
    def load_position(self) -> BridgePosition: ...

    def apply(
        self,
        found: Sequence[Sighting],
        position: BridgePosition,
        planner: Planner,
        photos: Sequence[Photo] = (),
        plain: PhotoRows | None = None,
    ) -> tuple[int, Plan]: ...

    def start(
        self,
        found: Sequence[Sighting],
        position: BridgePosition,
        photos: Sequence[Photo] = (),
        plain: PhotoRows | None = None,
    ) -> BatchWrite:
        """Begin the batch's transaction; `photos` and the `plain` photo rows (those not
        `skipped`) are recorded and tied to drops in it."""

    def save_position(self, position: BridgePosition) -> None: ...

    def record_skips(self, skipped: Sequence[Skip]) -> None:
        """Record messages that name a drop but were skipped (a bot number, the bridge's own
        account), once each however often they are read, so that `status` can count them."""

    def refuse(self, sighting: Sighting, reason: str, position: BridgePosition | None) -> None:
        """Record that the message of `sighting` was refused and skipped (and save `position`,
        if given), in one transaction."""


class Waker(Protocol):
    def wait(self, timeout: float) -> None:
        """Return after `timeout`, or sooner when new messages may be there or on stop."""


class Notifier(Protocol):
    # The longest the loop may go between watchdog() calls, waits included; None: no limit.
    @property
    def keepalive(self) -> float | None: ...

    def ready(self) -> None: ...

    def status(self, text: str) -> None: ...

    def watchdog(self) -> None: ...


class EventWaker:
    """Waits on the stop event alone: the plain poll."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def wait(self, timeout: float) -> None:
        self._stop.wait(timeout)


class NullNotifier:
    keepalive: float | None = None

    def ready(self) -> None:
        return None

    def status(self, text: str) -> None:
        return None

    def watchdog(self) -> None:
        return None


class Log(Protocol):
    """A logger: an event and its key=value context (structlog's bound logger is one)."""

    def debug(self, event: str, *args: Any, **kw: Any) -> Any: ...

    def info(self, event: str, *args: Any, **kw: Any) -> Any: ...

    def warning(self, event: str, *args: Any, **kw: Any) -> Any: ...

    def error(self, event: str, *args: Any, **kw: Any) -> Any: ...


class LogLines(Protocol):
    """The fast path for a line per review: a bound emitter, and a block whose lines are
    written with one write per sink."""

    def emitter(self, log: Log, level: str) -> Callable[..., None]: ...

    def batched(self) -> AbstractContextManager[None]: ...


class PlainLines:
    """Each line through the logger itself: for tests and any logger configure() did not set."""

    def emitter(self, log: Log, level: str) -> Callable[..., None]:
        emit: Callable[..., None] = getattr(log, level)
        return emit

    def batched(self) -> AbstractContextManager[None]:
        return nullcontext()


class Claim(Protocol):
    """A message claimed for posting (committed before the post): where it goes, the text
    posted (speakable), when it was claimed. A reply, a reviewer's feedback or an alert."""

    @property
    def recipient(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def claimed_at(self) -> datetime: ...

    @property
    def bridge(self) -> str | None:
        """The bridge written on the claim in the claim's own transaction, if any: a post
        through it needs no record of its own (core/replies.post_once)."""
        ...


ClaimT_contra = TypeVar("ClaimT_contra", bound=Claim, contravariant=True)
Recorded_co = TypeVar("Recorded_co", covariant=True)


class ClaimStore(Protocol[ClaimT_contra, Recorded_co]):
    """Where claimed messages are settled, each once: the reply outbox, the feedback sends and
    the alerts are the three, and core/replies.settle_once is their one way to settle."""

    def sent_alike(self, claim: ClaimT_contra, since: datetime) -> int:
        """How many other claims of the same text to the same recipient were settled as sent at
        or after `since`: the bot's posts of that text that are theirs, not this one's."""
        ...

    def settle(
        self, claim: ClaimT_contra, delivery: Delivery, detail: str, status: int | None
    ) -> Recorded_co:
        """Record what the post came to (`status`: the bridge's HTTP status, when it answered):
        sent, certainly not posted (a retry may follow), or unknown (a person decides)."""
        ...


class Outbox(ClaimStore[OutboxMessage, None], Protocol):
    """The replies waiting to be posted, as the sender sees them (a table in the database)."""

    def stranded(self) -> list[OutboxMessage]:
        """Replies a sender claimed and never marked: it died around its post."""
        ...

    def expire(self, window_s: float) -> int:
        """Mark waiting replies to messages older than the window as expired; how many."""
        ...

    def hold(self, per_sender: int, per_group: int) -> int:
        """Mark waiting replies whose group (or whose message's sender) already had its cap of
        replies in the last hour as held: recorded, never posted; how many."""
        ...

    def claim(
        self, interval_s: float, window_s: float, *, per_sender: int, per_group: int
    ) -> OutboxMessage | None:
        """The oldest waiting reply to a message within the window whose group has no reply in
        flight and had none in the last `interval_s`, and whose group and sender are under their
        hourly caps, marked as being sent (committed before the post), or None. One step for
        every sender of the environment (one per bridge): two never let a cap's one extra
        through."""
        ...

    def unknown_through(self, bridge: str) -> list[OutboxMessage]:
        """Replies of the last hour left unknown after a post through `bridge` (by a sender
        that could not read its messages.db)."""
        ...

    def found_sent(self, message: OutboxMessage, bridge: str) -> bool:
        """An unknown reply found in `bridge`'s messages.db: marked sent (False when a person
        settled it meanwhile)."""
        ...

    def route(self, message: OutboxMessage, bridge: str) -> bool:
        """Record, committed, that the claimed reply is about to be posted through `bridge`;
        False when it is no longer claimed by this sender (then it must not be posted)."""
        ...

    def waiting(self) -> bool:
        """Whether any reply waits (perhaps for its group's turn or a retry)."""
        ...

    def block(self, message: OutboxMessage, detail: str) -> None:
        """A reply to a group this environment may not post in: never sent."""
        ...


class Poster(Protocol):
    """Posts a text to a recipient, one attempt, never retried itself: the bridge's HTTP API
    (adapters/bridge_api.BridgeApi) or an SMTP relay (adapters/mail.Mail)."""

    def send(self, recipient: str, text: str) -> SendResult: ...


class Echoes(Protocol):
    """Where the bridge shows what the bot posted (messages.db), when it does."""

    def posts(self, chat_jid: str, text: str, since: datetime) -> int:
        """How many messages the bot posted in the group with exactly that text, stamped at
        or after `since`."""
        ...


class NoEchoes:
    """A channel with no messages.db to look in (e-mail): an unknown outcome stays unknown."""

    def posts(self, chat_jid: str, text: str, since: datetime) -> int:
        return 0


class SheetTarget(Protocol):
    """Where the totals go: a SharePoint workbook's worksheet, or a local file."""

    @property
    def kind(self) -> TargetKind: ...

    @property
    def where(self) -> str:
        """The target as ops would name it (drive/item/worksheet, or a path); no secret."""

    def read(self) -> Sheet: ...

    def apply(self, plan: SheetPlan) -> Iterable[Write]:
        """Carry out the plan, yielding each write once it is in the sheet."""
