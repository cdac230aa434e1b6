"""`python -m benchmarks.web_bench`: the dashboard with 1,000,000 reviews in the table.

It fills a new database (embedded PostgreSQL, or the server `--database-url` /
$WA_MONITOR_BENCH_DATABASE_URL names) with a year of reviews and their ledger entries, starts the
real service (`wa-monitor web`) as a separate process, and measures each page: the server's own
time (its Server-Timing header) p50/p95 over --repeat requests, a CSV export of 100,000 filtered
rows (the whole download, and the service's peak memory before and after, with a 300,000-row
export beside it to show the export does not grow with its size), and the query plans. Views
are also said as a ratio to a baseline in the same run (the Quality page to the overview's,
the queue to the review list's first page, a past day's first overview to a cached one).
Targets: p95 <= 50 ms for every view (the queue's too), the export in constant memory. A run
of 1,000,000 rows writes its figures into docs/PERFORMANCE.md between the web-bench markers
(`--doc` another file, `--no-doc` none).

Photos: a tenth of the drops have 12 fetched photos each (the rows the drain and the fetcher
write), and the sampled reviews' photos are in the cache: the review page with its 12 photos
against the same page of a drop without any (p95 <= 50 ms), and a thumbnail against /healthz
(one SELECT 1; p95 <= 10 ms), each as a ratio to its same-run baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import psycopg
from psycopg import sql

from benchmarks.bench import DOC, SERVER_VAR, commit, fresh_database, machine, server, write_block
from wa_monitor.adapters.media import PhotoCache, render
from wa_monitor.adapters.postgres import dashboard, summary
from wa_monitor.adapters.postgres.dashboard import Feedback, Keyset, ReviewFilter, Status
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.quality import Span
from wa_monitor.adapters.postgres.quality import times as quality_times
from wa_monitor.adapters.postgres.store import Store
from wa_monitor.adapters.postgres.users import Role, UserBook
from wa_monitor.devtools.photos import LAWLEY, Subject, draw
from wa_monitor.services import accounts
from wa_monitor.settings import DATABASE_URL_VAR, WEB_SECRET_VAR

SAST = ZoneInfo("Africa/Johannesburg")
TARGET_MS = 50.0
PASSWORD = "benchmark password"  # noqa: S105  a throwaway user of a throwaway database
PROJECTS = ("Lawley", "Mohadin", "Mamelodi", "Velo Test")
GROUPS = {name: f"12036341829813{i:04d}@g.us" for i, name in enumerate(PROJECTS)}
SPACING_SECONDS = 31.5  # 1,000,000 reviews over about a year: ~2,740 a day

# The waits of a review's loop, from its number g alone (the reviews' and the trail's statements
# agree on them): spread over hours and days as real waits are, so that the Quality page's
# time histograms (migration 0024) hold as many buckets as a real month's.
WAITS = """
    300 * power(2, 10 * ((g::bigint * 7919) %% 1000) / 1000.0) AS to_verdict,
    60 * power(2, 8 * ((g::bigint * 104729) %% 1000) / 1000.0) AS to_feedback,
    600 * power(2, 10 * ((g::bigint * 1299709) %% 1000) / 1000.0) AS to_fix,
    300 * power(2, 8 * ((g::bigint * 15485863) %% 1000) / 1000.0) AS to_complete
"""
# One statement: reviews first seen every SPACING_SECONDS back from now, in every state, and one
# ledger entry per review (plus one per resubmission) as the monitor writes them. A judged review
# (g % 4 is 0 or 1) had its first verdict to_verdict after it was posted; feedback was sent on
# two in three of them (g % 3 <> 1), to_feedback after the verdict; a resubmitted one of those
# (g % 9 = 0) came back to_fix after the feedback and was judged again to_complete after that.
SEED_REVIEWS = (
    """
INSERT INTO {reviews} (
    drop_number, review_date, project, user_name, submitted_by, whatsapp_message_date,
    last_submitted_at, completed, incomplete, resubmitted, feedback_sent, reviewed_at,
    step_01_house_photo, step_02_cable_from_pole, step_03_cable_entry_outside, created_at)
