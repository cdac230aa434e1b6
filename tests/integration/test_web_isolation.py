"""Prod's dashboard reads only public, dev's only dev: no page of one shows a row, a user or a
figure of the other, and every dev page says DEV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.web import SAST as ZONE
from tests.support.web import Row, add_user, dashboard, environment, seed
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod", "dev")


BANNER = 'data-testid="dev-banner"'


def test_a_dev_dashboard_shows_dev_rows_only_and_says_dev_on_every_page(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> None:
    from datetime import datetime

    prod = environment(tmp_path / "prod", "prod", bridge=bridge, url=database_url)
    dev = environment(tmp_path / "dev", "dev", bridge=bridge, url=database_url)
    when = datetime.now(ZONE).replace(microsecond=0)
    (prod_id,) = seed(db, "public", [Row("DR8000001", when, project="Lawley")])
    (dev_id,) = seed(db, "dev", [Row("DR9000001", when, project="Velo Test")])
    add_user(database_url, "public", "ayanda")
    add_user(database_url, "dev", "devon")

    with dashboard(dev, database_url) as d:
        # Users live in the environment's own schema: prod's user does not exist in dev.
        assert d.login("ayanda").status_code == 401
        assert d.login("devon").status_code == 303
        pages = [
            d.client.get("/wa-monitor"),
            d.client.get("/wa-monitor/reviews"),
            d.client.get(f"/wa-monitor/reviews/{dev_id}"),
            d.client.get(f"/wa-monitor/reviews/{prod_id}"),
        ]
        listed = d.json("/wa-monitor/reviews")
        overview = d.json("/wa-monitor")
        export = d.client.get("/wa-monitor/reviews?format=csv").text
        metrics = d.client.get("/metrics").text
    assert all(BANNER in p.text for p in pages)
    assert all("[DEV]" in p.text.split("</title>")[0] for p in pages)
    assert pages[3].status_code == 404  # prod's review does not exist in dev
    assert [r["drop_number"] for r in listed["reviews"]] == ["DR9000001"]
    assert "DR8000001" not in export
    assert "DR9000001" in export
    assert overview["schema"] == "dev"
    assert {p["project"]: p["drops"] for p in overview["projects"]} == {
        "Lawley": 0,
        "Velo Test": 1,
    }
    assert 'environment="dev"' in metrics
    assert 'environment="prod"' not in metrics

    with dashboard(prod, database_url) as p:
        assert p.login("devon").status_code == 401
        assert p.login("ayanda").status_code == 303
        page = p.client.get("/wa-monitor/reviews")
        assert p.client.get(f"/wa-monitor/reviews/{dev_id}").status_code == 404
    assert BANNER not in page.text
    assert "DR8000001" in page.text
    assert "DR9000001" not in page.text


def test_a_dev_session_cookie_is_no_session_of_prod_even_with_one_secret(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    """Both dashboards sign with the same secret (tests.support.web.SECRET), and user ids are
    per environment: dev's user 1 and prod's user 1 are different people. A dev cookie, renamed
    to prod's cookie name, must not be a prod session."""
    prod = environment(tmp_path / "prod", "prod", bridge=bridge, url=database_url)
    dev = environment(tmp_path / "dev", "dev", bridge=bridge, url=database_url)
    add_user(database_url, "public", "ayanda")  # prod's user 1
    add_user(database_url, "dev", "devon")  # dev's user 1
    with dashboard(dev, database_url) as d:
        assert d.login("devon").status_code == 303
        stolen = d.client.cookies["wa_monitor_dev_session"]
    with dashboard(prod, database_url) as p:
        p.client.cookies.set("wa_monitor_prod_session", stolen)
        page = p.client.get("/wa-monitor", follow_redirects=False)
        assert page.status_code == 303
        assert "/wa-monitor/login" in page.headers["location"]
        assert p.client.get("/wa-monitor", params={"format": "json"}).status_code == 401
        # prod's own login still works.
        p.client.cookies.clear()
        assert p.login("ayanda").status_code == 303
        assert p.client.get("/wa-monitor", follow_redirects=False).status_code == 200
