"""SQL stays in the adapters: no module of the core, the services, the web app or the command
line executes a statement itself (each asks an adapter's function or a port)."""

from __future__ import annotations

import re
from pathlib import Path

import wa_monitor

PACKAGE = Path(wa_monitor.__file__).parent
ABOVE_THE_ADAPTERS = ("core", "services", "web", "cli")
RUNS_SQL = re.compile(r"\.(execute|executemany|cursor)\(")


def test_no_module_above_the_adapters_runs_a_statement() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for layer in ABOVE_THE_ADAPTERS
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if RUNS_SQL.search(line)
    ]
    assert found == []
