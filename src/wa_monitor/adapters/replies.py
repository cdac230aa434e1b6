"""Each bridge's messages.db as the poster's proof: what the bot posted, when a post's outcome
is unknown (the bridge's HTTP API itself is the Poster, and a host's routes through the
environment's bridges are adapters/bridge_api.BridgeRoutes). No HTTP client is imported here:
`alerts check` loads one only when it posts."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from wa_monitor.adapters.sqlfiles import named_queries


class BridgeEchoes:
    """The Echoes port on messages.db: the bot's own message with that text in that group.

    The bridge stores what the account posts from a phone (is_from_me), and some bridges store
    their API sends too; not finding a message therefore proves nothing, finding it proves a post.
    """

    def __init__(self, bridge_db: Path) -> None:
        self._path = bridge_db

    def posts(self, chat_jid: str, text: str, since: datetime) -> int:
        try:
            conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=5.0)
        except sqlite3.Error:
            return 0
        try:
            query = named_queries("wa_monitor.adapters", "bridge.sql")["bot_posts"]
            rows = conn.execute(query, (chat_jid, text)).fetchall()
        except sqlite3.Error:
            return 0
        finally:
            conn.close()
        return sum(_at(r[0], since) >= since for r in rows)


def _at(text: object, fallback: datetime) -> datetime:
    """The bridge's time text as an aware instant (no offset: taken as `fallback`'s zone)."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return fallback  # unreadable: count the row, the text and group already match
    return moment if moment.tzinfo else moment.replace(tzinfo=fallback.tzinfo)
