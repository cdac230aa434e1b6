"""The parser: every distinct drop in a message, normalised; nothing that only looks like one."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.reference import DROP_LIKE, reference_drops
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


# A few hundred examples here, in milliseconds; tests/faults/test_fuzz.py runs the same check
# at length (3000) in the slow pass.
@settings(max_examples=300)
@given(st.one_of(DROP_LIKE, st.text(max_size=200)))
@example("DR123456DR654321")
@example("éDR1234567")
@example("DR1234567٣")
def test_parser_agrees_with_the_reference(text: str) -> None:
    assert find_drops(text) == reference_drops(text)


@given(
    st.lists(st.integers(min_value=100_000, max_value=99_999_999), min_size=1, max_size=5),
    st.sampled_from(["DR", "dr", "Dr", "DR ", "dr "]),
)
def test_posted_drops_are_all_found(numbers: list[int], spelling: str) -> None:
    text = " and ".join(f"{spelling}{n}" for n in numbers)
    assert find_drops(text) == tuple(dict.fromkeys(f"DR{n}" for n in numbers))
