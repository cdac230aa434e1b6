"""The reply sender's two views of the bridge: its HTTP API to post, its messages.db to find
what the bot posted when a post's outcome is unknown."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from wa_monitor.adapters.bridge_api import BridgeApi
from wa_monitor.core.records import Delivery


class BridgePoster:
    """The Poster port on the bridge's `POST /api/send` (one attempt; the sender decides)."""

    def __init__(self, api: BridgeApi) -> None:
        self._api = api

    def post(self, recipient: str, text: str) -> tuple[Delivery, str]:
        result = self._api.send(recipient, text)
        return Delivery(result.outcome.value), result.detail

    def close(self) -> None:
        self._api.close()


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
            rows = conn.execute(
                "SELECT timestamp FROM messages WHERE chat_jid = ? AND content = ? AND is_from_me",
                (chat_jid, text),
            ).fetchall()
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
