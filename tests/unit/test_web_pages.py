"""The overview, the queue and /metrics through Starlette's test client on the in-memory desk
(tests/support/fakes.py FakeDesk): what each page decides from the figures it is given (the
day's table, the cards, the invalid drop numbers' words, the health, the queue's age bands and
order, a scrape while the database is away). The figures' SQL is tested on PostgreSQL in
tests/integration (test_web_pages.py, test_daily_summary.py)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from tests.support.fake_site import DROP, NOON, FakeDashboard, Make, json_twin, viewer
from wa_monitor.adapters.postgres.dashboard import InvalidPost
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.core.steps import Step
from wa_monitor.core.verdict import Verdict
from wa_monitor.errors import TransientError
from wa_monitor.services.health import Health, Level
from wa_monitor.web import metrics
from wa_monitor.web.desk import Desk

DAY = NOON.date().isoformat()
ALL_OK = Verdict.of(passed=list(Step))


def overview(d: FakeDashboard, **query: str) -> dict[str, object]:
    return json_twin(d, "/wa-monitor", **query)


def test_the_overview_counts_the_days_drops_per_project_and_its_cards(make: Make) -> None:
    d = viewer(make)
    d.desk.add_review("DR7654321", "Lawley", at=NOON)
    d.desk.add_review("DR1111111", "Mohadin", at=NOON)  # not a group prod watches now
    d.desk.add_review("DR2222222", "Lawley", at=NOON - timedelta(days=1))
    d.desk.save(d.review, verdict=ALL_OK, version=1, by="thandi")

    page = overview(d, day=DAY)

    assert page["projects"] == [
        {"project": "Lawley", "drops": 2},
        {"project": "Mohadin", "drops": 1},
    ]
    assert page["total"] == 3
    cards = page["cards"]
    assert isinstance(cards, dict)
    assert (cards["total"], cards["complete"], cards["awaiting"]) == (3, 1, 2)
    # The chart's 30 days hold the day before as well; the table only the day asked for.
    daily = page["daily"]
    assert isinstance(daily, list)
    assert {(c["day"], c["project"], c["drops"]) for c in daily} == {
        (DAY, "Lawley", 2),
        (DAY, "Mohadin", 1),
        ((NOON - timedelta(days=1)).date().isoformat(), "Lawley", 1),
    }


def test_an_enabled_project_without_drops_is_listed_with_none(make: Make) -> None:
    d = viewer(make)
    page = overview(d, day="2025-11-12")  # the day after the only review
    assert page["projects"] == [{"project": "Lawley", "drops": 0}]
    assert page["total"] == 0


def test_the_overview_says_what_became_of_each_invalid_drop_numbers_answer(make: Make) -> None:
    d = viewer(make)
    at = NOON - timedelta(hours=1)
    answered = InvalidPost(at, "Lawley", "DR0000001", "Sipho", "27600000001", "not in the plan",
                           "reject", "sent", at + timedelta(seconds=30))  # fmt: skip
    waiting = replace(answered, drop_number="DR0000002", action="flag", reply="pending")
    tomorrow = replace(answered, posted_at=at + timedelta(days=1), drop_number="DR0000003")
    d.desk.invalid = [answered, waiting, tomorrow]

    invalid = overview(d, day=DAY)["invalid"]

    assert isinstance(invalid, dict)
    assert invalid["total"] == 2  # the next day's is not this day's
    words = {p["drop_number"]: (p["action_words"], p["reply_words"]) for p in invalid["posts"]}
    assert words == {
        "DR0000001": ("rejected: no review", "answered at 11:00:30"),  # in Johannesburg's time
        "DR0000002": ("flagged: review created", "waiting to be sent"),
    }
    html = d.client.get("/wa-monitor", params={"day": DAY}).text
    assert "DR0000001" in html
    assert "DR0000003" not in html


def test_the_overview_shows_a_stopped_monitor(make: Make) -> None:
    d = viewer(make)
    stopped = Health(Level.STOPPED, "No monitor has run for 2 h.", False, 40, None, None,
                     None, NOON)  # fmt: skip
    d.desk.state = stopped
    assert overview(d, day=DAY)["health"] == stopped.as_json()
    assert "No monitor has run for 2 h." in d.client.get("/wa-monitor", params={"day": DAY}).text


def test_a_day_the_dashboard_cannot_show_is_refused_in_every_format(make: Make) -> None:
    d = viewer(make)
    for query in ({"day": "1999-01-01"}, {"day": "1999-01-01", "format": "json"}):
        answer = d.client.get("/wa-monitor", params=query)
        assert answer.status_code == 400
        assert "outside the days this dashboard shows" in answer.text


def test_the_overview_asks_a_visitor_to_log_in(make: Make) -> None:
    d = make()
    answer = d.client.get("/wa-monitor", params={"day": DAY}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/wa-monitor/login?next=")
    assert d.client.get("/wa-monitor", params={"format": "json"}).status_code == 401


# -- the queue ---------------------------------------------------------------------------------


def queue(d: FakeDashboard, **query: str) -> dict[str, object]:
    answer = d.client.get("/wa-monitor/queue", params={"format": "json", **query})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def days_ago(d: FakeDashboard, days: int) -> datetime:
    """Noon of the environment's day `days` before its today (the day the queue counts from)."""
    site = d.client.app.state.site
    return datetime.now(site.settings.tz).replace(hour=12, minute=0) - timedelta(days=days)


