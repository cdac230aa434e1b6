"""The one loader of our SQL files: `-- name: x` blocks, read once per file.

The PostgreSQL adapter (adapters/postgres/sql/), the bridge's SQLite queries and the demo's
report all keep their SQL in .sql files and read it through here.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def named_queries(package: str, path: str) -> dict[str, str]:
    """The `-- name: x` blocks of the file `path` inside `package`, by name."""
    text = resources.files(package).joinpath(path).read_text("utf-8")
    queries: dict[str, str] = {}
    for block in text.split("-- name: ")[1:]:
        name, _, body = block.partition("\n")
        queries[name.strip()] = body.strip()
    return queries
