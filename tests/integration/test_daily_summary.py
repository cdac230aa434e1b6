"""The per-day summary (migration 0019) against a real PostgreSQL: after a random mix of the
monitor's drains (new drops, resubmissions), reviewers' verdicts, feedback stamps, drop-number
corrections and batches that roll back, it equals a count made here in Python from the raw
reviews and their change trail; and the rebuild recomputes the same."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support.env import GROUPS, LAWLEY, MOHADIN, SAST, write_config
from tests.support.runs import run_once, say
from wa_monitor.adapters.postgres import reviewing
from wa_monitor.adapters.postgres.daily import counted_totals, daily_totals
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.cli import main
from wa_monitor.core.records import Delivery
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod")

AGENTS = ("27825550101", "27825550102", "27825550103", "27825550104")
COUNTS = (
    "drops",
    "dated",
    "completed",
    "incomplete",
    "awaiting",
    "feedback_sent",
    "resubmitted",
    "reviewed",
    "passed_first",
    *(f"m{n:02}" for n in range(1, 13)),
    *(f"w{n:02}" for n in range(1, 13)),
)
VERDICT_KEYS = {*(s.column for s in Step), "comment", "saved"}


def summary(db: psycopg.Connection[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The summary's rows that count something, by key."""
    cur = db.cursor(row_factory=dict_row)
    rows = cur.execute("SELECT * FROM public.wa_monitor_daily").fetchall()
    return {
        (r["day"], r["project"], r["phone"]): {k: r[k] for k in (*COUNTS, "name")}
        for r in rows
        if any(r[k] for k in COUNTS)
    }