SELECT 'DR' || (1000000 + g), (ts AT TIME ZONE 'Africa/Johannesburg')::date,
       (ARRAY['Lawley', 'Mohadin', 'Mamelodi', 'Velo Test'])[1 + g %% 4],
       'Agent ' || (g %% 400), '2764' || lpad((g %% 400)::text, 7, '0'), ts,
       CASE WHEN fixed THEN fed + to_fix * interval '1 second' ELSE ts END,
       g %% 4 = 0, g %% 4 = 1, g %% 9 = 0,
       CASE WHEN judged AND g %% 3 <> 1 THEN fed END,
       CASE WHEN fixed THEN fed + (to_fix + to_complete) * interval '1 second'
            WHEN judged THEN ts + to_verdict * interval '1 second' END,
       g %% 4 = 0 OR g %% 2 = 1, g %% 4 = 0, g %% 4 = 0, ts
FROM (SELECT *, judged AND g %% 3 <> 1 AND g %% 9 = 0 AS fixed,
             ts + (to_verdict + to_feedback) * interval '1 second' AS fed
      FROM (SELECT g, now() - g * %(spacing)s * interval '1 second' AS ts,
                   g %% 4 IN (0, 1) AS judged,"""
    + WAITS
    + """
            FROM generate_series(%(first)s::int, %(last)s::int) AS g) AS w) AS s
"""
)
SEED_LEDGER = """
INSERT INTO {ledger} (chat_jid, message_id, bridge_rowid, drops, sent_at, processed_at)
SELECT (%(groups)s::text[])[1 + g %% 4], 'm' || g || '-' || k, g * 2 + k, 'DR' || (1000000 + g),
       now() - g * %(spacing)s * interval '1 second' + k * interval '1 day',
       now() - g * %(spacing)s * interval '1 second' + k * interval '1 day' + interval '1 second'
FROM generate_series(1, %(rows)s::int) AS g, generate_series(0, 1) AS k
WHERE k = 0 OR g %% 9 = 0
"""
# The review trail the Quality page reads: a first verdict on every judged review (steps 1-3 as
# the row has them), and a feedback stamp where feedback was sent.
SEED_TRAIL = (
    """
INSERT INTO {changes} (review_id, version, changed_by, changed_at, changes)
SELECT id, 2, 'bench', whatsapp_message_date + to_verdict * interval '1 second',
       CASE WHEN completed THEN jsonb_build_object(
                'step_01_house_photo', '{{"from": "missing", "to": "passed"}}'::jsonb)
            ELSE '{{"saved": "no change"}}'::jsonb END
FROM (SELECT r.*,"""
    + WAITS
    + """
      FROM (SELECT *, substr(drop_number, 3)::int - 1000000 AS g FROM {reviews}
            WHERE (completed OR incomplete) AND drop_number BETWEEN %(low)s AND %(high)s) AS r
     ) AS judged
UNION ALL
SELECT id, 3, 'bench', feedback_sent, '{{"feedback_sent": {{"from": "", "to": "sent"}}}}'::jsonb
FROM {reviews} WHERE feedback_sent IS NOT NULL AND drop_number BETWEEN %(low)s AND %(high)s
"""
)
# 12 fetched photos for each of the drops named (the sampled reviews'), with the keys given, and
# for every tenth drop of the table (keys made up: no copy is cached for them).
SEED_PHOTOS = """
INSERT INTO {photos} (chat_jid, message_id, bridge_rowid, sender, sent_at, media_type, filename,
                      drop_number, round_message_id, round_at, state, content_key, content_type,
                      width, height, fetched_at)
SELECT %(chat)s, 'p-' || d || '-' || n, 0, '27640000000', now(), 'image', 'image_1.jpg',
       d, 'r-' || d, now(), 'fetched', k, 'image/jpeg', 640, 480, now()
FROM unnest(%(drops)s::text[], %(keys)s::text[], %(numbers)s::int[]) AS x(d, k, n)
"""
SEED_MORE_PHOTOS = """
INSERT INTO {photos} (chat_jid, message_id, bridge_rowid, sender, sent_at, media_type, filename,
                      drop_number, round_message_id, round_at, state, content_key, content_type,
                      width, height, fetched_at)
SELECT %(chat)s, 'q-' || g || '-' || n, 0, '27640000000', now(), 'image', 'image_1.jpg',
       'DR' || (1000000 + g), 'r-' || g, now(), 'fetched',
       md5(g || '-' || n) || md5(n || '-' || g), 'image/jpeg', 640, 480, now()
