"""The review list's query string and the chart, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from wa_monitor.adapters.postgres.dashboard import Feedback, Keyset, Status
from wa_monitor.core.records import DailyCount
from wa_monitor.web import chart, context, filters

SAST = ZoneInfo("Africa/Johannesburg")
PROJECTS = frozenset({"Lawley", "Mohadin"})


def test_a_local_day_is_the_instants_between_two_local_midnights() -> None:
    query = filters.parse({"from": "2025-11-11", "to": "2025-11-11"}, projects=PROJECTS)
    where = query.where(SAST)
    assert where.start == datetime(2025, 11, 10, 22, tzinfo=UTC)
    assert where.end == datetime(2025, 11, 11, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "prefix"),
    [
        ("DR1234567", "DR1234567"),
        ("dr 1234", "DR1234"),
        ("1234", "DR1234"),
        (" Dr1752028 ", "DR1752028"),
    ],
)
def test_a_drop_search_is_normalised_to_the_start_of_a_drop(typed: str, prefix: str) -> None:
    assert filters.parse({"drop": typed}, projects=PROJECTS).drop == prefix


def test_a_drop_search_needs_four_digits_at_least() -> None:
    query = filters.parse({"drop": "DR12"}, projects=PROJECTS)
    assert query.drop is None
    assert "at least 4 digits" in query.problems[0]


def test_values_that_mean_nothing_are_named_and_the_rest_still_applies() -> None:
    query = filters.parse(
        {
            "from": "2025-11-12",
            "to": "2025-11-10",
            "status": "Complete",
            "feedback": "maybe",
            "project": "Nowhere",
            "drop": "XDR1",
            "size": "5000",
            "resubmitted": "yes",
        },
        projects=PROJECTS,
    )
    assert (query.first, query.last) == (date(2025, 11, 10), date(2025, 11, 12))
    assert query.status is Status.COMPLETE
    assert query.feedback is None
    assert query.project is None
    assert query.drop is None
    assert query.size == filters.PAGE_SIZE
    assert query.resubmitted is True
    assert len(query.problems) == 5


def test_a_link_keeps_the_filters_and_adds_the_page() -> None:
    query = filters.parse(
        {"project": "Lawley", "feedback": "pending", "older": "garbage"}, projects=PROJECTS
    )
    assert query.older is None  # a keyset that is not one starts at the first page
    assert query.feedback is Feedback.PENDING
    key = Keyset(datetime(2025, 11, 11, 8, 30, 0, 123456, tzinfo=UTC), UUID(int=7))
    link = query.link(older=key.token())
    again = filters.parse(dict(p.split("=", 1) for p in link.split("&")), projects=PROJECTS)
    assert again.older == key
    assert (again.project, again.feedback) == ("Lawley", Feedback.PENDING)


@pytest.mark.parametrize(
    ("peak", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (260, 500)]
)
def test_the_chart_axis_ends_at_a_round_number(peak: int, top: int) -> None:
    assert chart.nice_top(peak) == top


def test_the_chart_escapes_project_names_and_draws_one_bar_per_count() -> None:
    days = [date(2025, 11, 10), date(2025, 11, 11)]
    svg = chart.stacked_bars(
        days, ["<b>Lawley</b>", "Mohadin"], {(days[1], "<b>Lawley</b>"): 3, (days[1], "Mohadin"): 2}
    )
    assert "<b>" not in svg
    assert "&lt;b&gt;Lawley&lt;/b&gt;: 3" in svg
    assert svg.count("<rect") == 2
    assert "style=" not in svg  # the CSP allows no inline style


def test_the_charts_past_days_are_read_once_then_reused_until_asked_fresh() -> None:
    kept = context.PastDays()
    reads: list[int] = []
    first, last = date(2025, 10, 13), date(2025, 11, 10)

    def read() -> list[DailyCount]:
        reads.append(1)
        return [DailyCount(day=last, project="Lawley", drops=len(reads))]

    assert kept.get(first, last, read)[0].drops == 1
    assert kept.get(first, last, read)[0].drops == 1  # reused: the database is not asked
    assert kept.get(first, last, read, fresh=True)[0].drops == 2  # the warmer's refresh
    assert kept.get(first, last, read)[0].drops == 2
    assert kept.get(first, date(2025, 11, 11), read)[0].drops == 3  # another window
    assert len(reads) == 3


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2000-01-01", date(2000, 1, 1)),
        ("2999-12-31", date(2999, 12, 31)),
        (" 2025-11-11 ", date(2025, 11, 11)),
        ("2025-13-01", None),  # not a date: the list names it and ignores it
        ("", None),
    ],
)
def test_a_day_the_pages_can_show_is_read(text: str, day: date | None) -> None:
    assert filters.parse_day(text) == day


@pytest.mark.parametrize("text", ["0001-01-01", "1999-12-31", "3000-01-01", "9999-12-31"])
def test_a_day_beyond_what_the_pages_show_is_out_of_range_naming_the_key(text: str) -> None:
    with pytest.raises(filters.OutOfRange, match=f"to: {text} is outside"):
        filters.parse({"to": text}, projects=PROJECTS)
