"""Distinct drops per project per local day: the one query the dashboard and the SharePoint
job share, so that the two never disagree. Read from the per-day summary (summary.py); the
count from the reviews themselves (sql/daily.sql) stays, as the definition the summary is
checked against."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from wa_monitor.adapters.postgres import summary
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.core.records import DailyCount


def local_midnight(day: date, tz: str) -> datetime:
    """The instant `day` starts in zone `tz` (DST-safe: the zone says the offset)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz))


def daily_totals(
    conn: psycopg.Connection[Any], db: Database, first: date, last: date, tz: str
) -> list[DailyCount]:
    """Distinct drops per (local day, project) for the days first..last inclusive, by the local
    date (zone `tz`) of whatsapp_message_date; days and projects without drops are absent."""
    rows = summary.rows(conn, db, "daily_counts", first, last, tz=tz)
    return [DailyCount(day=d, project=p, drops=int(n)) for d, p, n in rows]


def counted_totals(
    conn: psycopg.Connection[Any], db: Database, first: date, last: date, tz: str
) -> list[DailyCount]:
    """The same, counted from the reviews (what the summary must equal)."""
    query = db.query("daily.daily_counts")
    params = {
        "tz": tz,
        "start": local_midnight(first, tz),
        "end": local_midnight(last + timedelta(days=1), tz),
    }
    return [DailyCount(day=d, project=p, drops=n) for d, p, n in conn.execute(query, params)]
