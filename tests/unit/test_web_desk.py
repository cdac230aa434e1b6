"""The review page, the review list and a reviewer's POSTs (save, Send, resolve, correct),
through Starlette's test client on in-memory fakes of their ports: the desk (web/desk.py),
the feedback sends, the bridge's send API and messages.db. No database, no server, no sleep:
what a handler decides (the version guard, the one claim per verdict, the refusals that keep
the input, the outcome shown after the redirect) in milliseconds. The SQL behind the desk is
tested on PostgreSQL in tests/integration (test_review_desk.py, test_reviewing.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from tests.support.env import LAWLEY
from tests.support.fake_site import CSRF, DROP, NOON, Make
from wa_monitor.adapters.postgres.dashboard import HistoryEntry
from wa_monitor.adapters.postgres.photos import DropPhoto
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.core.records import BridgeMessage, Delivery
from wa_monitor.services import accounts


def test_the_review_page_shows_the_review_the_agents_message_and_who_else_has_it_open(
    make: Make,
) -> None:
    d = make()
    posted = NOON - timedelta(minutes=5)
    d.desk.history[DROP] = [HistoryEntry(LAWLEY, "M1", posted, posted)]
    d.desk.bridge_messages[LAWLEY, "M1"] = BridgeMessage(
        1, LAWLEY, "M1", "27600000001", "27600000001", "Sipho", DROP, posted, None, True
    )
    d.desk.mark_open(d.review, "lindiwe")
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    html = d.client.get(d.url)
    assert html.status_code == 200
    assert DROP in html.text
    assert "lindiwe" in html.text  # another reviewer has it open
    page = d.page()
    assert page["drop_number"] == DROP
    assert page["version"] == 1
    assert [(h["sender"], h["text"]) for h in page["history"]] == [("27600000001", DROP)]
    # Opening it marked the reviewer present, beside the one already there.
    assert {p.username for p in d.desk.marks[d.review]} == {"thandi", "lindiwe"}


def test_a_logged_out_visitor_and_a_viewer_cannot_save(make: Make) -> None:
    d = make()
    status, where, _ = d.post("verdict", **d.verdict(1))
    assert (status, where) == (401, "")  # the login page, the input kept
    d.login(d.desk.add_user("vusi", Role.VIEWER))
    assert d.post("verdict", **d.verdict(1))[0] == 403
    assert d.desk.sheet(d.review).version == 1


def test_a_save_moves_the_version_and_a_save_from_an_older_page_is_refused_with_the_input_kept(
    make: Make,
) -> None:
    d = make()
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    status, where, _ = d.post("verdict", **d.verdict(1))
    assert (status, where) == (303, f"{d.url}?saved=1")
    assert d.desk.sheet(d.review).version == 2
    # A second reviewer's page still said version 1: nothing saved, what they typed shown.
    stale = d.verdict(1, step_03_cable_entry_outside="wrong: the cable hangs loose")
    status, _, page = d.post("verdict", **stale)
    assert status == 409
    assert "thandi saved a verdict at 2025-11-11 12:00:00" in page
    assert "the cable hangs loose" in page
    assert d.desk.sheet(d.review).version == 2
    assert d.desk.sheet(d.review).verdict.wrong_steps() == {}


def test_a_send_posts_once_and_the_page_it_returns_to_says_so(make: Make) -> None:
    d = make(Delivery.SENT)
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    d.post("verdict", **d.verdict(1, step_01_house_photo="wrong: blurred"))
    status, where, _ = d.post("send", version="2", text=f"{DROP}\nNEEDS CORRECTION")
    assert (status, where) == (303, f"{d.url}?send=1")
    assert d.bridge.posted == [(LAWLEY, f"{DROP}\nNEEDS CORRECTION")]
    shown = d.client.get(where)
    assert "Feedback sent to the group." in shown.text
    page = d.page()
    assert page["feedback_sent"] is not None
    assert page["sends"] == [{"id": 1, "state": "sent", "by": "thandi", "at": NOON.isoformat()}]
    # The same verdict's message again: refused before anything is posted.
    status, _, refused = d.post("send", version=str(page["version"]), text="again")
    assert status == 409
    assert "Not sent" in refused
    assert len(d.bridge.posted) == 1


def test_a_send_with_no_clear_answer_waits_for_a_person_who_says_it_arrived(make: Make) -> None:
    d = make(Delivery.UNKNOWN)
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    d.post("verdict", **d.verdict(1))
    _, where, _ = d.post("send", version="2", text=f"{DROP}\nAll items complete! ✅")
    assert "may have been posted" in d.client.get(where).text
    assert d.page()["feedback_sent"] is None
    # Not sent again by a second click: a person checks the group first.
    assert d.post("send", version="2", text="again")[0] == 409
    status, where, _ = d.post("sends/1/resolve", version="2", resolution="posted")
    assert (status, where) == (303, d.url)
    assert d.page()["feedback_sent"] is not None
    assert len(d.bridge.posted) == 1


def test_dev_without_its_test_group_refuses_a_send_and_posts_nothing(make: Make) -> None:
    d = make(Delivery.SENT, env="dev")
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    d.post("verdict", **d.verdict(1))
    status, _, page = d.post("send", version="2", text=DROP)
    assert status == 400
    assert "Dev sends feedback only to its test group" in page
    assert d.bridge.posted == []


def test_a_correction_to_a_drop_that_has_a_review_that_day_links_to_it(make: Make) -> None:
    d = make()
    other = d.desk.add_review("DR7654321")
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    form = {"version": "1", "drop_number": "dr 7654321", "drop_reason": "typo"}
    status, _, page = d.post("drop", **form)
    assert status == 409
    assert f"/wa-monitor/reviews/{other}" in page
    status, where, _ = d.post("drop", **form | {"drop_number": "DR7654329"})
    assert (status, where) == (303, f"{d.url}?corrected=1")
    assert d.page()["drop_number"] == "DR7654329"


def test_save_and_next_from_the_queue_opens_the_next_review_with_the_queues_filters(
    make: Make,
) -> None:
    d = make()
    later = d.desk.add_review("DR7654321", at=NOON + timedelta(minutes=1))
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    opened = d.client.get(d.url, params={"queue": "1", "project": "Lawley"})
    assert 'data-testid="queue-nav"' in opened.text
    assert [p.username for p in d.desk.marks[d.review]] == ["thandi"]
    carried = "queue=1&project=Lawley"
    status, where, _ = d.post("verdict", **d.verdict(1), queue=carried, then="next")
    assert status == 303
    assert where.startswith(f"/wa-monitor/reviews/{later}?")
    assert {"queue=1", "project=Lawley"} <= set(where.split("?", 1)[1].split("&"))
    assert d.desk.marks[d.review] == []  # moved on: no longer shown as open
    assert d.desk.sheet(d.review).version == 2


def test_the_review_list_and_the_review_page_show_the_drops_photos(make: Make) -> None:
    d = make()
    fetched = DropPhoto(7, "P1", "image", NOON, "fetched", "k1", 80, 60, None, None, "M1", NOON, 3)
    gone = replace(fetched, id=8, message_id="P2", state="gone", content_key=None, step=None)
    d.desk.drop_photos[DROP] = [fetched, gone]
    d.login(d.desk.add_user("vusi", Role.VIEWER))
    listed = d.client.get("/wa-monitor/reviews", params={"format": "json"}).json()
    assert [(r["drop_number"], r["photos"]) for r in listed["reviews"]] == [(DROP, 2)]
    [one_round] = d.page()["photos"]
    assert [(p["id"], p["key"], p["step"]) for p in one_round["photos"]] == [
        (7, "k1", 3),  # marked as step 3's
        (8, None, None),  # not fetched: no key to serve
    ]


def test_a_reviewer_logs_in_lands_on_the_review_asked_for_and_a_logout_ends_the_session(
    make: Make, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # Argon2id at its smallest cost (and a decoy hash made with it): the login is what is tested.
    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    accounts._decoy.cache_clear()
    request.addfinalizer(accounts._decoy.cache_clear)
    d = make()
    d.desk.add_user("thandi", Role.REVIEWER, accounts.hash_password("correct horse battery"))
    asked = d.client.get(d.url, follow_redirects=False)
    assert asked.status_code == 303
    login = d.client.get(asked.headers["location"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert csrf is not None
    form = {"csrf": csrf[1], "username": "thandi", "next": d.url}
    wrong = d.client.post("/wa-monitor/login", data=form | {"password": "wrong horse"})
    assert wrong.status_code == 401
    landed = d.client.post(
        "/wa-monitor/login",
        data=form | {"password": "correct horse battery"},
        follow_redirects=False,
    )
    assert (landed.status_code, landed.headers["location"]) == (303, d.url)
    assert d.client.get(d.url).status_code == 200
    cookie = dict(d.client.cookies)
    page = d.client.get(d.url)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    assert d.client.post("/wa-monitor/logout", data={"csrf": token[1]}).status_code == 200
    assert d.desk.ended == [(1, 1)]
    # The cookie from before the logout, replayed, is no session: its epoch ended.
    d.client.cookies.clear()
    d.client.cookies.update(cookie)
    assert d.client.get(d.url, follow_redirects=False).status_code == 303


def test_a_reviewer_marks_which_step_a_photo_shows_and_only_a_photo_of_the_reviews_drop(
    make: Make,
) -> None:
    d = make()
    photo = DropPhoto(7, "P1", "image", NOON, "fetched", "k1", 80, 60, None, None, "M1", NOON, None)
    d.desk.drop_photos[DROP] = [photo]
    d.desk.drop_photos["DR7654321"] = [replace(photo, id=9)]
    d.login(d.desk.add_user("thandi", Role.REVIEWER))
    script = {"x-csrf-token": CSRF}  # the page's script: the answer is JSON, the page stays
    marked = d.client.post(f"{d.url}/photos/7/step", data={"step": "5"}, headers=script)
    assert (marked.status_code, marked.json()) == (200, {"photo": 7, "step": 5})
    [one_round] = d.page()["photos"]
    assert [(p["id"], p["step"]) for p in one_round["photos"]] == [(7, 5)]
    assert d.post("photos/9/step", step="5")[0] == 404  # another drop's photo
    status, _, page = d.post("photos/7/step", step="13")
    assert status == 400
    assert "Choose one of the 12 steps" in page
    status, where, _ = d.post("photos/7/step", step="")  # cleared, from a plain form
    assert (status, where) == (303, f"{d.url}#photo-7")
    assert d.desk.drop_photos[DROP][0].step is None
