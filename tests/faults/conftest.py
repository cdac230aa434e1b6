"""The fault tests' fixtures: the database and bridge fixtures (tests/support/fixtures.py)."""

from __future__ import annotations

from tests.support.fixtures import bridge, database_url, db, roles

__all__ = ["bridge", "database_url", "db", "roles"]
