"""The fixtures the whole session shares: a real PostgreSQL (embedded, or the one
WA_MONITOR_TEST_DATABASE_URL names) and its migrated templates.

The unit tests need neither, so nothing here imports a driver, a browser or a server until a test
asks for the database: tests/integration/conftest.py and tests/faults/conftest.py hold the
fixtures that do (tests/support/fixtures.py)."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.env import SERVER_VAR

if TYPE_CHECKING:
    from tests.support.database import Server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A maintenance URL of a real server: the one named in the environment, or an embedded one."""
    if url := os.environ.get(SERVER_VAR):
        yield url
        return
    from wa_monitor.devtools.embedded import embedded_postgres

    # Outside pytest's temp root: a second pytest session (as root) chmods that root to 0700,
    # which would lock out the embedded server's own user from its data directory.
    folder = Path(tempfile.mkdtemp(prefix="wa-monitor-test-pg-"))
    folder.chmod(0o755)
    try:
        with embedded_postgres(folder / "data") as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server with its migrated templates, made once a session on first use, dropped after."""
    from tests.support.database import Server

    server = Server(pg_server, tmp_path_factory.mktemp("templates"))
    try:
        yield server
    finally:
        server.close()


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """What collecting a module left alive (the package, its libraries, the test functions)
    lives as long as the run: frozen out of the collector's sight. Each full collection
    otherwise walks all of it again, nine times in tests/unit, 0.8 s of its 4 s of CPU; the
    objects a test makes are still collected as before. (The daemon's loop and the web app,
    which freeze their own start-up, leave a caller's frozen objects as they found them.)"""
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Hypothesis' pytest plugin imports the whole library as the run ends (more than a second
    of CPU, a quarter of tests/unit's budget): a run that holds no property test does without
    the plugin."""
    if any(
        getattr(getattr(item, "obj", None), "is_hypothesis_test", False) for item in session.items
    ):
        return
    manager = session.config.pluginmanager
    if (plugin := manager.get_plugin("hypothesispytest")) is not None:
        manager.unregister(plugin)
