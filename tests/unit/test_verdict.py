"""The verdict rules and the feedback text: what the reviewer's ticks make of the row and of
the message the agent reads in the group."""

from __future__ import annotations

import pytest

from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import InvalidVerdict, Mark, Verdict, changes, feedback_text

ALL = frozenset(Step)


@pytest.mark.parametrize(
    ("verdict", "completed", "completed_photos", "outstanding_photos"),
    [
        (Verdict.of(passed=ALL), True, 12, 0),
        (Verdict.of(), False, 0, 12),
        (Verdict.of(passed=ALL - {Step.UPS_SERIAL}), False, 11, 1),
        (
            Verdict.of(
                passed=ALL - {Step.HOUSE_PHOTO, Step.GREEN_LIGHTS},
                wrong={Step.GREEN_LIGHTS: "LOS light is red"},
            ),
            False,
            10,
            2,
        ),
    ],
)
def test_completed_only_when_all_twelve_pass_and_counts_follow_the_ticks(
    verdict: Verdict, completed: bool, completed_photos: int, outstanding_photos: int
) -> None:
    assert verdict.completed is completed
    assert verdict.incomplete is not completed
    assert (verdict.completed_photos, verdict.outstanding_photos) == (
        completed_photos,
        outstanding_photos,
    )


def test_each_step_is_passed_wrong_or_missing() -> None:
    verdict = Verdict.of(passed={Step.HOUSE_PHOTO}, wrong={Step.ONT_BARCODE: "blurred"})

    assert verdict.mark(Step.HOUSE_PHOTO) is Mark.PASSED
    assert verdict.mark(Step.ONT_BARCODE) is Mark.WRONG
    assert verdict.reason(Step.ONT_BARCODE) == "blurred"
    assert verdict.mark(Step.UPS_SERIAL) is Mark.MISSING
    assert verdict.wrong_steps() == {"step_08_ont_barcode": "blurred"}


HOUSE, POLE, UPS = Step.HOUSE_PHOTO, Step.CABLE_FROM_POLE, Step.UPS_SERIAL


@pytest.mark.parametrize(
    ("ticked", "reasons", "marks"),
    [
        # as the form writes it
        ({HOUSE}, {UPS: "no serial"}, {HOUSE: Mark.PASSED, UPS: Mark.WRONG, POLE: Mark.MISSING}),
        # nothing stored: every step missing
        ((), {}, {HOUSE: Mark.MISSING, UPS: Mark.MISSING}),
        # ticked and marked wrong (psql, an older dashboard): neither, so someone looks again
        ({UPS}, {UPS: "no serial"}, {UPS: Mark.MISSING}),
        # a blank reason marks nothing wrong
        ((), {POLE: "  "}, {POLE: Mark.MISSING}),
        ((), {POLE: ""}, {POLE: Mark.MISSING}),
    ],
)
def test_a_stored_verdict_is_read_whoever_wrote_the_row(
    ticked: set[Step], reasons: dict[Step, str], marks: dict[Step, Mark]
) -> None:
    verdict = Verdict.stored(ticked=ticked, reasons=reasons, comment="see photo 3")
    assert {step: verdict.mark(step) for step in marks} == marks
    assert verdict.comment == "see photo 3"


def test_a_stored_verdict_lists_its_wrong_steps_in_step_order() -> None:
    verdict = Verdict.stored(ticked=(), reasons={UPS: "no serial", POLE: "loose"})
    assert verdict.wrong == ((POLE, "loose"), (UPS, "no serial"))


@pytest.mark.parametrize(
    ("passed", "wrong", "message"),
    [
        ({Step.UPS_SERIAL}, {Step.UPS_SERIAL: "no serial"}, "9. UPS Serial is both ticked"),
        ((), {Step.CABLE_FROM_POLE: "   "}, "2. Cable from Pole is marked wrong: say what"),
    ],
)
def test_a_verdict_that_contradicts_itself_is_refused_naming_the_step(
    passed: set[Step], wrong: dict[Step, str], message: str
) -> None:
    with pytest.raises(InvalidVerdict, match=message):
        Verdict.of(passed=passed, wrong=wrong)


@pytest.mark.parametrize(
    ("verdict", "text"),
    [
        (Verdict.of(passed=ALL), "DR1234567\nAll items complete! ✅"),
        (
            Verdict.of(
                passed=ALL - {Step.HOUSE_PHOTO, Step.CABLE_ENTRY_OUTSIDE, Step.UPS_SERIAL},
                wrong={Step.CABLE_ENTRY_OUTSIDE: "cable not  clipped\nto the wall"},
            ),
            "DR1234567\nNEEDS CORRECTION\n\nMissing items:\n• 1. House Photo\n• 9. UPS Serial\n"
            "Incorrect items:\n• 3. Cable Entry Outside - cable not clipped to the wall",
        ),
        (
            Verdict.of(passed=ALL - {Step.GREEN_LIGHTS}),
            "DR1234567\nNEEDS CORRECTION\n\nMissing items:\n• 11. Green Lights",
        ),
        (
            Verdict.of(
                passed=ALL - {Step.ONT_BARCODE}, wrong={Step.ONT_BARCODE: "barcode unreadable"}
            ),
            "DR1234567\nNEEDS CORRECTION\n\nIncorrect items:\n"
            "• 8. ONT Barcode - barcode unreadable",
        ),
        (
            Verdict.of(passed=ALL, comment="  Great work, thanks  "),
            "DR1234567\nAll items complete! ✅\n\nGreat work, thanks",
        ),
    ],
)
def test_feedback_text_is_the_format_the_agents_know(verdict: Verdict, text: str) -> None:
    assert feedback_text("DR1234567", verdict) == text


def test_changes_name_each_step_that_moved_and_the_comment() -> None:
    before = Verdict.of(passed={Step.HOUSE_PHOTO}, comment="first look")
    after = Verdict.of(passed={Step.CABLE_FROM_POLE}, wrong={Step.HOUSE_PHOTO: "wrong house"})

    assert changes(before, after) == {
        "step_01_house_photo": {"from": "passed", "to": "wrong: wrong house"},
        "step_02_cable_from_pole": {"from": "missing", "to": "passed"},
        "comment": {"from": "first look", "to": ""},
    }
    assert changes(after, after) == {}
