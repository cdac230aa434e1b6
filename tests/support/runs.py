"""Driving the command line in-process: post a message, run once, read the reviews."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import AGENT, LAWLEY
from wa_monitor.cli import main
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp


def say(
    bridge: BridgeWriter,
    mid: str,
    content: str | None,
    at: datetime | str,
    *,
    chat: str = LAWLEY,
    sender: str = AGENT,
) -> None:
    ts = at if isinstance(at, str) else bridge_timestamp(at)
    bridge.post(Post(id=mid, chat_jid=chat, sender=sender, content=content, timestamp=ts))


def run_once(config: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", url)
    return main(["run", "--config", str(config), "--once", "--give-up-after", "2"])


def reviews(db: psycopg.Connection[Any], schema: str = "public") -> dict[str, dict[str, Any]]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    rows = cur.execute(f"SELECT * FROM {schema}.qa_photo_reviews ORDER BY drop_number").fetchall()
    return {r["drop_number"]: r for r in rows}
