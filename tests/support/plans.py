"""What the validation tests share: configs with validating projects, plan lists, the outbox."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import LAWLEY, write_config
from wa_monitor.cli import main

BOT = "27000000001"  # the bot number configured, and given to the simulated bridge API
AGENT_2 = "27821234567"


def production_beside(folder: Path, bridge_db: Path, *, validate: Collection[str] = ()) -> Path:
    """Production's config (Lawley alone, validating the projects in `validate`) in `folder`,
    where dev's is written next: dev learns from it where it may never post."""
    return write_config(
        folder,
        "prod",
        bridge_db=bridge_db,
        groups={LAWLEY: "Lawley"},
        bots=(BOT,),
        validate=validate,
    )


def load_list(
    config: Path,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    project: str,
    drops: list[str],
    *,
    replace: bool = False,
) -> int:
    """`wa-monitor drops import` of a .csv holding `drops` (one per line, with a header)."""
    csv = config.parent / f"plan-{project.replace(' ', '_')}.csv"
    csv.write_text("Drop Number\n" + "\n".join(drops) + "\n", encoding="utf-8")
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", url)
    args = ["drops", "import", "--config", str(config), "--project", project, str(csv)]
    return main([*args, "--replace"] if replace else args)


def invalid_rows(db: psycopg.Connection[Any], schema: str = "public") -> list[dict[str, Any]]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        f"SELECT * FROM {schema}.invalid_drop_submissions ORDER BY whatsapp_message_date"
    ).fetchall()


def outbox(db: psycopg.Connection[Any], schema: str = "public") -> list[dict[str, Any]]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        f"SELECT * FROM {schema}.wa_monitor_outbox ORDER BY message_at, kind"
    ).fetchall()


LISTS = {"Lawley": ["DR1000001", "DR1000002"], "Mohadin": ["DR2000001", "DR1000002"]}


def prod_with_lists(
    folder: Path,
    bridge_db: Path,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    groups: dict[str, str],
    extra: str = "",
) -> Path:
    """prod (its database migrated for it), Lawley and Mohadin validating with the LISTS above,
    Velo Test not."""
    config = write_config(
        folder,
        "prod",
        bridge_db=bridge_db,
        groups=groups,
        bots=(BOT,),
        validate=set(LISTS),
        extra=extra,
    )
    for project, drops in LISTS.items():
        assert load_list(config, url, monkeypatch, project, drops) == 0
    return config


def dev_replying(
    folder: Path,
    bridge_db: Path,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    groups: dict[str, str],
    api_url: str,
) -> Path:
    """dev (its database migrated for it) with replies on, every group validating against a
    one-drop list."""
    config = write_config(
        folder,
        "dev",
        bridge_db=bridge_db,
        groups=groups,
        bots=(BOT,),
        validate=set(groups.values()),
        extra=f'replies = true\nbridge_api_url = "{api_url}"\nreply_interval_seconds = 0',
    )
    for project in groups.values():
        assert load_list(config, url, monkeypatch, project, ["DR1000001"]) == 0
    return config
