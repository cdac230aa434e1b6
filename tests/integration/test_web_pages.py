"""The dashboard's pages against a real PostgreSQL: the day's table, filters, pagination, CSV,
one review with its history, health and metrics."""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from tests.support.database import Server
from tests.support.env import AGENT, LAWLEY
from tests.support.ops import make_envs
from tests.support.web import (
    SAST,
    Dashboard,
    Row,
    add_user,
    dashboard,
    environment,
    seed,
)
from wa_monitor.adapters.postgres.dashboard import COLUMNS
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp

pytestmark = pytest.mark.migrated("prod")


DAY = date(2025, 11, 11)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=SAST)


ROWS = [
    Row("DR1000001", at(11, 8), completed=True, steps=12, feedback_sent=at(11, 9)),
    Row("DR1000002", at(11, 9), incomplete=True, steps=7),
    Row("DR1000003", at(11, 10), project="Mohadin"),
    Row("DR1000004", at(11, 11), project="Mohadin", resubmitted=True),
    Row("DR1000005", at(11, 23, 59), incomplete=True, feedback_sent=at(12, 8)),
    # 00:10 local on the 12th is 22:10 UTC on the 11th: it belongs to the 12th.
    Row("DR1000006", at(12, 0, 10)),
    Row("DR1000007", at(10, 23, 50), project="Mohadin", completed=True, steps=12),
    Row("DR2000008", at(12, 14), completed=True, steps=12),
]


@pytest.fixture
def dash(tmp_path: Path, bridge: BridgeWriter, database_url: str) -> Iterator[Dashboard]:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    add_user(database_url, "public", "ayanda")
    with dashboard(settings, database_url) as d:
        assert d.login("ayanda").status_code == 303
        yield d


@dataclass(frozen=True)
class Seeded:
    """A logged-in dashboard on a database holding ROWS, and a connection to that database."""

    dash: Dashboard
    db: psycopg.Connection[Any]


