"""What the tests share that is not a fixture: the groups, times and configs."""

from __future__ import annotations

from collections.abc import Collection, Mapping
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
    bridge_db: Path | None = None,
    bridges: Mapping[str, Path] | None = None,
    groups: Mapping[str, str],
    lid_map_db: Path | None = None,
    bots: tuple[str, ...] = (),
    validate: Collection[str] | None = None,
    retired: Mapping[str, str] | None = None,
    extra: str = "",
) -> Path:
    """The one writer of a test's config: `env`.toml in `folder` (prod → public, dev → dev)
    watching `groups` (jid → project).

    `validate` names the projects that check drops against their plan list (the others say
    `validate = false`); `retired` (jid → project) are listed with `enabled = false`. `extra`
    is TOML put before the projects: a key it sets replaces the default one, and its tables
    ([web], [alerts]) come after the top-level keys. `bridges` (name → messages.db) lists
    several bridges as [[bridges]] in place of `bridge_db`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    defaults = {
        "environment": f'"{env}"',
        "schema": '"public"' if env == "prod" else '"dev"',
        "log_prefix": '""' if env == "prod" else '"[DEV]"',
        "log_file": f'"{folder / "logs" / f"wa-monitor-{env}.log"}"',
        "poll_interval_seconds": "0.2",
        "bot_senders": f"{list(bots)!r}".replace("'", '"'),
    }
    if bridge_db is not None:
        defaults["bridge_db"] = f'"{bridge_db}"'
    if lid_map_db is not None:
        defaults["lid_map_db"] = f'"{lid_map_db}"'
    extra_lines = extra.splitlines()
    first_table = next(
        (i for i, line in enumerate(extra_lines) if line.startswith("[")), len(extra_lines)
    )
    own = extra_lines[:first_table]
    overridden = {line.split("=", 1)[0].strip() for line in own if "=" in line}
    lines = [f"{key} = {value}" for key, value in defaults.items() if key not in overridden]
    lines += extra_lines
    for name, path in (bridges or {}).items():
        lines += ["[[bridges]]", f'name = "{name}"', f'db = "{path}"']
    projects = [(jid, name, True) for jid, name in groups.items()]
    projects += [(jid, name, False) for jid, name in (retired or {}).items()]
    for jid, name, enabled in projects:
        lines += ["[[projects]]", f'name = "{name}"', f'group_jid = "{jid}"']
        if validate is not None:
            lines.append(f"validate = {'true' if name in validate else 'false'}")
        if not enabled:
            lines.append("enabled = false")
    path = folder / f"{env}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
