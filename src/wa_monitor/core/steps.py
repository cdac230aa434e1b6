"""The 12 photo steps: their number, the review table's column and the name reviewers and agents
know each by. The one definition the feedback text, the review form, the dashboard's pages and
the SQL adapters use. Pure."""

from __future__ import annotations

import enum

from wa_monitor.errors import WaMonitorError


class UnknownStep(WaMonitorError):
    """A column name that is not one of the 12 steps' columns."""


class Step(enum.IntEnum):
    """The 12 photo steps, numbered as the team and the table's step_NN_* columns number them."""

    HOUSE_PHOTO = 1
    CABLE_FROM_POLE = 2
    CABLE_ENTRY_OUTSIDE = 3
    CABLE_ENTRY_INSIDE = 4
    WALL_FOR_INSTALLATION = 5
    ONT_BACK_AFTER_INSTALL = 6
    POWER_METER_READING = 7
    ONT_BARCODE = 8
    UPS_SERIAL = 9
    FINAL_INSTALLATION = 10
    GREEN_LIGHTS = 11
    CUSTOMER_SIGNATURE = 12

    @property
    def number(self) -> int:
        """1 to 12, as the feedback and the pages number the step."""
        return self.value

    @property
    def label(self) -> str:
        """`House Photo`, `ONT Barcode`: the name reviewers and agents know the step by."""
        return _LABELS[self]

    @property
    def display(self) -> str:
        """`1. House Photo`, as the feedback and the pages list it."""
        return f"{self.value}. {self.label}"

    @property
    def column(self) -> str:
        """`step_01_house_photo`: the review table's boolean for this step."""
        return f"step_{self.value:02d}_{self.name.lower()}"

    @classmethod
    def from_column(cls, column: str) -> Step:
        try:
            return _BY_COLUMN[column]
        except KeyError:
            raise UnknownStep(f"no photo step is called {column!r}") from None


_LABELS = {
    Step.HOUSE_PHOTO: "House Photo",
    Step.CABLE_FROM_POLE: "Cable from Pole",
    Step.CABLE_ENTRY_OUTSIDE: "Cable Entry Outside",
    Step.CABLE_ENTRY_INSIDE: "Cable Entry Inside",
    Step.WALL_FOR_INSTALLATION: "Wall for Installation",
    Step.ONT_BACK_AFTER_INSTALL: "ONT Back After Install",
    Step.POWER_METER_READING: "Power Meter Reading",
    Step.ONT_BARCODE: "ONT Barcode",
    Step.UPS_SERIAL: "UPS Serial",
    Step.FINAL_INSTALLATION: "Final Installation",
    Step.GREEN_LIGHTS: "Green Lights",
    Step.CUSTOMER_SIGNATURE: "Customer Signature",
}
_BY_COLUMN = {s.column: s for s in Step}
