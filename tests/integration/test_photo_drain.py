"""Photos tied to drops as the monitor drains: real bridge files with media rows, `run --once`,
real PostgreSQL. The rule itself is pinned case by case in tests/unit/test_photo_rules.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import AGENT, GROUPS, LAWLEY, sast, write_config
from tests.support.runs import run_once, say
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, media_post

pytestmark = pytest.mark.migrated("prod")

OTHER_AGENT = "27825550999"
BOT = "27000000001"


def snap(
    bridge: BridgeWriter, mid: str, at: datetime, *, sender: str = AGENT, caption: str = ""
) -> None:
    bridge.post(
        media_post(
            id=mid,
            chat_jid=LAWLEY,
            sender=sender,
            moment=at,
            data=f"jpeg of {mid}".encode(),
            caption=caption,
        ).post
    )


def ties(db: psycopg.Connection[Any]) -> dict[str, tuple[str | None, str | None]]:
    """Every photo the drain recorded or keeps waiting for a drop message (photos.sql, seen)."""
    seen = Database(db.info.dsn, "public", "prod").query("photos.seen")
    return {r[1]: (r[10], r[11]) for r in db.execute(seen).fetchall()}


@pytest.fixture
def prod(tmp_path: Path, bridge: BridgeWriter) -> Path:
    return write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS, bots=(BOT,))


def test_photos_before_and_after_the_drop_message_are_its_own_even_when_they_come_later(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snap(bridge, "P1", sast(11, 9, 0))
    snap(bridge, "P2", sast(11, 9, 5))
    say(bridge, "D1", "DR1752028", sast(11, 9, 10))
    snap(bridge, "X1", sast(11, 9, 6), sender=OTHER_AGENT)  # someone else's photo
    snap(bridge, "B1", sast(11, 9, 7), sender=BOT)  # the bot's: never recorded
    assert run_once(prod, database_url, monkeypatch) == 0
    snap(bridge, "P3", sast(11, 9, 20))  # after the drop message, in a later batch
    snap(bridge, "P4", sast(11, 10, 0))  # 50 minutes after: nobody's
    assert run_once(prod, database_url, monkeypatch) == 0

    assert ties(db) == {
        "P1": ("DR1752028", "D1"),
        "P2": ("DR1752028", "D1"),
        "P3": ("DR1752028", "D1"),
        "P4": (None, None),
        "X1": (None, None),
    }
    media = db.execute(
        "SELECT media_type, filename, file_length, state FROM public.wa_monitor_photos"
        " WHERE message_id = 'P1'"
    ).fetchone()
    assert media == ("image", "image_20251111_090000.jpg", len(b"jpeg of P1"), "pending")


def test_a_nearer_drop_message_that_comes_later_takes_its_photos_and_a_resubmission_opens_a_round(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "D1", "DR1111111", sast(11, 9, 0))
    snap(bridge, "P1", sast(11, 9, 20))
    assert run_once(prod, database_url, monkeypatch) == 0
    assert ties(db)["P1"] == ("DR1111111", "D1")

    say(bridge, "D2", "DR2222222", sast(11, 9, 25))  # nearer to P1 than D1 is
    snap(bridge, "P2", sast(11, 9, 30))
    say(bridge, "D3", "DR1111111 fixed", sast(11, 12, 0))  # a resubmission: a new round
    snap(bridge, "P3", sast(11, 12, 5))
    snap(bridge, "P4", sast(11, 15, 0), caption="DR3333333 meter")  # named: tied directly
    assert run_once(prod, database_url, monkeypatch) == 0

    assert ties(db) == {
        "P1": ("DR2222222", "D2"),
        "P2": ("DR2222222", "D2"),
        "P3": ("DR1111111", "D3"),
        "P4": ("DR3333333", "P4"),
    }


def test_a_replayed_bridge_records_each_photo_once(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    say(bridge, "D1", "DR1752028", sast(11, 9, 10))
    snap(bridge, "P1", sast(11, 9, 0))
    assert run_once(prod, database_url, monkeypatch) == 0
    db.execute("DELETE FROM public.wa_monitor_cursor")  # read everything again
    assert run_once(prod, database_url, monkeypatch) == 0

    assert db.execute("SELECT count(*) FROM public.wa_monitor_photos").fetchone() == (1,)
    assert ties(db) == {"P1": ("DR1752028", "D1")}


def test_photos_off_records_none_and_the_windows_are_settings(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snap(bridge, "P1", sast(11, 8, 0))  # 70 minutes before: in with a 2 h window
    say(bridge, "D1", "DR1752028", sast(11, 9, 10))
    narrow = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS, extra="photos = false"
    )
    assert run_once(narrow, database_url, monkeypatch) == 0
    assert ties(db) == {}

    db.execute("DELETE FROM public.wa_monitor_cursor")
    wide = write_config(
        tmp_path,
        "prod",
        bridge_db=bridge.path,
        groups=GROUPS,
        extra="photos_before_minutes = 120\nphotos_after_minutes = 5",
    )
    assert run_once(wide, database_url, monkeypatch) == 0
    assert ties(db) == {"P1": ("DR1752028", "D1")}


def test_a_photo_whose_offset_postgresql_refuses_as_text_is_recorded_with_the_others(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Python reads +16:00 (any offset under a day); PostgreSQL refuses it in text ("time zone
    # displacement out of range"), which once cost the whole batch its photos.
    far = media_post(
        id="P16", chat_jid=LAWLEY, sender=AGENT, moment=sast(11, 9, 0), data=b"jpeg of P16"
    ).post
    bridge.post(replace(far, timestamp="2025-11-11 23:00:00+16:00"))
    snap(bridge, "P1", sast(11, 9, 5))
    say(bridge, "D1", "DR1752028", sast(11, 9, 10))
    assert run_once(prod, database_url, monkeypatch) == 0

    assert ties(db) == {"P16": ("DR1752028", "D1"), "P1": ("DR1752028", "D1")}
    assert db.execute(
        "SELECT sent_at FROM public.wa_monitor_photos WHERE message_id = 'P16'"
    ).fetchone() == (sast(11, 9, 0),)


def test_photos_before_their_drop_message_wait_through_a_restart_and_are_recorded_when_it_comes(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snap(bridge, "P1", sast(11, 8, 0))  # 70 minutes before the drop message
    snap(bridge, "P2", sast(11, 9, 0))
    snap(bridge, "X1", sast(11, 9, 1), sender=OTHER_AGENT)
    assert run_once(prod, database_url, monkeypatch) == 0  # the process ends: a restart
    # No drop message claims them yet: they wait, no row for the fetcher to ask the bridge for.
    assert db.execute("SELECT count(*) FROM public.wa_monitor_photos").fetchone() == (0,)
    assert set(ties(db)) == {"P1", "P2", "X1"}

    say(bridge, "D1", "DR1752028", sast(11, 9, 10))
    snap(bridge, "P3", sast(11, 9, 12))
    assert run_once(prod, database_url, monkeypatch) == 0

    assert ties(db) == {
        "P1": ("DR1752028", "D1"),
        "P2": ("DR1752028", "D1"),
        "P3": ("DR1752028", "D1"),
        "X1": (None, None),
    }
    recorded = db.execute(
        "SELECT message_id, state, next_attempt_at FROM public.wa_monitor_photos ORDER BY id"
    ).fetchall()
    # Due since they were sent: the fetcher asks for them at once.
    assert [r[:2] for r in recorded] == [("P1", "pending"), ("P2", "pending"), ("P3", "pending")]
    assert recorded[0][2] == sast(11, 8, 0)
    db.execute("DELETE FROM public.wa_monitor_cursor")  # and again: each photo once
    assert run_once(prod, database_url, monkeypatch) == 0
    assert db.execute("SELECT count(*) FROM public.wa_monitor_photos").fetchone() == (3,)
    assert ties(db)["X1"] == (None, None)


def test_a_second_bridge_finds_the_waiting_photos_applied_and_parks_none_again(
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {name: tmp_path / name / "messages.db" for name in ("a", "b")}
    for path in files.values():
        path.parent.mkdir()
        with BridgeWriter(path) as bridge:
            snap(bridge, "P1", sast(11, 9, 0))
            snap(bridge, "P2", sast(11, 9, 5), sender=OTHER_AGENT)
    config = write_config(tmp_path, "prod", bridges=files, groups=GROUPS, bots=(BOT,))
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)

    def drain(name: str) -> int:
        return main(["run", "--config", str(config), "--bridge", name, "--once"])

    assert (drain("a"), drain("b")) == (0, 0)

    # Bridge b's batch holds nothing new: known as applied (queries.sql, count_known), it
    # parks its photos a second time nowhere.
    parked = db.execute("SELECT count(*) FROM public.wa_monitor_photos_waiting").fetchone()
    assert parked == (1,)
    assert ties(db) == {"P1": (None, None), "P2": (None, None)}
    with BridgeWriter(files["b"]) as bridge:
        say(bridge, "D1", "DR1752028", sast(11, 9, 10))
    assert drain("b") == 0
    assert ties(db) == {"P1": ("DR1752028", "D1"), "P2": (None, None)}


def test_a_replayed_or_second_bridges_photo_already_waiting_is_not_parked_again(
    tmp_path: Path,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {name: tmp_path / name / "messages.db" for name in ("a", "b")}
    for name, path in files.items():
        path.parent.mkdir()
        with BridgeWriter(path) as bridge:
            snap(bridge, "P1", sast(11, 9, 0))
            snap(bridge, "P2", sast(11, 9, 5), sender=OTHER_AGENT)
            if name == "b":  # b holds one more: its batch is applied, not known as applied
                snap(bridge, "P3", sast(11, 9, 6))
    config = write_config(tmp_path, "prod", bridges=files, groups=GROUPS, bots=(BOT,))
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    for name in ("a", "b", "b"):
        if name == "b":
            db.execute("DELETE FROM public.wa_monitor_cursor WHERE bridge = 'b'")  # a replay
        assert main(["run", "--config", str(config), "--bridge", name, "--once"]) == 0

    parked = db.execute(
        "SELECT sum(json_array_length(photos)) FROM public.wa_monitor_photos_waiting"
    ).fetchone()
    assert parked == (3,)  # P1, P2 and P3, each once
    assert set(ties(db)) == {"P1", "P2", "P3"}


def test_photos_status_counts_the_photos_waiting_for_a_drop_message(
    prod: Path,
    bridge: BridgeWriter,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    snap(bridge, "P1", sast(11, 9, 0))
    snap(bridge, "X1", sast(11, 9, 1), sender=OTHER_AGENT)
    say(bridge, "D1", "DR1752028", sast(11, 9, 10))
    assert run_once(prod, database_url, monkeypatch) == 0
    capsys.readouterr()

    assert main(["photos", "status", "--config", str(prod)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        "pending   1  (oldest from 2025-11-11 09:00)",  # P1, D1's
        "waiting   1  (no drop message claims them yet: not fetched until one does)",  # X1
    ]


def test_a_photo_no_drop_message_claims_is_let_go_photos_waiting_days_after_it_was_parked(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snap(bridge, "OLD", sast(11, 8, 0))
    assert (
        run_once(
            prod_days := write_config(
                tmp_path,
                "prod",
                bridge_db=bridge.path,
                groups=GROUPS,
                extra="photos_waiting_days = 3",
            ),
            database_url,
            monkeypatch,
        )
        == 0
    )
    snap(bridge, "NEW", sast(11, 8, 5))
    assert run_once(prod_days, database_url, monkeypatch) == 0
    assert set(ties(db)) == {"OLD", "NEW"}
    # OLD was parked 4 days ago, NEW 2 days ago (a waiting row per batch, when it was parked).
    db.execute(
        "UPDATE public.wa_monitor_photos_waiting SET recorded_at = now() - CASE"
        " WHEN photos::text LIKE '%%\"OLD\"%%' THEN interval '4 days' ELSE interval '2 days' END"
    )
    snap(bridge, "NEXT", sast(11, 8, 10))
    assert run_once(prod_days, database_url, monkeypatch) == 0
    # The next batch with photos lets OLD go (no drop message could fetch it now); the others
    # wait on, and a drop message still claims them.
    assert set(ties(db)) == {"NEW", "NEXT"}
    say(bridge, "D1", "DR1752028", sast(11, 8, 20))
    assert run_once(prod_days, database_url, monkeypatch) == 0
    assert ties(db) == {"NEW": ("DR1752028", "D1"), "NEXT": ("DR1752028", "D1")}