@pytest.fixture(scope="module")
def seeded(postgres: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One dashboard on ROWS for the tests that only read: seeding, a user's password hash and
    a login cost more than such a test, so they share them (their own rows go elsewhere)."""
    folder = tmp_path_factory.mktemp("seeded")
    with (
        postgres.database("prod") as url,
        BridgeWriter(folder / "messages.db") as bridge,
        psycopg.connect(url, autocommit=True) as db,
    ):
        settings = environment(folder, "prod", bridge=bridge, url=url)
        add_user(url, "public", "ayanda")
        seed(db, "public", ROWS)
        with dashboard(settings, url) as dash:
            assert dash.login("ayanda").status_code == 303
            yield Seeded(dash, db)


def expected_day(db: psycopg.Connection[Any], day: date) -> dict[str, int]:
    rows = db.execute(
        "SELECT project, count(DISTINCT drop_number) FROM public.qa_photo_reviews "
        "WHERE (whatsapp_message_date AT TIME ZONE 'Africa/Johannesburg')::date = %s "
        "GROUP BY project",
        (day,),
    )
    return dict(rows.fetchall())


def test_the_dashboard_leaves_a_callers_frozen_objects_frozen(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    """The app freezes what its start-up made and thaws it when it ends, unless its caller (a
    program embedding it, this test session) had frozen objects of its own: unfreeze() would
    thaw those too."""
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    gc.freeze()
    with dashboard(settings, database_url) as dash:
        assert dash.client.get("/healthz").status_code == 200
    # unfreeze() thaws all or nothing (the count moves a little as frozen objects die).
    assert gc.get_freeze_count() > 0


def test_the_days_table_counts_distinct_drops_by_local_day(seeded: Seeded) -> None:
    dash, db = seeded.dash, seeded.db
    for day in (date(2025, 11, 10), DAY, date(2025, 11, 12)):
        doc = dash.json("/wa-monitor", day=day.isoformat())
        table = {p["project"]: p["drops"] for p in doc["projects"]}
        sql_counts = expected_day(db, day)
        assert {k: v for k, v in table.items() if v} == sql_counts
        assert doc["total"] == sum(sql_counts.values())
    doc = dash.json("/wa-monitor", day=DAY.isoformat())
    assert doc["projects"] == [
        {"project": "Lawley", "drops": 3},
        {"project": "Mohadin", "drops": 2},
    ]
    assert doc["cards"] == {
        "total": 5,
        "complete": 1,
        "incomplete": 2,
        "awaiting": 2,
        "feedback_sent": 2,
        "resubmitted": 1,
        # No photo recorded: the day's 5 drops all have fewer than 12.
        "photos": 0,
        "short_of_photos": 5,
    }
    html = dash.client.get("/wa-monitor", params={"day": DAY.isoformat()}).text
    assert '<th>Total</th><th class="num" data-total>5</th>' in html
    assert '<svg class="chart"' in html
    assert "2025-11-11 Lawley: 3" in html


def ids_of(doc: Any) -> list[str]:
    return [r["drop_number"] for r in doc["reviews"]]


@pytest.mark.parametrize(
    ("params", "drops"),
    [
        (
            {},
            [
                "DR2000008",
                "DR1000006",
                "DR1000005",
                "DR1000004",
                "DR1000003",
                "DR1000002",
                "DR1000001",
                "DR1000007",
            ],
        ),
        (
            {"from": "2025-11-11", "to": "2025-11-11"},
            ["DR1000005", "DR1000004", "DR1000003", "DR1000002", "DR1000001"],
        ),
        ({"from": "2025-11-12"}, ["DR2000008", "DR1000006"]),
        ({"to": "2025-11-10"}, ["DR1000007"]),
        ({"project": "Mohadin"}, ["DR1000004", "DR1000003", "DR1000007"]),
        ({"status": "complete"}, ["DR2000008", "DR1000001", "DR1000007"]),
        ({"status": "incomplete"}, ["DR1000005", "DR1000002"]),
        ({"status": "awaiting"}, ["DR1000006", "DR1000004", "DR1000003"]),
        ({"resubmitted": "yes"}, ["DR1000004"]),
        ({"resubmitted": "no", "project": "Mohadin"}, ["DR1000003", "DR1000007"]),
        ({"feedback": "pending"}, ["DR2000008", "DR1000002", "DR1000007"]),
        ({"feedback": "sent"}, ["DR1000005", "DR1000001"]),
        ({"drop": "dr 2000"}, ["DR2000008"]),
        ({"drop": "1000007"}, ["DR1000007"]),
    ],
)
def test_each_filter_shows_exactly_its_reviews(
    seeded: Seeded, params: dict[str, str], drops: list[str]
) -> None:
    dash = seeded.dash
    doc = dash.json("/wa-monitor/reviews", **params)
    assert ids_of(doc) == drops
    assert doc["problems"] == []
    html = dash.client.get("/wa-monitor/reviews", params=params).text
    assert all(d in html for d in drops)
    assert not any(r.drop in html for r in ROWS if r.drop not in drops)


def test_a_filter_value_that_means_nothing_is_named_and_ignored(seeded: Seeded) -> None:
    dash = seeded.dash
    doc = dash.json("/wa-monitor/reviews", status="lost", project="Nowhere", drop="DR12x")
    assert len(doc["reviews"]) == len(ROWS)
    assert len(doc["problems"]) == 3
    html = dash.client.get("/wa-monitor/reviews?status=lost").text
    assert "Ignored status: &#39;lost&#39; is not one of complete, incomplete, awaiting" in html


def test_pages_walk_every_review_once_newest_first_and_back(
    dash: Dashboard, db: psycopg.Connection[Any]
) -> None:
    start = at(1, 8)
    rows = [Row(f"DR3{i:06d}", start + timedelta(minutes=7 * (i // 3))) for i in range(40)]
    seed(db, "public", rows)  # three reviews share each minute: the id breaks the tie
    expected = [
        r[0]
        for r in db.execute(
            "SELECT drop_number FROM public.qa_photo_reviews "
            "ORDER BY whatsapp_message_date DESC, id DESC"
        )
    ]
    seen, pages, link = [], [], "size=7"
    while link:
        doc = dash.client.get(f"/wa-monitor/reviews?{link}&format=json").json()
        pages.append(doc)
        seen += ids_of(doc)
        link = doc["older"]
    assert seen == expected
    assert [len(p["reviews"]) for p in pages] == [7, 7, 7, 7, 7, 5]
    assert pages[0]["newer"] is None
    back = dash.client.get(f"/wa-monitor/reviews?{pages[-1]['newer']}&format=json").json()
    assert ids_of(back) == ids_of(pages[-2])
    html = dash.client.get("/wa-monitor/reviews?size=7").text
    assert 'rel="next"' in html
    assert 'rel="prev"' not in html


def test_the_csv_holds_exactly_the_filtered_rows(seeded: Seeded) -> None:
    dash, db = seeded.dash, seeded.db
    params = {"from": "2025-11-11", "to": "2025-11-12", "project": "Lawley"}
    response = dash.client.get("/wa-monitor/reviews", params={**params, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(response.text)))
    assert tuple(table[0]) == COLUMNS
    listed = ids_of(dash.json("/wa-monitor/reviews", **params))
    assert (
        [row[1] for row in table[1:]]
        == listed
        == ["DR2000008", "DR1000006", "DR1000005", "DR1000002", "DR1000001"]
    )
    stored = {
        str(r[0]): r
        for r in db.execute(
            "SELECT id, drop_number, completed, step_12_customer_signature, submitted_by "
            "FROM public.qa_photo_reviews"
        )
    }
    for row in table[1:]:
        record = dict(zip(COLUMNS, row, strict=True))
        _db_id, drop, completed, step12, phone = stored[record["id"]]
        assert (record["drop_number"], record["submitted_by"]) == (drop, phone)
        assert record["completed"] == ("true" if completed else "false")
        assert record["step_12_customer_signature"] == ("true" if step12 else "false")


def test_a_spreadsheet_formula_in_a_name_is_defused_in_the_csv(
    dash: Dashboard, db: psycopg.Connection[Any]
) -> None:
    seed(db, "public", [Row("DR4000001", at(11, 8), user_name='=HYPERLINK("x")')])
    text = dash.client.get("/wa-monitor/reviews?format=csv").text
    assert "'=HYPERLINK" in text


@pytest.mark.migrated("prod", "dev")
def test_a_review_shows_every_field_the_12_steps_and_its_history(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> None:
    envs = make_envs(tmp_path / "config", bridge, database_url)
    for mid, text, when in (
        ("M1", "DR5550001 done", at(11, 8)),
        ("M2", "DR5550001 fixed the photos", at(12, 9)),
        ("M3", "DR5550002", at(12, 10)),
    ):
        bridge.post(
            Post(
                id=mid,
                chat_jid=LAWLEY,
                sender=AGENT,
                content=text,
                timestamp=bridge_timestamp(when),
            )
        )
    assert envs.run("prod") == 0
    settings = environment(tmp_path / "web", "prod", bridge=bridge, url=database_url)
    add_user(database_url, "public", "ayanda")
    review_id = db.execute(
        "SELECT id FROM public.qa_photo_reviews WHERE drop_number = 'DR5550001'"
    ).fetchone()
    assert review_id is not None
    with dashboard(settings, database_url) as dash:
        dash.login("ayanda")
        html = dash.client.get(f"/wa-monitor/reviews/{review_id[0]}").text
        doc = dash.json(f"/wa-monitor/reviews/{review_id[0]}")
        missing = dash.client.get("/wa-monitor/reviews/00000000-0000-0000-0000-000000000000")
    assert "1. House Photo" in html
    assert "12. Customer Signature" in html
    assert "First sighting" in html
    assert "Posted again" in html
    assert set(COLUMNS) <= set(doc)
    assert doc["resubmitted"] is True
    assert [s["name"] for s in doc["steps"]][:2] == ["House Photo", "Cable from Pole"]
    assert [
        (h["what"], h["message_id"], h["project"], h["sender"], h["text"]) for h in doc["history"]
    ] == [
        ("First sighting", "M1", "Lawley", AGENT, "DR5550001 done"),
        ("Posted again", "M2", "Lawley", AGENT, "DR5550001 fixed the photos"),
    ]
    assert "DR5550001 fixed the photos" in html
    assert missing.status_code == 404


def test_the_health_warns_when_the_monitor_is_stopped_or_behind(
    dash: Dashboard, bridge: BridgeWriter, db: psycopg.Connection[Any], database_url: str
) -> None:
    for i in range(3):
        bridge.post(
            Post(
                id=f"W{i}",
                chat_jid=LAWLEY,
                sender=AGENT,
                content=f"DR77700{i:02d}",
                timestamp=bridge_timestamp(datetime.now(SAST)),
            )
        )
    stopped = dash.json("/wa-monitor")["health"]
    assert stopped["level"] == "stopped"
    assert stopped["running"] is False
    assert "not running" in dash.client.get("/wa-monitor").text
    # A monitor holds the environment's lock, but has read nothing for 15 minutes: behind.
    db.execute(
        "INSERT INTO public.wa_monitor_cursor (bridge_rowid, bridge_file, updated_at, read_at) "
        "VALUES (0, 'x', now() - interval '15 min', now() - interval '15 min')"
    )
    with psycopg.connect(database_url) as monitor:
        monitor.execute("LOCK TABLE public.wa_monitor_instance IN EXCLUSIVE MODE")  # as it runs
        behind = dash.json("/wa-monitor")["health"]
        page = dash.client.get("/wa-monitor").text
        metrics = dash.client.get("/metrics").text
    assert (behind["level"], behind["waiting"], behind["running"]) == ("behind", 3, True)
    assert "The monitor is behind: 3 messages waiting; it last read the bridge 15 min ago" in page
    assert 'wa_monitor_bridge_waiting_messages{environment="prod"} 3.0' in metrics
    assert 'wa_monitor_behind{environment="prod"} 1.0' in metrics


def test_metrics_carry_figures_and_no_personal_data(seeded: Seeded) -> None:
    stranger = TestClient(seeded.dash.client.app, base_url="http://testserver")  # no login
    text = stranger.get("/metrics").text
    assert 'wa_monitor_database_up{environment="prod"} 1.0' in text
    assert "wa_monitor_reviews_today" in text
    assert "Thandi" not in text
    assert AGENT not in text
    assert "DR1" not in text