FROM generate_series(10, %(rows)s::int, 10) AS g, generate_series(1, 12) AS n
WHERE NOT ('DR' || (1000000 + g)) = ANY(%(drops)s::text[])
"""
PHOTOS_PER_DROP = 12
THUMB_TARGET_MS = 10.0
# The export's memory: the service's peak after the 300,000-row export, over its peak after the
# 100,000-row one (an export streams: its size must not show in the memory).
EXPORT_GROWTH_MB = 10.0
# The size the targets are set at (issue 26): a smaller run prints its verdicts, unjudged.
JUDGED_ROWS = 1_000_000
MARKERS = ("<!-- web-bench:figures:begin -->", "<!-- web-bench:figures:end -->")

# Rows per statement: the per-day summary's triggers (migration 0019) take each statement's
# rows in one go, and a million at once would hold them all in memory.
SEED_CHUNK = 100_000


@dataclass(frozen=True)
class Measured:
    page: str
    path: str
    p50: float
    p95: float
    most: float
    target: float | None = TARGET_MS  # p95's, in ms; None: a baseline, not a view

    @property
    def met(self) -> bool:
        return self.target is None or self.p95 <= self.target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="reviews in the table")
    parser.add_argument("--repeat", type=int, default=40, help="requests per page")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(SERVER_VAR),
        help=f"maintenance URL of a PostgreSQL to use (default ${SERVER_VAR}, else embedded)",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="write the figures table into this file, between its web-bench marker comments "
        f"(default for a run of {JUDGED_ROWS:,} rows or more: docs/PERFORMANCE.md)",
    )
    parser.add_argument("--no-doc", action="store_true", help="leave docs/PERFORMANCE.md as is")
    args = parser.parse_args(argv)
    if args.doc is None and args.rows >= JUDGED_ROWS and not args.no_doc:
        args.doc = DOC  # a full run's figures are the doc's: it cannot drift from the code
    with (
        tempfile.TemporaryDirectory(prefix="wa-monitor-web-bench-") as folder,
        server(args.database_url, Path(folder)) as maintenance,
        fresh_database(maintenance) as url,
    ):
        run(args, Path(folder), url)
    return 0


def run(args: argparse.Namespace, work: Path, url: str) -> None:
    print(f"== dashboard benchmark: {args.rows:,} reviews, {args.repeat} requests per page ==")
    db = Database(url, "public", "prod")
    with Store(db) as store:
        store.migrate()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        seed(conn, db, args.rows)
        accounts.add_user(
            UserBook(conn, db),
            username="bench",
            display_name="Bench",
            role=Role.VIEWER,
            password=PASSWORD,
        )
        print(f"seeded in {time.perf_counter() - started:.0f} s (reviews, ledger, VACUUM ANALYZE)")
        deep = keyset_at(conn, ReviewFilter(), args.rows * 9 // 10)
        mohadin = ReviewFilter(project="Mohadin", status=Status.INCOMPLETE)
        deep_filtered = keyset_at(conn, mohadin, min(5_000, args.rows // 10))
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM public.qa_photo_reviews TABLESAMPLE SYSTEM (1) LIMIT %s",
                (args.repeat,),
            )
        ] or [  # a small table's 1% sample can be empty
            r[0]
            for r in conn.execute("SELECT id FROM public.qa_photo_reviews LIMIT %s", (args.repeat,))
        ]
        bare = [  # reviews of drops without photos: the review page's baseline
            r[0]
            for r in conn.execute(
                "SELECT id FROM public.qa_photo_reviews WHERE right(drop_number, 1) <> '0' "
                "AND NOT (id = ANY(%s)) LIMIT %s",
                (ids, args.repeat),
            )
        ]
        keys = seed_photos(conn, db, args.rows, ids, work / "cache")
        plans = explain(conn, db, deep, deep_filtered)
    today = datetime.now(SAST).date()
    export_days = round(100_000 * SPACING_SECONDS / 86_400)
    pages = {
        "overview (today)": "/wa-monitor",
        "overview JSON twin": "/wa-monitor?format=json",
        "overview, a day 200 days ago": f"/wa-monitor?day={today - timedelta(days=200)}",
        "reviews, first page": "/wa-monitor/reviews",
        "reviews, 900,000 rows deep": f"/wa-monitor/reviews?older={deep.token()}",
        "reviews, project + status": "/wa-monitor/reviews?project=Mohadin&status=incomplete",
        "  the same, 5,000 rows deep": "/wa-monitor/reviews?project=Mohadin&status=incomplete"
        f"&older={deep_filtered.token()}",
        "reviews, feedback pending": "/wa-monitor/reviews?feedback=pending",
        "reviews, feedback pending + resubmitted": (
            "/wa-monitor/reviews?feedback=pending&resubmitted=yes"
        ),
        "reviews, drop search DR1500": "/wa-monitor/reviews?drop=DR1500",
        "reviews, last week": f"/wa-monitor/reviews?from={today - timedelta(days=7)}&to={today}",
        "review (each a random id)": "/wa-monitor/reviews/{id}",
        "quality, this week": "/wa-monitor/quality",
        "quality, this month": "/wa-monitor/quality?range=this-month",
        # A whole month whatever today's date (this month is a week on the 7th).
        "quality, 30 days": f"/wa-monitor/quality?from={today - timedelta(days=29)}&to={today}",
        "quality, 30 days, JSON twin": (
            f"/wa-monitor/quality?from={today - timedelta(days=29)}&to={today}&format=json"
        ),
        "reviews, a step's first-verdict failures": "/wa-monitor/reviews?step=9",
        # The reviewers' queue: every review awaiting a verdict across all days (half the seeded
        # table), with its counts per project and age band.
        "queue, oldest first": "/wa-monitor/queue",
        "queue, newest first": "/wa-monitor/queue?order=newest",
        "queue, one project": "/wa-monitor/queue?project=Mamelodi",
        "queue JSON twin": "/wa-monitor/queue?format=json",
        "metrics": "/metrics",
    }
    load = os.getloadavg()
    with service(work, url) as (base, pid), httpx2.Client(base_url=base, timeout=120) as client:
        log_in(client)
        results = [measure(client, name, path, args.repeat, ids) for name, path in pages.items()]
        review_path = "/wa-monitor/reviews/{id}"
        results += [
            measure(client, "review, no photo", review_path, args.repeat, bare),
            measure(client, "review, 12 cached photos", review_path, args.repeat, ids),
            measure(
                client,
                "a photo's thumbnail",
                "/wa-monitor/photos/{id}/thumb",
                args.repeat,
                keys,
                target=THUMB_TARGET_MS,
            ),
            measure(
                client, "a photo, screen size", "/wa-monitor/photos/{id}/screen", args.repeat, keys
            ),
            measure(client, "healthz (one SELECT 1)", "/healthz", args.repeat, keys, target=None),
        ]
        # A past day's first view: its 30 days are counted, not reused (once per 5 minutes per
        # day in real use). Each request names another day, so every one is such a first view.
        cold_days = [str(today - timedelta(days=40 + i)) for i in range(args.repeat + 3)]
        results.append(
            measure(
                client,
                "overview, a past day's first view",
                "/wa-monitor?day={id}",
                args.repeat,
                cold_days,
            )
        )
        exports = [
            export(client, pid, "CSV export, ~100,000 rows", today, export_days),
            export(client, pid, "CSV export, ~300,000 rows", today, export_days * 3),
        ]
    with psycopg.connect(url, autocommit=True) as conn:
        parts = quality_parts(conn, db, today, args.repeat)
    after = os.getloadavg()
    lines = figures(results, exports, parts, judged=args.rows >= JUDGED_ROWS)
    print()
    print("\n".join(lines))
    print()
    for name, plan in plans.items():
        print(f"-- plan: {name}")
        for line in plan:
            print(f"   {line}")
    print(f"load average before {loads(load)}, after {loads(after)}")
    if args.doc is not None:
        header = (
            f"Written by `python -m benchmarks.web_bench --rows {args.rows} --repeat "
            f"{args.repeat}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code at {commit()}, on "
            f"{machine()}; load average before the requests {loads(load)}, after "
            f"{loads(after)}; wall time {(time.perf_counter() - started) / 60:.1f} min "
            "(the seeding included). Server time (its Server-Timing header) over "
            f"{args.repeat} requests a view after 3 warm-up requests."
        )
        write_block(args.doc, MARKERS, [header, "", *lines])
        print(f"wrote the figures into {args.doc}")


def loads(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


# The same run's baselines: each view against the one it is a variant of, so that the machine's
# load cancels out.
RATIOS = (
    ("quality, 30 days", "overview (today)"),
    ("queue, oldest first", "reviews, first page"),
    ("queue, one project", "reviews, first page"),
    ("review, 12 cached photos", "review, no photo"),
    ("a photo's thumbnail", "healthz (one SELECT 1)"),
    ("overview, a past day's first view", "overview, a day 200 days ago"),
)


def figures(
    results: Sequence[Measured],
    exports: Sequence[Export],
    parts: dict[str, float],
    *,
    judged: bool,
) -> list[str]:
    """The run's figures as the markdown the doc holds (and the terminal shows): every view
    with its target and verdict, the ratios to the same run's baselines, the exports, the
    Quality page's queries, and one verdict line."""
    unjudged = "" if judged else " (below 1,000,000 rows: not judged)"
    lines = [
        "| view | p50 ms | p95 ms | max ms | target p95 | verdict |",
        "|---|---:|---:|---:|---|---|",
    ]
    for m in results:
        if m.target is None:
            target, verdict = "baseline", ""
        else:
            target = f"<= {m.target:.0f} ms"
            verdict = ("met" if m.met else "MISSED") + unjudged
        lines.append(
            f"| {m.page.strip()} | {m.p50:.1f} | {m.p95:.1f} | {m.most:.1f} | {target} | "
            f"{verdict} |"
        )
    by_name = {m.page: m for m in results}
    lines += ["", "| view / its baseline in the same run | p50 | p95 |", "|---|---:|---:|"]
    for measured, baseline in RATIOS:
        m, b = by_name[measured], by_name[baseline]
        lines.append(f"| {measured} / {baseline} | {m.p50 / b.p50:.2f}x | {m.p95 / b.p95:.2f}x |")
    lines += [
        "",
        "| export | rows | seconds | MB | service's peak RSS before → after |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {e.name} | {e.rows:,} | {e.seconds:.2f} | {e.megabytes:.1f} | "
        f"{e.rss_before_mb:.0f} → {e.rss_after_mb:.0f} MB |"
        for e in exports
    ]
    growth = exports[-1].rss_after_mb - exports[0].rss_after_mb
    flat = growth <= EXPORT_GROWTH_MB
    lines += [
        "",
        f"The export's memory: peak RSS after ~300,000 rows minus after ~100,000: "
        f"{growth:.0f} MB (target <= {EXPORT_GROWTH_MB:.0f} MB, flat: "
        f"{'met' if flat else 'MISSED'}{unjudged}).",
        "",
        "The Quality page's queries over 30 days, each timed apart from a client (median, ms): "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in parts.items())
        + ".",
        "",
    ]
    missed = [f"{m.page.strip()} (p95 {m.p95:.1f} ms)" for m in results if not m.met]
    if not flat:
        missed.append(f"the export's memory (+{growth:.0f} MB)")
    views = sum(m.target is not None for m in results)
    if not judged:
        verdict = f"verdict: a run below 1,000,000 rows: {len(missed)} figures over, not judged"
    elif missed:
        verdict = f"verdict: {len(missed)} of {views + 1} targets missed: " + "; ".join(missed)
    else:
        verdict = f"verdict: all {views + 1} targets met ({views} views and the export's memory)"
    lines.append(f"**{verdict}**")
    return lines


