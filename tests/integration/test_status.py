"""`wa-monitor status`: the runbook's comparison and more, per environment, as a health check."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.support.env import LAWLEY, VELO, sast, write_config
from tests.support.ops import PROD_GROUPS, Envs
from tests.support.runs import say
from wa_monitor.adapters.postgres.db import latest_version

SAST_ZONE = ZoneInfo("Africa/Johannesburg")


pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture(autouse=True)
def history(envs: Envs) -> None:
    """Reviews of an old day and of today in prod (run once), dev's test message unread."""
    now = datetime.now(SAST_ZONE)
    envs.say("A1", "DR1111111", sast(11, 9))  # an old day
    envs.say("A2", "DR2222222", now)  # today, local time
    envs.say("V1", "DR9999999 test", now, chat=VELO)
    assert envs.run("prod") == 0


def status(envs: Envs, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = envs.wa("status", "--json", *args)
    return code, json.loads(capsys.readouterr().out)


def test_json_has_every_figure_per_environment(
    envs: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = status(envs, capsys)
    assert code == 0
    assert doc["ok"] is True
    prod, dev = (next(e for e in doc["environments"] if e["env"] == n) for n in ("prod", "dev"))
    latest = db.execute("SELECT max(created_at) FROM public.qa_photo_reviews").fetchone()
    assert latest is not None
    assert prod["schema"] == "public"
    assert (prod["reviews_total"], prod["reviews_today"]) == (2, 1)
    assert datetime.fromisoformat(prod["latest_created_at"]) == latest[0]
    assert prod["last_processed_at"] is not None
    assert prod["behind"] == 0
    assert prod["migration_version"] == prod["latest_version"] == latest_version()
    assert prod["flawed_rows"] == 0
    # Dev has not run yet: nothing processed, and its three messages wait in the bridge.
    assert (dev["reviews_total"], dev["behind"], dev["last_processed_at"]) == (0, 3, None)
    assert dev["ok"] is True


def test_behind_more_than_the_threshold_fails(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    # No monitor runs here (test_liveness runs real ones): each fails on that, dev also on lag.
    code, doc = status(envs, capsys, "--max-behind", "3")
    assert code == 1
    dev = next(e for e in doc["environments"] if e["env"] == "dev")
    assert dev["problems"] == ["no wa-monitor is running for environment dev"]
    code, doc = status(envs, capsys, "--max-behind", "2")
    dev = next(e for e in doc["environments"] if e["env"] == "dev")
    assert dev["problems"][1:] == ["3 bridge messages not yet processed (> 2)"]
    assert envs.run("dev") == 0
    code, doc = status(envs, capsys, "--max-behind", "0")
    assert [e["problems"][1:] for e in doc["environments"]] == [[], []]


def test_the_table_shows_both_and_problems_underneath(
    envs: Envs,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db.execute("DROP SCHEMA dev CASCADE")
    capsys.readouterr()
    assert envs.wa("status", "--wide") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ENV", "SCHEMA", "VERSION"]
    assert lines[1].split()[:2] == ["dev", "dev"]
    assert lines[1].endswith("PROBLEM")
    assert lines[2].split()[:5] == ["prod", "public", str(latest_version()), "2", "1"]
    # No monitor runs for prod: not "ok", and the line underneath says what to do.
    assert lines[2].endswith("STOPPED")
    assert lines[3] == (
        "dev: schema 'dev' does not exist or is not migrated: "
        "run `wa-monitor schema migrate --env dev`"
    )
    assert lines[4].startswith("prod: no wa-monitor is running: start wa-monitor-prod")


def test_the_default_table_fits_a_terminal_and_its_verdict_agrees_with_max_behind(
    envs: Envs, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert envs.wa("status") == 0
    plain = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in plain) <= 100
    assert plain[0].split()[:4] == ["ENV", "REVIEWS", "TODAY", "BEHIND"]
    assert [line.split()[-1] for line in plain[1:3]] == ["STOPPED", "STOPPED"]
    assert envs.wa("status", "--max-behind", "100") == 1
    checked = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in checked[1:3]] == ["PROBLEM", "PROBLEM"]


BOT = "27640412391"


def test_drop_messages_skipped_for_their_sender_are_counted_once_and_named(
    envs: Envs, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent listed in bot_senders by mistake is never silent: `status` counts the drop
    messages skipped today and names the sender, however often the bridge is read again."""
    write_config(envs.folder, "prod", bridge_db=envs.bridge.path, groups=PROD_GROUPS, bots=(BOT,))
    now = datetime.now(SAST_ZONE)
    say(envs.bridge, "B1", "DR3333333 all photos", now, chat=LAWLEY, sender=BOT)
    say(envs.bridge, "B2", "DR4444444 done", now, chat=LAWLEY, sender=BOT)
    say(envs.bridge, "B0", "DR5555555 done", sast(11, 9, 5), chat=LAWLEY, sender=BOT)
    assert envs.run("prod") == 0
    db.execute("DELETE FROM public.wa_monitor_cursor")  # a rescan reads them all again
    assert envs.run("prod") == 0
    _, doc = status(envs, capsys)
    prod = next(e for e in doc["environments"] if e["env"] == "prod")
    assert prod["skipped_today"] == 2  # the old day's skip is recorded, not counted today
    assert [(s["sender"], s["reason"], s["count"]) for s in prod["skipped_senders"]] == [
        (BOT, "bot_sender", 2)
    ]
    assert db.execute("SELECT count(*) FROM public.wa_monitor_skipped").fetchone() == (3,)
    assert envs.wa("status") == 0
    plain = capsys.readouterr().out.splitlines()
    at = plain[0].index("SKIPPED")
    assert plain[2].split()[0] == "prod"
    assert plain[2][at:].split()[0] == "2"
    assert any(
        line.startswith(f"prod: skipped 2 drop messages from {BOT} today (listed in bot_senders")
        for line in plain
    )
    assert max(len(line) for line in plain) <= 100


def test_an_unreachable_environment_fails_without_showing_its_url(
    envs: Envs, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL_DEV", "postgresql://dev:pw-sekret@127.0.0.1:1/wa")
    code, doc = status(envs, capsys)
    assert code == 1
    dev, prod = doc["environments"]
    assert dev["problems"][0].startswith("database: ")
    assert "pw-sekret" not in json.dumps(doc)
    assert prod["ok"] is True


def test_no_environment_files_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wa_monitor.cli import main

    monkeypatch.setenv("WA_MONITOR_CONFIG_DIR", str(tmp_path))
    assert main(["status"]) == 2
    assert "no environment files" in capsys.readouterr().err
