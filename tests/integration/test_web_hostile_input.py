"""Hostile input on the dashboard over HTTP, against a real PostgreSQL: a form no page of ours
would send, or a day no page can show, answers 400 with the reason, never 500; a refused form
comes back with what the reviewer typed still in it, and nothing is saved or sent."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.support.env import LAWLEY, VELO, sast, write_config
from tests.support.web import Dashboard, Row, add_user, dashboard, environment, seed
from wa_monitor.core.verdict import Step
from wa_monitor.devtools.simulator import BridgeWriter

FFFD = "\ufffd"  # how a browser shows a NUL, and how the kept input shows it
pytestmark = pytest.mark.migrated("dev")


@pytest.fixture
def dash(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> Iterator[Dashboard]:
    # Production's config beside dev's names Lawley, not the test group.
    write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    settings = environment(
        tmp_path, "dev", bridge=bridge, url=database_url, extra=f'[web]\nfeedback_group = "{VELO}"'
    )
    add_user(database_url, "dev", "thandi")
    with dashboard(settings, database_url) as client:
        assert client.login("thandi").status_code == 303
        yield client


@pytest.fixture
def review(db: psycopg.Connection[Any], dash: Dashboard) -> UUID:
    [review] = seed(db, "dev", [Row("DR1234567", sast(11, 9), project="Lawley")])
    return review


def verdict_form(dash: Dashboard, **fields: str) -> dict[str, str]:
    """A verdict form as the page sends it: the house photo wrong, every other step OK."""
    form = {"csrf": dash.csrf(), "version": "1", "comment": "please redo the cable"}
    for step in Step:
        form[f"mark_{step.column}"] = "passed"
    form[f"mark_{Step.HOUSE_PHOTO.column}"] = "wrong"
    form[f"why_{Step.HOUSE_PHOTO.column}"] = "house number not visible"
    return form | fields


def notice(page: str) -> str:
    match = re.search(r'data-testid="notice">([^<]*)<', page)
    assert match, "the page shows no notice"
    return html.unescape(match[1])


def kept_comment(page: str) -> str:
    match = re.search(r'<textarea name="comment"[^>]*>([^<]*)</textarea>', page)
    assert match, "the page has no comment box"
    return html.unescape(match[1])


def kept_reason(page: str, step: Step) -> str:
    match = re.search(rf'name="why_{step.column}" value="([^"]*)"', page)
    assert match, f"the page has no reason box for {step}"
    return html.unescape(match[1])


def checked(page: str, step: Step) -> str:
    match = re.search(rf'name="mark_{step.column}" value="(\w+)"[^>]*checked', page)
    assert match, f"no mark of {step} is checked"
    return match[1]


def version_of(db: psycopg.Connection[Any], review: UUID) -> int:
    row = db.execute("SELECT version FROM dev.qa_photo_reviews WHERE id = %s", (review,))
    return int(row.fetchone()[0])  # type: ignore[index]


def sends_of(db: psycopg.Connection[Any], review: UUID) -> int:
    row = db.execute(
        "SELECT count(*) FROM dev.wa_monitor_feedback_sends WHERE review_id = %s", (review,)
    )
    return int(row.fetchone()[0])  # type: ignore[index]


def save(dash: Dashboard, review: UUID, form: dict[str, str]) -> Any:
    return dash.client.post(
        f"/wa-monitor/reviews/{review}/verdict", data=form, follow_redirects=False
    )


# -- forms -------------------------------------------------------------------------------------


def test_the_form_as_the_page_sends_it_is_saved(
    dash: Dashboard, review: UUID, db: psycopg.Connection[Any]
) -> None:
    answer = save(dash, review, verdict_form(dash))

    assert answer.status_code == 303
    assert version_of(db, review) == 2


def test_a_save_that_changes_nothing_is_recorded_and_the_page_still_opens(
    dash: Dashboard, review: UUID, db: psycopg.Connection[Any]
) -> None:
    assert save(dash, review, verdict_form(dash)).status_code == 303
    assert save(dash, review, verdict_form(dash, version="2")).status_code == 303
    page = dash.client.get(f"/wa-monitor/reviews/{review}")

    assert page.status_code == 200
    assert "<li>Saved: <bdi>—</bdi> → <bdi>no change</bdi></li>" in page.text
    assert version_of(db, review) == 3


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("comment", "please redo\x00 the cable", "The overall comment holds a character"),
        (f"why_{Step.HOUSE_PHOTO.column}", "number\x00 hidden", "The reason for step 1."),
        ("comment", "x" * 2001, "The overall comment is 2001 characters long; at most 2000"),
        (f"why_{Step.HOUSE_PHOTO.column}", "y" * 301, "at most 300 can be saved"),
    ],
    ids=["nul-in-comment", "nul-in-reason", "comment-too-long", "reason-too-long"],
)
def test_text_no_page_sends_is_refused_with_the_verdict_kept(
    dash: Dashboard,
    review: UUID,
    db: psycopg.Connection[Any],
    field: str,
    value: str,
    said: str,
) -> None:
    form = verdict_form(dash, **{field: value})
    answer = save(dash, review, form)

    assert answer.status_code == 400
    page = answer.text
    assert said in notice(page)
    assert "Nothing was saved" in notice(page)
    shown = value.replace("\x00", FFFD)
    if field == "comment":
        assert kept_comment(page) == shown
    else:
        assert kept_reason(page, Step.HOUSE_PHOTO) == shown
        assert kept_comment(page) == "please redo the cable"
    assert checked(page, Step.HOUSE_PHOTO) == "wrong"
    assert checked(page, Step.CUSTOMER_SIGNATURE) == "passed"
    assert version_of(db, review) == 1


@pytest.mark.parametrize("version", ["²", "1" * 5000, "-1", "1.0", " 1", "99999999999"], ids=repr)
def test_a_version_no_page_wrote_is_refused_with_the_verdict_kept(
    dash: Dashboard, review: UUID, db: psycopg.Connection[Any], version: str
) -> None:
    answer = save(dash, review, verdict_form(dash, version=version))

    assert answer.status_code == 400
    assert "which version of the review" in notice(answer.text)
    assert kept_comment(answer.text) == "please redo the cable"
    assert kept_reason(answer.text, Step.HOUSE_PHOTO) == "house number not visible"
    assert version_of(db, review) == 1
    # The page offers the current version: saving the kept input again goes through.
    again = save(dash, review, verdict_form(dash))
    assert again.status_code == 303


def test_a_form_without_a_version_is_refused_with_the_verdict_kept(
    dash: Dashboard, review: UUID, db: psycopg.Connection[Any]
) -> None:
    form = verdict_form(dash)
    del form["version"]
    answer = save(dash, review, form)

    assert answer.status_code == 400
    assert kept_comment(answer.text) == "please redo the cable"
    assert version_of(db, review) == 1


def test_a_nul_in_the_feedback_is_refused_with_the_message_kept_and_nothing_sent(
    dash: Dashboard, review: UUID, db: psycopg.Connection[Any]
) -> None:
    assert save(dash, review, verdict_form(dash)).status_code == 303
    text = "DR1234567: please\x00 redo the house photo"
    answer = dash.client.post(
        f"/wa-monitor/reviews/{review}/send",
        data={"csrf": dash.csrf(), "version": "2", "text": text},
        follow_redirects=False,
    )

    assert answer.status_code == 400
    assert "The message holds a character that cannot be saved" in notice(answer.text)
    match = re.search(r'<textarea name="text"[^>]*>([^<]*)</textarea>', answer.text)
    assert match
    assert html.unescape(match[1]) == text.replace("\x00", FFFD)
    assert sends_of(db, review) == 0


@pytest.mark.parametrize("version", ["²", "9" * 5000])
def test_a_send_of_a_version_no_page_wrote_is_refused_with_the_message_kept(
    dash: Dashboard, review: UUID, db: psycopg.Connection[Any], version: str
) -> None:
    assert save(dash, review, verdict_form(dash)).status_code == 303
    answer = dash.client.post(
        f"/wa-monitor/reviews/{review}/send",
        data={"csrf": dash.csrf(), "version": version, "text": "DR1234567: redo it"},
        follow_redirects=False,
    )

    assert answer.status_code == 400
    assert ">DR1234567: redo it</textarea>" in answer.text
    assert sends_of(db, review) == 0


@pytest.mark.parametrize("send", ["1" * 5000, "99999999999999999999", "²"])
def test_resolving_a_send_that_cannot_exist_is_not_found(
    dash: Dashboard, review: UUID, send: str
) -> None:
    answer = dash.client.post(
        f"/wa-monitor/reviews/{review}/sends/{send}/resolve",
        data={"csrf": dash.csrf(), "resolution": "posted"},
        follow_redirects=False,
    )

    assert answer.status_code == 404


def test_a_resolution_that_is_neither_answer_is_refused_on_the_page(
    dash: Dashboard, review: UUID
) -> None:
    answer = dash.client.post(
        f"/wa-monitor/reviews/{review}/sends/1/resolve",
        data={"csrf": dash.csrf(), "resolution": "\x00maybe"},
        follow_redirects=False,
    )

    assert answer.status_code == 400
    assert notice(answer.text)


# -- days --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/wa-monitor?day=0001-01-01",
        "/wa-monitor?day=9999-12-31",
        "/wa-monitor?day=1999-12-31",
        "/wa-monitor/reviews?from=0001-01-01&to=9999-12-31",
        "/wa-monitor/reviews?from=2025-11-01&to=9999-12-31",
        "/wa-monitor/reviews?to=9999-12-31&format=csv",
    ],
)
def test_a_day_the_pages_cannot_show_is_a_400_that_says_so(dash: Dashboard, path: str) -> None:
    answer = dash.client.get(path)
    twin = dash.client.get(path.replace("format=csv", "") + "&format=json")

    assert answer.status_code == 400
    assert "is outside the days this dashboard shows (2000-01-01 to 2999-12-31)" in answer.text
    assert "text/html" in answer.headers["content-type"]
    assert twin.status_code == 400
    assert "outside the days this dashboard shows" in twin.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/wa-monitor?day=2000-01-01",
        "/wa-monitor?day=2999-12-31",
        "/wa-monitor/reviews?from=2000-01-01&to=2999-12-31",
        "/wa-monitor/reviews?to=2999-12-31&format=csv",
    ],
)
def test_the_first_and_last_day_the_pages_show_are_shown(dash: Dashboard, path: str) -> None:
    assert dash.client.get(path).status_code == 200


# -- a sweep -----------------------------------------------------------------------------------

HOSTILE = ["\x00", "²", "1" * 5000, "0001-01-01", "9999-12-31", "-1", "%", "\u202e", "9" * 25]
QUERY_KEYS = [
    "day",
    "from",
    "to",
    "project",
    "status",
    "resubmitted",
    "feedback",
    "drop",
    "older",
    "newer",
    "size",
    "send",
    "saved",
]


def test_no_value_in_a_query_string_or_a_form_makes_the_dashboard_fail(
    dash: Dashboard, review: UUID
) -> None:
    failed = []
    for path in ["/wa-monitor", "/wa-monitor/reviews", f"/wa-monitor/reviews/{review}"]:
        for key in QUERY_KEYS:
            for value in HOSTILE:
                for answer_format in ("html", "json", "csv")[: 3 if path.endswith("s") else 2]:
                    answer = dash.client.get(path, params={key: value, "format": answer_format})
                    if answer.status_code >= 500:
                        failed.append(f"GET {path} {key}={value[:12]!r} {answer_format}")
    csrf = dash.csrf()
    for action in ("verdict", "send", "sends/1/resolve"):
        for field in ("version", "mark_step_01_house_photo", "comment", "text", "resolution"):
            for value in HOSTILE:
                form = {"csrf": csrf, "version": "1", field: value}
                answer = dash.client.post(
                    f"/wa-monitor/reviews/{review}/{action}", data=form, follow_redirects=False
                )
                if answer.status_code >= 500:
                    failed.append(f"POST {action} {field}={value[:12]!r}")
    # The review page still opens after all of that (a save that changed nothing is recorded).
    assert dash.client.get(f"/wa-monitor/reviews/{review}").status_code == 200
    assert failed == []
