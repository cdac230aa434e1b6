"""Shared fixtures: a real PostgreSQL (embedded, or the one WA_MONITOR_TEST_DATABASE_URL names),
a fresh database per test, and real bridge files in the bridge's exact schema."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import ARGS, CHROMIUM
from tests.support.env import LAWLEY, MOHADIN, OTHER, SERVER_VAR, VELO, new_database
from tests.support.graph_server import WORKSHEET, GraphStandIn, graph_stand_in
from tests.support.ops import Roles
from wa_monitor.devtools.embedded import embedded_postgres
from wa_monitor.devtools.simulator import BridgeWriter


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A maintenance URL of a real server: the one named in the environment, or an embedded one."""
    if url := os.environ.get(SERVER_VAR):
        yield url
        return
    # Outside pytest's temp root: a second pytest session (as root) chmods that root to 0700,
    # which would lock out the embedded server's own user from its data directory.
    folder = Path(tempfile.mkdtemp(prefix="wa-monitor-test-pg-"))
    folder.chmod(0o755)
    try:
        with embedded_postgres(folder / "data") as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(pg_server: str) -> Iterator[str]:
    """A new, empty database for one test, dropped after it."""
    with new_database(pg_server) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to the test's database, for asserting on what the monitor wrote."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[BridgeWriter]:
    """An empty messages.db in the bridge's exact schema, and a writer that acts like the bridge."""
    with BridgeWriter(tmp_path / "messages.db") as writer:
        writer.chats({LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test", OTHER: "Other"})
        yield writer


@pytest.fixture
def roles(pg_server: str, database_url: str) -> Iterator[Roles]:
    """Login roles made for one test, dropped after it (roles are cluster-wide)."""
    made = Roles(pg_server, database_url)
    try:
        yield made
    finally:
        made.drop_all()


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
