"""Names that explain themselves: a class name means one thing in the whole package, no
constant is a single letter, and no signature carries a schema. A reader who meets `Step` or
`Change` must not have to look at the import to know which one it is."""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

import wa_monitor

PACKAGE = Path(wa_monitor.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _where(path: Path, node: ast.stmt) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"


def test_every_class_name_is_defined_once_in_the_package() -> None:
    defined: dict[str, list[str]] = defaultdict(list)
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef):
                defined[node.name].append(_where(path, node))
    twice = {name: places for name, places in defined.items() if len(places) > 1}
    assert twice == {}


def _is_type_variable(value: ast.expr | None) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in {"TypeVar", "ParamSpec", "TypeVarTuple"}
    )


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign) and not _is_type_variable(node.value):
        found = []
        for target in node.targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            found += [e.id for e in elements if isinstance(e, ast.Name)]
        return found
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [] if _is_type_variable(node.value) else [node.target.id]
    return []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_constant_is_a_single_letter(path: Path) -> None:
    short = [
        f"{name} at {_where(path, node)}"
        for node in _tree(path).body
        for name in _targets(node)
        if len(name.lstrip("_")) == 1
    ]
    assert short == []


# The one place a schema is named: the environment's Database handle, built from its settings.
# The migration runner and everyone else take the handle.
SCHEMA_TAKERS = {"wa_monitor/adapters/postgres/db.py:Database.__init__"}


def test_no_signature_but_the_database_handles_takes_a_schema() -> None:
    takers = set()
    for path in MODULES:
        for owner in ast.walk(_tree(path)):
            for node in ast.iter_child_nodes(owner):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if any(a.arg == "schema" for a in arguments):
                    name = (
                        f"{owner.name}.{node.name}"
                        if isinstance(owner, ast.ClassDef)
                        else node.name
                    )
                    takers.add(f"{path.relative_to(PACKAGE.parent)}:{name}")
    assert takers == SCHEMA_TAKERS
