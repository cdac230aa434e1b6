"""The loop (core/loop.py) through in-memory fakes of its ports: standby, retry, stop mid-batch,
rescan, exactly once. Time is virtual (tests/support/fakes.py): backoffs cost nothing."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, date

import pytest

from tests.support.env import LAWLEY, VELO, sast
from tests.support.fakes import Phase, World, raising
from wa_monitor.core import loop
from wa_monitor.core.records import START, BridgePosition, Outcome
from wa_monitor.errors import Rescan, TransientError

LAWLEY_ONLY = {LAWLEY: "Lawley"}
CREATED, RESUBMITTED = Outcome.CREATED, Outcome.RESUBMITTED


def drop(n: int) -> str:
    return f"DR{1000000 + n}"


def backlog(world: World, count: int, *, chat: str = LAWLEY) -> list[str]:
    """`count` messages of a new drop each, a minute apart, with chatter between them."""
    drops = []
    for n in range(count):
        number = drop(world.bridge.newest + 1)
        world.bridge.post(f"{number} photos", sast(11, 8, n), chat=chat)
        world.bridge.post("morning all", sast(11, 8, n, 30), chat=chat)
        drops.append(number)
    return drops


def created_lines(world: World) -> list[str]:
    return [line.event for line in world.log.having("✅ Created QA review for")]


def assert_each_applied_once(world: World, drops: list[str]) -> None:
    assert world.drops() == set(drops)
    assert world.store.times_written() == Counter((CREATED, d) for d in drops)


def test_once_drains_the_backlog_in_batches_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.make(monkeypatch, span=5)
    drops = backlog(world, 12)
    world.bridge.post("DR7777777", sast(11, 9), chat="120363000000000000@g.us")  # not watched

    totals = world.run(once=True)

    assert_each_applied_once(world, drops)
    assert created_lines(world) == [f"✅ Created QA review for {d} (Lawley)" for d in drops]
    assert world.store.position.rowid == world.bridge.newest == 25
    assert (totals.scanned, totals.messages, totals.sightings) == (25, 12, 12)
    assert totals.outcomes == {Outcome.CREATED: 12}
    assert world.bridge.reads == 5  # 25 rowids, 5 a batch: no read after caught up
    [summary] = world.log.having("cycle done")
    assert summary.fields["created"] == 12


def test_a_second_run_over_the_same_bridge_applies_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.make(monkeypatch, span=4)
    drops = backlog(world, 5)
    world.run(once=True)
    world.store.saved = START  # as if the cursor were lost: only the ledger stands in the way

    totals = world.run(once=True)

    assert_each_applied_once(world, drops)
    assert totals.duplicates == 5
    assert totals.outcomes == {}


@pytest.mark.parametrize("phase", list(Phase), ids=[p.value for p in Phase])
def test_a_failed_batch_is_retried_whole_and_applied_exactly_once(
    monkeypatch: pytest.MonkeyPatch, phase: Phase
) -> None:
    world = World.make(monkeypatch, span=4)
    drops = backlog(world, 10)
    world.bridge.post(f"{drops[0]} fixed", sast(11, 10))  # a resubmission in the last batch
    world.store.at(2, phase, raising(TransientError("server closed the connection")))

    totals = world.run(once=True)

    assert world.drops() == set(drops)
    assert world.store.times_written() == Counter(
        [(CREATED, d) for d in drops] + [(RESUBMITTED, drops[0])]
    )
    assert world.store.review(drops[0]).resubmitted is True
    [retry] = world.log.having("⏳ waiting to retry")
    assert retry.fields["attempt"] == 1
    assert retry.fields["error"] == "server closed the connection"
    assert world.store.position.rowid == world.bridge.newest
    # A commit whose answer was lost leaves its sightings to the retry's ledger check, which
    # finds them all there: the batch is counted (and logged) as what that commit did.
    assert totals.duplicates == 0
    assert totals.outcomes == {CREATED: 10, RESUBMITTED: 1}


def test_a_creation_whose_commit_answer_was_lost_is_still_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))
    world.store.at(1, Phase.COMMITTED, raising(TransientError("connection lost")))

    world.run(once=True)

    assert world.store.times_written() == Counter({(CREATED, drop(1)): 1})
    assert created_lines(world) == [f"✅ Created QA review for {drop(1)} (Lawley)"]


def test_a_batch_the_policy_gives_up_on_is_read_again_not_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch, span=2)
    drops = backlog(world, 4)
    for attempt in range(2, 10):  # the second batch cannot be written for a while
        world.store.at(attempt, Phase.COMMIT, raising(TransientError("database is away")))

    world.run(once=False, give_up_after=3.0)

    assert world.log.having("❌ still failing; will keep trying")
    assert_each_applied_once(world, drops)
    assert created_lines(world) == [f"✅ Created QA review for {d} (Lawley)" for d in drops]


def test_standby_waits_with_one_line_then_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))
    world.store.standby(calls=20)

    world.run(once=False)

    standby = world.log.having("standing by")
    assert [line.level for line in standby] == ["warning"]
    events = world.log.events()
    resumed = events.index("resuming")
    assert (
        events.index(standby[0].event)
        < resumed
        < events.index(f"✅ Created QA review for {drop(1)} (Lawley)")
    )
    assert world.log.having("⏳ waiting to retry") == []  # waiting is not failing
    assert world.log.having("❌") == []
    assert world.store.standby_calls == 0  # it kept trying, a poll interval apart
    assert world.clock.waits[:20] == pytest.approx([World.POLL_SECONDS] * 20)
    assert [s for s in world.notifier.statuses if s.startswith("standby")] == [
        "standby: another wa-monitor is running for schema 'public'"
    ]
    assert world.notifier.readies == 1
    assert world.drops() == {drop(1)}


def test_a_second_standby_after_resuming_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))

    def lose_the_lock() -> None:  # the next batch finds another instance holding the lock
        world.bridge.post(drop(2), sast(11, 10))
        world.store.standby(calls=3)

    world.store.standby(calls=3)
    world.run(once=False, between=[lose_the_lock])

    standing_by = [n for n, e in enumerate(world.log.events()) if "standing by" in e]
    resuming = [n for n, e in enumerate(world.log.events()) if e == "resuming"]
    assert len(standing_by) == 2
    assert standing_by[0] < resuming[0] < standing_by[1] < resuming[1]
    assert_each_applied_once(world, [drop(1), drop(2)])


def test_standby_in_once_mode_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))
    world.store.standby(calls=1)

    with pytest.raises(TransientError, match="another wa-monitor is running"):
        world.run(once=True)
    assert world.drops() == set()


def test_a_transient_bridge_error_is_retried_with_growing_backoff_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch, span=4)
    drops = backlog(world, 2)
    busy = TransientError("bridge file is locked by a writer")
    for read in (1, 2, 3, 4):
        world.bridge.at(read, raising(busy))

    def more() -> None:  # the bridge is busy again when the next message arrives
        drops.extend(backlog(world, 1))
        world.bridge.at(world.bridge.reads + 1, raising(busy))

    world.run(once=False, between=[more])

    assert_each_applied_once(world, drops)
    retries = world.log.having("⏳ waiting to retry")
    assert [r.fields["attempt"] for r in retries] == [1, 2, 3, 4, 1]
    waits = [r.fields["wait_s"] for r in retries[:4]]
    # Exponential from 0.5 s, each plus 0-1 s of jitter (rounded to 0.1 s in the line); the
    # jitter can put the first wait above the second, so each is checked against its window.
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2**attempt <= wait <= 0.5 * 2**attempt + 1.0, (attempt, waits)
    assert world.notifier.statuses[0] == "retrying (attempt 1): bridge file is locked by a writer"
    assert world.log.having("❌") == []


def test_a_failure_that_outlasts_the_policy_is_logged_and_the_daemon_keeps_trying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    drops = backlog(world, 3)
    for read in range(1, 13):
        world.bridge.at(read, raising(TransientError("bridge file is locked by a writer")))

    world.run(once=False, give_up_after=3.0)

    assert_each_applied_once(world, drops)
    failing = world.log.having("❌ still failing; will keep trying")
    assert failing
    assert all(line.level == "error" for line in failing)
    assert "failing: bridge file is locked by a writer" in world.notifier.statuses


def test_once_mode_gives_up_after_the_policy_with_nothing_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    backlog(world, 3)
    for attempt in range(1, 100):
        world.store.at(attempt, Phase.COMMIT, raising(TransientError("database is away")))

    with pytest.raises(TransientError, match="database is away"):
        world.run(once=True, give_up_after=10.0)

    assert world.drops() == set()
    assert world.store.saved is None
    assert created_lines(world) == []
    assert 10.0 <= sum(world.clock.waits) < 60.0  # bounded by give_up_after, not attempts


def test_stop_mid_backlog_settles_the_batch_in_hand_and_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch, span=2)
    drops = backlog(world, 10)  # one drop per batch of two rowids
    world.bridge.at(3, world.sigterm)  # SIGTERM while reading the third batch

    world.run(once=False)

    first_three = drops[:3]
    assert_each_applied_once(world, first_three)  # batch 3 was in hand: applied, not dropped
    assert created_lines(world) == [f"✅ Created QA review for {d} (Lawley)" for d in first_three]
    assert world.store.position.rowid == 6
    assert world.bridge.reads == 3

    world.run(once=True)  # the next start picks up where it stopped

    assert_each_applied_once(world, drops)


def test_stop_while_retrying_applies_nothing_and_is_not_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))

    def away_then_stopped() -> None:
        world.sigterm()
        raise TransientError("database is away")

    world.store.at(1, Phase.COMMIT, away_then_stopped)

    world.run(once=False)

    assert world.drops() == set()
    assert world.store.saved is None
    assert world.log.having("stopping with the batch not applied")
    assert world.log.having("❌") == []

    world.run(once=True)
    assert world.drops() == {drop(1)}


def test_renumbered_rowids_rescan_from_the_start_and_the_ledger_skips_the_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch, span=3)
    drops = backlog(world, 4)
    world.run(once=True)
    for row in [r for r in world.bridge.rows if r.content == "morning all"][:-1]:
        world.bridge.delete(row)
    world.bridge.vacuum()  # the anchor, the last row read, moves down from rowid 8 to 5
    world.bridge.post(drop(9), sast(11, 12))

    totals = world.run(once=True)

    [rescan] = world.log.having("🔁 rescanning the bridge from the start")
    assert rescan.level == "warning"
    assert_each_applied_once(world, [*drops, drop(9)])
    assert totals.duplicates == 4
    assert world.store.position.rowid == 6


def test_a_rescan_mid_run_rereads_from_the_start_without_applying_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch, span=2)
    drops = backlog(world, 4)
    world.bridge.at(3, raising(Rescan("bridge file was replaced (file identity changed)")))

    totals = world.run(once=True)

    assert len(world.log.having("🔁 rescanning")) == 1
    assert_each_applied_once(world, drops)
    assert totals.duplicates == 2  # the two batches applied before the rescan
    assert world.store.position.rowid == 8


def test_a_message_the_bridge_reinserts_is_not_applied_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    posted = world.bridge.post(f"{drop(1)} fixed", sast(11, 9))
    world.bridge.post(drop(1), sast(11, 8))  # a first sighting posted earlier, read later

    def redelivered() -> None:
        world.bridge.redeliver(posted)

    world.run(once=False, between=[redelivered])

    # In the messages' own time order: 11:08 creates the review, 11:09's "fixed" resubmits it;
    # the re-inserted 11:09 is a replay (one batch: the review is written once, resubmitted).
    assert world.store.review(drop(1)).resubmitted is True
    assert world.store.times_written() == Counter({(CREATED, drop(1)): 1})
    assert len(world.log.having("🔄 Resubmission")) == 1


def test_a_group_enabled_later_is_read_from_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.make(monkeypatch, projects=LAWLEY_ONLY)
    lawley = backlog(world, 3)
    velo = backlog(world, 2, chat=VELO)  # posted while Velo was not watched
    world.run(once=True)
    assert world.drops() == set(lawley)

    world.watch({LAWLEY: "Lawley", VELO: "Velo Test"})
    totals = world.run(once=True)

    [warning] = world.log.having("new group(s) enabled since the last run")
    assert warning.fields["groups"] == VELO
    assert world.drops() == set(lawley) | set(velo)
    assert world.store.times_written() == Counter((CREATED, d) for d in lawley + velo)
    assert totals.duplicates == 3
    assert {r.project for r in world.store.reviews.values() if r.drop_number in velo} == {
        "Velo Test"
    }

    world.run(once=True)  # from now on the saved position knows both groups
    assert len(world.log.having("new group(s) enabled")) == 1


def test_a_review_someone_else_inserted_meanwhile_is_taken_not_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))
    world.store.at(
        1,
        Phase.COMMIT,
        lambda: world.store.insert_elsewhere(drop(1), date(2025, 11, 11), sast(11, 9)),
    )

    totals = world.run(once=True)

    assert totals.outcomes == {Outcome.TAKEN: 1}
    assert created_lines(world) == []
    assert world.log.having(f"review for {drop(1)} on 2025-11-11 already exists")
    assert world.store.review(drop(1)).project == "Elsewhere"


def test_a_repost_after_feedback_resubmits_and_clears_the_feedback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))
    world.run(once=True)
    world.store.review(drop(1)).incomplete = True  # a reviewer found photos missing
    world.store.give_feedback(drop(1), sast(11, 10))
    world.bridge.post(drop(1), sast(11, 11), sender="27820000001", name="Sipho")

    world.run(once=True)

    review = world.store.review(drop(1))
    assert (review.resubmitted, review.incomplete, review.feedback_sent) == (True, False, None)
    assert (review.user_name, review.submitted_by) == ("Sipho", "27820000001")
    assert review.review_date == date(2025, 11, 11)
    assert world.store.times_written() == Counter(
        {(CREATED, drop(1)): 1, (RESUBMITTED, drop(1)): 1}
    )
    assert [line.event for line in world.log.having("🔄 Resubmission")] == [
        f"🔄 Resubmission for {drop(1)} (Lawley)"
    ]


def test_the_notifier_hears_ready_once_and_the_state_in_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9))
    world.bridge.at(1, raising(TransientError("bridge file is locked by a writer")))

    def resubmitted() -> None:
        world.bridge.post(f"{drop(1)} done", sast(11, 10))

    world.run(once=False, between=[resubmitted, lambda: None])

    assert world.notifier.readies == 1
    caught_up = [s for s in world.notifier.statuses if s.startswith("caught up")]
    pattern = (
        r"caught up at rowid {rowid}; last cycle: {created} created, {resub} resubmitted; "
        rf"last drop {drop(1)} \(Lawley\) posted 2025-11-11T{{time}}\+02:00, applied \d+s later"
    )
    assert re.fullmatch(pattern.format(rowid=1, created=1, resub=0, time="09:00:00"), caught_up[0])
    assert re.fullmatch(pattern.format(rowid=2, created=0, resub=1, time="10:00:00"), caught_up[1])
    # An idle cycle says the same state again, not "nothing": the last news stays.
    assert caught_up[2] == caught_up[1]
    assert world.notifier.pings


def test_the_status_gives_the_last_drop_s_time_in_the_environment_s_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bridge hands its times over in UTC (the drain compares them there, cheaply): the
    status still says them in the environment's zone, as the log lines do."""
    world = World.make(monkeypatch)
    world.bridge.post(drop(1), sast(11, 9).astimezone(UTC))

    world.run(once=True)

    assert any(
        f"last drop {drop(1)} (Lawley) posted 2025-11-11T09:00:00+02:00" in status
        for status in world.notifier.statuses
    )


