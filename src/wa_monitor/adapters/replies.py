"""The bridges a post goes through (their HTTP APIs, adapters/bridge_api.py), and each one's
messages.db as the poster's proof: what the bot posted, when a post's outcome is unknown."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from wa_monitor.adapters.bridge_api import BridgeApi, plain_base
from wa_monitor.adapters.sqlfiles import named_queries
from wa_monitor.core.ports import Echoes, NoEchoes
from wa_monitor.core.replies import Route
from wa_monitor.settings import Settings


class BridgeRoutes:
    """Where this host posts: its own bridge's API first, then the environment's other bridges
    in the config's order (core/replies.post_once: the next only when one is DOWN). A bridge
    whose `api_url` is one already listed is the same API as seen from here (every
    `http://localhost:8080` is this host's own bridge) and is left out. Another bridge's
    messages.db is read where its path is not this host's own bridge file; where the paths are
    the same, the file here is this host's bridge's, not that one's, so an unknown post through
    it proves nothing here (a person decides). close() closes the API clients."""

    def __init__(self, settings: Settings) -> None:
        own = BridgeApi(settings.bridge_api_url)
        self._apis = [own]
        routes = [Route(settings.bridge, own, BridgeEchoes(settings.bridge_db))]
        for spec in settings.bridge_list:
            if spec.name == settings.bridge or plain_base(spec.api_url) in self.urls:
                continue
            api = BridgeApi(spec.api_url)
            self._apis.append(api)
            same_file = spec.db == settings.bridge_db
            echoes: Echoes = NoEchoes() if same_file else BridgeEchoes(spec.db)
            routes.append(Route(spec.name, api, echoes))
        self.routes = tuple(routes)

    @property
    def urls(self) -> list[str]:
        return [api.base_url for api in self._apis]

    def close(self) -> None:
        for api in self._apis:
            api.close()


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
