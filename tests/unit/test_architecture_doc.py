"""docs/ARCHITECTURE.md's package map cannot drift from the code: every module under src/ is
on it, and everything it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGE = ROOT / "src" / "wa_monitor"
# A file named on the map: a path of word characters ending in a source suffix.
NAMED = re.compile(r"^[\w/]+\.(?:py|sql)$")


def package_map(text: str) -> list[str]:
    """The lines of the fenced block under the '## The package map' heading."""
    after = text.split("## The package map", 1)[1]
    block = after.split("```", 2)[1]
    return block.splitlines()[1:]


def named_paths(lines: list[str]) -> set[str]:
    """Every file the map names, as a path from the repository's root.

    A line whose first word ends in '/' opens that folder for the lines indented under it; a
    line whose first word ends in .py or .sql names that file of the innermost open folder.
    Words after the first are the description: a file mentioned there is not an entry.
    """
    folders: list[tuple[int, str]] = []
    named: set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        while folders and folders[-1][0] >= indent:
            folders.pop()
        base = folders[-1][1] if folders else ""
        first = line.split()[0]
        if first.endswith("/"):
            folders.append((indent, f"{base}{first}"))
        elif NAMED.match(first):
            named.add(f"{base}{first}")
    return named


def test_every_module_of_the_package_is_on_the_map() -> None:
    named = named_paths(package_map(DOC.read_text("utf-8")))
    modules = {
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"}
    }
    missing = sorted(modules - named)
    assert not missing, f"docs/ARCHITECTURE.md's package map lacks {missing}"


def test_everything_the_map_names_exists() -> None:
    named = named_paths(package_map(DOC.read_text("utf-8")))
    absent = sorted(path for path in named if not (ROOT / path).exists())
    assert not absent, f"docs/ARCHITECTURE.md's package map names files that do not exist: {absent}"


def test_the_map_reader_follows_folders_and_finds_a_missing_module() -> None:
    lines = [
        "src/wa_monitor/",
        "  core/              pure",
        "    loop.py            the loop",
        "  adapters/",
        "    postgres/db.py     the handle (see loop.py)",
        "    postgres/sql/      schema.sql and migrations/",
        "      queries.sql        named queries",
        "    run.py  schema.py",
        "benchmarks/bench.py  the benchmark",
    ]
    assert named_paths(lines) == {
        "src/wa_monitor/core/loop.py",
        "src/wa_monitor/adapters/postgres/db.py",
        "src/wa_monitor/adapters/postgres/sql/queries.sql",
        "src/wa_monitor/adapters/run.py",
        "benchmarks/bench.py",
    }
