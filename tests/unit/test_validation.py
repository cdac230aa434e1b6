"""The validation rules and the reply sender, driven through in-memory fakes of their ports."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from wa_monitor.core import validation
from wa_monitor.core.isolation import Production
from wa_monitor.core.records import (
    NO_LISTS,
    Outcome,
    PlanLists,
    ReplyKind,
    Sighting,
)
from wa_monitor.core.validation import InvalidAction, Policy, check_template, plan
from wa_monitor.errors import ConfigError
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


# -- one reply per message --------------------------------------------------------------------


def test_a_message_naming_many_wrong_drops_gets_one_reply_naming_five() -> None:
    # One group message with 300 invalid drops: one reply, not 300 (issue: a 64 KB message
    # holds ~6,500 drops, and any member could make the bot post all day).
    drops = [f"DR{7_000_000 + i}" for i in range(300)]
    found = [replace(seen(d), message_id="M1") for d in drops]
    p = plan(found, {}, LISTS, policy=POLICY, tz=UTC)
    assert len(p.invalid) == 300  # every one recorded
    [reply] = p.replies
    assert reply.kind is ReplyKind.INVALID_DROP
    assert f"Drop {', '.join(drops[:5])} and 295 more is not in the valid list" in reply.text
    assert drops[5] not in reply.text


def test_one_reply_per_message_whatever_it_holds() -> None:
    policy = replace(POLICY, acknowledge=True)
    found = [
        replace(seen("DR1000001"), message_id="M1"),
        replace(seen("DR7000001"), message_id="M1"),
        replace(seen("DR7000002"), message_id="M1"),
        replace(seen("DR7000003", minute=1), message_id="M2"),
    ]
    p = plan(found, {}, LISTS, policy=policy, tz=UTC)
    assert [(r.sighting.message_id, r.kind) for r in p.replies] == [
        ("M1", ReplyKind.INVALID_DROP),
        ("M2", ReplyKind.INVALID_DROP),
    ]
    text = p.replies[0].text
    assert "Drop DR7000001, DR7000002 is not in the valid list" in text
    assert "✅ DR1000001 received for Lawley" in text


def test_reply_texts_carry_no_control_or_bidi_character() -> None:
    policy = replace(
        POLICY, texts={**POLICY.texts, ReplyKind.INVALID_DROP: "\x1b{drop}\u202e!\x07\u2066"}
    )
    [reply] = plan([seen("DR7000001")], {}, LISTS, policy=policy, tz=UTC).replies
    assert reply.text == "DR7000001!"


@pytest.mark.parametrize(
    ("drops", "named"),
    [
        (["DR1"], "DR1"),
        (["DR1", "DR2", "DR1"], "DR1, DR2"),
        ([f"DR{i}" for i in range(5)], "DR0, DR1, DR2, DR3, DR4"),
        ([f"DR{i}" for i in range(6)], "DR0, DR1, DR2, DR3, DR4 and 1 more"),
    ],
)
def test_a_reply_names_up_to_five_drops(drops: list[str], named: str) -> None:
    assert validation.named(drops) == named


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
    assert (s.reply_cap_per_sender_hour, s.reply_cap_per_group_hour) == (10, 60)
    assert not s.acknowledgements
    capped = "reply_cap_per_sender_hour = 3\nreply_cap_per_group_hour = 20"
    s = settings_of(tmp_path, PROD.format(extra=f'bot_senders = ["27000000001"]\n{capped}'))
    assert (s.reply_cap_per_sender_hour, s.reply_cap_per_group_hour) == (3, 20)


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
        ("reply_cap_per_group_hour = 0", "reply_cap_per_group_hour"),
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
    names = Production(names=prod.recipients, source="prod.toml")
    assert dev.beside(names).reply_groups == frozenset()
    lawley_only = Production(names=frozenset(prod.enabled_projects), source="prod.toml")
    assert dev.beside(lawley_only).reply_groups == {"120363418298130333@g.us"}  # Velo Test
    assert dev.beside(Production.unknown("none")).reply_groups == frozenset()
    quiet = settings_of(tmp_path, dev_text.format(extra=""), "dev").beside(lawley_only)
    assert not quiet.replying  # dev's default
    assert quiet.reply_groups == frozenset()
    assert prod.reply_groups == set(prod.enabled_projects)
