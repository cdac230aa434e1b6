"""Shared fixtures: a real PostgreSQL (embedded, or the one WA_MONITOR_TEST_DATABASE_URL names),
a fresh database per test, and real bridge files in the bridge's exact schema."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from wa_monitor.devtools.embedded import embedded_postgres
from wa_monitor.devtools.simulator import BridgeWriter

SERVER_VAR = "WA_MONITOR_TEST_DATABASE_URL"
SAST = timezone(timedelta(hours=2))
LAWLEY = "120363418298130331@g.us"
MOHADIN = "120363418298130332@g.us"
VELO = "120363418298130333@g.us"
OTHER = "120363418298130339@g.us"  # a group nobody watches


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


@contextmanager
def new_database(server: str) -> Iterator[str]:
    """A new, empty database on `server`, dropped after use."""
    name = f"wa_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


def sast(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute, second, tzinfo=SAST)


def write_config(
    folder: Path,
    env: str,
    *,
    bridge_db: Path,
    groups: dict[str, str],
    lid_map_db: Path | None = None,
    bots: tuple[str, ...] = (),
    extra: str = "",
) -> Path:
    """A TOML config for `env` (prod → public, dev → dev) watching `groups` (jid → project)."""
    schema = "public" if env == "prod" else "dev"
    prefix = "" if env == "prod" else "[DEV]"
    lines = [
        f'environment = "{env}"',
        f'schema = "{schema}"',
        f'log_prefix = "{prefix}"',
        f'log_file = "{folder / "logs" / f"wa-monitor-{env}.log"}"',
        f'bridge_db = "{bridge_db}"',
        "poll_interval_seconds = 0.2",
        f"bot_senders = {list(bots)!r}".replace("'", '"'),
    ]
    if lid_map_db is not None:
        lines.append(f'lid_map_db = "{lid_map_db}"')
    lines.append(extra)
    for jid, name in groups.items():
        lines += ["[[projects]]", f'name = "{name}"', f'group_jid = "{jid}"']
    path = folder / f"{env}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
