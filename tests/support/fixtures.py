"""The fixtures of the tests that run against the real PostgreSQL and real bridge files
(tests/integration and tests/faults import them into their conftest.py).

A test's database is empty unless the test (or its module) says which environments it wants
migrated: `@pytest.mark.migrated("prod", "dev")`. It is then a clone of a template migrated once
per session, so no test pays for migrating from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.database import Server, migrated_for
from tests.support.env import LAWLEY, MOHADIN, OTHER, VELO
from tests.support.ops import Envs, Roles, make_envs
from wa_monitor.devtools.simulator import BridgeWriter


@pytest.fixture
def database_url(postgres: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database for one test, dropped after it: empty, or migrated as the test is marked."""
    with postgres.database(*migrated_for(request)) as url:
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
def envs(tmp_path: Path, bridge: BridgeWriter, database_url: str) -> Envs:
    """prod (Lawley) and dev (Velo Test, Lawley) configured in tmp_path/config on the test's
    bridge and database (mark the test `migrated("prod", "dev")` for migrated schemas)."""
    return make_envs(tmp_path / "config", bridge, database_url)


@pytest.fixture
def roles(pg_server: str, database_url: str) -> Iterator[Roles]:
    """Login roles made for one test, dropped after it (roles are cluster-wide)."""
    made = Roles(pg_server, database_url)
    try:
        yield made
    finally:
        made.drop_all()
