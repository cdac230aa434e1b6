"""The overview lists the day's invalid drop numbers: what the monitor recorded for drops that
were not in their project's plan, and what became of the answer to each in the group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import LAWLEY, MOHADIN, VELO, sast
from tests.support.plans import AGENT_2, prod_with_lists
from tests.support.runs import reviews, run_once, say
from tests.support.web import add_user, dashboard
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.settings import load_settings

pytestmark = pytest.mark.migrated("prod")


GROUPS = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test"}
DAY = "2025-11-11"


def posts_of_the_11th(bridge: BridgeWriter) -> None:
    say(bridge, "L1", "DR1000001 all photos", sast(11, 9))  # in Lawley's plan
    say(bridge, "L2", "dr 2000001", sast(11, 9, 5), sender=AGENT_2)  # only in Mohadin's plan
    say(bridge, "M2", "DR1000002 and DR7000001", sast(11, 10, 15), chat=MOHADIN)  # one invalid
    say(bridge, "V1", "DR9999999", sast(11, 11), chat=VELO)  # the test group: not validated
    # 23:30 UTC on the 11th is 01:30 on the 12th in Johannesburg: the 12th's.
    say(bridge, "L3", "DR7000002", sast(12, 1, 30))


def overview(config: Path, url: str, *days: str) -> list[tuple[Any, str]]:
    """Each day's overview, as JSON and as the page, seen by a logged-in reviewer."""
    add_user(url, "public", "ayanda")
    with dashboard(load_settings(config), url) as dash:
        assert dash.login("ayanda").status_code == 303
        return [
            (
                dash.json("/wa-monitor", day=d),
                dash.client.get("/wa-monitor", params={"day": d}).text,
            )
            for d in days
        ]


def test_the_overview_lists_the_days_invalid_drops_and_their_answers(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = prod_with_lists(tmp_path / "prod", bridge.path, database_url, monkeypatch, GROUPS)
    posts_of_the_11th(bridge)
    assert run_once(config, database_url, monkeypatch) == 0
    # The daemon's sender has posted the answer to L2; M2's is still waiting.
    db.execute(
        "UPDATE public.wa_monitor_outbox SET state = 'sent', done_at = %s WHERE message_id = 'L2'",
        (sast(11, 9, 6, 2),),
    )
    [(doc, html), (other, _), (empty, _)] = overview(
        config, database_url, DAY, "2025-11-12", "2025-11-10"
    )

    invalid = doc["invalid"]
    assert invalid["total"] == 2
    assert invalid["validating"] == ["Lawley", "Mohadin"]
    shown = [(p["time"], p["project"], p["drop_number"], p["reply"]) for p in invalid["posts"]]
    assert shown == [  # newest first
        ("10:15:00", "Mohadin", "DR7000001", "pending"),
        ("09:05:00", "Lawley", "DR2000001", "sent"),
    ]
    lawley = invalid["posts"][1]
    assert lawley["submitted_by"] == AGENT_2
    assert lawley["reason"] == "not in the valid list for Lawley"
    assert lawley["action"] == "reject"
    assert lawley["action_words"] == "rejected: no review"
    assert lawley["reply_words"] == "answered at 09:06:02"
    assert lawley["posted_at"] == "2025-11-11T07:05:00+00:00"
    assert invalid["posts"][0]["reply_words"] == "waiting to be sent"
    # The page says the same, in a table of its own.
    assert (
        '<h2>Invalid drop numbers <span class="muted">(<span data-invalid-total>2</span>)' in html
    )
    assert "Drops posted in Lawley, Mohadin that are not in the project's plan" in html
    assert "<td>DR7000001</td>" in html
    assert '<td class="reply">answered at 09:06:02</td>' in html
    # Each day lists its own: the 12th by local time, and nothing on the 10th.
    assert [p["drop_number"] for p in other["invalid"]["posts"]] == ["DR7000002"]
    assert empty["invalid"] == {"total": 0, "validating": ["Lawley", "Mohadin"], "posts": []}


def test_flagged_drops_link_to_their_review_and_replies_off_is_said(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = prod_with_lists(
        tmp_path / "prod",
        bridge.path,
        database_url,
        monkeypatch,
        GROUPS,
        extra='invalid_action = "flag"\nreplies = false',
    )
    posts_of_the_11th(bridge)
    assert run_once(config, database_url, monkeypatch) == 0
    [(doc, html)] = overview(config, database_url, DAY)

    words = {
        (p["drop_number"], p["action_words"], p["reply_words"]) for p in doc["invalid"]["posts"]
    }
    assert words == {
        ("DR7000001", "flagged: review created", "no answer: replies are off"),
        ("DR2000001", "flagged: review created", "no answer: replies are off"),
    }
    assert '<a href="/wa-monitor/reviews?drop=DR7000001">DR7000001</a>' in html
    assert reviews(db)["DR7000001"]["drop_not_in_plan"] is True  # what the link finds


def test_with_no_validating_project_the_overview_says_why_the_list_is_empty(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = prod_with_lists(tmp_path / "prod", bridge.path, database_url, monkeypatch, GROUPS)
    config.write_text(config.read_text().replace("validate = true", "validate = false"))
    posts_of_the_11th(bridge)
    assert run_once(config, database_url, monkeypatch) == 0
    [(doc, html)] = overview(config, database_url, DAY)
    assert doc["invalid"] == {"total": 0, "validating": [], "posts": []}
    assert "No project checks its drops against its plan" in html
    assert 'id="invalid-table"' not in html  # no empty table under that sentence
