"""The SharePoint daily-totals job: production's distinct drops per project and local day,
upserted into the sheet by (date, project), each row written recorded in the schema.

The counts come from the one query the dashboard also reads (adapters.postgres.daily), so the
sheet and the dashboard never disagree. A run covers yesterday (final) and today (provisional)
unless told otherwise, so a drop posted after the evening run is in the next night's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from wa_monitor.core.ports import SheetTarget
from wa_monitor.core.records import DailyCount
from wa_monitor.core.sheet import SheetPlan, TargetKind, Write, WriteKind, plan
from wa_monitor.errors import EXIT_FAILED, Refused, WaMonitorError

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Days:
    """The local days a run covers, first..last inclusive."""

    first: date
    last: date

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


def days_to_sync(today: date, *, on: date | None = None, since: timedelta | None = None) -> Days:
    """`on` alone; the `since` days up to today (7d: today and the six before); by default
    yesterday and today."""
    if on is not None:
        if on > today:
            raise Refused(f"--date {on} is in the future (today is {today}): nothing to count")
        return Days(on, on)
    if since is None:
        return Days(today - timedelta(days=1), today)
    if since % timedelta(days=1):
        raise Refused(
            f"--since counts whole days, like 7d or 2w (got {since.total_seconds() / 3600:g}h)"
        )
    if since.days > MAX_DAYS:
        raise Refused(f"--since covers at most {MAX_DAYS} days (got {since.days})")
    return Days(today - timedelta(days=since.days - 1), today)


@dataclass(frozen=True, slots=True)
class SyncReport:
    days: Days
    where: str
    plan: SheetPlan
    written: tuple[Write, ...]
    dry_run: bool
    no_project: int  # drops whose review has no project: counted nowhere in the sheet

    @property
    def pending(self) -> tuple[Write, ...]:
        return tuple(w for w in self.plan.writes if w not in self.written)

    def lines(self) -> list[str]:
        """What a person reads: each row written (or to write), then one summary line."""
        verb = "would write" if self.dry_run else "wrote"
        shown = self.plan.writes if self.dry_run else self.written
        out = [f"{verb} {_row(w)}" for w in shown]
        updated = sum(1 for w in shown if w.kind is WriteKind.UPDATE)
        out.append(
            f"{self.where}: {self.days}: {updated} updated, {len(shown) - updated} appended, "
            f"{len(self.plan.unchanged)} unchanged"
            + (" (dry run: nothing written)" if self.dry_run else "")
        )
        return out


class SyncIncomplete(WaMonitorError):
    """Some rows reached the sheet and some did not: the next run writes the rest."""

    exit_code = EXIT_FAILED

    def __init__(self, report: SyncReport, cause: WaMonitorError) -> None:
        written = ", ".join(_row(w) for w in report.written) or "none"
        pending = ", ".join(_row(w) for w in report.pending)
        super().__init__(
            f"stopped after {len(report.written)} of {len(report.plan.writes)} rows: {cause}; "
            f"written: {written}; not written: {pending}; the next run writes them"
        )
        self.report = report


def _row(w: Write) -> str:
    was = f", was {w.previous}" if w.kind is WriteKind.UPDATE else ", new"
    return f"{w.total.day} {w.total.project} = {w.total.drops} (row {w.row}{was})"


class SyncBook(Protocol):
    """What the sync reads and records in the environment's schema: the daily counts (the
    dashboard's own query) and the rows it wrote. adapters/postgres/sync_record.PgSyncBook, or
    FakeSyncBook in tests/support/fakes.py."""

    def counts(self, first: date, last: date) -> list[DailyCount]:
        """Distinct drops per (local day, project), first..last."""
        ...

    def written(self, where: str, first: date, last: date) -> list[tuple[date, str]]:
        """The (day, project) rows written to `where` before, for days first..last."""
        ...

    def record(self, write: Write, *, kind: TargetKind, where: str) -> None:
        """Note one row the sheet now holds, committed (kept if a later row fails)."""
        ...


def sync(
    *,
    book: SyncBook,
    days: Days,
    target: SheetTarget,
    dry_run: bool,
    log: Any,
) -> SyncReport:
    """Upsert the days' totals into the target; record each row written in the environment's
    schema. The caller holds the environment's sync lock (sync_record.sync_lock) throughout."""
    started = time.monotonic()
    counts = book.counts(days.first, days.last)
    no_project = sum(c.drops for c in counts if not c.project.strip())
    if no_project:
        log.warning("drops without a project are not synced", days=str(days), drops=no_project)
    ours = book.written(target.where, days.first, days.last)
    the_plan = plan(target.read(), [c for c in counts if c.project.strip()], ours=ours)
    for extra in the_plan.duplicates:
        log.warning(
            "sheet row repeats a date and project: left as it is, delete it by hand",
            row=extra.index,
            day=str(extra.day),
            project=extra.project,
        )
    report = SyncReport(days, target.where, the_plan, (), dry_run, no_project)
    if dry_run:
        return report
    written: list[Write] = []
    try:
        for write in target.apply(the_plan):
            written.append(write)
            # The printed report lists each row once; at INFO this line would say it again.
            log.debug(
                "✅ wrote sheet row",
                row=write.row,
                day=str(write.total.day),
                project=write.total.project,
                drops=write.total.drops,
                previous=write.previous,
            )
            book.record(write, kind=target.kind, where=target.where)
    except WaMonitorError as exc:
        done = SyncReport(days, target.where, the_plan, tuple(written), dry_run, no_project)
        raise SyncIncomplete(done, exc) from None
    log.info(
        "synced",
        target=target.where,
        days=str(days),
        written=len(written),
        unchanged=len(the_plan.unchanged),
        took_ms=round((time.monotonic() - started) * 1000),
    )
    return SyncReport(days, target.where, the_plan, tuple(written), dry_run, no_project)