def quality_parts(
    conn: psycopg.Connection[Any], db: Database, today: date, repeat: int
) -> dict[str, float]:
    """The Quality page's reads of the per-day summary for 30 days, each timed apart."""
    first = today - timedelta(days=29)
    span = Span(
        first,
        today,
        datetime.combine(first, datetime.min.time(), SAST),
        datetime.combine(today + timedelta(days=1), datetime.min.time(), SAST),
        "Africa/Johannesburg",
    )
    taken: dict[str, list[float]] = {}
    for _ in range(repeat):
        for name in ("projects", "steps", "agents", "weekly"):
            started = time.perf_counter()
            summary.rows(conn, db, name, span.first, span.last, tz=span.tz)
            taken.setdefault(name, []).append(time.perf_counter() - started)
        for agents in (True, False):
            started = time.perf_counter()
            quality_times(conn, db, span, agents=agents)
            name = "times" if agents else "times without the agents"
            taken.setdefault(name, []).append(time.perf_counter() - started)
    return {name: 1000 * statistics.median(ts) for name, ts in taken.items()}


def seed(conn: psycopg.Connection[Any], db: Database, rows: int) -> None:
    """A year of reviews, their trail and ledger. The per-day summary's triggers (migration
    0019) are off for the bulk load and the summary is rebuilt once after it: through the row
    triggers a million rows took tens of minutes to seed, and the rebuild leaves exactly what the
    triggers would have (tests/integration/test_daily_summary.py holds the two equal)."""
    params = {"rows": rows, "spacing": SPACING_SECONDS, "groups": list(GROUPS.values())}
    toggled = ("reviews", "changes")
    for table in toggled:
        conn.execute(db.compose(f"ALTER TABLE {{{table}}} DISABLE TRIGGER USER"))
    try:
        for first in range(1, rows + 1, SEED_CHUNK):
            last = min(rows, first + SEED_CHUNK - 1)
            drops = {"low": f"DR{1_000_000 + first}", "high": f"DR{1_000_000 + last}"}
            conn.execute(db.compose(SEED_REVIEWS), params | {"first": first, "last": last})
            conn.execute(db.compose(SEED_TRAIL), drops)
    finally:
        for table in toggled:
            conn.execute(db.compose(f"ALTER TABLE {{{table}}} ENABLE TRIGGER USER"))
    summary.rebuild(conn, db, summary.zone(conn, db))
    conn.execute(db.compose(SEED_LEDGER), params)
    conn.execute("VACUUM ANALYZE")


