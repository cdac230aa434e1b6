"""The loop: read the bridge, apply sightings, wait for more. Depends on ports, not adapters."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import TypeVar

import tenacity
import tenacity.stop

from wa_monitor.core import photos, reviews, validation
from wa_monitor.core.ports import (
    BatchWrite,
    EventWaker,
    Log,
    LogLines,
    Notifier,
    NullNotifier,
    PlainLines,
    Planner,
    Sink,
    Source,
    Waker,
)
from wa_monitor.core.records import (
    START,
    BridgeBatch,
    BridgePosition,
    Decision,
    Flaw,
    PhotoRows,
    Plan,
    PlanLists,
    ReviewState,
    Sighting,
    Skip,
    SkipReason,
)
from wa_monitor.core.report import (
    APPLIED,
    FLAW_LINES,
    Totals,
    describe_cycle,
    describe_newest,
    log_decisions,
)
from wa_monitor.errors import Rescan, RowRefused, Standby, TransientError

T = TypeVar("T")
PROGRESS_EVERY_SECONDS = 10.0
# While idle the position is saved this often anyway: its read_at tells status (and alerts)
# that the monitor still reads the bridge. One UPDATE a minute keeps idle CPU near nothing.
HEARTBEAT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Rules:
    projects: Mapping[str, str]  # group JID → project name
    bot_senders: frozenset[str]
    tz: tzinfo
    policy: validation.Policy = field(default_factory=validation.Policy)
    own_account_posts_drops: bool = False
    photos: bool = False  # record the batch's photos and videos (the sink ties them to drops)


def retry_policy(
    *,
    stop: threading.Event,
    log: Log,
    give_up_after: float,
    max_attempts: int = 1000,
    notifier: Notifier | None = None,
) -> tenacity.Retrying:
    """The one retry policy: transient errors only, exponential backoff with jitter, bounded."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "⏳ waiting to retry",
            error=str(exc),
            attempt=state.attempt_number,
            wait_s=round(wait, 1),
        )
        if notifier is not None:
            notifier.status(f"retrying (attempt {state.attempt_number}): {exc}")

    class stopping(tenacity.stop.stop_base):  # noqa: N801 - reads like tenacity's own stop_* names
        def __call__(self, _: tenacity.RetryCallState) -> bool:
            return stop.is_set()

    def pause(seconds: float) -> None:
        wait_alive(stop, seconds, notifier)  # a stop request cuts the wait short

    return tenacity.Retrying(
        # A standby is not a failure to back off from: the loop waits for it (see run()).
        retry=tenacity.retry_if_exception_type(TransientError)
        & tenacity.retry_if_not_exception_type(Standby),
        wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=30.0, jitter=1.0),
        stop=tenacity.stop_any(
            tenacity.stop_after_delay(give_up_after),
            tenacity.stop_after_attempt(max_attempts),
            stopping(),
        ),
        sleep=pause,
        before_sleep=before_sleep,
        reraise=True,
    )


