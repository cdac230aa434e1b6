"""The validation rules and the reply sender, driven through in-memory fakes of their ports."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from wa_monitor.core.isolation import Production
from wa_monitor.core.records import (
    NO_LISTS,
    Delivery,
    OutboxMessage,
    Outcome,
    PlanLists,
    ReplyKind,
    Sighting,
)
from wa_monitor.core.replies import RETRY_MAX_S, Sender, retry_in
from wa_monitor.core.validation import InvalidAction, Policy, check_template, plan
from wa_monitor.errors import ConfigError, TransientError
from wa_monitor.settings import Settings, load_settings

LAWLEY, MOHADIN = "1@g.us", "2@g.us"
T0 = datetime(2025, 11, 11, 9, tzinfo=UTC)


def seen(drop: str, project: str = "Lawley", chat: str = LAWLEY, minute: int = 0) -> Sighting:
    return Sighting(
        chat_jid=chat,
        message_id=f"{drop}-{minute}",
        rowid=minute + 1,
        drop_number=drop,
        project=project,
        phone="27821234567",
        user_name="Agent",
        sent_at=T0 + timedelta(minutes=minute),
        review_date=date(2025, 11, 11),
        says_resubmitted=False,
    )


LISTS = PlanLists(
    listed=frozenset({("Lawley", "DR1000001"), ("Mohadin", "DR2000001")}),
    with_list=frozenset({"Lawley", "Mohadin"}),
)
POLICY = Policy(validating=frozenset({"Lawley", "Mohadin"}), reply_groups=frozenset({LAWLEY}))


def test_reject_keeps_decisions_in_order_and_makes_no_review() -> None:
    found = [seen("DR1000001"), seen("DR2000001", minute=1), seen("DR1000001", minute=2)]
    p = plan(found, {}, LISTS, policy=POLICY, tz=UTC)
    assert [d.outcome for d in p.decisions] == [Outcome.CREATED, Outcome.REJECTED, Outcome.REPEAT]
    assert [r.drop_number for r in p.new_reviews] == ["DR1000001"]
    assert [(i.sighting.drop_number, i.action) for i in p.invalid] == [("DR2000001", "reject")]
    assert [(r.kind, r.sighting.drop_number) for r in p.replies] == [
        (ReplyKind.INVALID_DROP, "DR2000001")
    ]
    assert "Drop DR2000001 is not in the valid list for Lawley." in p.replies[0].text


def test_flag_creates_the_review_and_flags_it() -> None:
    policy = replace(POLICY, action=InvalidAction.FLAG)
    p = plan([seen("DR2000001")], {}, LISTS, policy=policy, tz=UTC)
    assert [d.outcome for d in p.decisions] == [Outcome.CREATED]
    assert p.flagged == {("Lawley", "DR2000001")}
    assert len(p.invalid) == 1


def test_a_drop_is_valid_per_project() -> None:
    found = [seen("DR2000001", "Mohadin", MOHADIN), seen("DR2000001", minute=1)]
    p = plan(found, {}, LISTS, policy=POLICY, tz=UTC)
    assert [d.outcome for d in p.decisions] == [Outcome.CREATED, Outcome.REJECTED]
    assert p.replies[0].sighting.chat_jid == LAWLEY
    # Mohadin's group is not one replies may go to: recorded, not answered.
    p = plan([seen("DR9", "Mohadin", MOHADIN)], {}, LISTS, policy=POLICY, tz=UTC)
    assert len(p.invalid) == 1
    assert p.replies == ()


def test_an_empty_list_is_not_validated_and_reported() -> None:
    lists = replace(LISTS, with_list=frozenset({"Mohadin"}))
    p = plan([seen("DR7777777")], {}, lists, policy=POLICY, tz=UTC)
    assert [d.outcome for d in p.decisions] == [Outcome.CREATED]
    assert p.invalid == ()
    assert p.unlisted == {"Lawley"}


def test_off_is_the_review_rules_alone() -> None:
    p = plan([seen("DR7777777")], {}, NO_LISTS, policy=Policy(), tz=UTC)
    assert (p.invalid, p.replies, p.flagged) == ((), (), frozenset())


def test_acknowledgements() -> None:
    policy = replace(POLICY, acknowledge=True)
    found = [seen("DR1000001"), replace(seen("DR1000001", minute=5), says_resubmitted=True)]
    p = plan([*found, seen("DR7", minute=6)], {}, LISTS, policy=policy, tz=UTC)
    assert [r.kind for r in p.replies] == [
        ReplyKind.INVALID_DROP,
        ReplyKind.RECEIVED,
        ReplyKind.RESUBMISSION,
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Drop {dro}", "unknown placeholder {dro}"),
        ("{drop", "not a valid template"),
        (" ", "empty"),
    ],
)
def test_templates_are_checked(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_template(text)


# -- the sender ---------------------------------------------------------------------------------


class FakeOutbox:
    def __init__(self, *messages: OutboxMessage, stranded: tuple[OutboxMessage, ...] = ()) -> None:
        self.queue = list(messages)
        self.left = list(stranded)
        self.done: list[tuple[str, Delivery | str]] = []
        self.sent: list[OutboxMessage] = []

    def stranded(self) -> list[OutboxMessage]:
        left, self.left = self.left, []
        return left

    def expire(self, window_s: float) -> int:
        return 0

    def claim(self, interval_s: float, window_s: float) -> OutboxMessage | None:
        return self.queue.pop(0) if self.queue else None

    def waiting(self) -> bool:
        return bool(self.queue)

    def finish(self, m: OutboxMessage, delivery: Delivery, detail: str, retry_in_s: float) -> None:
        self.done.append((m.drop_number, delivery))
        if delivery is Delivery.SENT:
            self.sent.append(m)

    def block(self, m: OutboxMessage, detail: str) -> None:
        self.done.append((m.drop_number, "blocked"))

    def sent_alike(self, m: OutboxMessage, since: datetime) -> int:
        return sum(1 for other in self.sent if other.id != m.id and other.text == m.text)


class FakePoster:
    def __init__(self, *outcomes: Delivery) -> None:
        self.outcomes = list(outcomes)
        self.posted: list[tuple[str, str]] = []

    def post(self, recipient: str, text: str) -> tuple[Delivery, str]:
        self.posted.append((recipient, text))
        return self.outcomes.pop(0), "detail"


class FakeEchoes:
    def __init__(self, *found: str) -> None:
        self.found = list(found)

    def posts(self, chat_jid: str, text: str, since: datetime) -> int:
        return self.found.count(text)


class NoLog:
    def debug(self, *a: object, **k: object) -> None: ...
    def info(self, *a: object, **k: object) -> None: ...
    def warning(self, *a: object, **k: object) -> None: ...
    def error(self, *a: object, **k: object) -> None: ...


def message(drop: str, chat: str = LAWLEY) -> OutboxMessage:
    return OutboxMessage(uuid4(), chat, drop, f"about {drop}", T0, T0, 1)


def sender(outbox: FakeOutbox, poster: FakePoster, echoes: FakeEchoes | None = None) -> Sender:
    return Sender(
        outbox=outbox,
        poster=poster,
        echoes=echoes or FakeEchoes(),
        allowed=frozenset({LAWLEY}),
        window_s=3600,
        interval_s=1,
        poll_s=1,
        stop=threading.Event(),
        log=NoLog(),
    )


def test_each_outcome_is_recorded_and_only_allowed_groups_are_posted_to() -> None:
    outbox = FakeOutbox(message("A"), message("B", MOHADIN), message("C"), message("D"))
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
    assert [r for r, _ in poster.posted] == [LAWLEY, LAWLEY, LAWLEY]


def test_stranded_and_unknown_posts_are_settled_by_messages_db_never_by_posting_again() -> None:
    outbox = FakeOutbox(message("B"), stranded=(message("A"), message("Z")))
    poster = FakePoster(Delivery.UNKNOWN)
    s = sender(outbox, poster, FakeEchoes("about A", "about B"))
    while s.step():
        pass
    assert outbox.done == [("A", Delivery.SENT), ("Z", Delivery.UNKNOWN), ("B", Delivery.SENT)]
    assert poster.posted == [(LAWLEY, "about B")]  # A and Z were not posted again


def test_an_echo_that_an_identical_sent_reply_accounts_for_proves_nothing() -> None:
    # The same wrong drop posted twice: two identical answers. The first was posted (its echo is
    # in messages.db); the sender was killed after claiming the second, before posting it.
    outbox = FakeOutbox(message("A"))
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


def test_a_post_whose_outcome_could_not_be_recorded_is_settled_not_posted_again() -> None:
    class LosesTheFirstMark(FakeOutbox):
        def finish(
            self, m: OutboxMessage, delivery: Delivery, detail: str, retry_in_s: float
        ) -> None:
            if not self.done:
                self.left.append(m)  # the database went away: the row stays 'sending'
                self.done.append(("lost", delivery))
                raise TransientError("database unavailable")
            super().finish(m, delivery, detail, retry_in_s)

    outbox = LosesTheFirstMark(message("A"))
    poster = FakePoster(Delivery.SENT)
    s = sender(outbox, poster, FakeEchoes("about A"))
    thread = threading.Thread(target=s.run)
    thread.start()
    deadline = time.monotonic() + 10
    while len(outbox.done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    s.stop.set()
    s.wake.set()
    thread.join(5)
    assert outbox.done == [("lost", Delivery.SENT), ("A", Delivery.SENT)]  # by messages.db
    assert len(poster.posted) == 1


def test_retries_back_off_and_are_bounded() -> None:
    assert [retry_in(n) for n in (1, 2, 3, 4, 5, 6, 20)] == [1, 2, 4, 8, 16, 30, RETRY_MAX_S]


# -- the settings ---------------------------------------------------------------------------------

PROD = """
environment = "prod"
schema = "public"
bridge_db = "/var/lib/bridge/messages.db"
{extra}
[[projects]]
name = "Lawley"
group_jid = "120363418298130331@g.us"
validate = true
[[projects]]
name = "Velo Test"
group_jid = "120363418298130333@g.us"
"""


def settings_of(tmp_path: Path, text: str, name: str = "prod") -> Settings:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_validation_settings_and_defaults(tmp_path: Path) -> None:
    s = settings_of(tmp_path, PROD.format(extra='bot_senders = ["27000000001"]'))
    assert s.validating == {"Lawley"}  # the test group is off unless it says so
    assert s.invalid_action is InvalidAction.REJECT
    assert s.replying  # prod replies unless told not to
    assert (s.reply_window_seconds, s.reply_interval_seconds) == (3600, 1)
    assert not s.acknowledgements


def test_replies_without_a_bot_number_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bot_senders is empty"):
        settings_of(tmp_path, PROD.format(extra=""))
    assert settings_of(tmp_path, PROD.format(extra="replies = false")).validating == {"Lawley"}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('invalid_action = "drop"', "invalid_action"),
        ('reply_invalid_text = "Drop {dr} bad"', "unknown placeholder {dr}"),
        ('bridge_api_url = "http://user:pw@localhost:8080"', "bridge_api_url"),
    ],
)
def test_bad_validation_settings_are_one_line(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        settings_of(tmp_path, PROD.format(extra=f'bot_senders = ["1"]\n{extra}'))
    assert "\n" not in str(caught.value)
    assert "pw" not in str(caught.value)


def test_dev_replies_only_in_groups_production_does_not_watch(tmp_path: Path) -> None:
    dev_text = PROD.replace('"prod"', '"dev"').replace('"public"', '"dev"')
    dev_text = 'log_prefix = "[DEV]"\n' + dev_text
    dev = settings_of(tmp_path, dev_text.format(extra='bot_senders = ["1"]\nreplies = true'), "dev")
    # Production lists the test group too, switched off: still none of dev's to reply in.
    prod_text = PROD.format(extra='bot_senders = ["1"]') + "enabled = false\n"
    prod = settings_of(tmp_path, prod_text)
    names = Production(names=prod.names, source="prod.toml")
    assert dev.beside(names).reply_groups == frozenset()
    lawley_only = Production(names=frozenset(prod.enabled_projects), source="prod.toml")
    assert dev.beside(lawley_only).reply_groups == {"120363418298130333@g.us"}  # Velo Test
    assert dev.beside(Production.unknown("none")).reply_groups == frozenset()
    quiet = settings_of(tmp_path, dev_text.format(extra=""), "dev").beside(lawley_only)
    assert not quiet.replying  # dev's default
    assert quiet.reply_groups == frozenset()
    assert prod.reply_groups == set(prod.enabled_projects)
