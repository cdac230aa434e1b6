"""The demo's past weeks: the Quality page has figures to show the moment the demo starts, and
the per-day summary counted them as they went in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.integration.test_daily_summary import everything, recount
from wa_monitor.adapters.postgres import quality
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.quality import Span
from wa_monitor.devtools.demo import AGENTS, PROD_GROUPS
from wa_monitor.devtools.history import seed_history
from wa_monitor.web.filters import local_midnight

pytestmark = pytest.mark.migrated("prod")
ZONE = "Africa/Johannesburg"


def test_the_demos_history_fills_the_quality_page(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    handle = Database(database_url, "public", "prod")
    written = seed_history(database_url, handle, projects=PROD_GROUPS, agents=AGENTS)
    assert written > 500
    assert everything(db) == recount(db)
    tz = ZoneInfo(ZONE)
    last = datetime.now(tz).date()
    first = last - timedelta(days=27)
    span = Span(
        first, last, local_midnight(first, tz), local_midnight(last + timedelta(1), tz), ZONE
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        figures = quality.quality(conn, handle, span)
    total = figures.total()
    assert total is not None
    assert {p.project for p in figures.projects} == {*PROD_GROUPS, None}
    assert 0 < total.passed_first < total.reviewed < total.drops
    assert min(total.resubmitted, total.completed, total.awaiting) > 0
    assert {a.phone for a in figures.agents} == set(AGENTS)
    assert all(a.top_steps for a in figures.agents)
    loop = figures.loop[-1]
    assert loop.project is None
    assert None not in (loop.verdict_p50, loop.feedback_p50, loop.fix_p50, loop.complete_p50)
    assert (loop.verdict_p50 or 0) > 0
