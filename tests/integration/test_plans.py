"""`wa-monitor drops import/list/check`: the projects' plan lists from .xlsx and .csv files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
import pytest

from tests.support.env import LAWLEY, MOHADIN, VELO
from tests.support.plans import validating_config
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod")

GROUPS = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test"}


@pytest.fixture
def config(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = validating_config(
        tmp_path / "prod",
        "prod",
        bridge_db=bridge.path,
        groups=GROUPS,
        validate={"Lawley", "Mohadin"},
    )
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    return path


def workbook(path: Path, column_b: list[object], *, sheet: str = "HLD_Home") -> Path:
    """A plan workbook: a cover sheet first, then `sheet` with the drops in column B."""
    book = openpyxl.Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "Cover"
    cover["A1"] = "DR9999999"  # on the wrong sheet: must not be imported
    ws = book.create_sheet(sheet)
    ws.append(["Pole", "Drop Number", "Address"])
    for i, value in enumerate(column_b):
        ws.append([f"P{i}", value, f"{i} Jacaranda St"])
    book.save(path)
    return path


def drops_of(db: psycopg.Connection[Any], project: str) -> set[str]:
    rows = db.execute(
        "SELECT drop_number FROM public.valid_drops WHERE project = %s", (project,)
    ).fetchall()
    return {r[0] for r in rows}


def test_xlsx_sheet_and_column_normalised_and_idempotent(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = workbook(
        tmp_path / "plan.xlsx", ["DR1000001", "dr1000002", "Dr 1000003", "DR1000001", None, "tbc"]
    )
    args = ["drops", "import", "--config", str(config), "--project", "Lawley", str(book)]
    assert main([*args, "--sheet", "HLD_Home", "--column", "B"]) == 0
    out = capsys.readouterr().out
    assert drops_of(db, "Lawley") == {"DR1000001", "DR1000002", "DR1000003"}
    assert "added 3, unchanged 0, removed 0" in out
    assert "2 cells without a drop skipped (e.g. 'Drop Number')" in out
    assert main([*args, "--sheet", "HLD_Home", "--column", "B"]) == 0
    assert "added 0, unchanged 3, removed 0" in capsys.readouterr().out
    assert drops_of(db, "Lawley") == {"DR1000001", "DR1000002", "DR1000003"}


def test_csv_replace_removes_only_that_projects_missing_drops(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("drop\nDR1000001\nDR1000002\nDR1000003\n", encoding="utf-8")
    second = tmp_path / "second.csv"
    second.write_text("drop\nDR1000002\nDR1000003\nDR1000004\n", encoding="utf-8")
    base = ["drops", "import", "--config", str(config)]
    assert main([*base, "--project", "Lawley", str(first)]) == 0
    assert main([*base, "--project", "Mohadin", str(first)]) == 0  # one drop, two plans
    capsys.readouterr()
    assert main([*base, "--project", "Lawley", str(second)]) == 0
    out = capsys.readouterr().out
    assert "added 1, unchanged 2, removed 0; 1 not in the file kept" in out
    assert drops_of(db, "Lawley") == {"DR1000001", "DR1000002", "DR1000003", "DR1000004"}
    assert main([*base, "--project", "Lawley", str(second), "--replace"]) == 0
    assert "added 0, unchanged 3, removed 1" in capsys.readouterr().out
    assert drops_of(db, "Lawley") == {"DR1000002", "DR1000003", "DR1000004"}
    assert drops_of(db, "Mohadin") == {"DR1000001", "DR1000002", "DR1000003"}


def test_25000_drops_in_a_few_seconds(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = workbook(tmp_path / "big.xlsx", [f"DR{1_000_000 + i}" for i in range(25_000)])
    args = ["drops", "import", "--config", str(config), "--project", "Mohadin", str(book)]
    started = time.monotonic()
    assert main([*args, "--sheet", "HLD_Home", "--column", "B"]) == 0
    took = time.monotonic() - started
    assert "added 25000" in capsys.readouterr().out
    assert len(drops_of(db, "Mohadin")) == 25_000
    assert took < 10.0, f"import took {took:.1f} s"
    started = time.monotonic()
    assert main([*args, "--sheet", "HLD_Home", "--column", "B", "--replace"]) == 0
    assert "added 0, unchanged 25000, removed 0" in capsys.readouterr().out
    assert time.monotonic() - started < 10.0


def test_list_and_check(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("DR1000001\nDR1000002\n", encoding="utf-8")
    assert main(["drops", "import", "--config", str(config), "--project", "Lawley", str(plan)]) == 0
    capsys.readouterr()
    assert main(["drops", "list", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PROJECT", "DROPS", "LAST", "IMPORT", "VALIDATE"]
    assert any(
        line.startswith("Lawley") and " 2 " in line and line.endswith("on") for line in lines
    )
    assert any(line.startswith("Mohadin") and "EMPTY: not validated" in line for line in lines)
    assert any(line.startswith("Velo Test") and line.endswith("off") for line in lines)
    assert main(["drops", "check", "--config", str(config), "dr 1000001", "DR7777777"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "DR1000001: Lawley",
        "DR7777777: in no project plan",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--project", "Nowhere"], "no project 'Nowhere' in the config's [[projects]]"),
        (["--project", "Lawley", "--sheet", "Missing"], "no sheet 'Missing'"),
        (["--project", "Lawley", "--column", "1"], "invalid column '1'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    book = workbook(tmp_path / "plan.xlsx", ["DR1000001"])
    code = main(["drops", "import", "--config", str(config), str(book), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_doctor_fails_a_validating_project_without_a_list(
    config: Path,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("DR1000001\n", encoding="utf-8")
    assert main(["drops", "import", "--config", str(config), "--project", "Lawley", str(plan)]) == 0
    capsys.readouterr()
    main(["doctor", "--config", str(config)])
    out = capsys.readouterr().out
    [line] = [x for x in out.splitlines() if "plan lists" in x]
    assert line.startswith("FAIL")
    assert "Mohadin" in line
    assert "wa-monitor drops import --env prod --project 'Mohadin'" in out
    assert (
        main(["drops", "import", "--config", str(config), "--project", "Mohadin", str(plan)]) == 0
    )
    capsys.readouterr()
    main(["doctor", "--config", str(config)])
    [line] = [x for x in capsys.readouterr().out.splitlines() if "plan lists" in x]
    assert line.startswith("PASS")
