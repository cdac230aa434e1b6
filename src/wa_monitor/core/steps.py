"""The 12 photo steps of a QA review: the column each is kept in, and the name people use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    column: str  # the boolean column of qa_photo_reviews
    name: str  # as reviewers and the feedback message name it: "1. House Photo"

    @property
    def label(self) -> str:
        return f"{self.number}. {self.name}"


STEPS: tuple[Step, ...] = tuple(
    Step(number, column, name)
    for number, (column, name) in enumerate(
        (
            ("step_01_house_photo", "House Photo"),
            ("step_02_cable_from_pole", "Cable from Pole"),
            ("step_03_cable_entry_outside", "Cable Entry Outside"),
            ("step_04_cable_entry_inside", "Cable Entry Inside"),
            ("step_05_wall_for_installation", "Wall for Installation"),
            ("step_06_ont_back_after_install", "ONT Back after Install"),
            ("step_07_power_meter_reading", "Power Meter Reading"),
            ("step_08_ont_barcode", "ONT Barcode"),
            ("step_09_ups_serial", "UPS Serial"),
            ("step_10_final_installation", "Final Installation"),
            ("step_11_green_lights", "Green Lights"),
            ("step_12_customer_signature", "Customer Signature"),
        ),
        start=1,
    )
)
