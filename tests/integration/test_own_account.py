"""The bridge's own account: its messages (is_from_me) are never sightings unless the config
says it also posts drops; the shipped configs skip the known bot numbers."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.env import AGENT, LAWLEY, sast, write_config
from tests.support.runs import reviews, run_once
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp
from wa_monitor.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
OWN_NUMBER = "27829999999"  # the bridge's account, not listed in bot_senders


def post(bridge: BridgeWriter, mid: str, text: str, *, sender: str, own: bool) -> None:
    bridge.post(
        Post(
            id=mid,
            chat_jid=LAWLEY,
            sender=sender,
            content=text,
            timestamp=bridge_timestamp(sast(11, 9)),
            is_from_me=own,
        )
    )


@pytest.mark.migrated("prod")
@pytest.mark.parametrize(("posts_drops", "expected"), [(False, ["DR2222222"]), (True, None)])
def test_messages_from_the_bridges_own_account_are_not_sightings_unless_configured(
    posts_drops: bool,
    expected: list[str] | None,
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = f"own_account_posts_drops = {str(posts_drops).lower()}"
    config = write_config(
        tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"}, extra=extra
    )
    # Feedback sent from the dashboard names the drop; so does the agent's own post.
    post(bridge, "F1", "DR1111111\nAll items complete! ✅", sender=OWN_NUMBER, own=True)
    post(bridge, "A1", "DR2222222 done", sender=AGENT, own=False)
    assert run_once(config, database_url, monkeypatch) == 0
    found = sorted(reviews(db))
    assert found == (expected or ["DR1111111", "DR2222222"])


@pytest.mark.migrated("prod")
def test_a_skipped_agent_is_never_silent(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = "27640412391"  # a shipped bot number, used by an agent's phone by mistake
    config = write_config(
        tmp_path,
        "prod",
        bridge_db=bridge.path,
        groups={LAWLEY: "Lawley", "120363000000000000@g.us": "Nowhere"},
        bots=(bot,),
    )
    post(bridge, "B1", "DR3333331 done", sender=bot, own=False)
    post(bridge, "B2", "DR3333332 done", sender=bot, own=False)
    post(bridge, "O1", "DR3333333 all 12 photos", sender=OWN_NUMBER, own=True)
    post(bridge, "A1", "DR2222222 done", sender=AGENT, own=False)
    post(bridge, "C1", "morning all", sender=bot, own=False)  # names no drop: not counted
    assert run_once(config, database_url, monkeypatch) == 0
    assert list(reviews(db)) == ["DR2222222"]
    lines = (tmp_path / "logs" / "wa-monitor-prod.log").read_text(encoding="utf-8").splitlines()
    told = [line for line in lines if "skipping drop messages" in line]
    assert len(told) == 2  # once per sender, whatever the number of its messages
    assert f"skipping drop messages from {bot}: a bot number (bot_senders lists it)" in told[0]
    assert f"from {OWN_NUMBER}: the bridge's own account" in told[1]
    [cycle] = [line for line in lines if "cycle done" in line]
    assert " skipped=3 " in cycle
    [unknown] = [line for line in lines if "watched groups are not in the bridge" in line]
    assert "1 of 2 watched groups" in unknown
    assert "Nowhere=120363000000000000@g.us" in unknown


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_the_shipped_configs_skip_the_known_bot_numbers(env: str) -> None:
    path = REPO / "config" / f"{env}.toml"
    settings = load_settings(path, expect=env)
    assert {"27640412391", "27711558396"} <= settings.bot_senders
    assert settings.own_account_posts_drops is False
    assert "bot_senders" in tomllib.loads(path.read_text(encoding="utf-8"))
