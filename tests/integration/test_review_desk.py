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

from tests.support.env import sast
from tests.support.web import (
    PASSWORD,
    Dashboard,
    Row,
    add_user,
    csrf_of,
    dashboard,
    environment,
    seed,
)
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.core.steps import Step
from wa_monitor.devtools.simulator import BridgeWriter

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
