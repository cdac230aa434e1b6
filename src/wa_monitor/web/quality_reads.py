"""What the Quality page reads, as one port (`QualityReads`), so its handler gets unit tests
through the in-memory `FakeQualityReads` (tests/support/fakes.py) and Starlette's test client.

`PgQualityReads` is the port on the site's pool: each figure is computed in SQL from the per-day
summary (adapters/postgres/quality.py); this module only decides which connection asks what."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wa_monitor.adapters.postgres import quality as figures
from wa_monitor.adapters.postgres.quality import Quality, Span, Week

if TYPE_CHECKING:
    from wa_monitor.web.context import Site


@dataclass(frozen=True, slots=True)
class QualityFigures:
    """The page's figures: the range's, the period before's, and its weeks'."""

    now: Quality  # every part: the projects, the failing steps, the agents, the loop's times
    before: Quality  # the projects and the loop's times only (what the page compares)
    weeks: tuple[Week, ...]  # the weeks with drops, oldest first


class QualityReads(Protocol):
    """One request's reads of the Quality page's figures."""

    def figures(self, shown: Span, before: Span, weeks: Span) -> QualityFigures:
        """The figures of the drops first seen in `shown`, in `before` (its failing steps and
        agents left empty), and per local week (Monday first) of the days of `weeks`."""
        ...


@dataclass(frozen=True, slots=True)
class PgQualityReads:
    """The port on the site's pool: three reads side by side, each on a connection of its own
    (the range's counts, its loop's times, then the period before and the weeks). The agents'
    counts and the loop's times are the page's two longest statements; one after the other,
    with the period before, they took most of its time at a million reviews (issue 26)."""

    site: Site

    def figures(self, shown: Span, before: Span, weeks: Span) -> QualityFigures:
        site = self.site

        def now_counts() -> figures.Counts:
            with site.connection() as conn:
                return figures.counts(conn, site.db, shown)

        def now_times() -> list[tuple[Any, ...]]:
            with site.connection() as conn:
                return figures.times(conn, site.db, shown, agents=True)

        def earlier() -> tuple[Quality, list[Week]]:
            with site.connection() as conn:
                past = figures.quality(conn, site.db, before, detail=False)
                return past, figures.weekly(conn, site.db, weeks.first, weeks.last, weeks.tz)

        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="quality") as reads:
            counted, waits = reads.submit(now_counts), reads.submit(now_times)
            previous = reads.submit(earlier)
            now = figures.combine(counted.result(), waits.result())
            past, weekly = previous.result()
        return QualityFigures(now, past, tuple(weekly))