def seed_photos(
    conn: psycopg.Connection[Any], db: Database, rows: int, ids: list[Any], cache_dir: Path
) -> list[str]:
    """12 fetched photos for each sampled review's drop, their copies in the cache; 12 more for
    every tenth drop of the table. The cache keys of the sampled ones."""
    drops = [
        r[0]
        for r in conn.execute(
            "SELECT drop_number FROM public.qa_photo_reviews WHERE id = ANY(%s)", (ids,)
        )
    ]
    named = [(d, n) for d in drops for n in range(1, PHOTOS_PER_DROP + 1)]
    keys = [hashlib.sha256(f"{d}-{n}".encode()).hexdigest() for d, n in named]
    chat = next(iter(GROUPS.values()))
    conn.execute(
        db.compose(SEED_PHOTOS),
        {
            "chat": chat,
            "drops": [d for d, _ in named],
            "keys": keys,
            "numbers": [n for _, n in named],
        },
    )
    conn.execute(db.compose(SEED_MORE_PHOTOS), {"chat": chat, "rows": rows, "drops": drops})
    conn.execute("VACUUM ANALYZE public.wa_monitor_photos")
    cache = PhotoCache(cache_dir, max_bytes=1 << 40)
    copies = render(draw(Subject.HOUSE, taken=datetime.now(SAST), place=LAWLEY, label="bench"))
    for key in keys:
        cache.put(key, copies)
    return keys


