"""The per-day summary (migrations 0019, 0024, 0030) against a real PostgreSQL: after a random
mix of the monitor's drains (new drops, resubmissions), reviewers' verdicts, feedback stamps,
drop-number corrections, deletes and batches that roll back, and after statements of many rows
each, it equals a count made here in Python from the raw reviews and their change trail (the
counts per day, project and phone, and per day and project; the histograms of the loop's
waits); and the rebuild recomputes the same."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from contextlib import nullcontext
from dataclasses import astuple
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.integration.test_quality import bucket, history, through_the_workflow, write
from tests.support.env import GROUPS, LAWLEY, MOHADIN, SAST, write_config
from tests.support.runs import run_once, say
from wa_monitor.adapters.postgres import reviewing
from wa_monitor.adapters.postgres.daily import counted_totals, daily_totals
from wa_monitor.adapters.postgres.dashboard import queue_counts
from wa_monitor.adapters.postgres.db import Database, migrations
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


def projects(db: psycopg.Connection[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The summary's counts per day and project, those that count something."""
    cur = db.cursor(row_factory=dict_row)
    rows = cur.execute("SELECT * FROM public.wa_monitor_daily_projects").fetchall()
    return {
        (r["day"], r["project"]): {k: r[k] for k in COUNTS}
        for r in rows
        if any(r[k] for k in COUNTS)
    }


def waits(db: psycopg.Connection[Any]) -> dict[tuple[Any, ...], int]:
    """The summary's histograms of waits: (day, project, stage, phone, bucket) → count."""
    rows = db.execute(
        "SELECT day, project, stage, phone, bucket, n FROM public.wa_monitor_daily_times"
    )
    return {tuple(r[:5]): r[5] for r in rows if r[5]}


