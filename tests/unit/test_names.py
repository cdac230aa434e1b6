"""Names that explain themselves: a class name means one thing in the whole package, and no
constant is a single letter. A reader who meets `Step` or `Change` must not have to look at
the import to know which one it is."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import wa_monitor

PACKAGE = Path(wa_monitor.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


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