def run(
    *,
    source: Source,
    sink: Sink,
    rules: Rules,
    stop: threading.Event,
    poll_interval: float,
    once: bool,
    waker: Waker | None = None,
    notifier: Notifier | None = None,
    log: Log,
    lines: LogLines | None = None,
    give_up_after: float = 600.0,
    replies_written: Callable[[], None] | None = None,
    photos_recorded: Callable[[], None] | None = None,
    idle_interval: float | None = None,
) -> Totals:
    """Apply every new bridge message until caught up (`once`) or until `stop` is set.

    Caught up, the loop waits on `waker` for `idle_interval` (default: `poll_interval`); a
    waker that is told of the bridge's writes can be given the heartbeat's minute, so that
    an idle daemon wakes once a minute rather than at every poll.

    Transient failures are retried with backoff; in daemon mode a failure that outlasts the
    retry policy is logged and the loop tries again, so nothing is skipped while a side is away.
    `replies_written` is called after a batch that left replies in the outbox has committed
    (it wakes the sender); `photos_recorded` after a batch that recorded photos (it wakes the
    photo fetcher). Returns the totals of the whole run.
    """
    loop = _Loop(
        source=source,
        sink=sink,
        rules=rules,
        stop=stop,
        notifier=notifier or NullNotifier(),
        log=log,
        lines=lines or PlainLines(),
        give_up_after=give_up_after,
        replies_written=replies_written,
        photos_recorded=photos_recorded,
    )
    waker = waker or EventWaker(stop)
    standing_by = False
    while not stop.is_set():
        try:
            caught_up = loop.step()
        except Standby as exc:
            if once:
                raise
            if not standing_by:  # one line for the whole wait; "resuming" ends it
                loop.log.warning("⏸ standing by until the other instance stops", reason=str(exc))
                loop.notifier.status(f"standby: {exc}")
                standing_by = True
            loop.position = None  # the other instance moved the cursor: read it on takeover
            wait_alive(stop, poll_interval, loop.notifier)  # alive and waiting is healthy
            continue
        except TransientError as exc:
            if stop.is_set():  # asked to stop while retrying: not a failure, nothing applied
                loop.log.info("stopping with the batch not applied", error=str(exc))
                break
            if once:
                raise
            loop.log.error("❌ still failing; will keep trying", error=str(exc))
            loop.notifier.status(f"failing: {exc}")
            wait_alive(stop, poll_interval, loop.notifier)
            continue
        standing_by = False
        if caught_up:
            if once:
                break
            # An idle wait never outlasts the watchdog: the next step pings it.
            keepalive = loop.notifier.keepalive
            idle = poll_interval if idle_interval is None else idle_interval
            waker.wait(idle if keepalive is None else min(idle, keepalive))
    try:
        loop.settle()  # stopped mid-backlog: the batch in hand is finished, not dropped
    except TransientError as exc:
        loop.log.info("stopping with the batch not applied", error=str(exc))
    finally:
        loop.write_held()
    return loop.overall


def _with_newest(batch: BridgeBatch, before: BridgePosition | None) -> BridgeBatch:
    """The batch, its position carrying the newest message time read so far."""
    times = [m.sent_at for m in batch.messages]
    if batch.photo_rows is not None:
        times.append(batch.photo_rows.last)
    if before is not None and before.newest_at is not None:
        times.append(before.newest_at)
    if not times:
        return batch
    newest = max(times)
    if newest == batch.position.newest_at:
        return batch
    return replace(batch, position=replace(batch.position, newest_at=newest))


def wait_alive(stop: threading.Event, seconds: float, notifier: Notifier | None) -> None:
    """Wait `seconds` or until `stop`, pinging the watchdog at least every keepalive.

    Only a loop that is stuck stops pinging; one that is waiting on purpose never does.
    """
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        keepalive = None
        if notifier is not None:
            notifier.watchdog()
            keepalive = notifier.keepalive
        left = deadline - time.monotonic()
        if left <= 0:
            return
        stop.wait(left if keepalive is None else min(left, keepalive))


@dataclass(frozen=True, slots=True)
class _Planned:
    """What one attempt at a batch's transaction planned: its new sightings' decisions."""

    fresh: int  # sightings of messages the ledger did not hold yet
    plan: Plan


@dataclass
class _InFlight:
    """A batch whose transaction is on its way: sent, not yet known to be committed."""

    batch: BridgeBatch
    found: Sequence[Sighting]
    start: BridgePosition  # where reading starts again if it is not applied
    applying: BatchWrite | None
    error: Exception | None  # what the pipelined attempt already ran into
    tried: list[_Planned]  # every attempt's plan, oldest first
    media: Sequence[photos.Photo] = ()  # the batch's photos, recorded with it
    plain: PhotoRows | None = None  # and its plain photo rows, as the bridge handed them over

    def outcome(self, replays: int, plan: Plan) -> tuple[int, Plan]:
        """What the batch did, from the attempt that succeeded.

        When that attempt found every message already in the ledger but an earlier attempt had
        new ones, the earlier one committed and only its answer was lost (a batch is one
        transaction, and only this instance writes): its plan is what happened, and its
        reviews get their lines.
        """
        if self.tried and self.tried[-1].fresh == 0:
            for earlier in reversed(self.tried[:-1]):
                if earlier.fresh:
                    return len(self.found) - earlier.fresh, earlier.plan
        return replays, plan