def test_the_queue_lists_what_awaits_a_verdict_oldest_first_counted_by_age(make: Make) -> None:
    d = make()
    d.desk.reviews.clear()
    today = d.desk.add_review("DR1000000", "Lawley", at=days_ago(d, 0))
    d.desk.add_review("DR1000002", "Lawley", at=days_ago(d, 2))
    d.desk.add_review("DR1000010", "Mohadin", at=days_ago(d, 10))
    done = d.desk.add_review("DR1000001", "Lawley", at=days_ago(d, 1))
    d.desk.save(done, verdict=ALL_OK, version=1, by="thandi")  # judged: not in the queue
    d.desk.mark_open(today, "lindiwe")
    d.login(d.desk.add_user("thandi", Role.REVIEWER))

    page = queue(d)

    reviews = page["reviews"]
    assert isinstance(reviews, list)
    assert [r["drop_number"] for r in reviews] == ["DR1000010", "DR1000002", "DR1000000"]
    assert [r["open_by"] for r in reviews] == [[], [], ["lindiwe"]]
    assert page["counts"] == [
        {"project": "Lawley", "today": 1, "days_1_2": 1, "days_3_7": 0, "older": 0},
        {"project": "Mohadin", "today": 0, "days_1_2": 0, "days_3_7": 0, "older": 1},
    ]
    assert page["total"] == 3
    newest = queue(d, order="newest")["reviews"]
    assert isinstance(newest, list)
    assert [r["drop_number"] for r in newest] == ["DR1000000", "DR1000002", "DR1000010"]


# -- /metrics ----------------------------------------------------------------------------------


def scrape(d: FakeDashboard) -> str:
    return generate_latest(metrics.registry(d.client.app.state.site)).decode()


def test_a_scrape_reports_todays_drops_reviews_and_the_monitors_lag(make: Make) -> None:
    d = make()
    d.desk.reviews.clear()
    d.desk.add_review("DR1000000", "Lawley", at=days_ago(d, 0))
    d.desk.add_review("DR1000001", "Lawley", at=days_ago(d, 0))
    d.desk.add_review("DR1000002", "Lawley", at=days_ago(d, 1))  # yesterday's: not today's
    now = datetime.now(UTC)
    d.desk.state = Health(Level.BEHIND, "behind", True, 12, now - timedelta(minutes=5), None,
                          None, now)  # fmt: skip

    text = scrape(d)

    assert 'wa_monitor_database_up{environment="prod"} 1.0' in text
    assert 'wa_monitor_drops_today{environment="prod",project="Lawley"} 2.0' in text
    assert 'wa_monitor_reviews_today{environment="prod",state="awaiting"} 2.0' in text
    assert 'wa_monitor_bridge_waiting_messages{environment="prod"} 12.0' in text
    assert 'wa_monitor_behind{environment="prod"} 1.0' in text
    assert DROP not in text  # figures only


def test_a_scrape_while_the_database_is_away_says_so_and_nothing_else(make: Make) -> None:
    d = make()
    site = d.client.app.state.site

    def away(_: object) -> AbstractContextManager[Desk]:
        raise TransientError("database unavailable (unreachable)")

    text = generate_latest(metrics.registry(replace(site, opens=away))).decode()

    assert 'wa_monitor_database_up{environment="prod"} 0.0' in text
    assert "wa_monitor_drops_today" not in text


def test_the_queues_day_bands_follow_the_environments_today(make: Make) -> None:
    d = make()
    d.desk.reviews.clear()
    d.desk.add_review("DR1000003", "Lawley", at=days_ago(d, 3))
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    counts = queue(d)["counts"]
    assert counts == [{"project": "Lawley", "today": 0, "days_1_2": 0, "days_3_7": 1, "older": 0}]
