"""The upgrade from one bridge to several: ledger entries written before version 21 kept no
project, sender or resubmission word, so a drop they named could not be folded again when an
older message arrived late through a second bridge (its late message was stale). `schema
migrate` completes them from the bridge file; the drop then comes out as one bridge holding
everything makes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import AGENT, LAWLEY, sast, write_config
from tests.support.runs import reviews
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp

pytestmark = pytest.mark.migrated("prod")

OTHER_AGENT = "27825550148"
DROP = "DR1234567"
# Host A's bridge (the one bridge before version 21) missed the first message; host B's has it.
FIRST = Post("M0", LAWLEY, OTHER_AGENT, f"{DROP} installed", bridge_timestamp(sast(10, 9)))
LATER = Post("M1", LAWLEY, AGENT, f"{DROP} photos", bridge_timestamp(sast(11, 10)))


def as_before_version_21(db: psycopg.Connection[Any]) -> None:
    """The ledger as the monitor wrote it before version 21."""
    db.execute(
        "UPDATE public.wa_monitor_ledger SET project = NULL, sender = NULL, user_name = NULL, "
        "resubmit = NULL, bridge = NULL"
    )


def run(config: Path, bridge: str) -> None:
    assert main(["run", "--config", str(config), "--bridge", bridge, "--once"]) == 0


def test_a_drop_applied_before_version_21_is_folded_again_by_a_late_older_message(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = {"main": tmp_path / "a.db", "b": tmp_path / "b.db"}
    config = write_config(
        tmp_path, "prod", bridges=paths, groups={LAWLEY: "Lawley"}, bots=("27000000001",)
    )
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    with BridgeWriter(paths["main"]) as a, BridgeWriter(paths["b"]) as b:
        a.chat(LAWLEY, "Lawley")
        b.chat(LAWLEY, "Lawley")
        a.post(LATER)
        b.post(FIRST)
        b.post(LATER)
    run(config, "main")
    as_before_version_21(db)
    # The upgrade: `schema migrate` on host A completes the old entries from its bridge file.
    monkeypatch.setenv("WA_MONITOR_BRIDGE", "main")  # host A's unit names its bridge
    assert main(["schema", "migrate", "--config", str(config)]) == 0
    monkeypatch.delenv("WA_MONITOR_BRIDGE")
    completed = db.execute(
        "SELECT project, sender, resubmit FROM public.wa_monitor_ledger WHERE message_id = 'M1'"
    ).fetchone()
    assert completed == ("Lawley", AGENT, False)
    run(config, "b")  # host B's bridge delivers the older message

    review = reviews(db)[DROP]
    # As one bridge holding both makes it: first posted on the 10th by the other agent, the
    # next day's message a resubmission by the agent.
    assert review["whatsapp_message_date"] == sast(10, 9)
    assert review["review_date"].day == 10
    assert review["resubmitted"] is True
    assert (review["submitted_by"], review["last_submitted_at"]) == (AGENT, sast(11, 10))
    assert db.execute("SELECT count(*) FROM public.qa_photo_reviews").fetchone() == (1,)


def test_an_entry_the_bridge_no_longer_holds_stays_as_it_was(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.db"
    config = write_config(
        tmp_path, "prod", bridge_db=path, groups={LAWLEY: "Lawley"}, bots=("27000000001",)
    )
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    with BridgeWriter(path) as a:
        a.chat(LAWLEY, "Lawley")
        a.post(LATER)
    run(config, "main")
    as_before_version_21(db)
    path.unlink()
    with BridgeWriter(path) as a:  # a new, empty file (the old one lost)
        a.chat(LAWLEY, "Lawley")
    assert main(["schema", "migrate", "--config", str(config)]) == 0
    assert db.execute(
        "SELECT project, sender FROM public.wa_monitor_ledger WHERE message_id = 'M1'"
    ).fetchone() == (None, None)
