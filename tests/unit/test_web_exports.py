"""The review list's CSV export (web/exports.py) through Starlette's test client on
FakeExportRows: what the file holds (every column, local times, true/false, text a spreadsheet
would run as a formula defused), the slots (2 per person: the third refused with 429, a slot
given back however the export ends) and the login it needs. Streaming a million rows, a client
that stops reading, the database's bounds: tests/integration/test_web_abuse.py and
test_web_pages.py."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from tests.support.fake_site import DROP, FakeDashboard, Make
from tests.support.fakes import FakeExportRows
from wa_monitor.adapters.postgres.dashboard import COLUMNS
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.web.exports import Exports

CSV = {"format": "csv"}


def exports(d: FakeDashboard) -> Exports:
    found = d.client.app.state.exports
    assert isinstance(found, Exports)
    return found


def test_the_export_holds_every_column_in_local_time_and_defuses_formulas(make: Make) -> None:
    d = make()
    user = d.desk.add_user("vusi", Role.VIEWER)
    d.login(user)
    d.desk.reviews[d.review] = replace(
        d.desk.reviews[d.review], user_name='=HYPERLINK("http://evil")', comment="-5"
    )
    d.desk.add_review("DR7654321")

    answer = d.client.get("/wa-monitor/reviews", params=CSV)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="wa-monitor-prod-reviews-')
    header, *rows = list(csv.reader(io.StringIO(answer.text)))
    assert header == list(COLUMNS)
    assert sorted(r[1] for r in rows) == sorted([DROP, "DR7654321"])  # both batches
    row = dict(zip(header, next(r for r in rows if r[1] == DROP), strict=True))
    assert row["user_name"] == '\'=HYPERLINK("http://evil")'  # text, not a formula
    assert row["comment"] == "-5"  # a number stays a number
    assert row["whatsapp_message_date"] == "2025-11-11T12:00:00+02:00"  # Johannesburg
    assert row["completed"] == "false"
    rows_source = exports(d).rows
    assert isinstance(rows_source, FakeExportRows)
    assert (rows_source.opened, rows_source.closed) == (1, 1)
    assert exports(d).slots.running == 0  # its slot given back


def test_a_third_export_of_one_person_is_refused_and_a_finished_one_frees_its_slot(
    make: Make,
) -> None:
    d = make()
    user = d.desk.add_user("vusi", Role.VIEWER)
    d.login(user)
    slots = exports(d).slots
    assert slots.refusal(user.id) is None
    assert slots.refusal(user.id) is None  # two of theirs running

    refused = d.client.get("/wa-monitor/reviews", params=CSV)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    assert refused.text.startswith("You have 2 exports running already")
    slots.give_back(user.id)
    assert d.client.get("/wa-monitor/reviews", params=CSV).status_code == 200
    assert slots.running == 1  # the one still running; the finished one gave its slot back


def test_an_export_needs_a_login(make: Make) -> None:
    d = make()
    answer = d.client.get("/wa-monitor/reviews", params=CSV, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/wa-monitor/login?next=")
    rows_source = exports(d).rows
    assert isinstance(rows_source, FakeExportRows)
    assert rows_source.opened == 0
