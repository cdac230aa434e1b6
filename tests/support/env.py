"""What the tests share that is not a fixture: the groups, times and configs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

SERVER_VAR = "WA_MONITOR_TEST_DATABASE_URL"
SAST = timezone(timedelta(hours=2))
LAWLEY = "120363418298130331@g.us"
MOHADIN = "120363418298130332@g.us"
VELO = "120363418298130333@g.us"
OTHER = "120363418298130339@g.us"  # a group nobody watches
GROUPS = {LAWLEY: "Lawley", MOHADIN: "Mohadin", VELO: "Velo Test"}
AGENT = "27825550147"  # never a bot number: the shipped configs skip those


def sast(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute, second, tzinfo=SAST)


def write_config(
    folder: Path,
    env: str,
    *,
    bridge_db: Path,
    groups: dict[str, str],
    lid_map_db: Path | None = None,
    bots: tuple[str, ...] = (),
    extra: str = "",
) -> Path:
    """A TOML config for `env` (prod → public, dev → dev) watching `groups` (jid → project)."""
    schema = "public" if env == "prod" else "dev"
    prefix = "" if env == "prod" else "[DEV]"
    lines = [
        f'environment = "{env}"',
        f'schema = "{schema}"',
        f'log_prefix = "{prefix}"',
        f'log_file = "{folder / "logs" / f"wa-monitor-{env}.log"}"',
        f'bridge_db = "{bridge_db}"',
        "poll_interval_seconds = 0.2",
        f"bot_senders = {list(bots)!r}".replace("'", '"'),
    ]
    if lid_map_db is not None:
        lines.append(f'lid_map_db = "{lid_map_db}"')
    lines.append(extra)
    for jid, name in groups.items():
        lines += ["[[projects]]", f'name = "{name}"', f'group_jid = "{jid}"']
    path = folder / f"{env}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
