"""A stand-in for the WhatsApp bridge: its exact SQLite schema, written the way it writes.

Used by the demo, the tests and the benchmark; nothing here is used by the daemon itself.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from wa_monitor.adapters.sqlfiles import named_queries

_SQL = named_queries(__package__, "simulator.sql")
# The schema the bridge (whatsmeow + mattn/go-sqlite3) creates in messages.db, verbatim.
BRIDGE_DDL = _SQL["bridge_ddl"]
# whatsmeow's session store (whatsapp.db) maps LIDs to phone numbers here.
LID_MAP_DDL = _SQL["lid_map_ddl"]
BRIDGE_BUSY_TIMEOUT_MS = 5000  # the bridge's own busy timeout


@dataclass(frozen=True, slots=True)
class Post:
    """One message as the bridge stores it."""

    id: str
    chat_jid: str
    sender: str
    content: str | None
    timestamp: object  # usually text like 2025-11-11 12:25:30+02:00
    is_from_me: bool = False
    media_type: str | None = None
    # A media row's description of the encrypted file on WhatsApp's servers; a text message
    # has the bridge's empty values.
    filename: str = ""
    url: str = ""
    media_key: bytes | None = None
    file_sha256: bytes | None = None
    file_enc_sha256: bytes | None = None
    file_length: int = 0


@dataclass(frozen=True, slots=True)
class MediaPost:
    """A photo (or video) as the bridge stores it, and the file WhatsApp's servers hold."""

    post: Post
    data: bytes


def media_filename(media_type: str, moment: datetime) -> str:
    """The bridge's name for a media file: by the second it stored the row (clashes included)."""
    extension = {"image": "jpg", "video": "mp4", "audio": "ogg"}.get(media_type, "bin")
    return f"{media_type}_{moment.strftime('%Y%m%d_%H%M%S')}.{extension}"


def media_post(
    *,
    id: str,
    chat_jid: str,
    sender: str,
    moment: datetime,
    data: bytes,
    media_type: str = "image",
    caption: str = "",
) -> MediaPost:
    """A media message as the bridge writes it (caption kept in `content`, as forks do)."""
    encrypted = hashlib.sha256(b"enc:" + data).digest()
    return MediaPost(
        Post(
            id=id,
            chat_jid=chat_jid,
            sender=sender,
            content=caption,
            timestamp=bridge_timestamp(moment),
            media_type=media_type,
            filename=media_filename(media_type, moment),
            url=f"https://mmg.whatsapp.net/v/t62.7118-24/{encrypted.hex()[:24]}.enc",
            media_key=hashlib.sha256(b"key:" + data).digest(),
            file_sha256=hashlib.sha256(data).digest(),
            file_enc_sha256=encrypted,
            file_length=len(data),
        ),
        data,
    )


def bridge_timestamp(moment: datetime) -> str:
    """A time as the bridge writes it: local offset, seconds, no fraction."""
    return moment.isoformat(sep=" ", timespec="seconds")


def message_id(rng: random.Random) -> str:
    """A random hex id of 20-32 characters, like WhatsApp's: not ordered."""
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randint(20, 32)))


class BridgeWriter:
    """Writes messages.db as the bridge does: its own connection, INSERT OR REPLACE."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(
            path, timeout=BRIDGE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        self._conn.executescript(BRIDGE_DDL)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> BridgeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chat(self, jid: str, name: str | None) -> None:
        self._conn.execute(_SQL["chat"], (jid, name))

    def chats(self, names: Mapping[str, str | None]) -> None:
        with self.transaction():
            for jid, name in names.items():
                self.chat(jid, name)

    def post(self, post: Post) -> None:
        self.post_many([post])

    def post_many(self, posts: Iterable[Post]) -> None:
        """Store posts in one transaction, the way the bridge stores each message."""
        with self.transaction():
            for p in posts:
                self._conn.execute(_SQL["chat_of_post"], (p.chat_jid, p.timestamp))
                self._conn.execute(
                    _SQL["post"],
                    (
                        p.id,
                        p.chat_jid,
                        p.sender,
                        p.content,
                        p.timestamp,
                        p.is_from_me,
                        p.media_type,
                        p.filename,
                        p.url,
                        p.media_key,
                        p.file_sha256,
                        p.file_enc_sha256,
                        p.file_length,
                    ),
                )

    def transaction(self) -> _Tx:
        return _Tx(self._conn)

    def execute(self, statement: str, params: tuple[object, ...] = ()) -> None:
        self._conn.execute(statement, params)


class Twins:
    """Several bridges (linked devices of one account) storing the same messages: each post goes
    to every bridge that is up; a bridge that is down misses it, and stores what it missed when
    it comes back, in its own order, as WhatsApp's history sync does (late, after newer ones)."""

    def __init__(self, paths: Mapping[str, Path], *, seed: int = 1) -> None:
        self.writers = {name: BridgeWriter(path) for name, path in paths.items()}
        self._missed: dict[str, list[Post]] = {}
        self._rng = random.Random(seed)  # noqa: S311 - a repeatable order, not security

    def post(self, post: Post) -> None:
        for name, writer in self.writers.items():
            if name in self._missed:
                self._missed[name].append(post)
            else:
                writer.post(post)

    def down(self, name: str) -> None:
        """The bridge stops storing (its host is down, or the bridge stalled)."""
        self._missed.setdefault(name, [])

    def up(self, name: str) -> int:
        """The bridge is back: its history sync stores what it missed, shuffled; how many."""
        missed = self._missed.pop(name, [])
        self._rng.shuffle(missed)
        self.writers[name].post_many(missed)
        return len(missed)

    def close(self) -> None:
        for name in list(self._missed):
            self.up(name)
        for writer in self.writers.values():
            writer.close()

    def __enter__(self) -> Twins:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")


def create_bridge(path: Path) -> None:
    """An empty messages.db in the bridge's schema."""
    BridgeWriter(path).close()


def create_lid_map(path: Path, lid_to_phone: Mapping[str, str]) -> None:
    """A whatsapp.db holding just the LID map."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(LID_MAP_DDL)
        conn.executemany(_SQL["lid"], list(lid_to_phone.items()))
    finally:
        conn.close()
