"""schema reset / drop / copy-from-prod: one transaction each, dev only, production untouched."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support.env import VELO
from tests.support.ops import Envs, drops, row_versions
from wa_monitor.adapters.postgres.db import Database, latest_version
from wa_monitor.adapters.postgres.store import Store

NOW = datetime.now().astimezone()


pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture(autouse=True)
def both_ran(envs: Envs) -> None:
    """Prod (Lawley) and dev (Velo Test + Lawley) on one bridge, each run once."""
    envs.say("A1", "DR1111111", NOW - timedelta(hours=2))
    envs.say("A2", "DR2222222 and DR3333333", NOW - timedelta(hours=1))
    envs.say("V1", "DR9999999 test", NOW - timedelta(hours=1), chat=VELO)
    assert envs.run("prod") == 0
    assert envs.run("dev") == 0


@pytest.fixture
def public_before(envs: Envs, db: psycopg.Connection[Any]) -> Iterator[list[Any]]:
    """Production's rows as they were; the test must leave them exactly so (checked after)."""
    before = row_versions(db, "public")
    assert before[0][1], "production has no reviews: the comparison would be empty"
    yield before
    assert row_versions(db, "public") == before, "production's tables were written"


def count(db: psycopg.Connection[Any], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_reset_empties_dev_and_the_dev_monitor_starts_over(
    envs: Envs,
    db: psycopg.Connection[Any],
    public_before: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert drops(db, "dev") == ["DR1111111", "DR2222222", "DR3333333", "DR9999999"]
    assert envs.wa("schema", "reset", "--env", "dev", "--yes") == 0
    said = capsys.readouterr().out
    assert "emptied 4 reviews (and their trail and feedback sends), 3 ledger messages" in said
    assert "the reply outbox and the record of flawed rows and skipped messages" in said
    for table in (
        "dev.qa_photo_reviews",
        "dev.wa_monitor_ledger",
        "dev.wa_monitor_cursor",
        "dev.wa_monitor_skipped",
    ):
        assert count(db, table) == 0
    assert envs.run("dev") == 0
    assert drops(db, "dev") == ["DR1111111", "DR2222222", "DR3333333", "DR9999999"]


@pytest.mark.parametrize("action", ["reset", "drop"])
@pytest.mark.parametrize("target", [["--env", "prod"], ["--env", "prod", "--yes"]])
def test_reset_and_drop_refuse_production_whatever_the_flags(
    action: str,
    target: list[str],
    envs: Envs,
    public_before: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert envs.wa("schema", action, *target) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"wa-monitor: refusing to {action} production")
    assert "\n" not in err


def test_config_pointing_dev_at_public_is_refused_before_anything(
    envs: Envs, public_before: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    envs.configure("dev", extra='schema = "public"')
    for action in ("reset", "drop"):
        assert envs.wa("schema", action, "--env", "dev", "--yes") == 2
        assert "may not write to schema 'public'" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["reset", "drop"])
def test_without_yes_and_without_a_terminal_nothing_changes(
    action: str, envs: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = row_versions(db, "dev")
    assert envs.wa("schema", action, "--env", "dev") == 2
    assert "refusing without --yes" in capsys.readouterr().err
    assert row_versions(db, "dev") == before


@pytest.mark.parametrize(("answer", "code", "left"), [("dev\n", 0, 0), ("no\n", 2, 4)])
def test_on_a_terminal_reset_asks_first(
    answer: str, code: int, left: int, envs: Envs, db: psycopg.Connection[Any]
) -> None:
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode())
        env = os.environ | {
            "WA_MONITOR_DATABASE_URL": envs.url,
            "WA_MONITOR_CONFIG_DIR": str(envs.folder),
        }
        done = subprocess.run(
            [sys.executable, "-m", "wa_monitor", "schema", "reset", "--env", "dev"],
            stdin=slave,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(master)
        os.close(slave)
    assert "Empty dev.qa_photo_reviews (4 reviews, with their trail" in done.stdout
    assert done.returncode == code, done.stderr
    assert count(db, "dev.qa_photo_reviews") == left


def test_reset_and_drop_refuse_while_the_dev_monitor_runs(
    envs: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # The dev monitor's own lock, taken the way `wa-monitor run` takes it (its election names
    # it in the bridge's cursor row: before the refusals).
    with Store(Database(envs.url, "dev", "dev"), exclusive=True) as running:
        running.load_position()
        before = row_versions(db, "dev")
        for action in ("reset", "drop"):
            assert envs.wa("schema", action, "--env", "dev", "--yes") == 2
            assert "a wa-monitor is running for schema 'dev'" in capsys.readouterr().err
    assert row_versions(db, "dev") == before


def test_drop_removes_the_dev_schema_only(
    envs: Envs, db: psycopg.Connection[Any], public_before: list[Any]
) -> None:
    assert envs.wa("schema", "drop", "--env", "dev", "--yes") == 0
    assert db.execute("SELECT to_regnamespace('dev')").fetchone() == (None,)
    assert envs.wa("schema", "drop", "--env", "dev", "--yes") == 2  # nothing left to drop
    assert envs.wa("schema", "migrate", "--env", "dev") == 0
    assert count(db, "dev.qa_photo_reviews") == 0


def test_drop_refuses_when_something_outside_depends_on_dev(
    envs: Envs,
    db: psycopg.Connection[Any],
    public_before: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db.execute("CREATE VIEW public.dev_drops AS SELECT drop_number FROM dev.qa_photo_reviews")
    assert envs.wa("schema", "drop", "--env", "dev", "--yes") == 2
    assert "view dev_drops" in capsys.readouterr().err
    assert count(db, "public.dev_drops") == 4  # the view, and dev under it, are still there


def test_drop_refuses_a_schema_wa_monitor_did_not_make(
    envs: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE SCHEMA reporting; CREATE TABLE reporting.kpis (x int)")
    envs.configure("dev", extra='schema = "reporting"')
    assert envs.wa("schema", "drop", "--env", "dev", "--yes") == 2
    assert "holds no wa-monitor tables" in capsys.readouterr().err
    assert count(db, "reporting.kpis") == 0  # still there


def test_a_copy_that_fails_half_way_leaves_dev_as_it_was(
    envs: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert envs.wa("schema", "reset", "--env", "dev", "--yes") == 0
    # The ledger insert, after the reviews were written, fails: nothing may stay behind.
    db.execute(
        "CREATE FUNCTION dev.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'ledger is read-only today'; END$$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON dev.wa_monitor_ledger "
        "FOR EACH ROW EXECUTE FUNCTION dev.refuse()"
    )
    capsys.readouterr()
    assert envs.wa("schema", "copy-from-prod", "--since", "24h") == 1
    assert "ledger is read-only today" in capsys.readouterr().err
    assert count(db, "dev.qa_photo_reviews") == 0


def test_copy_takes_the_window_skips_conflicts_and_never_writes_public(
    envs: Envs,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert envs.wa("schema", "reset", "--env", "dev", "--yes") == 0
    db.execute(
        "UPDATE public.qa_photo_reviews SET created_at = now() - interval '3 days' "
        "WHERE drop_number = 'DR1111111'"
    )
    dev_date = db.execute(
        "SELECT review_date FROM public.qa_photo_reviews WHERE drop_number = 'DR2222222'"
    ).fetchone()
    db.execute(
        "INSERT INTO dev.qa_photo_reviews (drop_number, review_date, project) "
        "VALUES ('DR2222222', %s, 'dev''s own')",
        dev_date,
    )
    before = row_versions(db, "public")
    capsys.readouterr()

    assert envs.wa("schema", "copy-from-prod", "--since", "24h") == 0
    assert "copied 1, skipped 1, replaced 0 (of 2 production reviews" in capsys.readouterr().out
    assert drops(db, "dev") == ["DR2222222", "DR3333333"]
    assert db.execute(
        "SELECT project FROM dev.qa_photo_reviews WHERE drop_number = 'DR2222222'"
    ).fetchone() == ("dev's own",)

    assert envs.wa("schema", "copy-from-prod", "--since", "7d", "--replace") == 0
    assert "copied 1, skipped 0, replaced 2 (of 3" in capsys.readouterr().out
    assert drops(db, "dev") == ["DR1111111", "DR2222222", "DR3333333"]
    columns = "drop_number, review_date, project, user_name, submitted_by, created_at"
    assert (
        db.execute(f"SELECT {columns} FROM dev.qa_photo_reviews ORDER BY 1").fetchall()
        == db.execute(f"SELECT {columns} FROM public.qa_photo_reviews ORDER BY 1").fetchall()
    )
    assert row_versions(db, "public") == before


def test_a_bad_duration_is_one_line_and_changes_nothing(
    envs: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert envs.wa("schema", "reset", "--env", "dev", "--yes") == 0
    for since in ("7x", "-1d", "0h", "24", "1.5h", "h", ""):
        capsys.readouterr()
        assert envs.wa("schema", "copy-from-prod", "--since", since) == 2, since
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"wa-monitor: invalid duration {since!r}")
        assert "\n" not in err
    assert count(db, "dev.qa_photo_reviews") == 0


@pytest.mark.parametrize(
    ("break_it", "args", "message", "code"),
    [
        (
            "INSERT INTO public.wa_monitor_migrations VALUES (99, 'future')",
            ["--env", "dev"],
            f"different migration versions (public 99, dev {latest_version()})",
            2,
        ),
        ("DROP SCHEMA dev CASCADE", ["--env", "dev"], "schema migrate --env dev", 2),
        ("", ["--env", "prod"], "copies production into a dev environment only", 2),
        ("", ["--env", "staging"], "no config for environment 'staging'", 2),
    ],
)
def test_copy_refuses_clearly_and_copies_nothing(
    break_it: str,
    args: list[str],
    message: str,
    code: int,
    envs: Envs,
    db: psycopg.Connection[Any],
    public_before: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if break_it:
        # Changing production's migration table is part of the setup: refresh the snapshot.
        db.execute(break_it)
        public_before[:] = row_versions(db, "public")
    dev_before = row_versions(db, "dev") if "DROP" not in break_it else None
    assert envs.wa("schema", "copy-from-prod", *args, "--since", "24h") == code
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "\n" not in err
    if dev_before is not None:
        assert row_versions(db, "dev") == dev_before


def test_a_database_that_refuses_the_connection_is_one_line(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = "postgresql://nobody:s3cret-pw@127.0.0.1:1/wa"
    for args in (
        ["schema", "reset", "--env", "dev", "--yes"],
        ["schema", "drop", "--env", "dev", "--yes"],
        ["schema", "copy-from-prod", "--since", "1d"],
        ["schema", "grant", "--env", "dev", "--role", "x"],
    ):
        assert envs.wa(*args, url=closed) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("wa-monitor: database unavailable (unreachable)")
        assert "\n" not in err
        assert "s3cret-pw" not in err
