"""The cycle report: what a drain did, as counts, STATUS= text and a log line per review."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from wa_monitor.core.ports import Log, LogLines
from wa_monitor.core.records import BridgeBatch, Decision, Flaw, Outcome


@dataclass
class Totals:
    """What a drain did; logged as one summary line."""

    scanned: int = 0
    messages: int = 0
    sightings: int = 0
    duplicates: int = 0
    skipped: int = 0  # messages naming a drop from a bot number or the bridge's own account
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def add(
        self, batch: BridgeBatch, found: int, duplicates: int, outcomes: Mapping[Outcome, int]
    ) -> None:
        self.scanned += batch.rows_scanned
        self.messages += len(batch.messages)
        self.sightings += found
        self.duplicates += duplicates
        for outcome, count in outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count

    @property
    def did_work(self) -> bool:
        return self.sightings > 0 or self.duplicates > 0 or self.skipped > 0

    def fields(self) -> dict[str, Any]:
        counted = {o.value: self.outcomes.get(o, 0) for o in Outcome}
        took = time.monotonic() - self.started
        return {
            "scanned": self.scanned,
            "messages": self.messages,
            "sightings": self.sightings,
            **counted,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "took_ms": round(took * 1000),
        }


def describe_cycle(cycle: Totals) -> str:
    created = cycle.outcomes.get(Outcome.CREATED, 0)
    resub = cycle.outcomes.get(Outcome.RESUBMITTED, 0)
    return f"last cycle: {created} created, {resub} resubmitted"


APPLIED = frozenset({Outcome.CREATED, Outcome.RESUBMITTED})


def describe_newest(decided: Sequence[Decision], tz: tzinfo) -> str:
    """The newest drop a batch created or resubmitted, and how long after its posting (its
    time in the environment's zone `tz`)."""
    applied = [d.sighting for d in decided if d.outcome in APPLIED]
    if not applied:
        return ""
    s = max(applied, key=lambda s: s.sent_at)
    lag = (datetime.now(UTC) - s.sent_at).total_seconds()
    return (
        f"last drop {s.drop_number} ({s.project}) posted "
        f"{s.sent_at.astimezone(tz).isoformat(timespec='seconds')}, applied {lag:.0f}s later"
    )


FLAW_LINES = {
    Flaw.UNREADABLE_TIME: "unreadable timestamp; using the time it was read",
    Flaw.FUTURE_TIME: "timestamp is in the future; using the time it was read",
    Flaw.ANCIENT_TIME: "timestamp is before WhatsApp existed; using the time it was read",
    Flaw.RAW_ID: "message id is not plain text; recorded as its bytes in hex",
    Flaw.REFUSED: "the database refused this message; recorded and skipped",
}


def log_decisions(
    log: Log, lines: LogLines, decided: Sequence[Decision], batch: BridgeBatch
) -> None:
    flawed = {(m.chat_jid, m.message_id): m for m in batch.messages if m.flaw is not None}
    info, debug = lines.emitter(log, "info"), lines.emitter(log, "debug")
    with lines.batched():  # one write per sink for the batch, not one per line
        for d in decided:
            s = d.sighting
            if flawed and (m := flawed.pop((s.chat_jid, s.message_id), None)) is not None:
                assert m.flaw is not None  # noqa: S101 - only flawed messages are kept
                log.warning(
                    f"⚠️ {FLAW_LINES[m.flaw]}",
                    bridge_time=m.timestamp_text,
                    msg=s.message_id,
                    chat=s.chat_jid,
                    rowid=s.rowid,
                )
            outcome = d.outcome
            if outcome is Outcome.CREATED:
                text = f"✅ Created QA review for {s.drop_number} ({s.project})"
            elif outcome is Outcome.RESUBMITTED:
                text = f"🔄 Resubmission for {s.drop_number} ({s.project})"
            elif outcome is Outcome.REJECTED:
                text = f"❌ Invalid drop {s.drop_number} ({s.project}): not in its plan"
            elif outcome is Outcome.TAKEN:
                text = f"review for {s.drop_number} on {s.review_date} already exists"
            elif outcome is Outcome.STALE:
                text = f"late history for {s.drop_number}: older than its last submission"
            else:
                text = f"repeat of {s.drop_number}"
            # The context as keywords, not a dict spread into them: a line per review.
            (debug if outcome is Outcome.REPEAT else info)(
                text, by=s.phone, chat=s.chat_jid, msg=s.message_id, sent_at=s.sent_at
            )
