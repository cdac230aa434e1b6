"""The 12 photo steps: the table's columns, the numbers and names the team, the pages and the
feedback use, one definition for all of them."""

from __future__ import annotations

import pytest

from wa_monitor.core.steps import Step, UnknownStep

STEPS = [
    (1, "step_01_house_photo", "House Photo"),
    (2, "step_02_cable_from_pole", "Cable from Pole"),
    (3, "step_03_cable_entry_outside", "Cable Entry Outside"),
    (4, "step_04_cable_entry_inside", "Cable Entry Inside"),
    (5, "step_05_wall_for_installation", "Wall for Installation"),
    (6, "step_06_ont_back_after_install", "ONT Back After Install"),
    (7, "step_07_power_meter_reading", "Power Meter Reading"),
    (8, "step_08_ont_barcode", "ONT Barcode"),
    (9, "step_09_ups_serial", "UPS Serial"),
    (10, "step_10_final_installation", "Final Installation"),
    (11, "step_11_green_lights", "Green Lights"),
    (12, "step_12_customer_signature", "Customer Signature"),
]


def test_there_are_twelve_steps_in_the_team_s_order() -> None:
    assert [s.number for s in Step] == list(range(1, 13))


@pytest.mark.parametrize(("number", "column", "label"), STEPS)
def test_a_step_s_column_and_the_names_it_is_shown_by(number: int, column: str, label: str) -> None:
    step = Step(number)
    assert (step.number, step.column, step.label) == (number, column, label)
    assert step.display == f"{number}. {label}"  # as the feedback and the pages list it
    assert Step.from_column(column) is step


@pytest.mark.parametrize(
    "column", ["step_13_extra", "step_1_house_photo", "STEP_01_HOUSE_PHOTO", "comment", ""]
)
def test_a_column_that_is_no_step_is_refused_by_name(column: str) -> None:
    with pytest.raises(UnknownStep, match="no photo step is called"):
        Step.from_column(column)
