"""The 12 photo steps as the dashboard lists them: number, column and name, from the one
definition in core.verdict.Step (the feedback text and the review form use the same names)."""

from __future__ import annotations

from dataclasses import dataclass

from wa_monitor.core.verdict import Step as PhotoStep


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    column: str  # the boolean column of qa_photo_reviews
    name: str  # as reviewers and the feedback message name it: "House Photo"

    @property
    def label(self) -> str:
        return f"{self.number}. {self.name}"


STEPS: tuple[Step, ...] = tuple(Step(s.value, s.column, s.label) for s in PhotoStep)