class _Loop:
    """Reads, applies and logs batches, overlapping the database's work with its own.

    While batch k commits, batch k+1 is read from the bridge; while k+1's claim and locks run,
    k's log lines are written. Batch k is still one transaction, its lines come out only once
    it has committed, and a batch that fails is read again from its start.
    """

    def __init__(
        self,
        *,
        source: Source,
        sink: Sink,
        rules: Rules,
        stop: threading.Event,
        notifier: Notifier,
        log: Log,
        lines: LogLines,
        give_up_after: float,
        replies_written: Callable[[], None] | None = None,
        photos_recorded: Callable[[], None] | None = None,
    ) -> None:
        self.source, self.sink, self.rules = source, sink, rules
        self.replies_written, self.photos_recorded = replies_written, photos_recorded
        self.unlisted: set[str] = set()  # validating projects found with an empty list
        self.notifier, self.log, self.lines = notifier, log, lines
        self.policy = retry_policy(
            stop=stop, log=log, give_up_after=give_up_after, notifier=notifier
        )
        self.position: BridgePosition | None = None  # where the next read starts
        self.in_flight: _InFlight | None = None
        self.held: list[tuple[Sequence[Decision], BridgeBatch]] = []  # committed, not yet logged
        self.ready = False
        self.last_cycle = "nothing applied yet"  # for STATUS=, until a cycle does work
        self.last_drop = ""
        self.last_applied: Sequence[Decision] = ()  # the newest batch that applied a drop
        self.overall = Totals()
        self.cycle = Totals()
        self.told_skips: set[tuple[str, SkipReason]] = set()  # each skipped sender told once
        self.last_progress = time.monotonic()
        self.saved_at = float("-inf")  # when the position (and read_at) was last saved

    def plan(
        self, found: Sequence[Sighting], existing: Mapping[str, ReviewState], lists: PlanLists
    ) -> Plan:
        plan = validation.plan(found, existing, lists, policy=self.rules.policy, tz=self.rules.tz)
        self.unlisted.update(plan.unlisted)
        return plan

    def planner(self, tried: list[_Planned]) -> Planner:
        """plan(), noting each plan in `tried`."""

        def noted(
            found: Sequence[Sighting], existing: Mapping[str, ReviewState], lists: PlanLists
        ) -> Plan:
            plan = self.plan(found, existing, lists)
            tried.append(_Planned(len(found), plan))
            return plan

        return noted

    def step(self) -> bool:
        """Read one batch and send it on its way; True when the bridge has nothing more for now
        (and everything read is then committed and logged)."""
        try:
            return self._step()
        finally:
            self.write_held()  # whatever happens, a committed batch's lines come out

    def _step(self) -> bool:
        if self.position is None:
            # load_position also checks the schema
            self.position = self._resume(self.policy(self.sink.load_position))
            # After a standby's wait, this is the line that says it took over.
            self.log.info("resuming", rowid=self.position.rowid)
        if self.cycle.scanned == 0:
            self.cycle.started = time.monotonic()  # a cycle's time leaves out the idle wait
        try:
            batch = _with_newest(self._read(), self.position)
        except Rescan as signal:
            self.log.warning("🔁 rescanning the bridge from the start", reason=str(signal))
            self.position = START
            return False
        if not self.ready:  # both sides answered and the schema is the one we know
            self.notifier.ready()
            self.ready = True
        skipped: list[Skip] = []
        found = reviews.sightings(
            batch.messages,
            projects=self.rules.projects,
            bot_senders=self.rules.bot_senders,
            tz=self.rules.tz,
            own_account_posts_drops=self.rules.own_account_posts_drops,
            skipped=skipped,
        )
        if skipped:
            self._tell_skips(skipped)
            self.policy(self.sink.record_skips, skipped)
        media = (
            photos.photos_of(
                batch.messages,
                projects=self.rules.projects,
                bot_senders=self.rules.bot_senders,
                own_account_posts_drops=self.rules.own_account_posts_drops,
            )
            if self.rules.photos
            else []
        )
        plain = (
            photos.plain_rows(
                batch.photo_rows,
                projects=self.rules.projects,
                bot_senders=self.rules.bot_senders,
            )
            if self.rules.photos
            else None
        )
        if found or media or plain:
            self._send(batch, found, media, plain)
        else:
            stale = time.monotonic() - self.saved_at >= HEARTBEAT_SECONDS
            if batch.position != self.position or stale:
                self.policy(self.sink.save_position, batch.position)
                self.saved_at = time.monotonic()
            self._done(batch, found, 0, ())
        self.position = batch.position
        if batch.caught_up:
            self.settle()  # nothing to read meanwhile: the drop should show now
            self._report(caught_up=True)
        return batch.caught_up

    def _tell_skips(self, skipped: Sequence[Skip]) -> None:
        """Count the skipped messages that name a drop, and say once per sender why."""
        for totals in (self.cycle, self.overall):
            totals.skipped += len(skipped)
        for skip in skipped:
            if (skip.phone, skip.reason) in self.told_skips:
                continue
            self.told_skips.add((skip.phone, skip.reason))
            self.log.warning(
                f"⚠️ skipping drop messages from {skip.phone}: {skip.reason.value}",
                project=self.rules.projects.get(skip.chat_jid),
                chat=skip.chat_jid,
            )

    def _read(self) -> BridgeBatch:
        """The next batch, read while the batch before commits, which is then settled.

        With a batch in flight the read gets one try: a bridge that fails must not keep the
        database transaction open through the retries. It is retried once the batch is in.
        """
        assert self.position is not None  # noqa: S101 - step() resumes first
        if self.in_flight is None:
            return self.policy(self.source.read, self.position)
        batch = None
        try:
            batch = self.source.read(self.position)
        except TransientError:
            pass
        finally:
            self.settle()
        return batch if batch is not None else self.policy(self.source.read, self.position)

    def _send(
        self,
        batch: BridgeBatch,
        found: Sequence[Sighting],
        media: Sequence[photos.Photo],
        plain: PhotoRows | None,
    ) -> None:
        """Start the batch's transaction, write the last batch's lines while its claim runs,
        then plan it and send its writes. A failure here is kept for settle() to retry."""
        assert self.position is not None  # noqa: S101 - step() resumes first
        applying: BatchWrite | None = None
        error: Exception | None = None
        tried: list[_Planned] = []
        try:
            applying = self.sink.start(found, batch.position, media, plain)
            self.write_held()
            applying.plan(self.planner(tried))
        except Exception as exc:  # noqa: BLE001 - raised again by settle(), through the policy
            error = exc
        self.in_flight = _InFlight(
            batch, found, self.position, applying, error, tried, media, plain
        )

    def settle(self) -> None:
        """Wait for the batch in flight to commit, retrying it whole if it failed; its lines
        are then held for write_held(). If it cannot be applied, it is read again later."""
        flight, self.in_flight = self.in_flight, None
        if flight is None:
            return
        first = True

        def attempt() -> tuple[int, Plan]:
            nonlocal first
            if first:  # the pipelined attempt
                first = False
                if flight.error is not None:
                    raise flight.error
                assert flight.applying is not None  # noqa: S101 - one or the other is set
                return flight.applying.finish()
            planner = self.planner(flight.tried)
            return self.sink.apply(
                flight.found, flight.batch.position, planner, flight.media, flight.plain
            )

        try:
            try:
                duplicates, plan = flight.outcome(*self.policy(attempt))
            except RowRefused:
                duplicates, plan = self._apply_apart(flight)
        except BaseException:
            self.position = flight.start
            raise
        if plan.replies and self.replies_written is not None:
            self.replies_written()
        # (plain photo rows come as one block, not as media: they are photos recorded too; a
        # drop message records the waiting photos it claims: store.py, photos.record_photos)
        recorded = flight.media or flight.plain is not None or flight.found
        if recorded and self.photos_recorded is not None:
            self.photos_recorded()
        self.saved_at = time.monotonic()  # the batch's transaction saved the position
        self._done(flight.batch, flight.found, duplicates, plan.decisions)

    def _apply_apart(self, flight: _InFlight) -> tuple[int, Plan]:
        """The batch again, a message a transaction, when the database refused one of its rows:
        a message refused again is recorded and skipped with one line, the others applied, so
        that no single message stops every later one. The cursor moves with the last message
        (the ledger makes the ones before safe to apply again if we stop half way)."""
        messages: list[list[Sighting]] = []
        for s in flight.found:
            if messages and messages[-1][0].rowid == s.rowid:
                messages[-1].append(s)
            else:
                messages.append([s])
        duplicates, decisions = 0, list[Decision]()
        for i, found in enumerate(messages):
            last = i == len(messages) - 1
            position = flight.batch.position if last else flight.start
            media = flight.media if last else ()  # recorded with the batch's last message
            plain = flight.plain if last else None
            try:
                replays, plan = self.policy(
                    self.sink.apply, found, position, self.plan, media, plain
                )
            except RowRefused as exc:
                first = found[0]
                self.log.error(
                    f"⚠️ {FLAW_LINES[Flaw.REFUSED]}",
                    error=str(exc),
                    msg=first.message_id,
                    chat=first.chat_jid,
                    rowid=first.rowid,
                )
                self.policy(self.sink.refuse, first, str(exc), position if last else None)
                continue
            duplicates += replays
            decisions.extend(plan.decisions)
        return duplicates, Plan(new_reviews=(), resubmissions=(), decisions=tuple(decisions))

    def _done(
        self,
        batch: BridgeBatch,
        found: Sequence[Sighting],
        duplicates: int,
        decided: Sequence[Decision],
    ) -> None:
        """A batch is in the database: count it, hold its lines, tell systemd we are alive."""
        if decided:
            self.held.append((decided, batch))
            if any(d.outcome in APPLIED for d in decided):
                self.last_applied = decided  # described when STATUS= is next sent
        outcomes = Counter(d.outcome for d in decided)
        for totals in (self.cycle, self.overall):
            totals.add(batch, len(found), duplicates, outcomes)
        self.notifier.watchdog()
        if not batch.caught_up:  # (an idle wake's empty read is no backlog to report)
            self._report(caught_up=False)

    def write_held(self) -> None:
        held, self.held = self.held, []
        for decided, batch in held:
            log_decisions(self.log, self.lines, decided, batch)

    def _resume(self, saved: BridgePosition) -> BridgePosition:
        """Where to start: the saved position, or the start when a group was enabled since."""
        added = set(self.rules.projects) - saved.groups
        if saved.rowid > 0 and added:
            self.log.warning(
                "🔁 new group(s) enabled since the last run: reading the bridge again from the "
                "start; the ledger skips what was already applied",
                groups=",".join(sorted(added)),
            )
            return START
        return saved

    def _report(self, *, caught_up: bool) -> None:
        now = time.monotonic()
        rowid = self.position.rowid if self.position else 0
        if not caught_up:
            if now - self.last_progress >= PROGRESS_EVERY_SECONDS:
                self.log.info("draining backlog", rowid=rowid, **self.cycle.fields())
                self.notifier.status(f"draining backlog at rowid {rowid}")
                self.last_progress = now
            return
        self.write_held()  # the cycle's summary comes after its reviews' lines
        if self.unlisted:  # one line per cycle, not per batch
            self.log.warning(
                "⚠ validate is on but the plan list is empty: drops not validated; "
                "load it with `wa-monitor drops import`",
                projects=",".join(sorted(self.unlisted)),
            )
            self.unlisted.clear()
        if self.cycle.did_work:
            self.log.info("cycle done", rowid=rowid, **self.cycle.fields())
            self.last_cycle = describe_cycle(self.cycle)
        if self.last_applied:
            self.last_drop, self.last_applied = (
                describe_newest(self.last_applied, self.rules.tz),
                (),
            )
        # Also after a failure or a backlog: STATUS= says the current state, not the last news.
        self.notifier.status(
            "; ".join(
                filter(None, (f"caught up at rowid {rowid}", self.last_cycle, self.last_drop))
            )
        )
        self.cycle = Totals()
        self.last_progress = now
