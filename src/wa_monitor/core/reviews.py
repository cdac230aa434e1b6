"""The review rules: which sightings create a review, which are resubmissions. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo

from wa_monitor.core.drops import find_drops, says_resubmitted
from wa_monitor.core.records import (
    BridgeMessage,
    Decision,
    NewReview,
    Outcome,
    Plan,
    Refold,
    Resubmission,
    ReviewState,
    Sighting,
    Skip,
    SkipReason,
)


def sightings(
    messages: Iterable[BridgeMessage],
    *,
    projects: Mapping[str, str],
    bot_senders: frozenset[str],
    tz: tzinfo,
    own_account_posts_drops: bool = True,
    skipped: list[Skip] | None = None,
) -> list[Sighting]:
    """Every (message, drop) pair worth applying, in bridge order. Messages of a bot number,
    and of the bridge's own account unless it posts drops, are left out; those that name a
    drop are added to `skipped`, so that an agent skipped by mistake is told of."""
    found: list[Sighting] = []
    for m in messages:
        if m.sender_id in bot_senders or m.phone in bot_senders:
            reason: SkipReason | None = SkipReason.BOT_SENDER
        elif m.from_me and not own_account_posts_drops:
            reason = SkipReason.OWN_ACCOUNT
        else:
            reason = None
        drops = find_drops(m.content)
        if not drops:
            continue
        project = projects.get(m.chat_jid)
        if project is None:
            continue
        if reason is not None:
            if skipped is not None:
                skipped.append(Skip(m.chat_jid, m.message_id, m.phone, reason, m.sent_at))
            continue
        resubmit_word = says_resubmitted(m.content)
        review_date = m.sent_at.astimezone(tz).date()
        for drop in drops:
            found.append(
                Sighting(
                    chat_jid=m.chat_jid,
                    message_id=m.message_id,
                    rowid=m.rowid,
                    drop_number=drop,
                    project=project,
                    phone=m.phone,
                    user_name=m.sender_name or m.phone,
                    sent_at=m.sent_at,
                    review_date=review_date,
                    says_resubmitted=resubmit_word,
                    flaw=m.flaw,
                    bridge_time=m.timestamp_text if m.flaw is not None else None,
                )
            )
    return found


@dataclass(slots=True)
class _Latest:
    """A drop's review as the batch has left it so far."""

    existing: ReviewState | None
    new: NewReview | None
    last_submitted_at: datetime
    feedback_sent: datetime | None
    resubmission: Resubmission | None = None


def plan(sightings: Iterable[Sighting], existing: Mapping[str, ReviewState], tz: tzinfo) -> Plan:
    """Fold the sightings, in the messages' own time order, over the reviews that exist, into
    the writes to make; the decisions come back in the sightings' order.

    A sighting of a drop with no review creates one. A later sighting is a resubmission when it
    falls on a later local day than the last submission, carries a resubmission word, or comes
    after feedback was sent; otherwise it changes nothing. A sighting older than the review's
    last submission (late history; or a message one bridge delivered after another bridge
    delivered a newer one) is stale, unless the review's history is known: then the drop's
    messages are all folded again in time order into a Refold, so that the order in which
    bridges deliver makes no difference.
    """
    found = list(sightings)
    refold = {
        s.drop_number
        for s in found
        if (known := existing.get(s.drop_number)) is not None
        and known.history is not None
        and s.sent_at < known.last_submitted_at
    }
    state: dict[str, _Latest] = {}
    outcomes: dict[int, Outcome] = {}
    for s in sorted(found, key=_when) if len(found) > 1 else found:
        if s.drop_number in refold:
            continue
        latest = state.get(s.drop_number)
        if latest is None and (known := existing.get(s.drop_number)) is not None:
            latest = state[s.drop_number] = _Latest(
                existing=known,
                new=None,
                last_submitted_at=known.last_submitted_at,
                feedback_sent=known.feedback_sent,
            )
        if latest is None:
            state[s.drop_number] = _Latest(
                existing=None, new=_new_review(s), last_submitted_at=s.sent_at, feedback_sent=None
            )
            outcomes[id(s)] = Outcome.CREATED
            continue
        outcome = outcomes[id(s)] = _outcome(s, latest, tz)
        if outcome is Outcome.RESUBMITTED:
            _resubmit(latest, s)
    corrections = tuple(
        _correct(existing[drop], [s for s in found if s.drop_number == drop], tz, outcomes)
        for drop in sorted(refold)
    )
    new = tuple(latest.new for latest in state.values() if latest.new is not None)
    resubmissions = tuple(
        latest.resubmission for latest in state.values() if latest.resubmission is not None
    )
    return Plan(
        new_reviews=new,
        resubmissions=resubmissions,
        decisions=tuple(Decision(s, outcomes[id(s)]) for s in found),
        corrections=corrections,
    )


