"""The validation rules: which sightings are not in their project's plan, what happens to them,
and which replies the batch leaves in the outbox. Pure: the lists come from the store."""

from __future__ import annotations

import enum
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

from wa_monitor.core import reviews
from wa_monitor.core.records import (
    Decision,
    InvalidSubmission,
    Outcome,
    Plan,
    PlanLists,
    Reply,
    ReplyKind,
    ReviewState,
    Sighting,
)
from wa_monitor.core.replies import speakable


class InvalidAction(enum.StrEnum):
    """What a drop that is not in its project's plan gets."""

    REJECT = "reject"  # recorded, answered, no review
    FLAG = "flag"  # recorded, answered, and a review flagged drop_not_in_plan


DEFAULT_TEXTS: Mapping[ReplyKind, str] = {
    ReplyKind.INVALID_DROP: (
        "❌ Invalid Drop Number\n\nDrop {drop} is not in the valid list for {project}.\n\n"
        "Please submit a valid drop number from the project plan."
    ),
    ReplyKind.RECEIVED: "✅ {drop} received for {project}",
    ReplyKind.RESUBMISSION: "🔄 {drop} resubmission recorded for {project}",
}
PLACEHOLDERS = frozenset({"drop", "project"})
# A reply names at most this many drops of one kind, then says how many more there are.
NAMED_DROPS = 5
_ACKNOWLEDGED = {Outcome.CREATED: ReplyKind.RECEIVED, Outcome.RESUBMITTED: ReplyKind.RESUBMISSION}


def check_template(text: str) -> None:
    """Raise ValueError unless `text` is a reply template using only {drop} and {project}."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write braces as {{{{ and }}}}") from None
    if unknown := sorted(fields - PLACEHOLDERS):
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}: use {{drop}} and {{project}}")
    if not text.strip():
        raise ValueError("a reply text may not be empty")


@dataclass(frozen=True, slots=True)
class Policy:
    """One environment's validation and reply settings, as the rules need them."""

    validating: frozenset[str] = frozenset()  # project names with validate = true
    action: InvalidAction = InvalidAction.REJECT
    reply_groups: frozenset[str] = frozenset()  # groups replies may be written for; none: off
    acknowledge: bool = False
    texts: Mapping[ReplyKind, str] = field(default_factory=lambda: dict(DEFAULT_TEXTS))

    def text(self, kind: ReplyKind, s: Sighting) -> str:
        return self.texts[kind].format(drop=s.drop_number, project=s.project)

    def reply(self, answers: Sequence[tuple[ReplyKind, Sighting]]) -> Reply:
        """The one reply to one message, whatever it holds: each kind's text once, naming up
        to NAMED_DROPS of its drops and then how many more."""
        kinds: dict[ReplyKind, list[Sighting]] = {}
        for kind, sighting in answers:
            kinds.setdefault(kind, []).append(sighting)
        texts = [
            self.texts[kind].format(drop=named(s.drop_number for s in of), project=of[0].project)
            for kind, of in kinds.items()
        ]
        first_kind, first = answers[0]
        return Reply(first_kind, first, speakable("\n\n".join(texts)))


def named(drops: Iterable[str]) -> str:
    """Up to NAMED_DROPS drop numbers, then "and N more" (each drop once, in order)."""
    unique = list(dict.fromkeys(drops))
    shown = ", ".join(unique[:NAMED_DROPS])
    more = len(unique) - NAMED_DROPS
    return f"{shown} and {more} more" if more > 0 else shown


def plan(
    found: Sequence[Sighting],
    existing: Mapping[str, ReviewState],
    lists: PlanLists,
    *,
    policy: Policy,
    tz: tzinfo,
) -> Plan:
    """The review rules (reviews.plan) with validation in front and the replies behind.

    A sighting of a validating project whose list holds drops, and whose drop is not in it, is
    recorded as invalid; with REJECT it makes no review, with FLAG its new review is flagged. A
    validating project with an empty list is not validated (its sightings' project shows in
    `unlisted`). A message in a group replies may go to gets one reply naming its invalid
    drops; with acknowledgements, its created and resubmitted reviews too.
    """
    if not policy.validating and not policy.acknowledge:
        return reviews.plan(found, existing, tz)  # the common case costs nothing
    invalid = [
        s
        for s in found
        if s.project in lists.with_list and (s.project, s.drop_number) not in lists.listed
    ]
    rejected = {id(s) for s in invalid} if policy.action is InvalidAction.REJECT else set()
    kept = [s for s in found if id(s) not in rejected] if rejected else found
    base = reviews.plan(kept, existing, tz)
    decisions = base.decisions
    if rejected:
        applied = iter(base.decisions)
        decisions = tuple(
            Decision(s, Outcome.REJECTED) if id(s) in rejected else next(applied) for s in found
        )
    invalid_ids = {id(s) for s in invalid}
    answers = [(ReplyKind.INVALID_DROP, s) for s in invalid if s.chat_jid in policy.reply_groups]
    if policy.acknowledge:
        answers += [
            (kind, d.sighting)
            for d in decisions
            if (kind := _ACKNOWLEDGED.get(d.outcome)) is not None
            and d.sighting.chat_jid in policy.reply_groups
            and id(d.sighting) not in invalid_ids
        ]
    # One reply per message, whatever it holds: a message naming 300 wrong drops is one post.
    by_message: dict[tuple[str, str], list[tuple[ReplyKind, Sighting]]] = {}
    for kind, sighting in answers:
        by_message.setdefault((sighting.chat_jid, sighting.message_id), []).append((kind, sighting))
    replies = [policy.reply(of) for of in by_message.values()]
    action = policy.action.value
    return Plan(
        new_reviews=base.new_reviews,
        resubmissions=base.resubmissions,
        decisions=decisions,
        corrections=base.corrections,
        invalid=tuple(
            InvalidSubmission(s, f"not in the valid list for {s.project}", action) for s in invalid
        ),
        flagged=frozenset((s.project, s.drop_number) for s in invalid)
        if policy.action is InvalidAction.FLAG
        else frozenset(),
        replies=tuple(replies),
        unlisted=frozenset(s.project for s in found if s.project in policy.validating)
        - lists.with_list,
    )