def keyset_at(conn: psycopg.Connection[Any], where: ReviewFilter, depth: int) -> Keyset:
    """The keyset `depth` rows into the list (no filter, or project + incomplete), found once
    the slow way (OFFSET), as a person would reach it by paging."""
    query = sql.SQL(
        "SELECT coalesce(whatsapp_message_date, created_at), id FROM public.qa_photo_reviews "
        "WHERE (%(project)s::text IS NULL OR project = %(project)s) "
        "AND (%(status)s::text IS NULL OR incomplete) "
        "ORDER BY 1 DESC, 2 DESC OFFSET %(depth)s LIMIT 1"
    )
    params = where.params() | {"depth": depth}
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise SystemExit(f"the table is smaller than {depth} rows")
    return Keyset(row[0], row[1])


def explain(
    conn: psycopg.Connection[Any], db: Database, deep: Keyset, deep_filtered: Keyset
) -> dict[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the pages' queries, as the service runs them."""
    cases = {
        "reviews, 900,000 rows deep": (ReviewFilter(), deep),
        "reviews, project + status, 5,000 deep": (
            ReviewFilter(project="Mohadin", status=Status.INCOMPLETE),
            deep_filtered,
        ),
        "reviews, drop search DR1500": (ReviewFilter(drop_prefix="DR1500"), None),
        "reviews, feedback pending": (ReviewFilter(feedback=Feedback.PENDING), None),
    }
    plans: dict[str, list[str]] = {}
    for name, (where, older) in cases.items():
        params = where.params() | dashboard.keyset_params(older=older, newer=None)
        page_query = dashboard.query(db, "review_page", by_drop=where.drop_prefix is not None)
        query = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + page_query
        rows = conn.execute(query, params | {"limit": 51})
        plans[name] = [r[0] for r in rows]
    today = datetime.now(SAST).date()
    day_cards = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + db.query("summary.day_cards")
    plans["overview cards (summary)"] = [
        r[0] for r in conn.execute(day_cards, {"first": today, "last": today})
    ]
    daily = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + db.query("summary.daily_counts")
    params = {"first": today - timedelta(days=29), "last": today}
    plans["overview 30-day counts (summary)"] = [r[0] for r in conn.execute(daily, params)]
    history = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + dashboard.query(
        db, "drop_history"
    )
    shared = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + db.query("photos.day_counts")
    plans["overview's photo figures, a day 200 days ago"] = [
        r[0] for r in conn.execute(shared, {"day": today - timedelta(days=200)})
    ]
    plans["review's history"] = [r[0] for r in conn.execute(history, {"drop": "DR1000018"})]
    bands = {"today": today, "two_days": today - timedelta(days=2), "week": today - timedelta(7)}
    counts = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + db.query("summary.queue_counts")
    plans["queue counts (summary: awaiting per day and project)"] = [
        r[0] for r in conn.execute(counts, bands)
    ]
    waits = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ") + db.query("summary.times")
    params = {"first": today - timedelta(days=29), "last": today, "agents": True}
    plans["quality's times, 30 days (summary: histograms)"] = [
        r[0] for r in conn.execute(waits, params)
    ]
    return plans


@contextmanager
def service(work: Path, url: str) -> Iterator[tuple[str, int]]:
    """`wa-monitor web` for prod on this database, as systemd would run it."""
    port = 18090 + random.randrange(1000)  # noqa: S311 - a port, not a secret
    config = work / "prod.toml"
    lines = [
        'environment = "prod"',
        'schema = "public"',
        f'bridge_db = "{work / "messages.db"}"',
        f'photos_cache_dir = "{work / "cache"}"',
        "",
        "[web]",
        f"port = {port}",
        "secure_cookies = false",
    ]
    for name, jid in GROUPS.items():
        lines += ["", "[[projects]]", f'name = "{name}"', f'group_jid = "{jid}"']
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, DATABASE_URL_VAR: url, WEB_SECRET_VAR: secrets.token_urlsafe(48)}
    with (work / "web.stderr").open("w") as errors:  # the child has its own copy
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "wa_monitor", "web", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx2.get(f"{base}/healthz", timeout=2)
            break
        except httpx2.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((work / "web.stderr").read_text(encoding="utf-8")) from None
            time.sleep(0.2)
    try:
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def log_in(client: httpx2.Client) -> None:
    page = client.get("/wa-monitor/login").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    form = {"csrf": csrf, "username": "bench", "password": PASSWORD}
    expect(client.post("/wa-monitor/login", data=form), 303)


