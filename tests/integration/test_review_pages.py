"""The review page over HTTP: where feedback would go (dev says it is the test group), the JSON
twin the page's script watches, and the page for a viewer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import LAWLEY, VELO, sast, write_config
from tests.support.web import Row, add_user, dashboard, environment, seed
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.devtools.simulator import BridgeWriter


@pytest.mark.migrated("dev")
def test_a_dev_review_page_says_its_feedback_goes_to_the_test_group(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> None:
    # Production's config beside dev's names Lawley, not the test group.
    write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    settings = environment(
        tmp_path, "dev", bridge=bridge, url=database_url, extra=f'[web]\nfeedback_group = "{VELO}"'
    )
    add_user(database_url, "dev", "thandi")
    [review] = seed(db, "dev", [Row("DR1234567", sast(11, 9), project="Lawley")])
    with dashboard(settings, database_url) as dash:
        assert dash.login("thandi").status_code == 303
        page = dash.client.get(f"/wa-monitor/reviews/{review}").text
        twin = dash.json(f"/wa-monitor/reviews/{review}")

    assert "Goes to the <strong>Velo Test</strong> group" in page
    assert VELO not in page  # group JIDs and the bridge URL are ops' business, not reviewers'
    assert "dev: the test group, not Lawley's own group" in page
    assert (twin["version"], twin["reviewed_by"], twin["wrong_steps"]) == (1, None, {})


@pytest.mark.migrated("prod")
def test_a_viewer_gets_the_page_without_forms(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> None:
    settings = environment(tmp_path, "prod", bridge=bridge, url=database_url)
    add_user(database_url, "public", "vusi", Role.VIEWER)
    [review] = seed(db, "public", [Row("DR1234567", sast(11, 9), steps=3)])
    with dashboard(settings, database_url) as dash:
        assert dash.login("vusi").status_code == 303
        page = dash.client.get(f"/wa-monitor/reviews/{review}").text

    assert 'data-testid="verdict-form"' not in page
    assert 'data-testid="send-form"' not in page
    assert page.count('<li class="done"') == 3
    assert "No feedback has been sent for this review." in page
