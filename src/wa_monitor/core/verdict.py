"""A reviewer's verdict on a drop's 12 photo steps, and the feedback text it makes. Pure."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wa_monitor.core.steps import Step
from wa_monitor.errors import WaMonitorError

COMPLETE_LINE = "All items complete! ✅"
CORRECTION_LINE = "NEEDS CORRECTION"


class Mark(enum.StrEnum):
    """What the reviewer said about one step."""

    PASSED = "passed"  # ticked: the photo is there and right
    WRONG = "wrong"  # there, but wrong: the comment says why
    MISSING = "missing"  # not ticked and not marked wrong


class InvalidVerdict(WaMonitorError):
    """The verdict contradicts itself; the message says what to fix, for the reviewer."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Which steps pass, which are wrong and why, and the overall comment.

    Build it with Verdict.of(); a step is passed, wrong (with a reason) or missing, never two.
    """

    passed: frozenset[Step]
    wrong: tuple[tuple[Step, str], ...]  # (step, reason), in step order
    comment: str = ""

    @classmethod
    def of(
        cls,
        *,
        passed: Iterable[Step] = (),
        wrong: Mapping[Step, str] | None = None,
        comment: str = "",
    ) -> Verdict:
        """A checked verdict; InvalidVerdict names the first step that contradicts itself."""
        ticked = frozenset(passed)
        reasons = {step: " ".join(reason.split()) for step, reason in (wrong or {}).items()}
        for step in sorted(reasons):
            if step in ticked:
                raise InvalidVerdict(f"step {step.display} is both ticked and marked wrong")
            if not reasons[step]:
                raise InvalidVerdict(f"step {step.display} is marked wrong: say what is wrong")
        return cls(ticked, tuple(sorted(reasons.items())), comment.strip())

    @classmethod
    def stored(
        cls, *, ticked: Iterable[Step], reasons: Mapping[Step, str], comment: str = ""
    ) -> Verdict:
        """The verdict a review row holds, whoever wrote it (this form, an older dashboard,
        psql). A step both ticked and marked wrong is neither (missing: someone must look
        again); a blank reason marks nothing wrong."""
        passed = frozenset(ticked)
        return cls(
            passed - reasons.keys(),
            tuple(sorted((s, r) for s, r in reasons.items() if s not in passed and r.strip())),
            comment,
        )

    def mark(self, step: Step) -> Mark:
        if step in self.passed:
            return Mark.PASSED
        return Mark.WRONG if step in dict(self.wrong) else Mark.MISSING

    def reason(self, step: Step) -> str:
        """Why `step` is wrong; empty when it is not marked wrong."""
        return dict(self.wrong).get(step, "")

    @property
    def completed(self) -> bool:
        """All 12 steps pass."""
        return len(self.passed) == len(Step)

    @property
    def incomplete(self) -> bool:
        return not self.completed

    @property
    def completed_photos(self) -> int:
        return len(self.passed)

    @property
    def outstanding_photos(self) -> int:
        return len(Step) - len(self.passed)

    @property
    def missing(self) -> tuple[Step, ...]:
        return tuple(s for s in Step if self.mark(s) is Mark.MISSING)

    def wrong_steps(self) -> dict[str, str]:
        """The wrong steps' reasons keyed by column, as the table keeps them."""
        return {step.column: reason for step, reason in self.wrong}


def feedback_text(drop_number: str, verdict: Verdict) -> str:
    """The message for the project's group, in the format the team and the agents know.

    `DR1234567\\nAll items complete! ✅`, or `DR1234567\\nNEEDS CORRECTION\\n\\nMissing
    items:\\n• 1. House Photo\\nIncorrect items:\\n• 3. Cable Entry Outside - <reason>`; the
    reviewer's overall comment, if any, follows after a blank line.
    """
    if verdict.completed:
        lines = [drop_number, COMPLETE_LINE]
    else:
        lines = [drop_number, CORRECTION_LINE, ""]
        if verdict.missing:
            lines += ["Missing items:", *(f"• {s.display}" for s in verdict.missing)]
        if verdict.wrong:
            lines += ["Incorrect items:", *(f"• {s.display} - {why}" for s, why in verdict.wrong)]
    if verdict.comment:
        lines += ["", verdict.comment]
    return "\n".join(lines)


def changes(before: Verdict, after: Verdict) -> dict[str, dict[str, str]]:
    """What a save changes, for the audit trail: {field: {"from": ..., "to": ...}}.

    Steps are keyed by column and described as `passed`, `missing` or `wrong: <reason>`.
    """
    diff: dict[str, dict[str, str]] = {}
    for step in Step:
        old, new = _describe(before, step), _describe(after, step)
        if old != new:
            diff[step.column] = {"from": old, "to": new}
    if before.comment != after.comment:
        diff["comment"] = {"from": before.comment, "to": after.comment}
    return diff


def _describe(verdict: Verdict, step: Step) -> str:
    mark = verdict.mark(step)
    return f"wrong: {verdict.reason(step)}" if mark is Mark.WRONG else mark.value
