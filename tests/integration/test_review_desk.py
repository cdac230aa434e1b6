"""A reviewer's desk over HTTP: a drop number corrected with a reason, a save whose session had
ended kept through the login, feedback and comments that read true, names isolated."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.support.env import sast, write_config
from tests.support.web import (
    PASSWORD,
    PROD_GROUPS,
    Dashboard,
    Row,
    add_user,
    csrf_of,
    dashboard,
    environment,
    review_desk,
    seed,
)
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.core.steps import Step
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.settings import load_settings

pytestmark = pytest.mark.migrated("prod")

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def dash(tmp_path: Path, bridge: BridgeWriter, database_url: str) -> Iterator[Dashboard]:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    add_user(database_url, "public", "ayanda", Role.REVIEWER)
    add_user(database_url, "public", "sipho", Role.VIEWER)
    with dashboard(settings, database_url) as d:
        yield d


@pytest.fixture
def review(db: psycopg.Connection[Any]) -> UUID:
    [found] = seed(db, "public", [Row("DR1234567", sast(11, 9), project="Lawley")])
    return found


def verdict_form(csrf: str, version: int, *, comment: str) -> dict[str, str]:
    form = {"csrf": csrf, "version": str(version), "comment": comment}
    for step in Step:
        form[f"mark_{step.column}"] = "ok"
    form[f"mark_{Step.HOUSE_PHOTO.column}"] = "wrong"
    form[f"why_{Step.HOUSE_PHOTO.column}"] = "house number not visible"
    return form


def test_a_save_refused_for_an_ended_session_keeps_the_input_through_the_login(
    dash: Dashboard, review: UUID
) -> None:
    assert dash.login("ayanda").status_code == 303
    page = dash.client.get(f"/wa-monitor/reviews/{review}").text
    typed = verdict_form(csrf_of(page), 1, comment="typed before lunch")
    dash.client.cookies.clear()  # the session ended while the reviewer typed

    refused = dash.client.post(f"/wa-monitor/reviews/{review}/verdict", data=typed)
    assert refused.status_code == 401
    assert "What you typed is kept" in refused.text
    hidden = dict(_HIDDEN.findall(refused.text))
    assert hidden["kept.comment"] == "typed before lunch"
    assert hidden["next"] == f"/wa-monitor/reviews/{review}"

    back = dash.client.post(
        "/wa-monitor/login",
        data=hidden | {"username": "ayanda", "password": PASSWORD},
        follow_redirects=False,
    )
    assert back.status_code == 200, back.text[:300]
    assert "Your input is kept below, not saved yet" in back.text
    assert ">typed before lunch</textarea>" in back.text
    assert 'value="house number not visible"' in back.text
    # Nothing was saved meanwhile; saving now works.
    assert dash.json(f"/wa-monitor/reviews/{review}")["reviewed_by"] is None
    saved = dash.client.post(
        f"/wa-monitor/reviews/{review}/verdict",
        data=verdict_form(csrf_of(back.text), 1, comment="typed before lunch"),
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert dash.json(f"/wa-monitor/reviews/{review}")["reviewed_by"] == "ayanda"


def correction(csrf: str, version: int, drop: str, reason: str) -> dict[str, str]:
    return {"csrf": csrf, "version": str(version), "drop_number": drop, "drop_reason": reason}


def test_a_reviewer_corrects_a_drop_number_with_a_reason_recorded_in_the_trail(
    dash: Dashboard, db: psycopg.Connection[Any]
) -> None:
    mistyped, other = seed(
        db,
        "public",
        [
            Row("DR1234567", sast(11, 9), project="Lawley"),
            Row("DR7654321", sast(11, 10), project="Lawley"),
        ],
    )
    assert dash.login("ayanda").status_code == 303
    url = f"/wa-monitor/reviews/{mistyped}"
    csrf = csrf_of(dash.client.get(url).text)

    # Two numbers, no number, no reason: refused, the input kept, nothing changed.
    for drop, reason, said in (
        ("DR1111111 DR2222222", "typo", "must be one drop number"),
        ("1111111", "typo", "must be one drop number"),
        ("DR1111111", "  ", "Say why the drop number is corrected"),
    ):
        refused = dash.client.post(f"{url}/drop", data=correction(csrf, 1, drop, reason))
        assert refused.status_code == 400
        assert said in refused.text
        assert f'value="{drop}"' in refused.text
    # The corrected drop already has a review that day: refused, pointing to it.
    taken = dash.client.post(f"{url}/drop", data=correction(csrf, 1, "DR7654321", "typo"))
    assert taken.status_code == 409
    assert "DR7654321 already has a review on 2025-11-11" in taken.text
    assert f'href="/wa-monitor/reviews/{other}"' in taken.text
    assert dash.json(url)["drop_number"] == "DR1234567"

    done = dash.client.post(
        f"{url}/drop",
        data=correction(csrf, 1, "dr 1111111", "agent typed 2 for 1"),
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = dash.client.get(done.headers["location"]).text
    assert "Drop number corrected to DR1111111." in page
    assert "<bdi>DR1234567</bdi> → <bdi>DR1111111</bdi>" in page
    assert "agent typed 2 for 1" in page
    twin = dash.json(url)
    assert (twin["drop_number"], twin["version"]) == ("DR1111111", 2)
    # The lists and the day's counts read the reviews: the corrected number is what they show.
    listed = dash.json("/wa-monitor/reviews", **{"from": "2025-11-11", "to": "2025-11-11"})
    assert {r["drop_number"] for r in listed["reviews"]} == {"DR1111111", "DR7654321"}
    # A page made before the correction cannot correct again (its version moved on).
    stale = dash.client.post(f"{url}/drop", data=correction(csrf, 1, "DR3333333", "again"))
    assert stale.status_code == 409
    assert dash.json(url)["drop_number"] == "DR1111111"

    # A viewer cannot correct.
    dash.client.cookies.clear()
    assert dash.login("sipho").status_code == 303
    viewer = dash.client.post(
        f"{url}/drop",
        data=correction(dash.csrf(), 2, "DR4444444", "viewer"),
        follow_redirects=False,
    )
    assert viewer.status_code == 403


def test_a_correction_in_a_validating_project_must_be_in_its_plan(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> None:
    config = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups=PROD_GROUPS, bots=("27640412391",)
    )  # Mohadin, the last project, checks drops against its plan
    config.write_text(config.read_text(encoding="utf-8") + "validate = true\n", encoding="utf-8")
    settings = load_settings(config, expect="prod")
    assert settings.validating == {"Mohadin"}
    add_user(database_url, "public", "ayanda", Role.REVIEWER)
    [review] = seed(db, "public", [Row("DR1234567", sast(11, 9), project="Mohadin")])
    db.execute(
        "INSERT INTO public.valid_drops (project, drop_number) VALUES ('Mohadin', 'DR5555555')"
    )
    with dashboard(settings, database_url) as dash:
        assert dash.login("ayanda").status_code == 303
        url = f"/wa-monitor/reviews/{review}"
        csrf = csrf_of(dash.client.get(url).text)
        refused = dash.client.post(f"{url}/drop", data=correction(csrf, 1, "DR6666666", "typo"))
        assert refused.status_code == 400
        assert "DR6666666 is not in Mohadin&#39;s plan" in refused.text
        done = dash.client.post(
            f"{url}/drop", data=correction(csrf, 1, "DR5555555", "typo"), follow_redirects=False
        )
        assert done.status_code == 303
        assert dash.json(url)["drop_number"] == "DR5555555"


def test_feedback_states_read_true_after_a_send_and_a_resubmission(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> None:
    with review_desk(tmp_path, bridge=bridge, url=database_url, db=db) as desk:
        dash, api, url, review = desk.dash, desk.api, desk.url, desk.review
        form = verdict_form(csrf_of(dash.client.get(url).text), 1, comment="")
        assert dash.client.post(f"{url}/verdict", data=form).status_code == 200
        page = dash.client.get(url).text
        assert api.url not in page
        assert "@g.us" not in page
        sent = dash.client.post(
            f"{url}/send",
            data={"csrf": csrf_of(page), "version": "2", "text": "Please redo photo 1"},
            follow_redirects=False,
        )
        assert sent.status_code == 303
        after = dash.client.get(sent.headers["location"]).text
        assert "Feedback sent to the group." in after
        assert "@g.us" not in after  # the bridge's answer names the group's JID
        assert re.search(r'data-testid="sent-now">Sent \S+ \S+ by <bdi>ayanda</bdi>', after)
        assert re.search(r"<button type=\"submit\" disabled>Send to the group</button>", after)

        # The agent resubmits (as the monitor writes it): a new round, no feedback yet.
        db.execute(
            "UPDATE public.qa_photo_reviews SET resubmitted = true, feedback_sent = NULL, "
            "last_submitted_at = now(), version = version + 1 WHERE id = %s",
            (review,),
        )
        again = dash.client.get(sent.headers["location"]).text
        assert "Feedback sent to the group." not in again
        assert 'data-testid="sent-now"' not in again
        assert '<button type="submit">Send to the group</button>' in again
        resubmission = re.search(r'<td class="num">(\d*)</td>\s*<td>Resubmitted in WhatsApp', again)
        assert resubmission is not None
        assert resubmission[1] == str(dash.json(url)["version"])


def test_names_comments_and_trail_text_are_isolated_from_the_text_beside_them(
    dash: Dashboard, db: psycopg.Connection[Any]
) -> None:
    # A right-to-left override in a name would reverse what follows it on the line (the phone
    # number, the time) unless the name is isolated, and closed: the override it leaves open
    # ends with the name (U+202C), an isolate with U+2069.
    name = "\u202eThandi"
    shown = f"<bdi>{name}\u202c</bdi>"
    [review] = seed(db, "public", [Row("DR1234567", sast(11, 9), user_name=name)])
    assert dash.login("ayanda").status_code == 303
    url = f"/wa-monitor/reviews/{review}"
    form = verdict_form(csrf_of(dash.client.get(url).text), 1, comment="\u202eredo 1")
    assert dash.client.post(f"{url}/verdict", data=form).status_code == 200
    page = dash.client.get(url).text
    assert shown in page
    assert "<bdi>\u202eredo 1\u202c</bdi>" in page  # the comment, in the trail
    assert "<bdi>ayanda</bdi>" in page  # who changed it
    listed = dash.client.get("/wa-monitor/reviews", params={"day": "2025-11-11"}).text
    assert shown in listed
