"""In-memory fakes of the ports (core/ports.py, and the services' own: a reviewer's Send in
services/feedback.py, the accounts in services/accounts.py), for unit tests that run in
milliseconds.

Each fake behaves as its real adapter does in everything its user can observe: FakeBridge as
adapters/bridge.py's Bridge (rowid order, anchor checks, Rescan), FakeStore as
adapters/postgres/store.py's Store (the ledger claim, the latest review of a drop, inserts that
lose to an existing (drop, date), one transaction per batch), FakeOutbox, FakePoster and
FakeEchoes as the reply sender's outbox, the bridge's send API and messages.db. They can be made
to fail at a chosen moment. Time is virtual: the loop's and the sender's waits pass at once.
"""

from __future__ import annotations

import enum
import itertools
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import pytest

from tests.support.env import AGENT, GROUPS, LAWLEY
from wa_monitor.adapters.bridge import BridgeError
from wa_monitor.adapters.postgres.alerts import STALE_CLAIM as STALE_ALERT_CLAIM
from wa_monitor.adapters.postgres.dashboard import (
    DayCards,
    HistoryEntry,
    InvalidDay,
    InvalidPost,
    Keyset,
    QueueCount,
    Review,
    ReviewFilter,
    ReviewPage,
)
from wa_monitor.adapters.postgres.db import LockHolder, SchemaState, latest_version
from wa_monitor.adapters.postgres.figures import (
    BridgeProgress,
    Progress,
    RepliesDay,
    ReviewCounts,
    SkippedSender,
)
from wa_monitor.adapters.postgres.photos import DropPhoto
from wa_monitor.adapters.postgres.presence import Presence
from wa_monitor.adapters.postgres.quality import (
    LoopTimes,
    ProjectQuality,
    Quality,
    Span,
    Week,
)
from wa_monitor.adapters.postgres.reviewing import (
    Claimed,
    Corrected,
    Correction,
    FeedbackRequest,
    ReviewChange,
    ReviewNotFound,
    ReviewSheet,
)
from wa_monitor.adapters.postgres.users import Account, Attempts, Role, User
from wa_monitor.core import loop
from wa_monitor.core.alerts import ClaimedAlert, Incident, IncidentChange, Known
from wa_monitor.core.alerts import Message as AlertMessage
from wa_monitor.core.feedback_claims import (
    ChangedMeanwhile,
    FeedbackSend,
    Resolution,
    claim_refusal,
)
from wa_monitor.core.photos import Photo
from wa_monitor.core.ports import Planner
from wa_monitor.core.privileges import Audit, Service
from wa_monitor.core.records import (
    NO_LISTS,
    START,
    BridgeBatch,
    BridgeMessage,
    BridgePosition,
    DailyCount,
    Delivery,
    Flaw,
    OutboxMessage,
    Outcome,
    PhotoRows,
    Plan,
    ReviewState,
    SendResult,
    Sighting,
    Skip,
)
from wa_monitor.core.replies import retry_in
from wa_monitor.core.report import Totals
from wa_monitor.core.reviews import mark_taken
from wa_monitor.core.sheet import HEADER, Sheet, SheetPlan, TargetKind, Write, read_sheet
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict
from wa_monitor.errors import Rescan, RowRefused, Standby, TransientError
from wa_monitor.services.health import Health, Level
from wa_monitor.web.quality_reads import QualityFigures

JOHANNESBURG = ZoneInfo("Africa/Johannesburg")
LATEST = latest_version()
Moment = TypeVar("Moment")
Action = Callable[[], object]


def raising(error: Exception) -> Action:
    """An action that fails with `error` (for FakeBridge.at and FakeStore.at)."""

    def fail() -> object:
        raise error

    return fail


# -- time ------------------------------------------------------------------------------------


@dataclass
class HandClock(Generic[Moment]):
    """A clock a test moves by hand (`clock.now += ...`): calling it says `now`."""

    now: Moment

    def __call__(self) -> Moment:
        return self.now


