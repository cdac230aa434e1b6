"""`wa-monitor drops import/list/check`: the projects' plan lists from .xlsx and .csv files."""

from __future__ import annotations

import argparse
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
import pytest

from tests.support.env import LAWLEY, MOHADIN, VELO, write_config
from tests.support.plans import BOT
from wa_monitor.cli import build_parser, main
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod")

GROUPS = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test"}


@pytest.fixture
def config(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = write_config(
        tmp_path / "prod",
        "prod",
        bridge_db=bridge.path,
        groups=GROUPS,
        bots=(BOT,),
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
    # 1 of 4 is more than --replace removes by default (10%): this test allows it.
    assert main([*base, "--project", "Lawley", str(second), "--replace", "--max-shrink", "25"]) == 0
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
    # The import time in the environment's zone (Johannesburg, +02:00), not the database's UTC.
    assert any(line.startswith("Lawley") and "+02:00" in line for line in lines), lines
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
        (["--project", "Lawley", "--force"], "--force and --max-shrink go with --replace"),
        (["--project", "Lawley", "--delimiter", "tab"], "--delimiter is for .csv files"),
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


# -- plan files read as what they are --------------------------------------------------------


def computed(path: Path, values: dict[str, str]) -> Path:
    """`path` with the formulas of the cells in `values` given the value Excel would have
    saved for them (openpyxl saves none): the sheet's XML rewritten by hand."""
    with zipfile.ZipFile(path) as src:
        parts = {info.filename: src.read(info) for info in src.infolist()}
    name = "xl/worksheets/sheet2.xml"  # the plan sheet of workbook(): the cover is sheet1
    xml = parts[name].decode()
    for ref, value in values.items():
        xml, n = re.subn(
            rf'<c r="{ref}"><f>(.*?)</f><v ?/>',
            rf'<c r="{ref}" t="str"><f>\1</f><v>{value}</v>',
            xml,
        )
        assert n == 1, ref
    parts[name] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for part, data in parts.items():
            out.writestr(part, data)
    return path


def wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 80]


def test_formulas_without_a_computed_value_are_named_and_stop_replace(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A plan written by a script: 8 of its 10 drops are formulas nobody computed. They are
    named, and --replace refuses instead of removing 8 drops without a word."""
    ten = [f"DR{1_000_002 + i}" for i in range(10)]
    cells: list[object] = ['="DR"&(1000000+ROW())' if i < 8 else d for i, d in enumerate(ten)]
    book = workbook(tmp_path / "scripted.xlsx", cells)  # drops in rows 2..11 of column B
    everything = tmp_path / "all.csv"
    everything.write_text("\n".join(ten) + "\n", encoding="utf-8")
    base = ["drops", "import", "--config", str(config), "--project", "Lawley"]
    assert main([*base, str(everything)]) == 0
    capsys.readouterr()

    args = [*base, str(book), "--sheet", "HLD_Home", "--column", "B"]
    assert main([*args, "--replace"]) == 2
    out, err = capsys.readouterr()
    assert "Lawley: 2 drops in scripted.xlsx (sheet HLD_Home, column B)" in out
    assert "8 formulas with no computed value, so no drop could be read from:" in out
    assert "HLD_Home!B2, HLD_Home!B3," in out
    assert "HLD_Home!B9" in out  # all eight named
    assert err.strip() == (
        "wa-monitor: --replace refused: 8 formulas without a computed value would lose their "
        "drops; save scripted.xlsx in Excel or LibreOffice first"
    )
    assert drops_of(db, "Lawley") == set(ten)
    assert not wide(out)

    # Adding needs no refusal: the two read are added (here: already there), the rest named.
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "8 formulas with no computed value" in out
    assert "added 0, unchanged 2, removed 0; 8 not in the file kept" in out

    # Once computed (saved by Excel), the formulas' values are the drops, and --replace runs.
    computed(book, {f"B{row}": ten[row - 2] for row in range(2, 10)})
    assert main([*args, "--replace"]) == 0
    out = capsys.readouterr().out
    assert "Lawley: 10 drops in scripted.xlsx" in out
    assert "formula" not in out
    assert "added 0, unchanged 10, removed 0" in out


def test_a_cell_with_two_drops_is_named_and_skipped_unless_all_in_cell(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    note = "DR1000009 (cancelled; use DR1000010)"
    book = workbook(tmp_path / "plan.xlsx", ["DR1000001", note, "DR1000002 / dr1000002"])
    args = ["drops", "import", "--config", str(config), "--project", "Lawley", str(book)]
    args += ["--sheet", "HLD_Home", "--column", "B"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert drops_of(db, "Lawley") == {"DR1000001", "DR1000002"}  # one number twice is one drop
    assert "1 cell with more than one drop skipped:" in out
    assert f"  HLD_Home!B3: {note!r}" in out
    assert "(--all-in-cell reads every number of such a cell)" in out
    assert not wide(out)
    assert main([*args, "--all-in-cell"]) == 0
    out = capsys.readouterr().out
    assert "1 cell with more than one drop read in full (--all-in-cell):" in out
    assert drops_of(db, "Lawley") == {"DR1000001", "DR1000002", "DR1000009", "DR1000010"}


@pytest.mark.parametrize(
    ("text", "extra", "read_as"),
    [
        # Excel's CSV in a locale whose decimal mark is a comma: semicolons, commas in text.
        (
            "Pole;Drop Number;Address\nP1;DR1000001;1 Main St, Lawley\nP2;DR1000002;2 Main St\n",
            [],
            "column B, semicolon-separated, sniffed",
        ),
        (
            "Pole\tDrop Number\nP1\tDR1000001\nP2\tdr 1000002\n",
            [],
            "column B, tab-separated, sniffed",
        ),
        # A note with a ';' in a comma file does not make it a semicolon file.
        (
            'Pole,Drop Number\nP1,DR1000001\nP2,"DR1000002"\nP3,"see note; later"\n',
            [],
            "column B, comma-separated, sniffed",
        ),
        (
            "Pole;Drop Number\nP1;DR1000001\nP2;DR1000002\n",
            ["--delimiter", "semicolon"],
            "column B, semicolon-separated",
        ),
    ],
)
def test_csv_delimiter_sniffed_or_given(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
    text: str,
    extra: list[str],
    read_as: str,
) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text(text, encoding="utf-8")
    args = ["drops", "import", "--config", str(config), "--project", "Lawley", str(plan)]
    assert main([*args, "--column", "B", *extra]) == 0
    assert f"Lawley: 2 drops in plan.csv ({read_as})" in capsys.readouterr().out
    assert drops_of(db, "Lawley") == {"DR1000001", "DR1000002"}


def bomb(path: Path, megabytes: int) -> Path:
    """A real workbook whose sheet XML is padded with `megabytes` MB of one repeated byte: a
    file of about megabytes / 1,000 MB that unpacks to `megabytes` MB."""
    workbook(path, ["DR1000001"])
    with zipfile.ZipFile(path) as src:
        parts = {info.filename: src.read(info) for info in src.infolist()}
    sheet = parts.pop("xl/worksheets/sheet2.xml")
    head, tail = sheet.split(b"</sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for part, data in parts.items():
            out.writestr(part, data)
        with out.open("xl/worksheets/sheet2.xml", "w", force_zip64=True) as f:
            f.write(head + b'<row r="3"><c r="A3" t="inlineStr"><is><t>')
            chunk = b"A" * 1_000_000
            for _ in range(megabytes):
                f.write(chunk)
            f.write(b"</t></is></c></row></sheetData>" + tail)
    return path


@pytest.mark.parametrize(
    ("megabytes", "message"),
    [
        (150, "its parts would unpack to 150 MB, more than the 100 MB a workbook may take"),
        (20, "its part 'xl/worksheets/sheet2.xml' is compressed 1,0"),
    ],
)
def test_a_zip_bomb_is_refused_before_it_is_opened(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    megabytes: int,
    message: str,
) -> None:
    book = bomb(tmp_path / "bomb.xlsx", megabytes)
    assert book.stat().st_size < megabytes * 2_000  # ~1,000 to 1
    started = time.monotonic()
    code = main(["drops", "import", "--config", str(config), "--project", "Lawley", str(book)])
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "not opened (if it is a real plan, save its column as .csv and import that)" in err
    assert len(err.strip().splitlines()) == 1
    assert took < 2.0, f"refusing took {took:.1f} s"


# -- safe plan imports --------------------------------------------------------------------------


def test_dry_run_shows_the_change_and_changes_nothing(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("\n".join(f"DR{1_000_001 + i}" for i in range(20)) + "\n", encoding="utf-8")
    second = tmp_path / "second.csv"
    kept = [f"DR{1_000_001 + i}" for i in range(1, 20)]  # DR1000001 gone
    second.write_text("\n".join([*kept, "DR2000001", "DR2000002"]) + "\n", encoding="utf-8")
    base = ["drops", "import", "--config", str(config), "--project", "Lawley"]
    assert main([*base, str(first)]) == 0
    capsys.readouterr()
    before = db.execute("SELECT max(imported_at) FROM public.valid_drops").fetchone()

    assert main([*base, str(second), "--replace", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1:] == [
        "dry run, nothing changed:",
        "  would add 2: DR2000001, DR2000002",
        "  would remove 1: DR1000001",
        "  Lawley's list would hold 21 drops (it holds 20)",
    ]
    assert main([*base, str(second), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  would keep 1 not in the file: DR1000001\n  (--replace removes them)" in out
    assert "Lawley's list would hold 22 drops (it holds 20)" in out
    assert drops_of(db, "Lawley") == {f"DR{1_000_001 + i}" for i in range(20)}
    assert db.execute("SELECT max(imported_at) FROM public.valid_drops").fetchone() == before


def test_replace_refuses_to_shrink_a_plan_without_force(
    config: Path,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A truncated file that still holds 6 drops must not shrink a plan of 201 to 6."""
    plan = [f"DR{1_000_001 + i}" for i in range(201)]
    full = tmp_path / "full.csv"
    full.write_text("Drop\n" + "\n".join(plan) + "\n", encoding="utf-8")
    cut = tmp_path / "cut.csv"
    cut.write_text("Drop\n" + "\n".join(plan[:6]) + "\n", encoding="utf-8")
    base = ["drops", "import", "--config", str(config), "--project", "Lawley"]
    assert main([*base, str(full)]) == 0
    capsys.readouterr()

    assert main([*base, str(cut), "--replace"]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == (
        "wa-monitor: would remove 195 of 201 drops (97%) from Lawley's plan; more than 10%: "
        "check the file, or pass --force"
    )
    assert "added" not in out
    assert len(drops_of(db, "Lawley")) == 201
    # A dry run says the same, and changes nothing either.
    assert main([*base, str(cut), "--replace", "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert "  would remove 195: DR1000007, DR1000008, DR1000009, DR1000010, DR1000011" in out
    assert "would remove 195 of 201 drops (97%)" in err
    assert len(drops_of(db, "Lawley")) == 201
    # 20 of 201 is under 10%; a limit of 97% is not 195 of 201 either.
    assert main([*base, str(cut), "--replace", "--max-shrink", "97%"]) == 2
    assert main([*base, str(cut), "--replace", "--max-shrink", "0"]) == 2
    assert "(97%) from Lawley's plan; more than 0%" in capsys.readouterr().err
    assert main([*base, str(cut), "--replace", "--force"]) == 0
    assert "added 0, unchanged 6, removed 195" in capsys.readouterr().out
    assert drops_of(db, "Lawley") == set(plan[:6])


def test_every_option_of_import_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["drops", "import", "--help"])
    out = capsys.readouterr().out
    parser = build_parser(["drops", "import"])
    [drops] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    [imp] = [
        a for a in drops.choices["drops"]._actions if isinstance(a, argparse._SubParsersAction)
    ]
    for action in imp.choices["import"]._actions:
        assert action.help, action.option_strings
    for flag in ("--delimiter", "--all-in-cell", "--dry-run", "--max-shrink", "--force"):
        assert flag in out