def server_ms(response: httpx2.Response) -> float:
    timing = response.headers["server-timing"]  # "app;dur=12.3"
    return float(timing.split("dur=", 1)[1])


def measure(
    client: httpx2.Client,
    name: str,
    path: str,
    repeat: int,
    ids: list[Any],
    *,
    target: float | None = TARGET_MS,
) -> Measured:
    times = []
    for i in range(repeat + 3):
        response = client.get(path.format(id=ids[i % len(ids)]))
        expect(response, 200)
        if i >= 3:  # the first few warm the pool and the caches
            times.append(server_ms(response))
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return Measured(name, path, statistics.median(times), p95, times[-1], target)


@dataclass(frozen=True)
class Export:
    name: str
    rows: int
    seconds: float
    megabytes: float
    rss_before_mb: float
    rss_after_mb: float


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def expect(response: httpx2.Response, status: int) -> None:
    if response.status_code != status:
        raise SystemExit(f"{response.url}: {response.status_code}, not {status}")


def export(client: httpx2.Client, pid: int, name: str, today: Any, days: int) -> Export:
    before = peak_rss_mb(pid)
    started = time.perf_counter()
    rows = size = 0
    first = today - timedelta(days=days - 1)
    params = {"from": str(first), "to": str(today), "format": "csv"}
    with client.stream("GET", "/wa-monitor/reviews", params=params) as response:
        expect(response, 200)
        for chunk in response.iter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    return Export(name, rows - 1, seconds, size / 1e6, before, peak_rss_mb(pid))


if __name__ == "__main__":
    sys.exit(main())