def row_versions(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Each summary row's key and the transaction that wrote its current version (xmin)."""
    return sorted(
        db.execute(
            "SELECT 'daily', xmin::text, day, project, phone FROM public.wa_monitor_daily "
            "UNION ALL SELECT 'projects', xmin::text, day, project, '' "
            "FROM public.wa_monitor_daily_projects"
        )
    )


def everything(db: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """All three parts of the summary."""
    return summary(db), projects(db), waits(db)


def recount(db: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return recount_in(db, "Africa/Johannesburg")


def recount_in(db: psycopg.Connection[Any], zone: str) -> tuple[Any, ...]:
    """The same three, counted here from the reviews and their trail, days local to `zone`."""
    cur = db.cursor(row_factory=dict_row)
    reviews = cur.execute("SELECT * FROM public.qa_photo_reviews").fetchall()
    trail: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for c in cur.execute("SELECT * FROM public.wa_monitor_review_changes ORDER BY id"):
        trail[c["review_id"]].append(c)
    counts: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    latest: dict[tuple[Any, ...], tuple[datetime, str]] = {}
    per_project: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    histograms: Counter[tuple[Any, ...]] = Counter()
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
        entries = trail[r["id"]]
        first = next((t for t in entries if VERDICT_KEYS & t["changes"].keys()), None)
        stamp = next((t for t in entries if "feedback_sent" in t["changes"]), None)
        if first is not None:
            c["reviewed"] += 1
            marks = [str((first["changes"].get(s.column) or {}).get("to", "")) for s in Step]
            c["passed_first"] += all(m == "passed" for m in marks)
            for n, mark in enumerate(marks, start=1):
                c[f"w{n:02}"] += mark.startswith("wrong")
                c[f"m{n:02}"] += mark != "passed" and not mark.startswith("wrong")
        if r["user_name"] is not None and (key not in latest or sighted >= latest[key][0]):
            latest[key] = (sighted, r["user_name"])
        for stage, phone, wait in stages(r, sighted, first, stamp):
            histograms[(day, key[1], stage, phone, bucket(wait.total_seconds()))] += 1
    for key, c in counts.items():
        per_project[key[:2]].update(c)
    kept = {
        key: {k: c[k] for k in COUNTS} | {"name": latest.get(key, (None, None))[1]}
        for key, c in counts.items()
    }
    return kept, {key: {k: c[k] for k in COUNTS} for key, c in per_project.items()}, +histograms


def stages(
    r: dict[str, Any], sighted: datetime, first: dict[str, Any] | None, stamp: dict[str, Any] | None
) -> list[tuple[int, str, timedelta]]:
    """A review's waits as sql/quality.sql defines them: (stage, phone or '', the wait)."""
    verdict_at = first["changed_at"] if first else None
    feedback_at = stamp["changed_at"] if stamp else None
    last, reviewed = r["last_submitted_at"], r["reviewed_at"]
    found = []
    if verdict_at is not None:
        found.append((1, "", verdict_at - sighted))
        if feedback_at is not None:
            found.append((2, "", feedback_at - verdict_at))
    if r["resubmitted"] and feedback_at is not None and last is not None and last > feedback_at:
        found.append((3, r["submitted_by"] or "", last - feedback_at))
    done = r["completed"] and reviewed is not None
    if done and r["resubmitted"] and last is not None and reviewed > last:
        found.append((4, "", reviewed - last))
    if done:
        found.append((5, "", reviewed - sighted))
    return found


def queue_recount(db: psycopg.Connection[Any], today: date) -> list[tuple[Any, ...]]:
    """The queue's counts from the reviews themselves: those awaiting a verdict per project (in
    name order, none last), by how many local days before `today` they were first seen (0 or
    later, 1-2, 3-7, 8 and more)."""
    bands: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    rows = db.execute(
        "SELECT project, coalesce(whatsapp_message_date, created_at) FROM public.qa_photo_reviews "
        "WHERE NOT completed AND NOT incomplete"
    )
    for project, sighted in rows:
        days = (today - sighted.astimezone(SAST).date()).days
        band = 0 if days <= 0 else 1 if days <= 2 else 2 if days <= 7 else 3
        bands[project][band] += 1
    return [(p, *bands[p]) for p in sorted(bands, key=lambda p: (p is None, p or ""))]


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
            action = rng.choice(
                ("drain", "drain", "verdict", "verdict", "feedback", "correct", "delete")
            )
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
                assert everything(db) == recount(db), ("drain", step)
                continue
            judged = "reviewed_at IS NOT NULL AND feedback_sent IS NULL"
            where = judged if action == "feedback" else "true"
            query = f"SELECT id FROM public.qa_photo_reviews WHERE {where}"
            ids = [r[0] for r in db.execute(query)]
            if not ids:
                continue
            review = rng.choice(sorted(ids))
            if action == "delete":  # ops, with psql
                if rng.random() < 0.5:
                    continue  # rarely: a few deletes are enough
                db.execute("DELETE FROM public.qa_photo_reviews WHERE id = %s", (review,))
                did[action] += 1
                assert everything(db) == recount(db), (action, step)
                continue
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
            assert everything(db) == recount(db), (action, step)
            with pytest.raises(Crashed):
                die_before_commit(conn)
    assert set(did) == {"drain", "verdict", "feedback", "correct", "delete"}, did
    assert db.execute("SELECT count(*) FROM public.qa_photo_reviews WHERE resubmitted").fetchone()[
        0
    ]
    kept, by_project, histograms = everything(db)
    assert (kept, by_project, histograms) == recount(db)
    assert sum(c["awaiting"] for c in by_project.values())
    # The queue's counts (per project, by age band) are the ones counted from the reviews, for
    # a "today" before, during and after the days drained.
    for today in (start.date() + timedelta(days=n) for n in (-1, 0, 1, 2, 3, 5, 8, 12, 40)):
        counted = queue_counts(db, handle, today, "Africa/Johannesburg")
        assert [astuple(c) for c in counted] == queue_recount(db, today), today
    assert {key[2] for key in histograms} >= {1, 2, 5}  # the waits the mix can make
    days = (start.date() - timedelta(days=1), start.date() + timedelta(days=30))
    zone = "Africa/Johannesburg"
    assert daily_totals(db, handle, *days, zone) == counted_totals(db, handle, *days, zone)
    assert sum(row["reviewed"] for row in kept.values()) >= 3
    (rebuilt,) = db.execute("SELECT public.wa_monitor_daily_rebuild('Africa/Johannesburg')")
    assert rebuilt[0] == sum(row["drops"] for row in kept.values())
    assert everything(db) == (kept, by_project, histograms)


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
    assert everything(db) == recount(db)
    assert len(waits(db)) == 1  # the two first verdicts' waits: in one bucket
    db.execute("DELETE FROM public.qa_photo_reviews WHERE drop_number = 'DR4200001'")
    assert everything(db) == recount(db)
    assert next(iter(summary(db).values()))["reviewed"] == 1
    db.execute("TRUNCATE public.qa_photo_reviews CASCADE")
    assert everything(db) == ({}, {}, {})


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
    db.execute("UPDATE public.wa_monitor_daily_projects SET awaiting = 7")
    assert main(["schema", "summarize", "--config", str(utc)]) == 0
    assert everything(db) == recount_in(db, "UTC")


def test_the_summary_equals_a_recount_after_the_quality_pages_history(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    """Every wait of the loop (resubmissions after feedback, second verdicts, several feedback
    rounds), written a statement at a time as the writers write them, and through the review
    workflow's own functions."""
    write(db, history())
    through_the_workflow(db, database_url)
    kept = everything(db)
    assert kept == recount(db)
    assert {key[2] for key in kept[2]} == {1, 2, 3, 4, 5}
    assert len({key[3] for key in kept[2] if key[2] == 3}) >= 5  # the fix's wait, per phone
    db.execute("SELECT public.wa_monitor_daily_rebuild('Africa/Johannesburg')")
    assert everything(db) == kept


def test_statements_of_many_rows_keep_it_exact_and_write_only_what_moves(
    db: psycopg.Connection[Any],
) -> None:
    """The triggers' set-wise paths (migration 0030), a statement of many rows at a time as the
    monitor's batch writes them: keys of several reviews (the latest with a name named), reviews
    that move to another agent, day or project with their first verdict, resubmissions by the
    same agent under a new name or the same, updates the summary does not see, a delete and a
    rollback. After each statement the summary equals the recount; a row whose figures do not
    move is not written again (its xmin stays)."""
    at = datetime(2025, 11, 3, 21, 0, tzinfo=SAST)
    rows = []
    for n in range(8):  # 8 keys of 3 reviews each, an hour apart; the latest has no name twice
        for k in range(3):
            name = None if k == 2 and n % 4 == 0 else f"Agent {n}.{2 - k}"
            sighted = at + timedelta(hours=k)
            rows.append((f"DR51{n:02}{k}", "Lawley", name, f"2782555{n:04}", sighted))
    for n in range(30):  # one review each, across midnights, one without project or phone
        project = None if n == 7 else ("Mohadin" if n % 3 else "Lawley")
        phone = None if n == 11 else f"2783555{n:04}"
        rows.append((f"DR52{n:03}", project, f"Solo {n}", phone, at + timedelta(minutes=53 * n)))
    db.execute(
        "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, user_name, "
        "submitted_by, whatsapp_message_date, last_submitted_at) "
        "SELECT d, t::date, p, u, s, t, t FROM unnest(%s::text[], %s::text[], %s::text[], "
        "%s::text[], %s::timestamptz[]) AS x(d, p, u, s, t)",
        [list(column) for column in zip(*rows, strict=True)],
    )
    assert everything(db) == recount(db)
    assert {r["name"] for r in summary(db).values()} >= {"Agent 0.1", "Agent 1.0"}
    # First verdicts for every other review, in one statement of the trail; feedback for some
    # (one without a verdict), in another.
    db.execute(
        "INSERT INTO public.wa_monitor_review_changes (review_id, version, changed_by, changes, "
        "changed_at) SELECT id, 2, 'nomsa', CASE WHEN drop_number LIKE '%3' THEN "
        '\'{"step_03_cable_entry_outside": {"to": "wrong: blurry"}}\' ELSE '
        "'{\"saved\": \"no change\"}' END::jsonb, whatsapp_message_date + interval '2 hours' "
        "FROM public.qa_photo_reviews WHERE right(drop_number, 1)::int % 2 = 1"
    )
    db.execute(
        "INSERT INTO public.wa_monitor_review_changes (review_id, version, changed_by, changes, "
        "changed_at) SELECT id, 3, 'nomsa', '{\"feedback_sent\": \"sent\"}', "
        "whatsapp_message_date + interval '3 hours' FROM public.qa_photo_reviews "
        "WHERE drop_number LIKE 'DR52%' AND right(drop_number, 1) IN ('1', '2', '3')"
    )
    assert everything(db) == recount(db)
    statements = (
        # The same agents resubmit under new names: only names and `resubmitted` move.
        "UPDATE public.qa_photo_reviews SET resubmitted = true, user_name = 'Again ' || "
        "drop_number, last_submitted_at = whatsapp_message_date + interval '5 hours' "
        "WHERE drop_number LIKE 'DR51%2' OR drop_number LIKE 'DR5200_'",
        # and again under other names: only the names move.
        "UPDATE public.qa_photo_reviews SET user_name = 'Third ' || drop_number "
        "WHERE drop_number LIKE 'DR51%2'",
        # Other agents resubmit: those reviews (and their verdicts) move to their keys.
        "UPDATE public.qa_photo_reviews SET resubmitted = true, feedback_sent = NULL, "
        "submitted_by = '2784' || right(drop_number, 4), user_name = 'New ' || drop_number, "
        "last_submitted_at = whatsapp_message_date + interval '6 hours' "
        "WHERE drop_number LIKE 'DR5201_'",
        # Reviewers judge: completed, with the wait to it.
        "UPDATE public.qa_photo_reviews SET completed = true, reviewed_at = "
        "whatsapp_message_date + interval '7 hours' WHERE drop_number LIKE 'DR5202_' "
        "OR drop_number LIKE 'DR51__1'",
        # Drop corrections fold a review again: another day, another project.
        "UPDATE public.qa_photo_reviews SET whatsapp_message_date = whatsapp_message_date - "
        "interval '1 day', project = CASE WHEN project = 'Lawley' THEN 'Mohadin' END "
        "WHERE drop_number IN ('DR52004', 'DR52007', 'DR52013', 'DR52021', 'DR52026')",
    )
    for statement in statements:
        db.execute(statement)
        assert everything(db) == recount(db), statement
    names = {r["name"] for r in summary(db).values()}
    assert {"Third DR51002", "Again DR52004", "New DR52013"} <= names
    # Nothing the summary counts moves: no summary row is written again.
    written = row_versions(db)
    for unseen in (
        "UPDATE public.qa_photo_reviews SET monitor_note = 'checked', version = version + 1",
        # a second resubmission by the same agent under the same name
        "UPDATE public.qa_photo_reviews SET last_submitted_at = last_submitted_at + interval "
        "'1 hour', user_name = user_name WHERE resubmitted AND NOT completed",
    ):
        db.execute(unseen)
        assert everything(db) == recount(db), unseen
    assert row_versions(db) == written
    db.execute(
        "DELETE FROM public.qa_photo_reviews WHERE drop_number IN ('DR52020', 'DR52025', 'DR51011')"
    )
    assert everything(db) == recount(db)
    with pytest.raises(Crashed):
        die_before_commit(db)
    assert everything(db) == recount(db)
    kept = everything(db)
    db.execute("SELECT public.wa_monitor_daily_rebuild('Africa/Johannesburg')")
    assert everything(db) == kept


def test_an_upgrade_to_version_30_carries_on_the_summary_of_version_24(
    db: psycopg.Connection[Any],
) -> None:
    """A schema whose summary version 24's triggers kept: once migration 0030 has replaced them,
    new writes add to it exactly."""
    by_version = {m.version: m for m in migrations()}
    schema = Database("", "public", "prod")
    db.execute(schema.compose(by_version[24].text))  # the triggers as they were before 30
    db.execute(
        "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, user_name, "
        "submitted_by, whatsapp_message_date) SELECT 'DR53' || n, '2025-11-04', 'Lawley', "
        "'Agent ' || n % 3, '2785' || n % 3, timestamptz '2025-11-04 20:00+02' + n * interval "
        "'1 hour' FROM generate_series(1, 12) AS n"
    )
    with db.transaction():
        db.execute(schema.compose(by_version[30].text))
    db.execute(
        "UPDATE public.qa_photo_reviews SET resubmitted = true, submitted_by = '27859', "
        "user_name = 'Agent 9' WHERE drop_number IN ('DR531', 'DR532', 'DR535')"
    )
    db.execute(
        "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, user_name, "
        "submitted_by, whatsapp_message_date) VALUES ('DR5399', '2025-11-05', 'Lawley', "
        "'Agent 2', '27852', '2025-11-05 23:00+02')"
    )
    assert everything(db) == recount(db)
    assert summary(db)[(date(2025, 11, 5), "Lawley", "27859")]["name"] == "Agent 9"
    written = row_versions(db)  # and a resubmission that moves nothing writes nothing (30's)
    db.execute(
        "UPDATE public.qa_photo_reviews SET last_submitted_at = now() WHERE submitted_by = '27859'"
    )
    assert row_versions(db) == written
