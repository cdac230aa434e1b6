"""The review workflow on a real PostgreSQL, with the simulated bridge and the real monitor:
no edit lost silently, every change recorded, one message per verdict whatever the bridge does."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.support.env import LAWLEY, VELO, sast, write_config
from tests.support.ops import Roles
from tests.support.runs import run_once
from wa_monitor.adapters.bridge_api import BridgeApi
from wa_monitor.adapters.postgres import reviewing
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.replies import BridgeEchoes
from wa_monitor.cli import main
from wa_monitor.core.feedback_claims import (
    Blocked,
    ChangedMeanwhile,
    NotClaimed,
    Resolution,
)
from wa_monitor.core.records import Delivery
from wa_monitor.core.replies import Route
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict, feedback_text
from wa_monitor.devtools.bridge_api import Fault, SimulatedBridgeApi
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp
from wa_monitor.services import feedback
from wa_monitor.services.feedback import NoGroup, SendingOff
from wa_monitor.settings import Settings, load_settings

pytestmark = pytest.mark.migrated("dev")

AGENT = "27821234567"
# The dev schema's queries; the tests' own connections run them.
DEV = Database("", "dev", "dev")
BOT = "27640412391"
ALL = frozenset(Step)
NEEDS_FIX = Verdict.of(
    passed=ALL - {Step.HOUSE_PHOTO, Step.CABLE_ENTRY_OUTSIDE},
    wrong={Step.CABLE_ENTRY_OUTSIDE: "cable not clipped"},
    comment="please redo",
)


@pytest.fixture
def simulated(bridge: BridgeWriter) -> Iterator[SimulatedBridgeApi]:
    with SimulatedBridgeApi(bridge_db=bridge.path, bot_number=BOT) as api:
        yield api


def configure(
    tmp_path: Path,
    bridge: BridgeWriter,
    api: SimulatedBridgeApi,
    *,
    web: str = "",
    retired: dict[str, str] | None = None,
) -> Path:
    """Dev, watching the test group (and Lawley, to read real traffic); feedback to the test
    group. Production's config beside it names Lawley, and the `retired` groups switched off."""
    write_config(
        tmp_path,
        "prod",
        bridge_db=bridge.path,
        groups={LAWLEY: "Lawley"},
        retired=retired,
        bots=(BOT,),
    )
    return write_config(
        tmp_path,
        "dev",
        bridge_db=bridge.path,
        groups={VELO: "Velo Test", LAWLEY: "Lawley"},
        bots=(BOT,),
        extra=f'bridge_api_url = "{api.url}"\n[web]\n{web or f"feedback_group = {VELO!r}"}',
    )


