"""The tests' PostgreSQL: one server per session, a migrated template database per set of
environments (made once, on first use), and a database per test cloned from one of them.

Migrating from scratch costs each test a second or more; `CREATE DATABASE … TEMPLATE` copies a
migrated one in a fraction of that (procrastinate's test suite does the same). What a clone
cannot carry is cluster-wide: roles. A template is therefore migrated by the server's owner and
grants nothing to any role, exactly like a fresh `schema migrate`; the tests that grant make
their roles per test, on the clone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.support.env import write_config
from wa_monitor.cli import main

ENVIRONMENTS = ("prod", "dev")  # prod's tables in schema public, dev's in schema dev


class Server:
    """A PostgreSQL server for one test session (its maintenance URL), and its templates."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self._folder = folder  # where the templates' configs are written
        self._templates: dict[tuple[str, ...], str] = {}
        # DROP DATABASE waits for a checkpoint of its own, seconds on a busy server; drops
        # that wait together share one. So a test's database is dropped behind the next tests,
        # by a few threads at once, and close() waits for them.
        self._dropper = ThreadPoolExecutor(max_workers=8, thread_name_prefix="drop-test-database")
        self._drops: dict[str, Future[None]] = {}
        # Making one takes a moment too: the next database of each kind is made while the test
        # before it runs (a clone of an immutable template is the same whenever it is made).
        self._maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="make-test-database")
        self._spares: dict[tuple[str, ...], Future[str]] = {}

    @contextmanager
    def database(self, *migrated: str) -> Iterator[str]:
        """A new database, dropped after use: empty, or with the environments named in
        `migrated` ("prod", "dev") at the latest migration, as `schema migrate` leaves them."""
        key = _key(migrated)
        template = self._template(key) if key else None  # migrated here, never in a thread
        spare = self._spares.pop(key, None)
        name = spare.result() if spare else self._create(template)
        self._spares[key] = self._maker.submit(self._create, template)
        try:
            yield make_conninfo(self.url, dbname=name)
        finally:
            self._drops[name] = self._dropper.submit(self._drop, name)

    def close(self) -> None:
        """Drop what is left: the spares and the tests' databases, then the templates (a
        template must be unmarked before it may be dropped)."""
        self._maker.shutdown()
        for spare in self._spares.values():
            if spare.exception() is None:
                self._drops[spare.result()] = self._dropper.submit(self._drop, spare.result())
        self._spares.clear()
        # Nothing else runs now: what is still queued is dropped all at once, in a few
        # checkpoints rather than one per eight databases.
        queued = [name for name, drop in self._drops.items() if drop.cancel()]
        with ThreadPoolExecutor(max_workers=24, thread_name_prefix="drop-test-database") as rest:
            self._drops |= {name: rest.submit(self._drop, name) for name in queued}
        self._dropper.shutdown()
        failed = [f"{n}: {f.exception()}" for n, f in self._drops.items() if f.exception()]
        for name in self._templates.values():
            ident = sql.Identifier(name)
            self._admin(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(ident))
            self._drop(name)
        self._templates.clear()
        assert not failed, f"test databases left behind: {failed}"

    def _create(self, template: str | None) -> str:
        name = f"wa_test_{uuid.uuid4().hex[:12]}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._admin(create)
        return name

    def _template(self, key: tuple[str, ...]) -> str:
        if key not in self._templates:
            self._templates[key] = self._make_template(key)
        return self._templates[key]

    def _make_template(self, environments: tuple[str, ...]) -> str:
        name = f"wa_template_{'_'.join(environments)}_{uuid.uuid4().hex[:8]}"
        ident = sql.Identifier(name)
        self._admin(sql.SQL("CREATE DATABASE {}").format(ident))
        url = make_conninfo(self.url, dbname=name)
        folder = self._folder / name
        folder.mkdir(parents=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WA_MONITOR_DATABASE_URL", url)
            for env in environments:
                config = write_config(folder, env, bridge_db=folder / "messages.db", groups={})
                assert main(["schema", "migrate", "--config", str(config)]) == 0
        # A database being cloned must have no session at all, not even autovacuum's: once no
        # connection is allowed, nothing can get in the way of CREATE DATABASE … TEMPLATE.
        self._admin(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(ident)
        )
        return name

    def _drop(self, name: str) -> None:
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(statement)


def _key(environments: Iterable[str]) -> tuple[str, ...]:
    wanted = set(environments)
    key = tuple(env for env in ENVIRONMENTS if env in wanted)
    assert set(key) == wanted, f"no template for {sorted(wanted - set(key))}: {ENVIRONMENTS}"
    return key


def migrated_for(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The environments the test's database is migrated for: `@pytest.mark.migrated(...)` on
    the test (or its module, class), nearest first; none when unmarked."""
    marker = request.node.get_closest_marker("migrated")
    return tuple(marker.args) if marker else ()
