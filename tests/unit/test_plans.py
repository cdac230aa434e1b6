"""The plan rules: one drop per cell, formulas with no value named, the shrink limit."""

from __future__ import annotations

import pytest

from wa_monitor.core.plans import (
    KEPT,
    Noted,
    Noticed,
    PlanChange,
    RawCell,
    collect,
    share,
    shrink_refusal,
)
from wa_monitor.errors import Refused


def cells(*values: object) -> list[RawCell]:
    return [RawCell(f"S!A{row}", v) for row, v in enumerate(values, start=1)]


@pytest.mark.parametrize(
    ("values", "drops", "skipped", "several"),
    [
        (("Drop", "dr 1000001", "DR1000001", None, "  "), ("DR1000001",), ("Drop",), ()),
        (("DR1000009 (cancelled; use DR1000010)",), (), (), ("S!A1",)),
        (("DR1000002 / dr1000002",), ("DR1000002",), (), ()),  # one drop, written twice
        ((1000001, "DR1234"), (), ("1000001", "DR1234"), ()),
    ],
)
def test_one_drop_per_cell(
    values: tuple[object, ...],
    drops: tuple[str, ...],
    skipped: tuple[str, ...],
    several: tuple[str, ...],
) -> None:
    plan = collect(cells(*values), read_as="column A")
    assert plan.drops == drops
    assert tuple(n.text for n in plan.skipped.first) == skipped
    assert plan.skipped.count == len(skipped)
    assert tuple(n.where for n in plan.several.first) == several
    assert not plan.several_read


def test_all_in_cell_reads_every_number_and_still_names_the_cell() -> None:
    plan = collect(cells("DR1000009 (cancelled; use DR1000010)"), read_as="", all_in_cell=True)
    assert plan.drops == ("DR1000009", "DR1000010")
    assert plan.several.first == (Noted("S!A1", "DR1000009 (cancelled; use DR1000010)"),)
    assert plan.several_read


def test_formulas_with_no_value_are_named_not_counted_as_cells() -> None:
    found = [RawCell("S!B2", None, uncomputed=True), RawCell("S!B3", "DR1000003")]
    plan = collect(found, read_as="")
    assert plan.uncomputed == Noticed(1, (Noted("S!B2", ""),))
    assert plan.cells == 1
    assert plan.drops == ("DR1000003",)


def test_notes_are_counted_not_held() -> None:
    # Many times what is kept: memory stays at KEPT whatever the sheet holds.
    plan = collect(cells(*(["tbc"] * 10_000)), read_as="")
    assert plan.skipped.count == 10_000
    assert len(plan.skipped.first) == KEPT


def test_more_drops_than_any_plan_is_refused() -> None:
    many = [f"DR{1_000_000 + i}" for i in range(11)]
    assert len(collect(cells(*many[:10]), read_as="", max_drops=10).drops) == 10
    with pytest.raises(Refused, match=r"more than 10 drop numbers by S!A11: not one project's"):
        collect(cells(*many), read_as="", max_drops=10)


def change(before: int, missing: int) -> PlanChange:
    return PlanChange("Lawley", before, 0, missing, (), ())


@pytest.mark.parametrize(
    ("before", "missing", "max_shrink", "refused"),
    [
        (201, 20, 0.10, None),  # 9.95%
        (201, 21, 0.10, "would remove 21 of 201 drops (10%) from Lawley's plan; more than 10%"),
        (201, 195, 0.10, "would remove 195 of 201 drops (97%) from Lawley's plan; more than 10%"),
        (201, 201, 0.99, "would remove 201 of 201 drops (100%) from Lawley's plan; more than 99%"),
        (4, 1, 0.25, None),
        (0, 0, 0.0, None),
        (10, 0, 0.0, None),
        (10, 1, 0.0, "would remove 1 of 10 drops (10%) from Lawley's plan; more than 0%"),
        (1000, 1, 0.0005, "(1%)"),  # never "0%" for a removal
    ],
)
def test_the_shrink_limit(
    before: int, missing: int, max_shrink: float, refused: str | None
) -> None:
    said = shrink_refusal(change(before, missing), max_shrink=max_shrink)
    if refused is None:
        assert said is None
    else:
        assert said is not None
        assert refused in said
        assert said.endswith("check the file, or pass --force")


@pytest.mark.parametrize(
    ("part", "whole", "said"), [(0, 5, "0%"), (1, 1000, "1%"), (999, 1000, "99%"), (5, 5, "100%")]
)
def test_share_is_never_rounded_to_none_or_all(part: int, whole: int, said: str) -> None:
    assert share(part, whole) == said