@pytest.fixture
def config(
    tmp_path: Path,
    bridge: BridgeWriter,
    simulated: SimulatedBridgeApi,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    return configure(tmp_path, bridge, simulated)


@pytest.fixture
def settings(config: Path) -> Settings:
    return load_settings(config)


@pytest.fixture
def connect(database_url: str) -> Callable[[], AbstractContextManager[reviewing.Connection]]:
    return lambda: psycopg.connect(database_url, autocommit=True)


@pytest.fixture
def client(simulated: SimulatedBridgeApi) -> Iterator[BridgeApi]:
    with BridgeApi(simulated.url, connect_timeout_s=0.5, total_timeout_s=1.5) as api:
        yield api


def agent_posts(bridge: BridgeWriter, mid: str, text: str, day: int, hour: int) -> None:
    at = bridge_timestamp(sast(day, hour))
    bridge.post(Post(id=mid, chat_jid=VELO, sender=AGENT, content=text, timestamp=at))


@pytest.fixture
def review(
    config: Path,
    bridge: BridgeWriter,
    db: psycopg.Connection[Any],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> UUID:
    """DR1234567 posted in the test group and picked up by the dev monitor."""
    agent_posts(bridge, "A1", "DR1234567 installed", 11, 9)
    assert run_once(config, database_url, monkeypatch) == 0
    row = db.execute("SELECT id FROM dev.qa_photo_reviews WHERE drop_number = 'DR1234567'")
    return UUID(str(row.fetchone()[0]))  # type: ignore[index]


def row_of(db: psycopg.Connection[Any], review: UUID) -> dict[str, Any]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    found = cur.execute("SELECT * FROM dev.qa_photo_reviews WHERE id = %s", (review,)).fetchone()
    assert found is not None
    return found


@dataclass
class Desk:
    """A reviewer's desk: the database, the environment's settings, the (simulated) bridge."""

    db: psycopg.Connection[Any]
    settings: Settings
    connect: Callable[[], AbstractContextManager[reviewing.Connection]]
    client: BridgeApi
    bridge: SimulatedBridgeApi
    review: UUID

    def save(self, verdict: Verdict, version: int, by: str = "thandi") -> int:
        return reviewing.save(self.db, DEV, self.review, verdict=verdict, version=version, by=by)

    def send(
        self,
        version: int,
        text: str = "DR1234567 fix it",
        by: str = "thandi",
        settings: Settings | None = None,
        then: Route | None = None,
    ) -> feedback.SendReport:
        """Send through this desk's bridge, then (when it is down) through `then`."""
        settings = settings or self.settings
        here = Route("main", self.client, BridgeEchoes(settings.bridge_db))
        return feedback.send(
            sends=reviewing.FeedbackBook(DEV, self.connect),
            settings=settings,
            routes=[here] if then is None else [here, then],
            review_id=self.review,
            version=version,
            text=text,
            by=by,
        )

    def row(self) -> dict[str, Any]:
        return row_of(self.db, self.review)

    def states(self) -> list[Delivery | None]:
        return [s.delivery for s in reviewing.sends(self.db, DEV, self.review)]


@pytest.fixture
def desk(
    review: UUID,
    db: psycopg.Connection[Any],
    settings: Settings,
    connect: Callable[[], AbstractContextManager[reviewing.Connection]],
    client: BridgeApi,
    simulated: SimulatedBridgeApi,
) -> Desk:
    return Desk(db, settings, connect, client, simulated, review)


def save(db: psycopg.Connection[Any], review: UUID, verdict: Verdict, version: int, by: str) -> int:
    return reviewing.save(db, DEV, review, verdict=verdict, version=version, by=by)


# -- saving --------------------------------------------------------------------------------------


def test_a_saved_verdict_sets_the_steps_the_flags_the_counts_and_who(
    review: UUID, db: psycopg.Connection[Any]
) -> None:
    version = save(db, review, NEEDS_FIX, 1, "thandi")

    row = row_of(db, review)
    assert version == row["version"] == 2
    assert row["step_01_house_photo"] is False
    assert row["step_02_cable_from_pole"] is True
    assert row["step_03_cable_entry_outside"] is False
    assert row["wrong_steps"] == {"step_03_cable_entry_outside": "cable not clipped"}
    assert (row["completed"], row["incomplete"]) == (False, True)
    assert (row["completed_photos"], row["outstanding_photos"]) == (10, 2)
    assert (row["comment"], row["reviewed_by"]) == ("please redo", "thandi")
    assert row["reviewed_at"] is not None
    sheet = reviewing.load(db, DEV, review)
    assert sheet.verdict == NEEDS_FIX

    version = save(db, review, Verdict.of(passed=ALL), version, "thandi")
    row = row_of(db, review)
    assert (row["completed"], row["incomplete"], row["completed_photos"]) == (True, False, 12)
    assert row["wrong_steps"] == {}


def test_the_monitors_note_is_kept_apart_and_a_save_never_replaces_it(
    review: UUID, db: psycopg.Connection[Any]
) -> None:
    note = "Created from WhatsApp message in Velo Test group"
    row = row_of(db, review)
    assert (row["monitor_note"], row["comment"]) == (note, None)
    assert reviewing.load(db, DEV, review).verdict.comment == ""

    version = save(db, review, NEEDS_FIX, 1, "thandi")
    save(db, review, Verdict.of(passed=ALL, comment="fixed now"), version, "sipho")

    row = row_of(db, review)
    assert (row["monitor_note"], row["comment"]) == (note, "fixed now")
    newest, first = reviewing.history(db, DEV, review)
    assert ("comment", "", "please redo") in first.changes
    assert ("comment", "please redo", "fixed now") in newest.changes


def test_the_second_save_of_the_same_version_is_refused_with_who_and_nothing_lost(
    review: UUID, db: psycopg.Connection[Any]
) -> None:
    save(db, review, NEEDS_FIX, 1, "thandi")

    with pytest.raises(ChangedMeanwhile) as refused:
        save(db, review, Verdict.of(passed=ALL), 1, "sipho")

    assert (refused.value.by, refused.value.version, refused.value.resubmission) == (
        "thandi",
        2,
        False,
    )
    assert "thandi saved a verdict at" in str(refused.value)
    assert reviewing.load(db, DEV, review).verdict == NEEDS_FIX
    assert [c.changed_by for c in reviewing.history(db, DEV, review)] == ["thandi"]


def test_every_change_is_recorded_with_who_and_what(
    review: UUID, db: psycopg.Connection[Any]
) -> None:
    version = save(db, review, NEEDS_FIX, 1, "thandi")
    save(db, review, Verdict.of(passed=ALL), version, "sipho")

    newest, first = reviewing.history(db, DEV, review)
    assert (newest.changed_by, newest.version, first.changed_by, first.version) == (
        "sipho",
        3,
        "thandi",
        2,
    )
    assert ("step_02_cable_from_pole", "missing", "passed") in first.changes
    assert "step_01_house_photo" not in {field for field, _, _ in first.changes}
    assert ("step_03_cable_entry_outside", "missing", "wrong: cable not clipped") in first.changes
    assert ("step_03_cable_entry_outside", "wrong: cable not clipped", "passed") in newest.changes
    assert ("comment", "please redo", "") in newest.changes


def test_a_resubmission_while_the_page_is_open_refuses_the_save(
    config: Path,
    review: UUID,
    bridge: BridgeWriter,
    db: psycopg.Connection[Any],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = save(db, review, NEEDS_FIX, 1, "thandi")
    agent_posts(bridge, "A2", "DR1234567 fixed", 12, 8)
    assert run_once(config, database_url, monkeypatch) == 0

    with pytest.raises(ChangedMeanwhile) as refused:
        save(db, review, Verdict.of(passed=ALL), version, "thandi")

    assert refused.value.resubmission
    assert refused.value.by == AGENT
    assert "resubmitted the drop" in str(refused.value)
    assert row_of(db, review)["resubmitted"] is True


# -- sending -------------------------------------------------------------------------------------


def test_send_posts_once_to_the_projects_group_and_stamps_feedback_sent(desk: Desk) -> None:
    version = desk.save(NEEDS_FIX, 1)
    text = feedback_text("DR1234567", NEEDS_FIX)

    report = desk.send(version, text)

    assert report.outcome is Delivery.SENT
    assert report.stamped_at is not None
    [sent] = desk.bridge.sent()
    assert (sent.recipient, sent.text) == (VELO, text)
    assert desk.row()["feedback_sent"] == report.stamped_at
    [record] = reviewing.sends(desk.db, DEV, desk.review)
    assert (record.delivery, record.sent_by, record.message) == (Delivery.SENT, "thandi", text)
    assert record.bridge_answer == f"Message sent to {VELO}"


def test_a_resubmission_during_the_bridge_call_is_not_stamped_as_feedback_sent(
    desk: Desk, database_url: str
) -> None:
    # The agent resubmits while the bridge posts the feedback: the new round is not "feedback
    # sent", nobody has seen its photos yet.
    version = desk.save(NEEDS_FIX, 1)

    def resubmitted_meanwhile(_: object) -> None:
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute(
                "UPDATE dev.qa_photo_reviews SET resubmitted = true, feedback_sent = NULL, "
                "version = version + 1 WHERE id = %s",
                (desk.review,),
            )

    desk.bridge._on_post = resubmitted_meanwhile  # the simulator tells it of each post

    report = desk.send(version)

    assert report.outcome is Delivery.SENT  # it went out, and the send says so
    assert report.stamped_at is None
    row = desk.row()
    assert (row["feedback_sent"], row["resubmitted"], row["version"]) == (None, True, version + 1)
    assert desk.states() == [Delivery.SENT]


def test_feedback_reaches_the_group_without_control_or_bidi_characters(desk: Desk) -> None:
    version = desk.save(NEEDS_FIX, 1)
    hostile = "DR1234567\x1b[2J\x07 fix \u202eti\u202c \u2066the\u2069 \u200fwall\x00"
    assert desk.send(version, hostile).outcome is Delivery.SENT
    [sent] = desk.bridge.sent()
    assert sent.text == "DR1234567[2J fix ti the wall"
    [record] = reviewing.sends(desk.db, DEV, desk.review)
    assert record.message == sent.text  # what was claimed is what was posted


def test_two_sends_of_the_same_verdict_at_once_post_one_message(desk: Desk) -> None:
    version = desk.save(NEEDS_FIX, 1)
    desk.bridge.fault(Fault.SLOW, delay_s=0.3)  # the requests overlap the bridge call
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def press_send(who: str) -> None:
        start.wait()
        try:
            outcomes.append(str(desk.send(version, by=who).outcome))
        except NotClaimed as exc:
            outcomes.append(exc.reason.value)

    threads = [threading.Thread(target=press_send, args=(w,)) for w in ("a", "a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("sent") == 1
    assert set(outcomes) - {"sent"} <= {"in_flight", "already_sent"}
    assert len(desk.bridge.wait_for(2, timeout_s=1.0)) == 1
    assert desk.states() == [Delivery.SENT]


def test_a_retry_after_the_send_is_refused_as_already_sent(desk: Desk) -> None:
    version = desk.save(NEEDS_FIX, 1)
    desk.send(version)

    # The browser's retry carries the page's version: the stamp moved it on.
    with pytest.raises(ChangedMeanwhile):
        desk.send(version)
    # A reload shows the new version; the verdict it shows was already sent.
    with pytest.raises(NotClaimed) as again:
        desk.send(version + 1)
    assert again.value.reason is Blocked.ALREADY_SENT
    assert len(desk.bridge.sent()) == 1


def test_a_bridge_down_or_refusing_stamps_nothing_and_send_can_be_tried_again(
    desk: Desk,
) -> None:
    version = desk.save(NEEDS_FIX, 1)
    desk.bridge.down()

    report = desk.send(version)

    assert report.outcome is Delivery.DOWN
    assert "not reachable" in report.message
    assert desk.row()["feedback_sent"] is None
    desk.bridge.up()
    desk.bridge.fault(Fault.NOT_CONNECTED)  # the bridge answers, but its WhatsApp link is down
    report = desk.send(version)
    assert report.outcome is Delivery.DOWN
    assert "cannot send right now" in report.message
    assert "Not connected to WhatsApp" in report.message
    desk.bridge.fault(Fault.REFUSE)
    assert desk.send(version).outcome is Delivery.REFUSED
    assert desk.row()["feedback_sent"] is None
    desk.bridge.fault(Fault.NONE)
    assert desk.send(version).outcome is Delivery.SENT
    assert desk.states() == [Delivery.SENT, Delivery.REFUSED, Delivery.DOWN, Delivery.DOWN]
    assert len(desk.bridge.sent()) == 1


@pytest.fixture
def host_b(tmp_path: Path) -> Iterator[tuple[SimulatedBridgeApi, Route]]:
    """A second bridge (another linked device, another host): its own messages.db and API."""
    (tmp_path / "b").mkdir()
    path = tmp_path / "b" / "messages.db"
    with (
        SimulatedBridgeApi(bridge_db=path, bot_number=BOT) as api,
        BridgeApi(api.url, connect_timeout_s=0.5, total_timeout_s=1.5) as client,
    ):
        yield api, Route("host-b", client, BridgeEchoes(path))


def bridge_of_sends(desk: Desk) -> list[str | None]:
    rows = desk.db.execute(
        "SELECT bridge FROM dev.wa_monitor_feedback_sends WHERE review_id = %s ORDER BY id",
        (desk.review,),
    )
    return [r[0] for r in rows]


@pytest.mark.parametrize("fault", ["refused", Fault.UNAVAILABLE, Fault.NOT_CONNECTED])
def test_feedback_goes_out_once_through_the_next_bridge_when_the_first_ones_api_is_down(
    desk: Desk, host_b: tuple[SimulatedBridgeApi, Route], fault: str
) -> None:
    other, route = host_b
    version = desk.save(NEEDS_FIX, 1)
    if fault == "refused":
        desk.bridge.down()  # connection refused
    else:
        desk.bridge.fault(Fault(fault))  # 503, or the reference bridge's 500 "Not connected"

    report = desk.send(version, then=route)

    assert report.outcome is Delivery.SENT
    assert desk.row()["feedback_sent"] == report.stamped_at is not None
    assert [m.recipient for m in other.sent()] == [VELO]
    assert desk.bridge.sent() == ()
    assert bridge_of_sends(desk) == ["host-b"]
    assert desk.states() == [Delivery.SENT]


def test_feedback_whose_outcome_is_unknown_is_not_posted_again_through_the_next_bridge(
    desk: Desk, host_b: tuple[SimulatedBridgeApi, Route]
) -> None:
    other, route = host_b
    version = desk.save(NEEDS_FIX, 1)
    desk.bridge.bridge_db = None  # it does not store its API sends: nothing proves the post
    desk.bridge.fault(Fault.DROP_AFTER_POST)

    report = desk.send(version, then=route)

    assert report.outcome is Delivery.UNKNOWN
    assert len(desk.bridge.sent()) == 1
    assert other.sent() == ()
    assert bridge_of_sends(desk) == ["main"]


def test_feedback_unknown_through_the_next_bridge_is_settled_by_that_bridges_messages_db(
    desk: Desk, host_b: tuple[SimulatedBridgeApi, Route]
) -> None:
    """This host's bridge is down; host B's posts it (into its own messages.db) and loses the
    answer. This host's file has no trace of it: host B's proves the post."""
    other, route = host_b
    version = desk.save(NEEDS_FIX, 1)
    desk.bridge.down()
    other.fault(Fault.DROP_AFTER_POST)

    report = desk.send(version, then=route)

    assert report.outcome is Delivery.SENT
    assert report.stamped_at is not None
    [record] = reviewing.sends(desk.db, DEV, desk.review)
    assert (record.bridge_answer or "").endswith("; found in messages.db")
    assert bridge_of_sends(desk) == ["host-b"]
    assert len(other.sent()) == 1


def test_an_unknown_outcome_found_in_messages_db_is_settled_as_sent(desk: Desk) -> None:
    # The bridge posted, stored the bot's message, and lost the answer: messages.db proves it.
    version = desk.save(NEEDS_FIX, 1)
    desk.bridge.fault(Fault.DROP_AFTER_POST)

    report = desk.send(version)

    assert report.outcome is Delivery.SENT
    assert report.stamped_at is not None
    [record] = reviewing.sends(desk.db, DEV, desk.review)
    assert record.delivery is Delivery.SENT
    assert (record.bridge_answer or "").endswith("; found in messages.db")
    assert len(desk.bridge.sent()) == 1


def test_an_unknown_outcome_is_shown_not_retried_until_a_person_resolves_it(desk: Desk) -> None:
    version = desk.save(NEEDS_FIX, 1)
    desk.bridge.bridge_db = None  # this bridge does not store its API sends: nothing proves it
    desk.bridge.fault(Fault.DROP_AFTER_POST)

    report = desk.send(version)

    assert report.outcome is Delivery.UNKNOWN
    assert "may have been posted" in report.message
    assert desk.row()["feedback_sent"] is None
    desk.bridge.fault(Fault.NONE)
    with pytest.raises(NotClaimed) as blocked:
        desk.send(version, by="sipho")
    assert blocked.value.reason is Blocked.UNKNOWN
    assert "Check the group" in str(blocked.value)
    assert len(desk.bridge.sent()) == 1

    [unknown] = reviewing.sends(desk.db, DEV, desk.review)
    assert reviewing.resolve(
        desk.db, DEV, desk.review, unknown.id, resolution=Resolution.NOT_POSTED, by="sipho"
    )
    assert desk.send(version, by="sipho").outcome is Delivery.SENT
    assert len(desk.bridge.sent()) == 2


def test_an_unknown_send_seen_in_the_group_is_stamped_when_resolved_as_posted(
    desk: Desk,
) -> None:
    version = desk.save(NEEDS_FIX, 1)
    desk.bridge.bridge_db = None  # this bridge does not store its API sends: nothing proves it
    desk.bridge.fault(Fault.DROP_AFTER_POST)
    desk.send(version)
    [unknown] = reviewing.sends(desk.db, DEV, desk.review)

    assert reviewing.resolve(
        desk.db, DEV, desk.review, unknown.id, resolution=Resolution.POSTED, by="thandi"
    )

    assert desk.row()["feedback_sent"] is not None
    assert not reviewing.resolve(
        desk.db, DEV, desk.review, unknown.id, resolution=Resolution.NOT_POSTED, by="sipho"
    )


def test_no_send_without_a_saved_verdict_a_test_group_or_with_sending_off(
    tmp_path: Path, desk: Desk, bridge: BridgeWriter
) -> None:
    with pytest.raises(NotClaimed) as unsaved:
        desk.send(1)
    assert unsaved.value.reason is Blocked.NOT_REVIEWED

    version = desk.save(NEEDS_FIX, 1)
    (tmp_path / "off").mkdir()
    off = configure(tmp_path / "off", bridge, desk.bridge, web="send_feedback = false")
    with pytest.raises(SendingOff, match="turned off"):
        desk.send(version, settings=load_settings(off))
    (tmp_path / "none").mkdir()
    no_group = configure(tmp_path / "none", bridge, desk.bridge, web="send_feedback = true")
    with pytest.raises(NoGroup, match="Dev sends feedback only to its test group"):
        desk.send(version, settings=load_settings(no_group))
    assert desk.bridge.sent() == ()
    assert reviewing.sends(desk.db, DEV, desk.review) == ()


def test_dev_never_sends_feedback_where_production_lives_nor_without_its_config(
    tmp_path: Path, desk: Desk, bridge: BridgeWriter
) -> None:
    version = desk.save(NEEDS_FIX, 1)
    # Production's config lists the test group too, switched off: still production's.
    named = configure(tmp_path / "named", bridge, desk.bridge, retired={VELO: "Retired"})
    with pytest.raises(NoGroup, match=f"production's config names group {VELO}"):
        desk.send(version, settings=load_settings(named))
    (tmp_path / "named" / "prod.toml").unlink()
    with pytest.raises(NoGroup, match="no such config file"):
        desk.send(version, settings=load_settings(named))
    assert desk.bridge.sent() == ()
    assert reviewing.sends(desk.db, DEV, desk.review) == ()


def test_dev_sends_a_production_projects_feedback_to_the_test_group_only(desk: Desk) -> None:
    desk.db.execute(
        "UPDATE dev.qa_photo_reviews SET project = 'Lawley' WHERE id = %s", (desk.review,)
    )
    version = desk.save(NEEDS_FIX, 1)
    where = feedback.destination(desk.settings, "Lawley")
    assert (where.group_jid, where.group_name, where.redirected) == (VELO, "Velo Test", True)

    assert desk.send(version).outcome is Delivery.SENT

    assert [m.recipient for m in desk.bridge.sent()] == [VELO]


def test_the_dashboards_own_role_can_save_record_and_send(
    desk: Desk, config: Path, roles: Roles
) -> None:
    role, url = roles.make("web")
    grant = ["schema", "grant", "--config", str(config), "--role", role, "--service", "web"]
    assert main(grant) == 0
    with psycopg.connect(url, autocommit=True) as web:
        version = reviewing.save(web, DEV, desk.review, verdict=NEEDS_FIX, version=1, by="x")
        report = feedback.send(
            sends=reviewing.FeedbackBook(DEV, lambda: psycopg.connect(url, autocommit=True)),
            settings=desk.settings,
            routes=[Route("main", desk.client, BridgeEchoes(desk.settings.bridge_db))],
            review_id=desk.review,
            version=version,
            text="DR1234567 fix it",
            by="x",
        )
        assert report.outcome is Delivery.SENT
        assert len(reviewing.history(web, DEV, desk.review)) == 2
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            web.execute("DELETE FROM dev.wa_monitor_review_changes")


# -- the loop ------------------------------------------------------------------------------------


def test_feedback_then_the_agents_fix_comes_back_as_a_resubmission_and_the_bots_message_does_not(
    config: Path,
    desk: Desk,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = desk.save(NEEDS_FIX, 1)
    desk.send(version, feedback_text("DR1234567", NEEDS_FIX))
    stamped = desk.row()

    # The bot's own message (naming the drop) is in messages.db now: it is no resubmission.
    assert run_once(config, database_url, monkeypatch) == 0
    assert desk.row()["resubmitted"] is False
    assert desk.row()["feedback_sent"] == stamped["feedback_sent"]

    agent_posts(bridge, "A2", "DR1234567 fixed", 11, 15)
    assert run_once(config, database_url, monkeypatch) == 0

    row = desk.row()
    assert (row["resubmitted"], row["feedback_sent"], row["incomplete"]) == (True, None, False)
    assert row["version"] == stamped["version"] + 1
