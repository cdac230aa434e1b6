"""The parser: every distinct drop in a message, normalised; nothing that only looks like one."""

from __future__ import annotations

import pytest

from wa_monitor.core.drops import find_drops, says_resubmitted


def test_agents_spellings_normalise_to_one_form() -> None:
    assert find_drops("dr1234567") == ("DR1234567",)
    assert find_drops("Dr 1234567 done") == ("DR1234567",)
    assert find_drops("DR 1234567") == ("DR1234567",)
    assert find_drops("DR470112, DR1752028 and DR12345678") == (
        "DR470112",
        "DR1752028",
        "DR12345678",
    )


def test_every_distinct_drop_once_in_order() -> None:
    assert find_drops("DR1111111 DR2222222 dr1111111") == ("DR1111111", "DR2222222")


def test_near_misses_are_not_drops() -> None:
    for text in (
        "DR1234",
        "XDR1234567",
        "DR123456789",
        "DR1234567X",
        "DR_1234567",
        "DR  1234567",
        "DR-1234567",
        "ADR 1234567",
        "DR12345",
        "DR1234567_",
    ):
        assert find_drops(text) == (), text


def test_punctuation_around_a_drop_is_fine() -> None:
    assert find_drops("(DR1234567).") == ("DR1234567",)
    assert find_drops("#dr1234567!") == ("DR1234567",)
    assert find_drops("DR1234567\nDR7654321") == ("DR1234567", "DR7654321")


def test_empty_and_missing_text_have_no_drops() -> None:
    assert find_drops(None) == ()
    assert find_drops("") == ()


def test_resubmission_words() -> None:
    for text in (
        "DR1234567 done",
        "Fixed DR1234567",
        "updated",
        "COMPLETED",
        "uploaded now",
        "finish",
        "finished!",
    ):
        assert says_resubmitted(text), text
    for text in ("DR1234567", "undone", "prefixed", "finishing", None, ""):
        assert not says_resubmitted(text), text


# The property tests (the parser against an independent reference over generated text, and
# every posted spelling found) run in tests/faults/test_fuzz.py; here, the cases they once
# found, in microseconds.
@pytest.mark.parametrize(
    ("text", "drops"),
    [
        ("DR123456DR654321", ()),  # glued to a letter on either side: not a drop
        ("éDR1234567", ()),
        ("DR1234567٣", ()),
        ("dr 100000 and Dr99999999 and DR 470112", ("DR100000", "DR99999999", "DR470112")),
        ("DR1234567 and dr1234567", ("DR1234567",)),
    ],
)
def test_the_cases_the_property_tests_found(text: str, drops: tuple[str, ...]) -> None:
    assert find_drops(text) == drops
