"""The Quality page's handler through Starlette's test client on the in-memory figures
(tests/support/fakes.py FakeQualityReads): the ranges it reads for each URL (the range, the
period of the same length before it, the 12 weeks), what it compares, the agents' order, the
weekly series, the CSV's cells, and who may see it. The figures' SQL is tested on PostgreSQL in
tests/integration (test_quality.py: each figure against an independent count)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from tests.support.fake_site import FakeDashboard, Make, json_twin, viewer
from wa_monitor.adapters.postgres.quality import (
    AgentQuality,
    LoopTimes,
    ProjectQuality,
    Quality,
    StepFailures,
    Week,
)
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.core.steps import Step

FIRST, LAST = date(2025, 11, 3), date(2025, 11, 16)  # a Monday to a Sunday two weeks on
RANGE = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
BEFORE = (date(2025, 10, 20), date(2025, 11, 2))  # the 14 days before
WEEKS = (date(2025, 8, 25), LAST)  # the 12 weeks up to the range's last, Monday to Sunday


def project(name: str | None, drops: int, reviewed: int, passed: int) -> ProjectQuality:
    rate = None if not reviewed else round(100.0 * passed / reviewed, 1)
    return ProjectQuality(name, drops, reviewed, passed, rate, 0, 0.0, 0, 0.0, 0, 60.0, 600.0)


def loop(name: str | None, verdict_p50: float) -> LoopTimes:
    return LoopTimes(name, verdict_p50, 2 * verdict_p50, *(None,) * 8)


def agent(phone: str, name: str | None, drops: int, rate: float | None, fix: float | None,
          *top: tuple[Step, int]) -> AgentQuality:  # fmt: skip
    reviewed = drops
    passed = 0 if rate is None else round(rate * reviewed / 100)
    return AgentQuality(phone, name, drops, reviewed, passed, rate, fix, tuple(top))


def figures(*agents: AgentQuality, drops: int = 10, passed: int = 4) -> Quality:
    steps = tuple(
        StepFailures(None, s, missing=3 if s is Step.UPS_SERIAL else 0, wrong=0, reviewed=drops)
        for s in Step
    )
    return Quality(
        projects=(project("Lawley", drops, drops, passed), project(None, drops, drops, passed)),
        steps=steps,
        agents=agents,
        loop=(loop("Lawley", 3600.0), loop(None, 3600.0)),
    )


def twin(d: FakeDashboard, **query: str) -> dict[str, Any]:
    return json_twin(d, "/wa-monitor/quality", **query)


def test_a_custom_range_is_compared_with_the_days_just_before_it_and_its_12_weeks(
    make: Make,
) -> None:
    d = viewer(make)
    # Given in reverse order: a range is its two days, whichever comes first.
    page = twin(d, **{"from": LAST.isoformat(), "to": FIRST.isoformat()})
    assert d.quality.asked == [((FIRST, LAST), BEFORE, WEEKS)]
    assert page["range"] == {"kind": "custom", **RANGE}
    assert page["previous"] == {"from": BEFORE[0].isoformat(), "to": BEFORE[1].isoformat()}


def test_the_named_ranges_read_this_week_last_week_and_this_month(make: Make) -> None:
    d = viewer(make)
    tz = d.client.app.state.site.settings.tz  # type: ignore[attr-defined]
    today = datetime.now(tz).date()
    monday = today - timedelta(days=today.weekday())
    for query in ({}, {"range": "last-week"}, {"range": "this-month"}):
        twin(d, **query)
    shown = [asked[0] for asked in d.quality.asked]
    assert shown == [
        (monday, monday + timedelta(days=6)),
        (monday - timedelta(days=7), monday - timedelta(days=1)),
        (today.replace(day=1), today),
    ]
    this_week, _, weeks = d.quality.asked[0]
    assert weeks == (monday - timedelta(weeks=11), this_week[1])


def test_the_page_shows_the_ranges_figures_against_the_period_before(make: Make) -> None:
    d = viewer(make)
    d.quality.ranges[(FIRST, LAST)] = figures(drops=12, passed=9)
    d.quality.ranges[BEFORE] = figures(
        agent("27600000001", "Sipho", 4, 50.0, None, (Step.UPS_SERIAL, 2)), drops=9, passed=3
    )
    page = twin(d, **RANGE)

    assert [(p["project"], p["drops"], p["passed_first"]) for p in page["projects"]] == [
        ("Lawley", 12, 9),
        (None, 12, 9),
    ]
    assert [(p["project"], p["drops"]) for p in page["previous_projects"]] == [
        ("Lawley", 9),
        (None, 9),
    ]
    assert page["agents"] == []  # the period before's agents are not the range's
    html = d.client.get("/wa-monitor/quality", params=RANGE).text
    # 12 drops against 9 before; 75 % passed first time against 33.3 %
    assert '<span class="delta" title="against 2025-10-20 to 2025-11-02">+3</span>' in html
    assert "+41.7 pts" in html


def test_the_steps_are_ranked_by_how_often_they_failed(make: Make) -> None:
    d = viewer(make)
    d.quality.ranges[(FIRST, LAST)] = figures()
    html = d.client.get("/wa-monitor/quality", params=RANGE).text
    steps_table = html.split('id="quality-steps"', 1)[1].split("</table>", 1)[0]
    first_row = steps_table.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert Step.UPS_SERIAL.display in first_row


def test_the_agents_are_sorted_as_the_url_asks(make: Make) -> None:
    d = viewer(make)
    d.quality.ranges[(FIRST, LAST)] = figures(
        agent("27600000001", "Sipho", 5, 80.0, 7200.0),
        agent("27600000002", "Anele", 9, 40.0, None),
        agent("27600000003", None, 2, None, 600.0),
    )

    def phones(**query: str) -> list[str]:
        return [a["phone"] for a in twin(d, **RANGE, **query)["agents"]]

    assert phones() == ["27600000002", "27600000001", "27600000003"]  # most drops first
    assert phones(sort="drops", order="asc") == ["27600000003", "27600000001", "27600000002"]
    # The others least first unless the URL says otherwise; an agent without the figure last.
    assert phones(sort="rate") == ["27600000002", "27600000001", "27600000003"]
    assert phones(sort="fix") == ["27600000003", "27600000001", "27600000002"]
    # Most first when the header says so (the page's link does), and still without it last.
    assert phones(sort="rate", order="desc") == ["27600000001", "27600000002", "27600000003"]
    assert phones(sort="fix", order="desc") == ["27600000001", "27600000003", "27600000002"]
    assert phones(sort="name") == ["27600000003", "27600000002", "27600000001"]  # nameless first
    assert phones(sort="name", order="desc") == ["27600000001", "27600000002", "27600000003"]
    assert phones(sort="nonsense") == phones()


def test_an_agents_row_links_to_their_reviews_and_escapes_what_they_typed(make: Make) -> None:
    d = viewer(make)
    d.quality.ranges[(FIRST, LAST)] = figures(
        agent("27600000001", "<b>Sipho</b>", 5, 80.0, 4260.0, (Step.ONT_BARCODE, 2))
    )
    html = d.client.get("/wa-monitor/quality", params=RANGE).text
    assert "&lt;b&gt;Sipho&lt;/b&gt;" in html
    assert "<b>Sipho</b>" not in html
    theirs = "/wa-monitor/reviews?from=2025-11-03&amp;to=2025-11-16&amp;agent=27600000001"
    assert f'<a href="{theirs}&amp;step=8">ONT Barcode</a> (2)' in html
    assert "1 h 11 min" in html  # feedback to fix, as a manager reads it


def test_the_weekly_series_holds_12_weeks_with_none_where_nothing_was_dropped(
    make: Make,
) -> None:
    d = viewer(make)
    d.quality.weeks = [
        Week(date(2025, 11, 10), 20, 10, 5),
        Week(date(2025, 9, 1), 4, 4, 4),
        Week(date(2025, 8, 18), 99, 99, 99),  # the 13th week back: not shown
    ]
    weekly = twin(d, **RANGE)["weekly"]
    assert [w["week"] for w in weekly] == [
        (WEEKS[0] + timedelta(weeks=i)).isoformat() for i in range(12)
    ]
    kept = {w["week"]: (w["drops"], w["first_time_rate"]) for w in weekly if w["drops"]}
    assert kept == {"2025-11-10": (20, 50.0), "2025-09-01": (4, 100.0)}
    html = d.client.get("/wa-monitor/quality", params=RANGE).text
    assert "Week of 2025-11-10: 20 drops, 50.0 % first time" in html


def test_the_csv_holds_the_projects_agents_and_steps_with_no_formula_cells(make: Make) -> None:
    d = viewer(make)
    d.quality.ranges[(FIRST, LAST)] = figures(
        agent("27600000001", "=HYPERLINK(1)", 5, 80.0, None, (Step.UPS_SERIAL, 3))
    )
    answer = d.client.get("/wa-monitor/quality", params={**RANGE, "format": "csv"})
    assert answer.status_code == 200
    disposition = answer.headers["content-disposition"]
    assert disposition == 'attachment; filename="wa-monitor-prod-quality-2025-11-03-2025-11-16.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    kinds = [r["kind"] for r in rows]
    assert kinds == ["project", "project", "agent", *["step"] * 12]
    assert rows[1]["project"] == "(all)"
    assert rows[2]["agent"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it
    assert (rows[3]["step"], rows[3]["missing"]) == (Step.UPS_SERIAL.display, "3")


def test_a_range_without_drops_says_so(make: Make) -> None:
    d = viewer(make)
    html = d.client.get("/wa-monitor/quality", params=RANGE).text
    assert "No drops in this range." in html
    assert twin(d, **RANGE)["agents"] == []


def test_the_page_is_for_logged_in_users_and_refuses_impossible_days(make: Make) -> None:
    d = make()
    answer = d.client.get("/wa-monitor/quality", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/wa-monitor/login?next=")
    assert d.client.get("/wa-monitor/quality", params={"format": "json"}).status_code == 401
    assert d.quality.asked == []
    d.login(d.desk.add_user("vusi", Role.VIEWER))
    for query in ({"from": "1999-01-01"}, {"to": "3000-01-01", "format": "json"}):
        answer = d.client.get("/wa-monitor/quality", params=query)
        assert answer.status_code == 400
        assert "outside the days this dashboard shows" in answer.text
    assert d.quality.asked == []
