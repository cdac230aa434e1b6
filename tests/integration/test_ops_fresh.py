"""The ops commands on an environment each test prepares itself, rather than on test_ops.py's
shared history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support.ops import Envs, drops

NOW = datetime.now().astimezone()


def count(db: psycopg.Connection[Any], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.migrated("prod", "dev")
def test_copied_rows_are_not_applied_again_by_the_dev_monitor(
    envs: Envs, db: psycopg.Connection[Any]
) -> None:
    envs.say("A1", "DR1111111", NOW - timedelta(hours=3))
    envs.say("A2", "DR1111111 fixed", NOW - timedelta(hours=2))
    assert envs.run("prod") == 0
    # A reviewer looked again after the fix and sent feedback: production's row says so.
    db.execute("UPDATE public.qa_photo_reviews SET incomplete = true, feedback_sent = now()")
    assert envs.wa("schema", "copy-from-prod", "--since", "24h") == 0
    copied = db.execute("SELECT * FROM dev.qa_photo_reviews").fetchall()
    # The dev monitor now reads the same messages (it watches Lawley too): they are in its
    # ledger already, so "fixed" does not clear the feedback a second time, and nothing doubles.
    assert envs.run("dev") == 0
    assert db.execute("SELECT * FROM dev.qa_photo_reviews").fetchall() == copied
    assert count(db, "dev.wa_monitor_ledger") == 2


def test_reset_of_a_missing_schema_names_the_fix(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    assert envs.wa("schema", "reset", "--env", "dev", "--yes") == 2
    assert "run `wa-monitor schema migrate --env dev`" in capsys.readouterr().err


@pytest.mark.migrated("prod", "dev")
def test_a_message_is_marked_applied_in_dev_only_when_all_its_drops_were_copied(
    envs: Envs, db: psycopg.Connection[Any]
) -> None:
    """One message named two drops; only one of their reviews is in the copied window. Marking
    the message applied in dev made the dev monitor skip the other drop for good."""
    envs.say("A1", "DR2222222 and DR3333333", NOW - timedelta(hours=1))
    assert envs.run("prod") == 0
    db.execute(
        "UPDATE public.qa_photo_reviews SET created_at = now() - interval '3 days' "
        "WHERE drop_number = 'DR2222222'"
    )
    assert envs.wa("schema", "copy-from-prod", "--since", "24h") == 0
    assert drops(db, "dev") == ["DR3333333"]
    assert count(db, "dev.wa_monitor_ledger") == 0
    assert envs.run("dev") == 0
    assert drops(db, "dev") == ["DR2222222", "DR3333333"]