def _when(s: Sighting) -> tuple[datetime, str, str]:
    """A message's place in time: its own time, then (the same second) its chat and id, which
    every bridge gives alike."""
    return (s.sent_at, s.chat_jid, s.message_id)


def _correct(
    known: ReviewState, fresh: list[Sighting], tz: tzinfo, outcomes: dict[int, Outcome]
) -> Refold:
    """The review as the drop's messages, old and new, folded in time order make it; each new
    sighting's outcome is the one it has in that order (the first message's "created" is
    stale: its review exists)."""
    assert known.history is not None  # noqa: S101 - only drops with a history are folded again
    new_keys = {(s.chat_jid, s.message_id) for s in fresh}
    older = [h for h in known.history if (h.chat_jid, h.message_id) not in new_keys]
    ordered = sorted([*older, *fresh], key=_when)
    first = replace(ordered[0], review_date=_local_day(ordered[0].sent_at, tz))
    latest = _Latest(
        existing=None,
        new=_new_review(first),
        last_submitted_at=first.sent_at,
        feedback_sent=known.feedback_sent,
    )
    folded = {id(ordered[0]): Outcome.STALE}
    for s in ordered[1:]:
        outcome = folded[id(s)] = _outcome(s, latest, tz)
        if outcome is Outcome.RESUBMITTED:
            _resubmit(latest, s)
    for s in fresh:
        outcomes[id(s)] = folded[id(s)]
    review = latest.new
    assert review is not None  # noqa: S101 - the fold starts from a new review
    kept = known.resubmitted and not review.resubmitted  # a resubmission after feedback
    return Refold(
        review_id=known.id,
        drop_number=known.drop_number,
        project=review.project,
        review_date=review.review_date,
        whatsapp_message_date=review.whatsapp_message_date,
        resubmitted=review.resubmitted or known.resubmitted,
        who=None if kept else (review.user_name, review.submitted_by, review.last_submitted_at),
        reopen=any(
            folded[id(s)] is Outcome.RESUBMITTED and s.sent_at >= known.last_submitted_at
            for s in fresh
        ),
    )


def _outcome(s: Sighting, latest: _Latest, tz: tzinfo) -> Outcome:
    if s.sent_at < latest.last_submitted_at:
        return Outcome.STALE
    later_day = _local_day(s.sent_at, tz) > _local_day(latest.last_submitted_at, tz)
    after_feedback = latest.feedback_sent is not None and s.sent_at > latest.feedback_sent
    if later_day or s.says_resubmitted or after_feedback:
        return Outcome.RESUBMITTED
    return Outcome.REPEAT


def _resubmit(latest: _Latest, s: Sighting) -> None:
    latest.last_submitted_at = s.sent_at
    latest.feedback_sent = None
    if latest.new is not None:
        latest.new = replace(
            latest.new,
            resubmitted=True,
            user_name=s.user_name,
            submitted_by=s.phone,
            last_submitted_at=s.sent_at,
        )
        return
    assert latest.existing is not None  # noqa: S101 - a _Latest holds one or the other
    latest.resubmission = Resubmission(
        review_id=latest.existing.id,
        drop_number=s.drop_number,
        user_name=s.user_name,
        submitted_by=s.phone,
        last_submitted_at=s.sent_at,
    )


def _new_review(s: Sighting) -> NewReview:
    return NewReview(
        drop_number=s.drop_number,
        review_date=s.review_date,
        project=s.project,
        user_name=s.user_name,
        submitted_by=s.phone,
        whatsapp_message_date=s.sent_at,
        last_submitted_at=s.sent_at,
        resubmitted=False,
    )


def _local_day(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def mark_taken(plan: Plan, taken: set[str]) -> Plan:
    """Sightings whose insert lost to a row someone else wrote for the same (drop, date)."""
    decisions = tuple(
        replace(d, outcome=Outcome.TAKEN)
        if d.outcome is Outcome.CREATED and d.sighting.drop_number in taken
        else d
        for d in plan.decisions
    )
    return replace(
        plan,
        new_reviews=tuple(r for r in plan.new_reviews if r.drop_number not in taken),
        decisions=decisions,
    )
