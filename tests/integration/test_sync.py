"""`wa-monitor sync sharepoint` end to end: a real PostgreSQL, the local stand-in of Graph."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import psycopg
import pytest

from tests.support.env import GROUPS, sast, write_config
from tests.support.graph_server import (
    CLIENT_ID,
    DRIVE,
    ITEM,
    SECRET,
    TENANT,
    WORKSHEET,
    Fault,
    GraphStandIn,
)
from tests.support.ops import Roles
from wa_monitor.cli import main

pytestmark = pytest.mark.migrated("prod")


SAST = ZoneInfo("Africa/Johannesburg")
D10, D11, D12 = date(2025, 11, 10), date(2025, 11, 11), date(2025, 11, 12)
EXCEL_EPOCH = date(1899, 12, 30)
HEADER = ["Date", "Project", "Total Drops"]


def serial(day: date) -> int:
    return (day - EXCEL_EPOCH).days


def sharepoint_table(graph: GraphStandIn) -> str:
    return "\n".join(
        [
            "[sharepoint]",
            f'tenant_id = "{TENANT}"',
            f'client_id = "{CLIENT_ID}"',
            f'drive_id = "{DRIVE}"',
            f'item_id = "{ITEM}"',
            f'worksheet = "{WORKSHEET}"',
            f'authority_host = "{graph.authority_host}"',
            f'graph_root = "{graph.graph_root}"',
            f'ca_file = "{graph.ca_file}"',
        ]
    )


@pytest.fixture
def prod(
    tmp_path: Path, graph: GraphStandIn, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """prod.toml with a [sharepoint] table naming the stand-in; the secret set."""
    folder = tmp_path / "config"
    folder.mkdir()
    config = write_config(
        folder,
        "prod",
        bridge_db=tmp_path / "messages.db",
        groups=GROUPS,
        extra=sharepoint_table(graph),
    )
    write_config(folder, "dev", bridge_db=tmp_path / "messages.db", groups=GROUPS)
    monkeypatch.setenv("WA_MONITOR_CONFIG_DIR", str(folder))
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    monkeypatch.setenv("WA_MONITOR_SHAREPOINT_CLIENT_SECRET", SECRET)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return config


def review(
    db: psycopg.Connection[Any],
    drop: str,
    project: str | None,
    at: datetime,
    schema: str = "public",
) -> None:
    """A review as the monitor writes it: review_date is the local day of the message."""
    db.execute(
        f"INSERT INTO {schema}.qa_photo_reviews "
        "(drop_number, review_date, project, whatsapp_message_date) VALUES (%s, %s, %s, %s)",
        (drop, at.astimezone(SAST).date(), project, at),
    )


def expected(db: psycopg.Connection[Any], first: date, last: date) -> list[list[Any]]:
    """The rows for the days, counted independently of the job's query."""
    rows = db.execute(
        """
        SELECT (whatsapp_message_date AT TIME ZONE 'Africa/Johannesburg')::date AS day, project,
               count(DISTINCT drop_number)
        FROM public.qa_photo_reviews
        WHERE (whatsapp_message_date AT TIME ZONE 'Africa/Johannesburg')::date BETWEEN %s AND %s
          AND project IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        (first, last),
    ).fetchall()
    return [[serial(d), p, n] for d, p, n in rows]


def sync(*args: str) -> int:
    return main(["sync", "sharepoint", "--env", "prod", *args])


def recorded(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT day, project, drops, previous, action, target_kind, target, sheet_row "
        "FROM public.wa_monitor_sync_writes ORDER BY written_at, sheet_row"
    ).fetchall()


def a_day_of_drops(db: psycopg.Connection[Any]) -> None:
    review(db, "DR1000001", "Lawley", sast(11, 8))
    review(db, "DR1000002", "Lawley", sast(11, 12))
    review(db, "DR1000003", "Lawley", sast(11, 23, 59))  # SAST's 11th, UTC's 11th
    review(db, "DR1000004", "Mohadin", sast(11, 0, 15))  # SAST's 11th, UTC's 10th
    review(db, "DR1000005", "Mohadin", sast(12, 0, 5))  # the 12th: not that day's
    review(db, "DR1000006", "Lawley", sast(10, 23, 30))  # the 10th: not that day's
    review(db, "DR1000007", None, sast(11, 9))  # no project: in no row


def test_the_rows_for_a_day_are_the_days_distinct_drops_per_project(
    prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    a_day_of_drops(db)
    assert sync("--date", "2025-11-11") == 0
    rows = expected(db, D11, D11)
    assert rows == [[serial(D11), "Lawley", 3], [serial(D11), "Mohadin", 1]]
    assert graph.cells(WORKSHEET) == [HEADER, *rows]
    out = capsys.readouterr()
    assert "wrote 2025-11-11 Lawley = 3 (row 2, new)" in out.out
    assert "2025-11-11: 0 updated, 2 appended, 0 unchanged" in out.out
    assert "drops without a project are not synced" in out.err
    where = f"drive {DRIVE} item {ITEM} worksheet '{WORKSHEET}'"
    assert recorded(db) == [
        (D11, "Lawley", 3, None, "append", "sharepoint", where, 2),
        (D11, "Mohadin", 1, None, "append", "sharepoint", where, 3),
    ]


def test_a_rerun_writes_nothing_new(
    prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    a_day_of_drops(db)
    assert sync("--date", "2025-11-11") == 0
    sheet, patches, records = (
        graph.cells(WORKSHEET),
        len(graph.graph_requests("PATCH")),
        recorded(db),
    )
    capsys.readouterr()
    assert sync("--date", "2025-11-11") == 0
    assert graph.cells(WORKSHEET) == sheet
    assert len(graph.graph_requests("PATCH")) == patches
    assert recorded(db) == records
    assert "0 updated, 0 appended, 2 unchanged" in capsys.readouterr().out


def test_a_late_drop_rewrites_its_days_row_in_place(
    prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any]
) -> None:
    a_day_of_drops(db)
    assert sync("--date", "2025-11-11") == 0
    review(db, "DR1000008", "Lawley", sast(11, 22, 40))  # after the evening run
    assert sync("--date", "2025-11-11") == 0
    assert graph.cells(WORKSHEET) == [HEADER, *expected(db, D11, D11)]
    assert graph.cells(WORKSHEET)[1] == [serial(D11), "Lawley", 4]
    last = graph.graph_requests("PATCH")[-1]
    assert last.path.endswith("range(address='A2:C2')")
    assert last.json() == {"values": [["2025-11-11", "Lawley", 4]]}
    assert recorded(db)[-1][:5] == (D11, "Lawley", 4, 3, "update")


def test_a_day_whose_drops_are_gone_is_set_to_zero_and_other_rows_are_left(
    prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any]
) -> None:
    a_day_of_drops(db)
    assert sync("--date", "2025-11-11") == 0
    # Someone adds a row of their own under ours; then Mohadin's one review of the 11th is
    # deleted (a test post in a production group, say).
    graph.worksheets[WORKSHEET].append([serial(D11), "Mamelodi", 5])
    db.execute("DELETE FROM public.qa_photo_reviews WHERE drop_number = 'DR1000004'")
    assert sync("--date", "2025-11-11") == 0
    assert graph.cells(WORKSHEET) == [
        HEADER,
        [serial(D11), "Lawley", 3],
        [serial(D11), "Mohadin", 0],
        [serial(D11), "Mamelodi", 5],
    ]
    assert recorded(db)[-1][:5] == (D11, "Mohadin", 0, 1, "update")
    assert sync("--date", "2025-11-11") == 0  # and a rerun leaves it at that
    assert len(recorded(db)) == 3


def test_a_range_and_the_default_days(
    prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any]
) -> None:
    now = datetime.now(SAST).replace(hour=12, minute=0, second=0, microsecond=0)
    today = now.date()
    for back, drops in ((0, 2), (1, 3), (2, 1), (4, 5)):
        for i in range(drops):
            review(db, f"DR{back}{i:06d}", "Mohadin", now - timedelta(days=back))
    # By default: yesterday (final) and today (provisional).
    assert sync() == 0
    assert graph.cells(WORKSHEET) == [HEADER, *expected(db, today - timedelta(days=1), today)]
    # --since 5d: today and the four days before; the two rows already there stay where they are.
    assert sync("--since", "5d") == 0
    assert graph.cells(WORKSHEET) == [
        HEADER,
        [serial(today - timedelta(days=1)), "Mohadin", 3],
        [serial(today), "Mohadin", 2],
        [serial(today - timedelta(days=4)), "Mohadin", 5],
        [serial(today - timedelta(days=2)), "Mohadin", 1],
    ]


@pytest.mark.parametrize("how", ["--env", "--config"])
def test_dev_is_refused_before_anything_is_read(
    how: str,
    prod: Path,
    graph: GraphStandIn,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    review(db, "DR2000001", "Velo Test", sast(11, 9), schema="public")
    # A database URL that would fail loudly if it were ever used.
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    target = "dev" if how == "--env" else str(prod.parent / "dev.toml")
    code = main(["sync", "sharepoint", how, target, "--date", "2025-11-11"])
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing to sync environment 'dev'" in err
    assert "127.0.0.1:1" not in err
    assert graph.received == []


def test_a_sharepoint_table_in_dev_config_is_refused(
    prod: Path, graph: GraphStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = prod.parent / "dev.toml"
    dev.write_text(dev.read_text("utf-8") + sharepoint_table(graph) + "\n", encoding="utf-8")
    assert main(["sync", "sharepoint", "--config", str(dev)]) == 2
    assert "[sharepoint] belongs in production's config only" in capsys.readouterr().err
    assert graph.received == []


def test_the_secret_is_never_printed(
    prod: Path,
    graph: GraphStandIn,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_day_of_drops(db)
    graph.fail_next(Fault.THROTTLED, retry_after=1)
    graph.fail_next(Fault.EXPIRED_TOKEN)
    assert sync("--date", "2025-11-11", "--log-level", "DEBUG") == 0
    out = capsys.readouterr()
    assert "waiting to retry" in out.err
    assert SECRET not in out.out + out.err
    # A wrong secret: refused by the token endpoint, said in one line, without the secret.
    wrong = "Wr0ng~Secret.Value_" + uuid.uuid4().hex
    monkeypatch.setenv("WA_MONITOR_SHAREPOINT_CLIENT_SECRET", wrong)
    assert sync("--date", "2025-11-11", "--log-level", "DEBUG") == 2
    out = capsys.readouterr()
    assert "invalid_client" in out.err
    assert wrong not in out.out + out.err
    assert all(wrong not in r.body + str(r.headers) for r in graph.graph_requests())


def test_a_secret_in_the_config_file_is_refused(
    prod: Path, graph: GraphStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    text = prod.read_text("utf-8").replace(
        "[sharepoint]\n", f'[sharepoint]\nclient_secret = "{SECRET}"\n'
    )
    prod.write_text(text, encoding="utf-8")
    assert sync("--dry-run") == 2
    err = capsys.readouterr().err
    assert "'sharepoint.client_secret' is the SharePoint app's secret" in err
    assert SECRET not in err
    assert graph.received == []


def test_a_run_that_fails_half_way_says_what_it_wrote_and_the_next_completes_it(
    prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    a_day_of_drops(db)
    review(db, "DR1000009", "Velo Test", sast(11, 10))
    # The header and the first row go through; then every token is refused.
    graph.fail_next(Fault.EXPIRED_TOKEN, times=2, method="PATCH", after=2)
    assert sync("--date", "2025-11-11") == 1
    err = capsys.readouterr().err
    assert "stopped after 1 of 3 rows" in err
    assert "written: 2025-11-11 Lawley = 3 (row 2, new)" in err
    assert "not written: 2025-11-11 Mohadin = 1 (row 3, new), 2025-11-11 Velo Test = 1" in err
    assert len(graph.cells(WORKSHEET)) == 2
    assert [r[1] for r in recorded(db)] == ["Lawley"]
    assert sync("--date", "2025-11-11") == 0
    assert graph.cells(WORKSHEET) == [HEADER, *expected(db, D11, D11)]
    assert [r[1] for r in recorded(db)] == ["Lawley", "Mohadin", "Velo Test"]


def test_a_dry_run_reads_but_writes_nothing(
    prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    a_day_of_drops(db)
    assert sync("--date", "2025-11-11", "--dry-run") == 0
    assert "would write 2025-11-11 Mohadin = 1 (row 3, new)" in capsys.readouterr().out
    assert graph.graph_requests("PATCH") == []
    assert graph.cells(WORKSHEET) == []
    assert recorded(db) == []


def test_each_row_written_is_said_once(
    prod: Path, db: psycopg.Connection[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_day_of_drops(db)
    capsys.readouterr()
    assert sync("--date", "2025-11-11", "--to", str(tmp_path / "drops.xlsx")) == 0
    said = capsys.readouterr()
    both = said.out + said.err
    assert "wrote 2025-11-11 Mohadin = 1 (row 3, new)" in said.out
    assert both.count("Mohadin") == 1  # the report's line; no log line says it again
    assert "synced" in said.err  # one summary line for the journal


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_file_target_upserts_the_same_rows(
    suffix: str, prod: Path, graph: GraphStandIn, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    a_day_of_drops(db)
    path = tmp_path / f"drops{suffix}"
    assert sync("--date", "2025-11-11", "--to", str(path)) == 0
    review(db, "DR1000010", "Mohadin", sast(11, 20))
    assert sync("--since", "400d", "--to", str(path)) == 2  # too long a range: refused
    assert sync("--date", "2025-11-11", "--to", str(path)) == 0
    if suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path)[WORKSHEET]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        rows = [rows[0], *[[serial(r[0].date()), *r[1:]] for r in rows[1:]]]
    else:
        lines = path.read_text("utf-8").splitlines()
        rows = [line.split(",") for line in lines]
        rows = [rows[0], *[[serial(date.fromisoformat(d)), p, int(n)] for d, p, n in rows[1:]]]
    assert rows == [HEADER, *expected(db, D11, D11)]
    assert graph.received == []  # no token, no Graph: the file is the target
    assert [r[4:6] for r in recorded(db)] == [
        ("append", suffix[1:]),
        ("append", suffix[1:]),
        ("update", suffix[1:]),
    ]


def test_the_sync_role_reads_public_and_writes_only_its_record(
    prod: Path,
    graph: GraphStandIn,
    db: psycopg.Connection[Any],
    roles: Roles,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_day_of_drops(db)
    role, role_url = roles.make("sync")
    assert main(["schema", "grant", "--env", "prod", "--role", role, "--service", "sync"]) == 0
    assert main(["schema", "grant", "--env", "dev", "--role", role, "--service", "sync"]) == 2
    assert "the sync role reads production only" in capsys.readouterr().err
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", role_url)
    assert sync("--date", "2025-11-11") == 0
    assert len(recorded(db)) == 2
    with psycopg.connect(role_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE public.qa_photo_reviews SET project = 'x'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM public.wa_monitor_sync_writes")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM public.wa_monitor_ledger")


def test_doctor_checks_the_settings_and_with_a_flag_reaches_the_workbook(
    prod: Path,
    graph: GraphStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["doctor", "--env", "prod"])
    out = capsys.readouterr().out
    assert f"PASS  SharePoint sync settings: app {CLIENT_ID} of tenant {TENANT}" in out
    assert "PASS  SharePoint client secret: set (not shown)" in out
    assert "workbook reachable" not in out
    assert graph.received == []  # without --sharepoint, nothing is asked of Entra or Graph

    main(["doctor", "--env", "prod", "--sharepoint"])
    out = capsys.readouterr().out
    assert f"PASS  SharePoint workbook reachable: token issued; worksheet '{WORKSHEET}'" in out
    assert len(graph.token_requests()) == 1

    wrong = "Wr0ng~" + uuid.uuid4().hex
    monkeypatch.setenv("WA_MONITOR_SHAREPOINT_CLIENT_SECRET", wrong)
    main(["doctor", "--env", "prod", "--sharepoint"])
    out = capsys.readouterr().out
    assert "FAIL  SharePoint workbook reachable: no token" in out
    assert "fix: check tenant_id and client_id" in out
    assert wrong not in out

    monkeypatch.delenv("WA_MONITOR_SHAREPOINT_CLIENT_SECRET")
    main(["doctor", "--env", "prod", "--sharepoint"])
    out = capsys.readouterr().out
    assert "FAIL  SharePoint client secret: no SharePoint client secret" in out
    assert "fix: set WA_MONITOR_SHAREPOINT_CLIENT_SECRET" in out


def test_one_sync_at_a_time_and_no_other_role_can_hold_productions_back(
    prod: Path,
    graph: GraphStandIn,
    db: psycopg.Connection[Any],
    database_url: str,
    roles: Roles,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_day_of_drops(db)
    # Any role may take any advisory lock: one with no right at all held the key the sync used
    # to take, and production's sync refused to run. It cannot take the sync's lock now.
    where = f"drive {DRIVE} item {ITEM} worksheet '{WORKSHEET}'"
    _, nobody_url = roles.make("nobody")
    with psycopg.connect(nobody_url, autocommit=True) as nobody:
        nobody.execute(
            "SELECT pg_advisory_lock(hashtext('wa-monitor sync'), hashtext(%s))", (where,)
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege), nobody.transaction():
            nobody.execute("LOCK TABLE public.wa_monitor_sync_lock IN EXCLUSIVE MODE NOWAIT")
        assert sync("--date", "2025-11-11") == 0
    assert graph.cells(WORKSHEET) == [HEADER, *expected(db, D11, D11)]
    # A sync that finds another one running writes nothing and says who holds the lock.
    review(db, "DR1000008", "Lawley", sast(11, 14))
    asked = len(graph.received)
    with psycopg.connect(database_url, application_name="the other sync") as running:
        running.execute("LOCK TABLE public.wa_monitor_sync_lock IN EXCLUSIVE MODE")
        capsys.readouterr()
        assert sync("--date", "2025-11-11") == 1
        err = capsys.readouterr().err
        assert "another sync of environment prod is running (backend pid " in err
        assert "the other sync" in err
        assert len(graph.received) == asked
    assert sync("--date", "2025-11-11") == 0
    assert graph.cells(WORKSHEET) == [HEADER, *expected(db, D11, D11)]


def test_an_upgrade_to_version_9_keeps_a_granted_sync_role_working(
    prod: Path,
    graph: GraphStandIn,
    db: psycopg.Connection[Any],
    database_url: str,
    roles: Roles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync role granted before version 9 gets the new lock's right from the migration."""
    a_day_of_drops(db)
    role, role_url = roles.make("sync")
    assert main(["schema", "grant", "--env", "prod", "--role", role, "--service", "sync"]) == 0
    # As before the upgrade: version 8, no lock table (the later migrations apply again).
    db.execute("DROP TABLE public.wa_monitor_sync_lock")
    db.execute("DELETE FROM public.wa_monitor_migrations WHERE version >= 9")
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", role_url)
    assert sync("--date", "2025-11-11") == 2  # not migrated: says so, writes nothing
    assert graph.cells(WORKSHEET) == []
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    assert main(["schema", "migrate", "--env", "prod"]) == 0
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", role_url)
    assert sync("--date", "2025-11-11") == 0
    assert graph.cells(WORKSHEET) == [HEADER, *expected(db, D11, D11)]


def test_without_a_sharepoint_table_the_sync_says_where_it_goes_before_reading(
    prod: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = prod.read_text("utf-8")
    prod.write_text(text[: text.index("[sharepoint]")], encoding="utf-8")
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert sync() == 2
    err = capsys.readouterr().err
    assert "no [sharepoint] table in the config" in err
    assert "--to PATH.xlsx" in err