def test_the_watchdog_is_pinged_through_long_backoffs_and_standby(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    world.notifier.keepalive = 0.25  # WatchdogSec=1
    world.bridge.post(drop(1), sast(11, 9))
    world.store.standby(calls=3)
    for read in range(1, 6):  # then backoffs of 0.5 s up to 8 s and more
        world.bridge.at(read, raising(TransientError("bridge file is locked by a writer")))

    world.run(once=False)

    pings = world.notifier.pings
    assert pings[-1] - pings[0] >= 15.0
    assert max(b - a for a, b in itertools.pairwise(pings)) <= 0.25 + 1e-9
    assert world.drops() == {drop(1)}


def test_a_long_drain_reports_its_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.make(monkeypatch, span=2)
    drops = backlog(world, 4)
    for attempt in range(2, 7):  # a slow stretch: more than ten seconds on batch 2
        world.store.at(attempt, Phase.COMMIT, raising(TransientError("database is away")))

    world.run(once=True)

    [progress] = world.log.having("draining backlog")
    assert progress.fields["rowid"] == 4
    assert progress.fields["created"] == 2
    assert "draining backlog at rowid 4" in world.notifier.statuses
    assert_each_applied_once(world, drops)


def test_an_unreadable_time_is_logged_once_with_the_reviews_it_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    world.bridge.post("DR1111111 DR2222222", sast(11, 9), unreadable="11/11/2025 9am")

    world.run(once=True)

    [warning] = world.log.having("unreadable timestamp; using the time it was read")
    assert warning.fields["bridge_time"] == "11/11/2025 9am"
    events = world.log.events()
    assert events.index(warning.event) < events.index("✅ Created QA review for DR1111111 (Lawley)")
    assert world.drops() == {"DR1111111", "DR2222222"}


def test_an_idle_loop_saves_its_position_as_a_heartbeat_once_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.make(monkeypatch)
    saves: list[float] = []
    save = world.store.save_position

    def counting(position: BridgePosition) -> None:
        saves.append(world.clock.now)
        save(position)

    monkeypatch.setattr(world.store, "save_position", counting)
    # Ten idle cycles 20 s apart: nothing new in the bridge, 200 s in all.
    world.run(once=False, between=[lambda: world.clock.skip(20.0)] * 10)

    gaps = [b - a for a, b in itertools.pairwise(saves)]
    assert len(saves) == 4, saves  # at the first read, then at 60, 120 and 180 s
    assert all(gap >= loop.HEARTBEAT_SECONDS for gap in gaps), gaps


def test_an_idle_loop_told_of_the_bridges_writes_sleeps_a_minute_not_a_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Idle CPU: with a waker that wakes on the bridge's writes, a caught-up loop sleeps until
    the heartbeat is due, not for the poll interval; the watchdog's keepalive still bounds it."""
    world = World.make(monkeypatch)
    world.run(once=False, between=[lambda: None] * 3, idle_interval=loop.HEARTBEAT_SECONDS)
    assert world.waker.timeouts == [loop.HEARTBEAT_SECONDS] * 4

    world.notifier.keepalive = 15.0
    world.run(once=False, between=[lambda: None], idle_interval=loop.HEARTBEAT_SECONDS)
    assert world.waker.timeouts == [15.0] * 2

    world.notifier.keepalive = None
    world.run(once=False, between=[lambda: None])  # no idle interval: the poll, as before
    assert world.waker.timeouts == [World.POLL_SECONDS] * 2


def test_an_idle_minute_writes_no_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wake a minute apart found nothing: no "draining backlog" line (and no other)."""
    world = World.make(monkeypatch)
    world.run(once=False, between=[lambda: world.clock.skip(loop.HEARTBEAT_SECONDS)] * 3)
    assert world.log.events() == ["resuming"]


def test_a_message_the_database_refuses_is_recorded_and_the_rest_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused row failed its whole batch, every time: nothing after it was ever applied."""
    world = World.make(monkeypatch, span=10)
    drops = backlog(world, 6)
    world.store.refusing = {drops[2], drops[5]}  # the last message of the batch, too

    totals = world.run(once=True)

    wanted = [d for d in drops if d not in world.store.refusing]
    assert_each_applied_once(world, wanted)
    refused_rows = [m for m in world.bridge.rows if (m.content or "")[:9] in world.store.refusing]
    assert [mid for mid, _ in world.store.refused] == [m.message_id for m in refused_rows]
    assert all("check violation" in reason for _, reason in world.store.refused)
    assert world.store.position.rowid == world.bridge.newest  # moved past both
    assert len(world.log.having("the database refused this message")) == 2
    assert totals.outcomes == {Outcome.CREATED: 4}
