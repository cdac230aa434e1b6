"""Names that explain themselves: a class name means one thing in the whole package, no
constant is a single letter, and no signature carries a schema. A reader who meets `Step` or
`Change` must not have to look at the import to know which one it is."""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import wa_monitor

PACKAGE = Path(wa_monitor.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


@dataclass(frozen=True)
class Names:
    """What the tests below read of one module, from one parse (the trees are not kept: held
    for the whole run, they made every garbage collection after them slow)."""

    classes: tuple[str, ...]  # "name at where"
    short_constants: tuple[str, ...]
    schema_takers: tuple[str, ...]  # functions (Class.method) with a `schema` parameter


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


@cache
def _names(path: Path) -> Names:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(PACKAGE.parent)
    classes, takers, owners = [], [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            classes.append(f"{node.name} at {where}:{node.lineno}")
            owners.update({id(method): node.name for method in node.body})
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            if any(a.arg == "schema" for a in arguments):
                owner = owners.get(id(node))
                takers.append(f"{where}:{owner}.{node.name}" if owner else f"{where}:{node.name}")
    short = [
        f"{name} at {where}:{node.lineno}"
        for node in tree.body
        for name in _targets(node)
        if len(name.lstrip("_")) == 1
    ]
    return Names(tuple(classes), tuple(short), tuple(takers))


def test_every_class_name_is_defined_once_in_the_package() -> None:
    defined: dict[str, list[str]] = defaultdict(list)
    for path in MODULES:
        for found in _names(path).classes:
            name, where = found.split(" at ", 1)
            defined[name].append(where)
    twice = {name: places for name, places in defined.items() if len(places) > 1}
    assert twice == {}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_constant_is_a_single_letter(path: Path) -> None:
    assert _names(path).short_constants == ()


# The one place a schema is named: the environment's Database handle, built from its settings.
# The migration runner and everyone else take the handle.
SCHEMA_TAKERS = {"wa_monitor/adapters/postgres/db.py:Database.__init__"}


def test_no_signature_but_the_database_handles_takes_a_schema() -> None:
    takers = {taker for path in MODULES for taker in _names(path).schema_takers}
    assert takers == SCHEMA_TAKERS