def recount(db: psycopg.Connection[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return recount_in(db, "Africa/Johannesburg")


def recount_in(db: psycopg.Connection[Any], zone: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The same, counted here from the reviews and their trail, days local to `zone`."""
    cur = db.cursor(row_factory=dict_row)
    reviews = cur.execute("SELECT * FROM public.qa_photo_reviews").fetchall()
    trail: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for c in cur.execute("SELECT * FROM public.wa_monitor_review_changes ORDER BY id"):
        trail[c["review_id"]].append(c["changes"])
    counts: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    latest: dict[tuple[Any, ...], tuple[datetime, str]] = {}
    for r in reviews:
        sighted = r["whatsapp_message_date"] or r["created_at"]
        day = sighted.astimezone(ZoneInfo(zone)).date()
        key = (day, r["project"] or "", r["submitted_by"] or "")
        c = counts[key]
        c["drops"] += 1
        c["dated"] += r["whatsapp_message_date"] is not None
        c["completed"] += r["completed"]
        c["incomplete"] += r["incomplete"]
        c["awaiting"] += not r["completed"] and not r["incomplete"]
        c["feedback_sent"] += r["feedback_sent"] is not None
        c["resubmitted"] += r["resubmitted"]
        first = next((t for t in trail[r["id"]] if VERDICT_KEYS & t.keys()), None)
        if first is not None:
            c["reviewed"] += 1
            marks = [str((first.get(s.column) or {}).get("to", "")) for s in Step]
            c["passed_first"] += all(m == "passed" for m in marks)
            for n, mark in enumerate(marks, start=1):
                c[f"w{n:02}"] += mark.startswith("wrong")
                c[f"m{n:02}"] += mark != "passed" and not mark.startswith("wrong")
        if r["user_name"] is not None and (key not in latest or sighted >= latest[key][0]):
            latest[key] = (sighted, r["user_name"])
    return {
        key: {k: c[k] for k in COUNTS} | {"name": latest.get(key, (None, None))[1]}
        for key, c in counts.items()
    }


class Crashed(Exception):
    """The process died mid-batch."""


def die_before_commit(conn: psycopg.Connection[Any]) -> None:
    """A batch that changes every review and adds one, and dies before COMMIT: it must leave
    no count behind."""
    with conn.transaction():
        conn.execute(
            "UPDATE public.qa_photo_reviews SET completed = NOT completed, "
            "whatsapp_message_date = whatsapp_message_date + interval '3 days'"
        )
        conn.execute(
            "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project) "
            "VALUES ('DR4999999', '2025-11-04', 'Lawley')"
        )
        raise Crashed


def random_verdict(rng: random.Random) -> Verdict:
    if rng.random() < 0.4:
        return Verdict.stored(ticked=tuple(Step), reasons={})
    bad = set(rng.sample(list(Step), rng.randint(1, 4)))
    wrong = {s: "blurry" for s in bad if rng.random() < 0.5}
    return Verdict.stored(ticked=(s for s in Step if s not in bad), reasons=wrong)


def test_the_summary_equals_a_recount_after_a_random_mix(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(19)
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    for n, phone in enumerate(AGENTS):
        bridge.chat(f"{phone}@s.whatsapp.net", f"Agent {n}")
    handle = Database(database_url, "public", "prod")
    start = datetime(2025, 11, 3, 8, tzinfo=SAST)
    posted: list[str] = []
    serial = 0
    did: Counter[str] = Counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for step in range(40):
            action = rng.choice(("drain", "drain", "verdict", "verdict", "feedback", "correct"))
            if action == "drain" or len(posted) < 5:
                for _ in range(rng.randint(1, 12)):
                    serial += 1
                    at = start + timedelta(minutes=serial * 37 + step * 11)  # across midnights
                    again = posted and rng.random() < 0.3
                    drop = rng.choice(posted) if again else f"DR{4100000 + serial}"
                    posted.append(drop)
                    say(
                        bridge,
                        f"M{serial}",
                        f"{drop} fixed" if again else f"{drop} photos",
                        at,
                        chat=rng.choice((LAWLEY, MOHADIN)),
                        sender=rng.choice(AGENTS),
                    )
                assert run_once(config, database_url, monkeypatch) == 0
                did["drain"] += 1
                continue
            judged = "reviewed_at IS NOT NULL AND feedback_sent IS NULL"
            where = judged if action == "feedback" else "true"
            query = f"SELECT id FROM public.qa_photo_reviews WHERE {where}"
            ids = [r[0] for r in db.execute(query)]
            if not ids:
                continue
            review = rng.choice(sorted(ids))
            version = reviewing.load(conn, handle, review).version
            if action == "verdict":
                reviewing.save(
                    conn, handle, review, verdict=random_verdict(rng), version=version, by="nomsa"
                )
            elif action == "feedback":
                book = reviewing.FeedbackBook(handle, lambda: nullcontext(conn))
                asked = reviewing.FeedbackRequest(review, version, "nomsa", f"feedback {step}")
                book.settle(book.claim(asked, lambda _: LAWLEY), Delivery.SENT, "ok", 200)
            else:
                reviewing.correct_drop(
                    conn,
                    handle,
                    review,
                    drop=f"DR{4900000 + step}",
                    reason="typo",
                    version=version,
                    by="nomsa",
                    planned=False,
                )
            did[action] += 1
            with pytest.raises(Crashed):
                die_before_commit(conn)
    assert set(did) == {"drain", "verdict", "feedback", "correct"}, did
    assert db.execute("SELECT count(*) FROM public.qa_photo_reviews WHERE resubmitted").fetchone()[
        0
    ]
    kept = summary(db)
    assert kept == recount(db)
    days = (start.date() - timedelta(days=1), start.date() + timedelta(days=30))
    zone = "Africa/Johannesburg"
    assert daily_totals(db, handle, *days, zone) == counted_totals(db, handle, *days, zone)
    assert sum(row["reviewed"] for row in kept.values()) >= 3
    (rebuilt,) = db.execute("SELECT public.wa_monitor_daily_rebuild('Africa/Johannesburg')")
    assert rebuilt[0] == sum(row["drops"] for row in kept.values())
    assert summary(db) == kept


def test_a_deleted_review_takes_its_part_with_it(db: psycopg.Connection[Any]) -> None:
    db.execute(
        "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, submitted_by, "
        "whatsapp_message_date) VALUES ('DR4200001', '2025-11-04', 'Lawley', '2782', "
        "'2025-11-04 10:00+02'), ('DR4200002', '2025-11-04', 'Lawley', '2782', "
        "'2025-11-04 11:00+02')"
    )
    db.execute(
        "INSERT INTO public.wa_monitor_review_changes (review_id, version, changed_by, changes) "
        "SELECT id, 2, 'nomsa', '{\"saved\": \"no change\"}' FROM public.qa_photo_reviews"
    )
    assert summary(db) == recount(db)
    db.execute("DELETE FROM public.qa_photo_reviews WHERE drop_number = 'DR4200001'")
    assert summary(db) == recount(db)
    assert next(iter(summary(db).values()))["reviewed"] == 1
    db.execute("TRUNCATE public.qa_photo_reviews CASCADE")
    assert summary(db) == {}


def test_the_rebuild_takes_the_zone_it_is_given(db: psycopg.Connection[Any]) -> None:
    db.execute(
        "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, "
        "whatsapp_message_date) VALUES ('DR4300001', '2025-11-05', 'Lawley', "
        "'2025-11-04 23:30+00')"
    )
    assert {k[0].isoformat() for k in summary(db)} == {"2025-11-05"}
    db.execute("SELECT public.wa_monitor_daily_rebuild('UTC')")
    assert {k[0].isoformat() for k in summary(db)} == {"2025-11-04"}
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT public.wa_monitor_daily_rebuild('Mars/Olympus')")


def test_migrate_rebuilds_it_in_the_configs_zone_and_summarize_recomputes_it(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db.execute(
        "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, "
        "whatsapp_message_date) VALUES ('DR4400001', '2025-11-05', 'Lawley', "
        "'2025-11-04 23:30+00')"
    )
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    utc = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS, extra='timezone = "UTC"\n'
    )
    assert main(["schema", "migrate", "--config", str(utc)]) == 0
    assert "per-day summary rebuilt from 1 reviews (days in UTC)" in capsys.readouterr().out
    assert {k[0].isoformat() for k in summary(db)} == {"2025-11-04"}
    assert main(["schema", "migrate", "--config", str(utc)]) == 0
    assert "rebuilt" not in capsys.readouterr().out  # the zone is right: nothing to redo
    db.execute("UPDATE public.wa_monitor_daily SET drops = 7")  # as if it had gone wrong
    assert main(["schema", "summarize", "--config", str(utc)]) == 0
    assert summary(db) == recount_in(db, "UTC")