class VirtualClock:
    """time.monotonic that moves only when the loop waits, by the time it asked to wait.

    Installed over time.monotonic, it moves the loop's deadlines (wait_alive) and the retry
    policy's give-up delay (tenacity) on at once, so a backoff of seconds costs nothing, still
    shows in the log lines, and every run takes the same path whatever the machine's load.
    """

    RUNAWAY_SECONDS = 24 * 3600.0  # a loop still waiting after a virtual day has lost its stop

    def __init__(self, start: float) -> None:
        self._start = self.now = start
        self.waits: list[float] = []

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
        clock = cls(time.monotonic())
        monkeypatch.setattr(time, "monotonic", clock.monotonic)
        return clock

    def monotonic(self) -> float:
        return self.now

    def skip(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        if self.now - self._start > self.RUNAWAY_SECONDS:
            raise AssertionError("the loop waited a virtual day: nothing set its stop event")


class StopEvent(threading.Event):
    """The loop's stop event, whose waits pass at once in virtual time."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set() and timeout is not None and timeout > 0:
            self._clock.skip(timeout)
        return self.is_set()


class ScriptedWaker:
    """A Waker for daemon mode: each idle wait (the loop caught up) runs the next action, as
    the world changing between cycles; after the last one it sets the stop event."""

    def __init__(self, stop: threading.Event, *actions: Action) -> None:
        self._stop = stop
        self._actions = list(actions)
        self.idle_waits = 0
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> None:
        self.idle_waits += 1
        self.timeouts.append(timeout)
        if self._actions:
            self._actions.pop(0)()
        else:
            self._stop.set()
        self._stop.wait(timeout)


# -- the bridge ------------------------------------------------------------------------------

_ids = itertools.count(1)


def message(
    rowid: int,
    content: str | None,
    at: datetime,
    *,
    chat: str = LAWLEY,
    sender: str = AGENT,
    phone: str | None = None,
    name: str | None = None,
    mid: str | None = None,
    unreadable: str | None = None,
) -> BridgeMessage:
    """A bridge row as Bridge.read returns it: sender already resolved to `phone`; with
    `unreadable`, a time text the bridge adapter could not parse (`at` is then the read time)."""
    return BridgeMessage(
        rowid=rowid,
        chat_jid=chat,
        message_id=mid or f"3EB0{next(_ids):016X}",
        sender_id=sender,
        phone=phone or sender,
        sender_name=name,
        content=content,
        sent_at=at,
        timestamp_text=unreadable or at.isoformat(sep=" "),
        timestamp_ok=unreadable is None,
        flaw=None if unreadable is None else Flaw.UNREADABLE_TIME,
    )


# Bridge._READ's filter in SQL: only rows whose text can hold a drop leave SQLite.
_MAY_HOLD_A_DROP = re.compile(r"[Dd][Rr] ?[0-9]{6}")


class FakeBridge:
    """messages.db in memory, read like Bridge.read: rowids after the position, at most `span`
    of them a batch, rows of the watched groups that may hold a drop; the anchor (the row the
    position stands on) must still be where it was, else Rescan."""

    def __init__(self, *, groups: Iterable[str] = GROUPS, span: int = 100) -> None:
        self.groups = frozenset(groups)
        self.span = span
        self.rows: list[BridgeMessage] = []  # in rowid order
        self.file_id = "fake:1"
        self.reads = 0
        self._actions: dict[int, Action] = {}

    # -- what the bridge process does to the file ------------------------------------------

    def post(self, content: str | None, at: datetime, **kw: Any) -> BridgeMessage:
        """A new row, at the next rowid (SQLite's max(rowid) + 1)."""
        row = message(self.newest + 1, content, at, **kw)
        self.rows.append(row)
        return row

    def redeliver(self, row: BridgeMessage) -> BridgeMessage:
        """INSERT OR REPLACE of a message it has: the old row goes, the same one comes back at
        a new rowid."""
        self.delete(row)
        again = replace(row, rowid=self.newest + 1)
        self.rows.append(again)
        return again

    def delete(self, row: BridgeMessage) -> None:
        self.rows = [
            r for r in self.rows if (r.chat_jid, r.message_id) != (row.chat_jid, row.message_id)
        ]

    def vacuum(self) -> None:
        """Rowids renumbered 1..n in order, as VACUUM may do after deletions."""
        self.rows = [replace(row, rowid=n) for n, row in enumerate(self.rows, start=1)]

    def at(self, read: int, action: Action) -> None:
        """Run `action` when the loop makes its `read`-th read (1-based), before answering."""
        self._actions[read] = action

    @property
    def newest(self) -> int:
        return self.rows[-1].rowid if self.rows else 0

    # -- Source ----------------------------------------------------------------------------

    def read(self, position: BridgePosition) -> BridgeBatch:
        self.reads += 1
        if (action := self._actions.pop(self.reads, None)) is not None:
            action()
        if position.file_id and position.file_id != self.file_id:
            raise Rescan("bridge file was replaced (file identity changed)")
        newest = self.newest
        if position.rowid > newest:
            raise Rescan(f"bridge file ends at rowid {newest}, before the saved position")
        if position.anchor is not None:
            at = next(
                (r.rowid for r in self.rows if (r.chat_jid, r.message_id) == position.anchor), None
            )
            if at is None or at < position.rowid:
                raise Rescan("the last message read moved or vanished")
        following = next((r.rowid for r in self.rows if r.rowid > position.rowid), newest)
        hi = max(min(position.rowid + self.span, newest), following)
        upto = [r for r in self.rows if r.rowid <= hi]
        rows = tuple(
            r
            for r in upto
            if r.rowid > position.rowid
            and r.chat_jid in self.groups
            and _MAY_HOLD_A_DROP.search(r.content or "")
        )
        anchor = upto[-1] if upto else None
        after = BridgePosition(
            rowid=anchor.rowid if anchor else 0,
            anchor=(anchor.chat_jid, anchor.message_id) if anchor else None,
            file_id=self.file_id,
            groups=self.groups,
        )
        return BridgeBatch(
            messages=rows,
            position=after,
            rows_scanned=after.rowid - position.rowid,
            caught_up=after.rowid >= newest,
        )


# -- the store -------------------------------------------------------------------------------


class Phase(enum.Enum):
    """A moment in one attempt to write a batch (Store.start, then plan, then finish)."""

    START = "start"  # before the ledger claim is sent
    PLAN = "plan"  # the claim and locks answered, before planning
    COMMIT = "commit"  # the writes sent, before COMMIT lands: nothing is written
    COMMITTED = "committed"  # COMMIT landed, before its answer reaches the loop


@dataclass
class StoredReview:
    """A qa_photo_reviews row, the columns the monitor writes."""

    id: uuid.UUID
    drop_number: str
    review_date: date
    project: str
    user_name: str
    submitted_by: str
    whatsapp_message_date: datetime
    last_submitted_at: datetime
    resubmitted: bool = False
    incomplete: bool = False
    feedback_sent: datetime | None = None
    order: int = 0  # created_at, as an insertion counter


class FakeStore:
    """One environment's reviews, ledger and cursor in memory, written as Store writes them."""

    def __init__(self) -> None:
        self.saved: BridgePosition | None = None  # the cursor row; None: never saved
        self.ledger: dict[tuple[str, str], int] = {}  # (chat, message id) -> rowid claimed at
        self.reviews: dict[tuple[str, date], StoredReview] = {}  # UNIQUE (drop, review_date)
        self.writes: list[tuple[Outcome, str]] = []  # (CREATED | RESUBMITTED, drop), committed
        self.attempts = 0  # batch transactions begun (start, and apply's own start)
        self.standby_calls = 0
        self.refused: list[tuple[str, str]] = []  # (message id, reason), as refuse() recorded
        self.skips: set[tuple[str, str]] = set()  # (chat, message id), as record_skips() saw
        self.photos: list[Photo] = []  # every photo a batch carried (replays included)
        self.plain: list[PhotoRows] = []  # and every batch's plain photo rows
        self.refusing: set[str] = set()  # drops whose writes the "database" refuses
        self._actions: dict[tuple[int, Phase], Action] = {}
        self._created = itertools.count(1)

    def at(self, attempt: int, phase: Phase, action: Action) -> None:
        """Run `action` at `phase` of the `attempt`-th batch transaction (1-based)."""
        self._actions[(attempt, phase)] = action

    def standby(self, calls: int) -> None:
        """Another instance holds the lock for the next `calls` calls: they raise Standby."""
        self.standby_calls = calls

    def insert_elsewhere(self, drop: str, day: date, at: datetime) -> StoredReview:
        """A review someone else wrote (another process, a person with psql)."""
        return self._insert(drop, day, "Elsewhere", "someone", "0", at)

    def give_feedback(self, drop: str, at: datetime) -> None:
        """A reviewer sent feedback on the drop's latest review."""
        self.review(drop).feedback_sent = at

    def latest(self, drop: str) -> StoredReview | None:
        """The review lock_reviews returns last for a drop: the newest review_date."""
        rows = [r for r in self.reviews.values() if r.drop_number == drop]
        return max(rows, key=lambda r: (r.review_date, r.order)) if rows else None

    def review(self, drop: str) -> StoredReview:
        """The drop's latest review, which the test expects to exist."""
        found = self.latest(drop)
        assert found is not None, f"no review for {drop}"
        return found

    def times_written(self) -> Counter[tuple[Outcome, str]]:
        return Counter(self.writes)

    @property
    def position(self) -> BridgePosition:
        return self.saved or START

    # -- Sink ------------------------------------------------------------------------------

    def load_position(self) -> BridgePosition:
        self._gate()
        return self.position

    def save_position(self, position: BridgePosition) -> None:
        self._gate()
        self.saved = position

    def start(
        self,
        found: Sequence[Sighting],
        position: BridgePosition,
        photos: Sequence[Photo] = (),
        plain: PhotoRows | None = None,
    ) -> FakeBatch:
        self._gate()
        self.photos.extend(photos)
        if plain is not None:
            self.plain.append(plain)
        self.attempts += 1
        self._step(Phase.START)
        return FakeBatch(self, self.attempts, found, position)

    def apply(
        self,
        found: Sequence[Sighting],
        position: BridgePosition,
        planner: Planner,
        photos: Sequence[Photo] = (),
        plain: PhotoRows | None = None,
    ) -> tuple[int, Plan]:
        applying = self.start(found, position, photos, plain)
        applying.plan(planner)
        return applying.finish()

    def record_skips(self, skipped: Sequence[Skip]) -> None:
        self._gate()
        self.skips.update((s.chat_jid, s.message_id) for s in skipped)

    def refuse(self, sighting: Sighting, reason: str, position: BridgePosition | None) -> None:
        self._gate()
        self.refused.append((sighting.message_id, reason))
        if position is not None:
            self.saved = position

    # -- inside -----------------------------------------------------------------------------

    def _gate(self) -> None:
        if self.standby_calls > 0:
            self.standby_calls -= 1
            raise Standby("another wa-monitor is running for schema 'public'")

    def _step(self, phase: Phase, attempt: int | None = None) -> None:
        action = self._actions.pop((attempt or self.attempts, phase), None)
        if action is not None:
            action()

    def _insert(
        self, drop: str, day: date, project: str, name: str, phone: str, at: datetime
    ) -> StoredReview:
        row = StoredReview(
            id=uuid.uuid4(),
            drop_number=drop,
            review_date=day,
            project=project,
            user_name=name,
            submitted_by=phone,
            whatsapp_message_date=at,
            last_submitted_at=at,
            order=next(self._created),
        )
        self.reviews[(drop, day)] = row
        return row


class FakeBatch:
    """One batch's transaction (BatchWrite): claim and plan in plan(), all of it in finish()."""

    def __init__(
        self,
        store: FakeStore,
        attempt: int,
        found: Sequence[Sighting],
        position: BridgePosition,
    ) -> None:
        self._store, self._attempt, self._found, self._position = store, attempt, found, position
        self._plan: Plan | None = None
        self._claims: dict[tuple[str, str], int] = {}
        self._fresh = 0

    def plan(self, planner: Planner) -> None:
        store = self._store
        store._step(Phase.PLAN, self._attempt)
        # The claim: one ledger row per message, ON CONFLICT (chat, id) DO NOTHING.
        for s in self._found:
            key = (s.chat_jid, s.message_id)
            if key not in store.ledger and key not in self._claims:
                self._claims[key] = s.rowid
        claimed = set(self._claims.values())
        fresh = [s for s in self._found if s.rowid in claimed]
        existing: dict[str, ReviewState] = {}
        for drop in {s.drop_number for s in self._found}:
            if (row := store.latest(drop)) is not None:
                existing[drop] = ReviewState(
                    id=row.id,
                    drop_number=drop,
                    last_submitted_at=row.last_submitted_at,
                    feedback_sent=row.feedback_sent,
                )
        self._fresh = len(fresh)
        self._plan = planner(fresh, existing, NO_LISTS)  # no plan lists: nothing validates

    def finish(self) -> tuple[int, Plan]:
        if self._plan is None:
            raise RuntimeError("FakeBatch.finish() called before plan()")
        store, plan = self._store, self._plan
        store._step(Phase.COMMIT, self._attempt)
        if refused := sorted(store.refusing & {r.drop_number for r in plan.new_reviews}):
            # The COMMIT fails, as a constraint violation does: nothing of the batch is written.
            raise RowRefused(f"the database refused a row: check violation for {refused[0]}")
        store.ledger.update(self._claims)
        taken: set[str] = set()
        for new in plan.new_reviews:  # ON CONFLICT (drop_number, review_date) DO NOTHING
            if (new.drop_number, new.review_date) in store.reviews:
                taken.add(new.drop_number)
                continue
            row = store._insert(
                new.drop_number,
                new.review_date,
                new.project,
                new.user_name,
                new.submitted_by,
                new.whatsapp_message_date,
            )
            row.last_submitted_at, row.resubmitted = new.last_submitted_at, new.resubmitted
            store.writes.append((Outcome.CREATED, new.drop_number))
        rows = {r.id: r for r in store.reviews.values()}
        for sub in plan.resubmissions:
            row = rows[sub.review_id]
            row.resubmitted, row.incomplete, row.feedback_sent = True, False, None
            row.submitted_by, row.user_name = sub.submitted_by, sub.user_name
            row.last_submitted_at = sub.last_submitted_at
            store.writes.append((Outcome.RESUBMITTED, sub.drop_number))
        store.saved = self._position
        store._step(Phase.COMMITTED, self._attempt)
        return len(self._found) - self._fresh, mark_taken(plan, taken) if taken else plan


# -- what the loop reports -------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    level: str
    event: str
    fields: dict[str, Any]


class RecordingLog:
    """A Log that keeps every line: level, event and its key=value context."""

    def __init__(self) -> None:
        self.lines: list[Line] = []

    def _keep(self, level: str, event: str, kw: dict[str, Any]) -> None:
        self.lines.append(Line(level, event, kw))

    def debug(self, event: str, *args: Any, **kw: Any) -> None:
        self._keep("debug", event, kw)

    def info(self, event: str, *args: Any, **kw: Any) -> None:
        self._keep("info", event, kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> None:
        self._keep("warning", event, kw)

    def error(self, event: str, *args: Any, **kw: Any) -> None:
        self._keep("error", event, kw)

    def having(self, text: str) -> list[Line]:
        """The lines whose event contains `text`, in order."""
        return [line for line in self.lines if text in line.event]

    def events(self) -> list[str]:
        return [line.event for line in self.lines]


@dataclass
class RecordingNotifier:
    """A Notifier that keeps what the loop told the service manager."""

    keepalive: float | None = None
    readies: int = 0
    statuses: list[str] = field(default_factory=list)
    pings: list[float] = field(default_factory=list)  # when (time.monotonic) each came

    def ready(self) -> None:
        self.readies += 1

    def status(self, text: str) -> None:
        self.statuses.append(text)

    def watchdog(self) -> None:
        self.pings.append(time.monotonic())


# -- everything together ---------------------------------------------------------------------


@dataclass
class World:
    """A bridge, a store, a log and a notifier, and the loop run over them in virtual time."""

    clock: VirtualClock
    bridge: FakeBridge
    store: FakeStore = field(default_factory=FakeStore)
    log: RecordingLog = field(default_factory=RecordingLog)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    projects: Mapping[str, str] = field(default_factory=lambda: dict(GROUPS))
    bots: frozenset[str] = frozenset()
    tz: tzinfo = JOHANNESBURG
    stop: StopEvent = field(init=False)

    POLL_SECONDS = 0.001

    def __post_init__(self) -> None:
        self.stop = StopEvent(self.clock)

    @classmethod
    def make(cls, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> World:
        span = kw.pop("span", 100)
        groups = kw.get("projects", GROUPS)
        return cls(VirtualClock.install(monkeypatch), FakeBridge(groups=groups, span=span), **kw)

    def run(
        self,
        *,
        once: bool,
        between: Sequence[Action] = (),
        give_up_after: float = 60.0,
        idle_interval: float | None = None,
    ) -> Totals:
        """The loop over this world, with a fresh stop event as a fresh process has. In daemon
        mode each idle wait runs the next of `between`; the one after the last stops it."""
        self.stop = StopEvent(self.clock)
        self.waker = ScriptedWaker(self.stop, *between)
        return loop.run(
            source=self.bridge,
            sink=self.store,
            rules=loop.Rules(projects=self.projects, bot_senders=self.bots, tz=self.tz),
            stop=self.stop,
            poll_interval=self.POLL_SECONDS,
            idle_interval=idle_interval,
            once=once,
            waker=None if once else self.waker,
            notifier=self.notifier,
            log=self.log,
            give_up_after=give_up_after,
        )

    def sigterm(self) -> None:
        """What the signal handler does: set the running loop's stop event."""
        self.stop.set()

    def watch(self, projects: Mapping[str, str]) -> None:
        """The config now enables these groups (the bridge reads them, the rules know them)."""
        self.projects = dict(projects)
        self.bridge.groups = frozenset(projects)

    def drops(self) -> set[str]:
        return {r.drop_number for r in self.store.reviews.values()}


# -- the reply sender's ports (Outbox, Poster, Echoes) and its clock -----------------------


class SenderClock:
    """The sender's waits pass at once and move virtual time by what they asked for."""

    def __init__(self) -> None:
        self.now = 0.0

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        self.now += timeout
        return False


@dataclass
class OutboxRow:
    message: OutboxMessage
    state: str = "pending"
    not_before: float = 0.0


@dataclass
class FakeOutbox:
    """The outbox as outbox.sql keeps it, in memory: one reply in flight per group, retries
    after their delay (virtual time), finishes recorded in order."""

    clock: SenderClock = field(default_factory=SenderClock)
    rows: list[OutboxRow] = field(default_factory=list)
    left: list[OutboxMessage] = field(default_factory=list)  # 'sending', its sender gone
    done: list[tuple[str, Delivery | str]] = field(default_factory=list)
    sent: list[OutboxMessage] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(default_factory=threading.Condition)
    held_calls: list[tuple[int, int]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # the retry delays settle() applied
    routes: list[tuple[str, str]] = field(default_factory=list)  # (drop, bridge) before posts

    def add(self, *messages: OutboxMessage) -> FakeOutbox:
        self.rows += [OutboxRow(m) for m in messages]
        return self

    def stranded(self) -> list[OutboxMessage]:
        left, self.left = self.left, []
        return left

    def expire(self, window_s: float) -> int:
        return 0

    def hold(self, per_sender: int, per_group: int) -> int:
        self.held_calls.append((per_sender, per_group))
        return 0

    def claim(
        self, interval_s: float, window_s: float, *, per_sender: int, per_group: int
    ) -> OutboxMessage | None:
        with self.lock:
            busy = {r.message.chat_jid for r in self.rows if r.state == "sending"}
            for row in self.rows:
                due = row.not_before <= self.clock.now
                if row.state == "pending" and due and row.message.chat_jid not in busy:
                    row.state = "sending"
                    attempts = row.message.attempts + 1
                    row.message = replace(row.message, attempts=attempts)
                    return row.message
        return None

    def waiting(self) -> bool:
        return any(r.state == "pending" for r in self.rows)

    def unknown_through(self, bridge: str) -> list[OutboxMessage]:
        return [r.message for r in self.rows if r.state == "unknown" and r.message.bridge == bridge]

    def found_sent(self, m: OutboxMessage, bridge: str) -> bool:
        row = self._row(m)
        if row is None or row.state != "unknown":
            return False
        row.state = "sent"
        self.done.append((m.drop_number, Delivery.SENT))
        return True

    def route(self, m: OutboxMessage, bridge: str) -> bool:
        with self.lock:
            row = self._row(m)
            if row is None or row.state != "sending":
                return False
            row.message = replace(row.message, bridge=bridge)
            self.routes.append((m.drop_number, bridge))
            return True

    def _row(self, m: OutboxMessage) -> OutboxRow | None:
        return next((r for r in self.rows if r.message.id == m.id), None)

    def settle(self, m: OutboxMessage, delivery: Delivery, detail: str, status: int | None) -> None:
        retry_in_s = retry_in(m.attempts, delivery) if delivery.retry_is_safe else 0.0
        with self.lock:
            if delivery.retry_is_safe:
                self.waits.append(retry_in_s)
            self.done.append((m.drop_number, delivery))
            if delivery is Delivery.SENT:
                self.sent.append(m)
                self.sent_at[m.drop_number] = self.clock.now
            if (row := self._row(m)) is not None:
                row.state = "pending" if delivery.retry_is_safe else delivery.value
                row.not_before = self.clock.now + retry_in_s
        with self.changed:
            self.changed.notify_all()

    def wait_sent(self, *drops: str, timeout: float = 5.0) -> bool:
        """Wait (real time, for tests with real threads) until `drops` are all sent."""
        with self.changed:
            return self.changed.wait_for(lambda: set(drops) <= set(self.sent_at), timeout)

    def block(self, m: OutboxMessage, detail: str) -> None:
        self.done.append((m.drop_number, "blocked"))
        if (row := self._row(m)) is not None:
            row.state = "blocked"

    def sent_alike(self, m: OutboxMessage, since: datetime) -> int:
        return sum(1 for other in self.sent if other.id != m.id and other.text == m.text)


class FakePoster:
    """The Poster port (the bridge's send API, the SMTP relay): answers with the outcomes
    given, in order, as the bridge words them; keeps what was posted."""

    def __init__(self, *outcomes: Delivery) -> None:
        self.outcomes = list(outcomes)
        self.posted: list[tuple[str, str]] = []

    def send(self, recipient: str, text: str) -> SendResult:
        self.posted.append((recipient, text))
        outcome = self.outcomes.pop(0)
        return SendResult(
            outcome, f"bridge said {outcome.value}", 200 if outcome is Delivery.SENT else None
        )


class FakeEchoes:
    """messages.db as the sender asks it: the texts the bot is seen to have posted."""

    def __init__(self, *found: str) -> None:
        self.found = list(found)

    def posts(self, chat_jid: str, text: str, since: datetime) -> int:
        return self.found.count(text)


# -- a reviewer's Send: the feedback sends' claim store and the bridge's send API ----------


@dataclass
class FakeReview:
    """What a feedback claim reads of a review (reviewing.sql: lock_for_send)."""

    version: int
    project: str | None
    drop_number: str
    reviewed_at: datetime | None
    feedback_sent: datetime | None = None


@dataclass
class FakeFeedbackSends:
    """wa_monitor_feedback_sends as adapters/postgres/reviewing.FeedbackBook keeps it, in
    memory: one claim per verdict (the core's claim rules decide), a stamp only on the version
    the message was composed from. `fail_settle` makes the outcome's write fail, as a database
    gone between the post and the settling would."""

    now: Callable[[], datetime]
    reviews: dict[uuid.UUID, FakeReview] = field(default_factory=dict)
    sends: list[tuple[uuid.UUID, FeedbackSend]] = field(default_factory=list)
    fail_settle: Exception | None = None
    routes: list[tuple[int, str]] = field(default_factory=list)  # (send, bridge) before posts

    def add(self, review: FakeReview) -> uuid.UUID:
        review_id = uuid.uuid4()
        self.reviews[review_id] = review
        return review_id

    def of(self, review_id: uuid.UUID) -> list[FeedbackSend]:
        return [s for r, s in self.sends if r == review_id]

    def claim(self, request: FeedbackRequest, route: Callable[[str | None], str]) -> Claimed:
        review_id, version, by, message = (
            request.review_id,
            request.version,
            request.by,
            request.text,
        )
        review = self.reviews.get(review_id)
        if review is None:
            raise ReviewNotFound(f"no review {review_id}")
        if review.version != version:
            raise ChangedMeanwhile.by_reviewer(
                version=review.version, by="someone", at=self.now(), sent_feedback=False
            )
        recipient = route(review.project)
        holder = next(
            (
                s
                for s in reversed(self.of(review_id))
                if s.review_version == version
                and (
                    s.delivery in {None, Delivery.SENT}
                    or (
                        s.delivery is Delivery.UNKNOWN and s.resolution is not Resolution.NOT_POSTED
                    )
                )
            ),
            None,
        )
        refusal = claim_refusal(
            reviewed_at=review.reviewed_at,
            feedback_sent=review.feedback_sent,
            holder=holder if review.reviewed_at is not None else None,
            now=self.now(),
        )
        if refusal is not None:
            raise refusal
        send = FeedbackSend(
            id=len(self.sends) + 1,
            review_version=version,
            sent_by=by,
            claimed_at=self.now(),
            recipient=recipient,
            message=message,
        )
        self.sends.append((review_id, send))
        return Claimed(
            send.id,
            recipient,
            review.drop_number,
            review.project,
            review_id,
            version,
            by,
            message,
            send.claimed_at,
            request.bridge,
        )

    def route(self, claimed: Claimed, bridge: str) -> bool:
        self.routes.append((claimed.send_id, bridge))
        return any(s.id == claimed.send_id and s.delivery is None for _, s in self.sends)

    def sent_alike(self, claimed: Claimed, since: datetime) -> int:
        return sum(
            1
            for _, s in self.sends
            if s.id != claimed.send_id
            and s.recipient == claimed.recipient
            and s.message == claimed.text
            and s.delivery is Delivery.SENT
            and s.finished_at is not None
            and s.finished_at >= since
        )

    def settle(
        self, claimed: Claimed, delivery: Delivery, detail: str, status: int | None
    ) -> datetime | None:
        review_id, version, answer = claimed.review_id, claimed.version, detail
        if self.fail_settle is not None:
            raise self.fail_settle
        at = self.now()
        self.sends = [
            (
                r,
                replace(
                    s, delivery=delivery, finished_at=at, bridge_status=status, bridge_answer=answer
                ),
            )
            if s.id == claimed.send_id
            else (r, s)
            for r, s in self.sends
        ]
        review = self.reviews[review_id]
        if delivery is not Delivery.SENT or review.version != version:
            return None
        review.feedback_sent, review.version = at, review.version + 1
        return at


# -- the accounts service's users and login counts -----------------------------------------


@dataclass
class FakeUsers:
    """wa_monitor_users and wa_monitor_login_throttle as adapters/postgres/users.UserBook keeps
    them (sql/users.sql), in memory: a count per (username, block) and per block ('' as the
    username), each window starting again at one once it has passed."""

    now: Callable[[], datetime]
    where: str = "schema 'dev'"
    accounts: dict[str, Account] = field(default_factory=dict)
    counts: dict[tuple[str, str], tuple[int, datetime]] = field(default_factory=dict)
    logins: list[tuple[int, str | None]] = field(default_factory=list)

    def account(self, username: str) -> Account | None:
        return self.accounts.get(username)

    def _bump(self, key: tuple[str, str], window: timedelta) -> int:
        failures, started = self.counts.get(key, (0, self.now()))
        if started <= self.now() - window:
            failures, started = 0, self.now()
        self.counts[key] = (failures + 1, started)
        return failures + 1

    def count_attempt(self, username: str, block: str, window: timedelta) -> Attempts:
        return Attempts(self._bump((username, block), window), self._bump(("", block), window))

    def forgive(self, username: str, block: str) -> None:
        self.counts.pop((username, block), None)
        if ("", block) in self.counts:
            failures, started = self.counts["", block]
            self.counts["", block] = (max(failures - 1, 0), started)

    def logged_in(self, user_id: int, new_hash: str | None, *, checked_hash: str) -> None:
        self.logins.append((user_id, new_hash))
        for name, found in self.accounts.items():
            if found.user.id == user_id and new_hash and found.password_hash == checked_hash:
                self.accounts[name] = replace(found, password_hash=new_hash)

    def add(self, *, username: str, display_name: str, role: Role, password_hash: str) -> bool:
        if username in self.accounts:
            return False
        user = User(len(self.accounts) + 1, username, display_name, role, 1, None, None)
        self.accounts[username] = Account(user, password_hash)
        return True

    def _change(self, username: str, **user: Any) -> Account | None:
        found = self.accounts.get(username)
        if found is not None:
            found = self.accounts[username] = replace(found, user=replace(found.user, **user))
        return found

    def set_password(self, username: str, password_hash: str) -> bool | None:
        found = self.accounts.get(username)
        if found is None:
            return None
        epoch = found.user.session_epoch + 1
        self.accounts[username] = replace(
            found, user=replace(found.user, session_epoch=epoch), password_hash=password_hash
        )
        return found.user.active

    def enable(self, username: str) -> bool:
        return self._change(username, disabled_at=None) is not None

    def set_role(self, username: str, role: Role) -> bool:
        return self._change(username, role=role) is not None

    def disable(self, username: str) -> bool:
        return self._change(username, disabled_at=self.now()) is not None


# -- the review desk: what the review page, the review list and a reviewer's POSTs ask -------


@dataclass
class FakeDesk:
    """web/desk.py's Desk in memory, sharing its reviews' versions, verdict stamps and sends
    with `feedback` (the Send's claim store), as the database shares one row: a save moves the
    version the next Send must carry, a Send's stamp moves it again. Reviews are listed newest
    first by when they were sighted; filters are not applied (the SQL's, tested on PostgreSQL);
    a photo's step mark is kept on the photo (the table keeps one per review and photo). Of
    the filters, only the project and the status are applied (the queue's own).

    The day's figures are counted from the same reviews, by their review_date (the local day
    the SQL's summary counts them on): a save makes a review complete or incomplete, a stamp
    counts as feedback sent. Invalid drop numbers are what a test puts in `invalid`; the health
    is `state` (none: a monitor that is running and has caught up), read at `now`."""

    feedback: FakeFeedbackSends
    logins: FakeUsers | None = None  # the accounts a login checks (made in __post_init__)
    ended: list[tuple[int, int]] = field(default_factory=list)  # (user, epoch) logged out
    reviews: dict[uuid.UUID, Review] = field(default_factory=dict)
    sheets: dict[uuid.UUID, ReviewSheet] = field(default_factory=dict)
    trail: dict[uuid.UUID, list[ReviewChange]] = field(default_factory=dict)
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)
    bridge_messages: dict[tuple[str, str], BridgeMessage] = field(default_factory=dict)
    drop_photos: dict[str, list[DropPhoto]] = field(default_factory=dict)
    marks: dict[uuid.UUID, list[Presence]] = field(default_factory=dict)
    invalid: list[InvalidPost] = field(default_factory=list)
    state: Health | None = None
    served: dict[str, str] = field(default_factory=dict)  # a copy's key → its content type
    asked_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.logins = self.logins or FakeUsers(now=self.now)

    def _as_now(self, review: Review) -> Review:
        """The review as the list shows it now: its verdict and stamp as saved since."""
        sheet, row = self.sheets[review.id], self.feedback.reviews[review.id]
        verdict = sheet.verdict
        return replace(
            review,
            drop_number=sheet.drop_number,
            completed=sheet.reviewed_at is not None and verdict.completed,
            incomplete=sheet.reviewed_at is not None and verdict.incomplete,
            feedback_sent=row.feedback_sent,
        )

    def _on(self, first: date, last: date) -> list[Review]:
        return [self._as_now(r) for r in self.reviews.values() if first <= r.review_date <= last]

    def day_totals(self, first: date, last: date) -> list[DailyCount]:
        drops: dict[tuple[date, str], set[str]] = {}
        for r in self._on(first, last):
            if r.project is not None:
                drops.setdefault((r.review_date, r.project), set()).add(r.drop_number)
        return [DailyCount(d, p, len(n)) for (d, p), n in sorted(drops.items())]

    def day_cards(self, day: date) -> DayCards:
        on = self._on(day, day)
        return DayCards(
            len(on),
            sum(r.completed for r in on),
            sum(r.incomplete for r in on),
            sum(not (r.completed or r.incomplete) for r in on),
            sum(r.feedback_sent is not None for r in on),
            sum(r.resubmitted for r in on),
        )

    def invalid_posts(self, start: datetime, end: datetime, *, limit: int) -> InvalidDay:
        within = sorted(
            (p for p in self.invalid if start <= p.posted_at < end),
            key=lambda p: p.posted_at,
            reverse=True,
        )
        return InvalidDay(tuple(within[:limit]), len(within))

    def photo_day_counts(self, day: date) -> tuple[int, int]:
        drops = {r.drop_number for r in self._on(day, day)}
        shot = [len(self.drop_photos.get(d, [])) for d in drops]
        return sum(shot), sum(n < len(Step) for n in shot)

    def queue_counts(self, today: date) -> list[QueueCount]:
        bands: dict[str | None, list[int]] = {}
        for r in map(self._as_now, self.reviews.values()):
            if r.completed or r.incomplete:
                continue
            age = (today - r.review_date).days
            band = 0 if age <= 0 else 1 if age <= 2 else 2 if age <= 7 else 3
            bands.setdefault(r.project, [0, 0, 0, 0])[band] += 1
        return [QueueCount(p, *n) for p, n in sorted(bands.items(), key=lambda i: str(i[0]))]

    def health(self, now: datetime) -> Health:
        if self.state is not None:
            return self.state
        return Health(Level.OK, "The monitor is running.", True, 0, now, now, now, now)

    def now(self) -> datetime:
        return self.feedback.now()

    def accounts(self) -> FakeUsers:
        assert self.logins is not None
        return self.logins

    def add_user(self, username: str, role: Role, password_hash: str = "") -> User:
        logins = self.accounts()
        logins.add(
            username=username, display_name=username.title(), role=role, password_hash=password_hash
        )
        found = logins.account(username)
        assert found is not None
        return found.user

    def logged_out(self, user_id: int, epoch: int) -> None:
        self.ended.append((user_id, epoch))
        kept = self.accounts().accounts
        for name, found in kept.items():
            if found.user.id == user_id and found.user.session_epoch == epoch:
                kept[name] = replace(found, user=replace(found.user, session_epoch=epoch + 1))

    def add_review(
        self, drop_number: str, project: str = "Lawley", *, at: datetime | None = None
    ) -> uuid.UUID:
        """A review the monitor created (sighted `at`, now by default): awaiting a verdict, at
        version 1."""
        at = at or self.now()
        review_id = self.feedback.add(FakeReview(1, project, drop_number, None))
        self.reviews[review_id] = Review(
            review_id, drop_number, at.date(), project, "Agent", AGENT, at, at,
            (False,) * len(Step), False, False, False, None, None, None, 0, len(Step),
            at, at, at,
        )  # fmt: skip
        self.sheets[review_id] = ReviewSheet(
            review_id, drop_number, project, at.date(), "Agent", AGENT, at, False, None,
            Verdict.of(), None, None, 1, at,
        )  # fmt: skip
        return review_id

    def _row(self, review_id: uuid.UUID) -> FakeReview:
        if review_id not in self.feedback.reviews:
            raise ReviewNotFound(f"no review {review_id}")
        return self.feedback.reviews[review_id]

    def user(self, user_id: int) -> User | None:
        found = (a.user for a in self.accounts().accounts.values() if a.user.id == user_id)
        return next(found, None)

    def review(self, review_id: uuid.UUID) -> Review | None:
        if review_id not in self.reviews:
            return None
        row = self._row(review_id)
        return replace(self.reviews[review_id], feedback_sent=row.feedback_sent)

    def drop_history(self, drop_number: str) -> list[HistoryEntry]:
        return list(self.history.get(drop_number, []))

    def messages(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], BridgeMessage]:
        return {k: self.bridge_messages[k] for k in keys if k in self.bridge_messages}

    def sheet(self, review_id: uuid.UUID) -> ReviewSheet:
        row = self._row(review_id)
        return replace(self.sheets[review_id], version=row.version, feedback_sent=row.feedback_sent)

    def changes(self, review_id: uuid.UUID) -> tuple[ReviewChange, ...]:
        return tuple(self.trail.get(review_id, []))

    def sends(self, review_id: uuid.UUID) -> tuple[FeedbackSend, ...]:
        return tuple(reversed(self.feedback.of(review_id)))  # the newest first, as the page

    def who_changed(self, review_id: uuid.UUID, current: int) -> ChangedMeanwhile:
        made = next((c for c in self.trail.get(review_id, []) if c.version == current), None)
        if made is None:
            return self.sheets[review_id].changed_by_monitor(current)
        sent = any(field == "feedback_sent" for field, _, _ in made.changes)
        return ChangedMeanwhile.by_reviewer(
            version=current, by=made.changed_by, at=made.changed_at, sent_feedback=sent
        )

    def photos(self, drop_number: str, review_id: uuid.UUID | None) -> list[DropPhoto]:
        return list(self.drop_photos.get(drop_number, []))

    def photo_counts(self, drops: Sequence[str]) -> dict[str, int]:
        return {d: len(self.drop_photos[d]) for d in drops if self.drop_photos.get(d)}

    def servable(self, key: str) -> str | None:
        self.asked_keys.append(key)
        return self.served.get(key)

    def mark_photo_step(
        self, review_id: uuid.UUID, photo_id: int, step: int | None, *, by: str
    ) -> None:
        drop = self.reviews[review_id].drop_number
        self.drop_photos[drop] = [
            replace(p, step=step) if p.id == photo_id else p for p in self.drop_photos[drop]
        ]

    def _ordered(self) -> list[Review]:
        return sorted(self.reviews.values(), key=lambda r: (r.sighted_at, r.id), reverse=True)

    def review_page(
        self,
        where: ReviewFilter,
        *,
        size: int,
        older: Keyset | None,
        newer: Keyset | None,
        oldest_first: bool = False,
    ) -> ReviewPage:
        shown = [
            r
            for r in map(self._as_now, self._ordered()[:: -1 if oldest_first else 1])
            if where.project in {None, r.project} and where.status in {None, r.status}
        ]
        return ReviewPage(
            tuple(shown[:size]), shown[size - 1].keyset if len(shown) > size else None, None
        )

    def neighbours(
        self, where: ReviewFilter, at: Keyset, *, oldest_first: bool
    ) -> tuple[Review | None, Review | None]:
        order = self._ordered()[:: -1 if oldest_first else 1]
        ids = [r.id for r in order]
        i = ids.index(at.id)
        return (order[i - 1] if i > 0 else None), (order[i + 1] if i + 1 < len(order) else None)

    def mark_open(self, review_id: uuid.UUID, username: str) -> None:
        kept = [p for p in self.marks.get(review_id, []) if p.username != username]
        self.marks[review_id] = [Presence(username, self.now()), *kept]

    def leave(self, review_id: uuid.UUID, username: str) -> None:
        self.marks[review_id] = [p for p in self.marks.get(review_id, []) if p.username != username]

    def present(self, review_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Presence]]:
        return {r: list(self.marks[r]) for r in review_ids if self.marks.get(r)}

    def _changed(self, review_id: uuid.UUID, by: str, *what: tuple[str, str, str]) -> int:
        row = self._row(review_id)
        row.version += 1
        self.trail.setdefault(review_id, []).insert(
            0, ReviewChange(row.version, by, self.now(), what)
        )
        return row.version

    def save(self, review_id: uuid.UUID, *, verdict: Verdict, version: int, by: str) -> int:
        row = self._row(review_id)
        if row.version != version:
            raise self.who_changed(review_id, row.version)
        row.reviewed_at = self.now()
        self.sheets[review_id] = replace(
            self.sheets[review_id], verdict=verdict, reviewed_by=by, reviewed_at=row.reviewed_at
        )
        return self._changed(review_id, by, ("verdict", "", "saved"))

    def resolve(
        self, review_id: uuid.UUID, send_id: int, *, resolution: Resolution, by: str
    ) -> bool:
        found = [(r, s) for r, s in self.feedback.sends if s.id == send_id and r == review_id]
        if not found or found[0][1].resolution is not None:
            return False
        resolved = replace(found[0][1], resolution=resolution, resolved_by=by)
        self.feedback.sends = [
            (r, resolved if s.id == send_id else s) for r, s in self.feedback.sends
        ]
        row = self._row(review_id)
        if resolution is Resolution.POSTED and row.version == resolved.review_version:
            row.feedback_sent = self.now()
            self._changed(review_id, by, ("feedback_sent", "", "posted"))
        return True

    def correct_drop(
        self,
        review_id: uuid.UUID,
        *,
        drop: str,
        reason: str,
        version: int,
        by: str,
        planned: bool,
    ) -> Corrected:
        if review_id not in self.feedback.reviews:
            return Corrected(Correction.MISSING, None, None)
        if self._row(review_id).version != version:
            return Corrected(Correction.CHANGED, None, None)
        sheet = self.sheets[review_id]
        if sheet.drop_number == drop:
            return Corrected(Correction.SAME, None, None)
        other = next(
            (
                r.id
                for r in self.reviews.values()
                if r.drop_number == drop and r.review_date == sheet.review_date
            ),
            None,
        )
        if other is not None:
            return Corrected(Correction.TAKEN, other, None)
        self.sheets[review_id] = replace(sheet, drop_number=drop)
        self.reviews[review_id] = replace(self.reviews[review_id], drop_number=drop)
        self._row(review_id).drop_number = drop
        new = self._changed(review_id, by, ("drop_number", sheet.drop_number, drop))
        return Corrected(Correction.CORRECTED, None, new)


# -- the alerts' incidents ---------------------------------------------------------------------


@dataclass
class FakeIncidents:
    """wa_monitor_alerts as adapters/postgres/alerts.py keeps it (sql/alerts.sql), in memory:
    one incident per kind, the channels each message is claimed on and carried by. `turns`
    counts the turns (transactions); `posting` is True while a post is in flight, and a turn
    taken then fails the test (nothing is posted inside a transaction)."""

    now: Callable[[], datetime]
    rows: dict[Incident, Known] = field(default_factory=dict)
    claimed_at: dict[Incident, datetime] = field(default_factory=dict)
    turns: int = 0
    in_turn: bool = False

    @contextmanager
    def turn(self) -> Iterator[FakeIncidents]:
        assert not self.in_turn, "a turn inside a turn"
        self.turns += 1
        self.in_turn = True
        try:
            yield self
        finally:
            self.in_turn = False

    def _set(self, kind: Incident, **changed: Any) -> None:
        if kind in self.rows:
            self.rows[kind] = replace(self.rows[kind], **changed)

    def settle_stale(self) -> None:
        for kind, row in list(self.rows.items()):
            if row.in_flight and self.claimed_at[kind] < self.now() - STALE_ALERT_CLAIM:
                self._set(
                    kind,
                    opened_via=row.opened_via + row.opening,
                    resolved_via=row.resolved_via + row.recovering,
                    opening=(),
                    recovering=(),
                )

    def known(self) -> dict[Incident, Known]:
        return dict(sorted(self.rows.items(), key=lambda kv: (kv[1].opened_at, kv[0])))

    def apply(self, change: IncidentChange, kind: Incident, detail: str) -> None:
        if change is IncidentChange.OPEN:
            self.rows.setdefault(kind, Known(kind, detail, self.now()))
        elif change is IncidentChange.REOPEN:
            self._set(kind, resolved_at=None, resolved_via=())
        elif self.rows.get(kind) and self.rows[kind].resolved_at is None:
            self._set(kind, resolved_at=self.now())

    def claim(self, message: AlertMessage) -> None:
        row, self.claimed_at[message.kind] = self.rows[message.kind], self.now()
        if message.recovery:
            self._set(message.kind, recovering=(*row.recovering, message.channel))
        else:
            self._set(message.kind, opening=(*row.opening, message.channel))

    def close(self, kind: Incident) -> None:
        self.rows.pop(kind, None)

    def sent_alike(self, claim: ClaimedAlert, since: datetime) -> int:
        return 0

    def settle(
        self, claim: ClaimedAlert, delivery: Delivery, detail: str, status: int | None
    ) -> None:
        assert not self.in_turn
        with self.turn():
            m, row = claim.message, self.rows[claim.message.kind]
            carried = () if delivery.retry_is_safe else (m.channel,)
            if m.recovery:
                left = tuple(c for c in row.recovering if c != m.channel)
                self._set(m.kind, recovering=left, resolved_via=row.resolved_via + carried)
            else:
                left = tuple(c for c in row.opening if c != m.channel)
                self._set(m.kind, opening=left, opened_via=row.opened_via + carried)


# -- the SharePoint sync: its record in the schema, and the sheet ----------------------------


@dataclass
class FakeSyncBook:
    """services/sharepoint.SyncBook in memory: the daily counts a test gives in `totals`, and
    every row the sync recorded (`recorded`: (where, day, project, drops, action))."""

    totals: list[DailyCount] = field(default_factory=list)
    recorded: list[tuple[str, date, str, int, str]] = field(default_factory=list)

    def counts(self, first: date, last: date) -> list[DailyCount]:
        return [c for c in self.totals if first <= c.day <= last]

    def written(self, where: str, first: date, last: date) -> list[tuple[date, str]]:
        keys = {(d, p) for w, d, p, _, _ in self.recorded if w == where and first <= d <= last}
        return sorted(keys)

    def record(self, write: Write, *, kind: TargetKind, where: str) -> None:
        total = write.total
        self.recorded.append((where, total.day, total.project, total.drops, write.kind.value))


@dataclass
class FakeSheet:
    """core/ports.SheetTarget in memory: a worksheet's cells by row (date, project, count),
    `fails_after` writes carried out before its API goes away (None: never)."""

    cells: dict[int, tuple[object, object, object]] = field(default_factory=dict)
    fails_after: int | None = None
    kind: TargetKind = TargetKind.XLSX
    where: str = "memory.xlsx"

    def read(self) -> Sheet:
        return read_sheet([list(self.cells.get(i, ("", "", ""))) for i in range(1, self.last + 1)])

    @property
    def last(self) -> int:
        return max(self.cells, default=0)

    def apply(self, plan: SheetPlan) -> Iterator[Write]:
        if plan.header_row is not None:
            self.cells[plan.header_row] = HEADER
        for n, write in enumerate(plan.writes):
            if self.fails_after is not None and n >= self.fails_after:
                raise TransientError("the workbook's API went away")
            total = write.total
            self.cells[write.row] = (total.day.isoformat(), total.project, total.drops)
            yield write


# -- what status measures: the schema's figures and the bridge's file ------------------------


@dataclass
class FakeFigures:
    """services/status.Figures in memory: a migrated schema with a monitor running, nothing
    waiting, unless a test says otherwise; `unreadable` is the bridge file's error."""

    state: SchemaState = field(default_factory=lambda: SchemaState("public", LATEST, LATEST))
    holder: LockHolder | None = field(
        default_factory=lambda: LockHolder(4242, "wa-monitor-prod", None, datetime.now(UTC))
    )
    reviews: ReviewCounts = field(default_factory=lambda: ReviewCounts(0, 0, None))
    done: Progress = field(default_factory=lambda: Progress(None, None, 0, None, None))
    bridge_rows: list[BridgeProgress] = field(default_factory=list)
    flawed: int = 0
    skipped: list[SkippedSender] = field(default_factory=list)
    replies: RepliesDay = field(default_factory=lambda: RepliesDay(0, 0, 0))
    pending: int = 0
    newest: datetime | None = None
    unreadable: BridgeError | None = None
    asked: list[str] = field(default_factory=list)  # what was read, in order

    def schema_state(self) -> SchemaState:
        self.asked.append("schema")
        return self.state

    def lock_holder(self) -> LockHolder | None:
        return self.holder

    def review_counts(self, today: date) -> ReviewCounts:
        self.asked.append("reviews")
        return self.reviews

    def progress(self, bridge: str) -> Progress:
        return self.done

    def bridges(self) -> list[BridgeProgress]:
        return list(self.bridge_rows)

    def flawed_rows(self) -> int:
        return self.flawed

    def skipped_since(self, since: datetime) -> list[SkippedSender]:
        return [s for s in self.skipped if s.last_sent_at >= since]

    def replies_day(self, start: datetime, until: datetime) -> RepliesDay:
        self.asked.append("replies")
        return self.replies

    def backlog(self, cursor_rowid: int) -> tuple[int, datetime | None]:
        self.asked.append("bridge")
        if self.unreadable is not None:
            raise self.unreadable
        return self.pending, self.newest


# -- what doctor asks the database -------------------------------------------------------------


@dataclass
class FakeExamined:
    """services/doctor.Examined in memory: a current schema, a role holding exactly what its
    service needs, unless a test says otherwise; `failing` maps a question (a method's name) to
    the translated error it raises."""

    state: SchemaState = field(default_factory=lambda: SchemaState("public", LATEST, LATEST))
    audited: Audit = field(default_factory=lambda: Audit("wa_monitor", (), (), ()))
    plans: dict[str, int] = field(default_factory=dict)
    flawed: int = 0
    failing: dict[str, Exception] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)  # the services audited

    def _ask(self, question: str) -> None:
        if question in self.failing:
            raise self.failing[question]

    def whoami(self) -> tuple[str, str, str]:
        self._ask("whoami")
        return ("wa_monitor", "wa", "15.8")

    def schema_state(self) -> SchemaState:
        self._ask("schema_state")
        return self.state

    def audit(self, service: Service) -> Audit:
        self._ask("audit")
        self.services.append(service)
        return self.audited

    def plan_sizes(self, projects: Sequence[str]) -> dict[str, int]:
        self._ask("plan_sizes")
        return {p: n for p, n in self.plans.items() if p in projects and n}

    def flawed_rows(self) -> int:
        self._ask("flawed_rows")
        return self.flawed


# -- the review list's CSV export ---------------------------------------------------------------


@dataclass
class FakeExportRows:
    """web/exports.ExportRows on the desk's reviews (filtered as FakeDesk filters them), `size`
    a batch; `opened` and `closed` count the exports' connections."""

    desk: FakeDesk
    size: int = 2
    opened: int = 0
    closed: int = 0

    @asynccontextmanager
    async def batches(
        self, where: ReviewFilter
    ) -> AsyncIterator[AsyncGenerator[list[Review], None]]:
        shown = self.desk.review_page(where, size=len(self.desk.reviews), older=None, newer=None)
        rows = list(shown.reviews)

        async def batches() -> AsyncGenerator[list[Review], None]:
            for i in range(0, len(rows), self.size):
                yield rows[i : i + self.size]

        self.opened += 1
        try:
            yield batches()
        finally:
            self.closed += 1


# -- the Quality page's figures ------------------------------------------------------------------


def no_figures() -> Quality:
    """A range without drops, as the summary answers it: only the total's row, all zero."""
    total = ProjectQuality(None, 0, 0, 0, None, 0, None, 0, None, 0, None, None)
    return Quality((total,), (), (), (LoopTimes(None, *(None,) * 10),))


@dataclass
class FakeQualityReads:
    """web/quality_reads.QualityReads in memory: the figures a test gives per range (its first
    and last local day), a range without any as one without drops; the period before without
    its failing steps and agents, and the weeks of the days asked for, as PgQualityReads reads
    them. `asked` holds each read's (range, period before, weeks) as (first, last) pairs."""

    ranges: dict[tuple[date, date], Quality] = field(default_factory=dict)
    weeks: list[Week] = field(default_factory=list)
    asked: list[tuple[tuple[date, date], ...]] = field(default_factory=list)

    def figures(self, shown: Span, before: Span, weeks: Span) -> QualityFigures:
        self.asked.append(tuple((s.first, s.last) for s in (shown, before, weeks)))
        now = self.ranges.get((shown.first, shown.last)) or no_figures()
        past = self.ranges.get((before.first, before.last)) or no_figures()
        kept = tuple(w for w in self.weeks if weeks.first <= w.week <= weeks.last)
        return QualityFigures(now, replace(past, steps=(), agents=()), kept)
