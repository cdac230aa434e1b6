"""The integration tests' fixtures: the database and bridge fixtures (tests/support/fixtures.py),
the stand-in of Microsoft Graph, and a real browser."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import ARGS, CHROMIUM
from tests.support.fixtures import bridge, database_url, db, envs, roles
from tests.support.graph_server import WORKSHEET, GraphStandIn, graph_stand_in

__all__ = ["bridge", "browser", "database_url", "db", "demo_folder", "envs", "graph", "roles"]


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[GraphStandIn]:
    """A local HTTPS stand-in of Microsoft Graph and the token endpoint, with an empty
    worksheet WORKSHEET in its workbook."""
    with graph_stand_in(tmp_path) as stand_in:
        stand_in.worksheets[WORKSHEET] = []
        yield stand_in


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium through Playwright, one per test module (the browser tests)."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is missing (Debian: apt-get install chromium; scripts/test.sh does)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def demo_folder() -> Iterator[Path]:
    """A folder for a demo's work, outside pytest's temp root: as root the embedded PostgreSQL
    runs as its own user (`pgserver`), and any pytest session that starts meanwhile (CI's second
    pass, another run on the machine) makes that root 0700 again, locking the server out of its
    data (initdb: Permission denied)."""
    folder = Path(tempfile.mkdtemp(prefix="wa-monitor-demo-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
