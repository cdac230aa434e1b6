"""A stand-in for the bridge's HTTP API (`POST /api/send`, `POST /api/download`), for the demo
and the tests.

It answers like the bridge (same request, same JSON answer, same status codes), records every
message it "posts", and writes each into messages.db the way a message from the bot's number
appears there, so the monitor's bot-sender skip is exercised end to end. Faults can be
switched on to test what a caller does when the bridge is down, refuses, is slow, or drops the
connection after posting.

`/api/download` does what the bridge's downloadMedia does: it reads the message's media row from
messages.db, answers at once with a file of that name already in `store/<chat>/` (the shortcut
that hands back another photo's file when two were stored in the same second), and otherwise
"downloads" the file from the simulated WhatsApp servers (the bytes given to post_media) unless
they expired there.
"""

from __future__ import annotations

import enum
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

from wa_monitor.adapters.sqlfiles import named_queries
from wa_monitor.devtools.simulator import (
    BridgeWriter,
    MediaPost,
    Post,
    bridge_timestamp,
    create_bridge,
    message_id,
)

SEND_PATH = "/api/send"
DOWNLOAD_PATH = "/api/download"
_SQL = named_queries(__package__, "simulator.sql")
# whatsmeow's error once WhatsApp's servers no longer serve a file (HTTP 410 from the CDN).
EXPIRED_ERROR = "failed to download media: download failed with status code 410"
# whatsmeow's error for any download while the bridge's WhatsApp link is down: every photo alike.
NOT_CONNECTED_ERROR = (
    "failed to download media: failed to refresh media connections: websocket not connected"
)
BOT_NUMBER = "27640412391"  # the bot number the old monitor skipped; the demo configures it


class Fault(enum.StrEnum):
    NONE = "none"
    REFUSE = "refuse"  # answer 500 {"success": false}: WhatsApp refused, nothing posted
    # The bridge is up but its WhatsApp link is not: nothing posted (nor downloaded).
    # NOT_CONNECTED answers as the reference bridge does (500, its own message); UNAVAILABLE as a
    # fork or a proxy would (503).
    NOT_CONNECTED = "not_connected"
    UNAVAILABLE = "unavailable"
    SLOW = "slow"  # wait `delay_s` before handling the request
    DROP_AFTER_POST = "drop_after_post"  # post and record, then close without an answer


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message the simulated bridge posted."""

    recipient: str
    text: str
    at: datetime
    message_id: str


class SimulatedBridgeApi:
    """A threaded HTTP server on 127.0.0.1 answering `POST /api/send` like the bridge.

    Use as a context manager, or start()/stop(). down()/up() stop and resume listening on the
    same port (a caller then gets "connection refused").
    """

    def __init__(
        self,
        *,
        bridge_db: Path | None = None,
        bot_number: str = BOT_NUMBER,
        record_file: Path | None = None,
        port: int = 0,
        timezone: str = "Africa/Johannesburg",
        seed: int | None = None,
        on_post: Callable[[SentMessage], None] | None = None,
    ) -> None:
        self.bridge_db = bridge_db
        self.bot_number = bot_number
        self.record_file = record_file
        self._port = port
        self._tz = ZoneInfo(timezone)
        self._rng = random.Random(seed)  # noqa: S311 - message ids, not security
        self._lock = threading.Lock()
        self._sent: list[SentMessage] = []
        self._fault = Fault.NONE
        self._delay_s = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._on_post = on_post  # told of each posted message (the demo's agent answers it)
        self._cdn: dict[str, bytes] = {}  # WhatsApp's servers: url -> the decrypted file
        self._downloads: list[tuple[str, str]] = []  # (message_id, chat_jid) asked for
        self._failing: dict[str, str] = {}  # message_id -> downloadMedia's error for it

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SimulatedBridgeApi:
        if self._server is not None:
            return self
        if self.bridge_db is not None:
            create_bridge(self.bridge_db)  # the bridge's tables exist before its first post
        server = _Listener(("127.0.0.1", self._port), _handler_for(self))
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    down = stop  # the bridge process is not running: connections are refused

    def up(self) -> None:
        """Listen again on the same port after down()."""
        self.start()

    def __enter__(self) -> SimulatedBridgeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to configure as the bridge's API (the port is fixed once started)."""
        if not self._port:
            raise RuntimeError("start() the simulated bridge API first")
        return f"http://127.0.0.1:{self._port}"

    # -- faults and records ------------------------------------------------------------------

    def fault(self, fault: Fault, *, delay_s: float = 0.0) -> None:
        """Switch a fault on (Fault.NONE switches it off). `delay_s` is for Fault.SLOW."""
        with self._lock:
            self._fault, self._delay_s = fault, delay_s

    def sent(self) -> tuple[SentMessage, ...]:
        """Every message posted so far, oldest first."""
        with self._lock:
            return tuple(self._sent)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> tuple[SentMessage, ...]:
        """The posted messages once there are at least `count` (or when `timeout_s` ran out)."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.sent()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return found

    def downloads(self) -> tuple[tuple[str, str], ...]:
        """Every /api/download request that reached the handler, oldest first."""
        with self._lock:
            return tuple(self._downloads)

    # -- media -------------------------------------------------------------------------------

    @property
    def store(self) -> Path:
        """The bridge's `store/` folder (beside messages.db): media land in store/<chat>/."""
        if self.bridge_db is None:
            raise RuntimeError("the simulated bridge has no messages.db")
        return self.bridge_db.parent

    def post_media(self, *media: MediaPost) -> None:
        """An agent's photos arrive: their rows in messages.db, their files on the servers."""
        if self.bridge_db is None:
            raise RuntimeError("the simulated bridge has no messages.db")
        with self._lock:
            for item in media:
                self._cdn[item.post.url] = item.data
        with BridgeWriter(self.bridge_db) as writer:
            writer.post_many(item.post for item in media)

    def expire(self, *media: MediaPost) -> None:
        """WhatsApp's servers stop serving these files (old media)."""
        with self._lock:
            for item in media:
                self._cdn.pop(item.post.url, None)

    def fail_download(self, message_id: str, error: str | None) -> None:
        """From now on the bridge's downloadMedia fails for this message with `error` (None:
        no more), answered as the bridge answers any: 500 "Failed to download media: <error>".
        E.g. its file cannot be saved: "failed to save media file: open <path>: permission
        denied", which names the file."""
        with self._lock:
            if error is None:
                self._failing.pop(message_id, None)
            else:
                self._failing[message_id] = error

    def download(self, message_id: str, chat_jid: str) -> tuple[str, str, Path]:
        """The bridge's downloadMedia: (media type, filename, absolute path), or MediaError."""
        with self._lock:
            self._downloads.append((message_id, chat_jid))
            failing = self._failing.get(message_id)
            fault = self._fault
        if failing is not None:
            raise MediaError(failing)
        if self.bridge_db is None:
            raise MediaError("failed to find message: sql: no rows in result set")
        conn = sqlite3.connect(self.bridge_db, timeout=5.0)
        try:
            row = conn.execute(_SQL["media_row"], (message_id, chat_jid)).fetchone()
        finally:
            conn.close()
        if row is None:
            raise MediaError("failed to find message: sql: no rows in result set")
        media_type, filename, url, media_key, sha256, enc_sha256, length = row
        if not media_type:
            raise MediaError("not a media message")
        folder = self.store / chat_jid.replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        path = (folder / filename).absolute()
        if path.exists():
            return media_type, filename, path  # the bridge's shortcut: no download, no check
        if not url or not media_key or not sha256 or not enc_sha256 or not length:
            raise MediaError("incomplete media information for download")
        if fault is Fault.NOT_CONNECTED:  # only a real download needs the link
            raise MediaError(NOT_CONNECTED_ERROR)
        with self._lock:
            data = self._cdn.get(url)
        if data is None:
            raise MediaError(EXPIRED_ERROR)
        path.write_bytes(data)
        return media_type, filename, path

    # -- what a request does -----------------------------------------------------------------

    def current_fault(self) -> tuple[Fault, float]:
        with self._lock:
            return self._fault, self._delay_s

    def post_message(self, recipient: str, text: str) -> SentMessage:
        """Post a message: record it and make it appear in messages.db as the bot's own."""
        with self._lock:
            sent = SentMessage(recipient, text, datetime.now(self._tz), message_id(self._rng))
            self._sent.append(sent)
            if self.record_file is not None:
                with self.record_file.open("a", encoding="utf-8") as out:
                    out.write(_json_line(sent) + "\n")
        if self.bridge_db is not None:
            # One connection per post: sqlite3 connections stay in the thread that opened them.
            with BridgeWriter(self.bridge_db) as writer:
                writer.post(
                    Post(
                        id=sent.message_id,
                        chat_jid=recipient,
                        sender=self.bot_number,
                        content=text,
                        timestamp=bridge_timestamp(sent.at),
                        is_from_me=True,
                    )
                )
        if self._on_post is not None:
            self._on_post(sent)
        return sent


class _Listener(ThreadingHTTPServer):
    """The HTTP server with the bridge's listen backlog: Go's net/http listens with the
    kernel's (somaxconn, 4,096), the standard library's server with 5, so a sixth connection
    arriving at once would wait for the client's SYN retry (1 s) — a stall the bridge has not."""

    request_queue_size = 128


class MediaError(Exception):
    """downloadMedia's error: the bridge answers 500 "Failed to download media: <this>"."""


def _json_line(sent: SentMessage) -> str:
    return json.dumps(
        {
            "recipient": sent.recipient,
            "message": sent.text,
            "at": sent.at.isoformat(),
            "id": sent.message_id,
        },
        ensure_ascii=False,
    )


def _handler_for(api: SimulatedBridgeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(_BridgeHandler):
        bridge = api

    return Handler


class _BridgeHandler(BaseHTTPRequestHandler):
    """The bridge's `/api/send` handler, status codes and texts as the Go program writes them."""

    bridge: SimulatedBridgeApi
    protocol_version = "HTTP/1.1"
    server_version = "wa-monitor-simulated-bridge"
    # Go's net package sets TCP_NODELAY on every connection; without it the answer's body,
    # written after its headers, waits for the client's delayed ACK: 40 ms a request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read the records, not an access log on stderr."""

    def do_GET(self) -> None:
        if self.path == SEND_PATH:
            self._plain(HTTPStatus.METHOD_NOT_ALLOWED)
        elif self.path == DOWNLOAD_PATH:
            self._plain(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed")
        else:
            self._plain(HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:  # noqa: PLR0911 - one early answer per refusal, as the bridge's
        if self.path not in (SEND_PATH, DOWNLOAD_PATH):
            self._plain(HTTPStatus.NOT_FOUND)
            return
        fault, delay_s = self.bridge.current_fault()
        if fault is Fault.SLOW:
            time.sleep(delay_s)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._plain(HTTPStatus.BAD_REQUEST, "Invalid request format")
            return
        if self.path == DOWNLOAD_PATH:
            self._download(request)
            return
        recipient, text = request.get("recipient"), request.get("message")
        if not isinstance(recipient, str) or not recipient:
            self._plain(HTTPStatus.BAD_REQUEST, "Recipient is required")
            return
        if not isinstance(text, str) or not text:
            self._plain(HTTPStatus.BAD_REQUEST, "Message or media path is required")
            return
        if fault is Fault.REFUSE:
            self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                success=False,
                message="Error sending message: simulated refusal",
            )
            return
        if fault is Fault.NOT_CONNECTED:
            self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR, success=False, message="Not connected to WhatsApp"
            )
            return
        if fault is Fault.UNAVAILABLE:
            self._plain(HTTPStatus.SERVICE_UNAVAILABLE, "WhatsApp client is not connected")
            return
        self.bridge.post_message(recipient, text)
        if fault is Fault.DROP_AFTER_POST:
            # Posted, then the answer is lost: the caller cannot know the message went out.
            self.close_connection = True
            self.connection.close()
            return
        self._json(HTTPStatus.OK, success=True, message=f"Message sent to {recipient}")

    def _download(self, request: dict[str, object]) -> None:
        message_id, chat_jid = request.get("message_id"), request.get("chat_jid")
        if not (
            isinstance(message_id, str) and message_id and isinstance(chat_jid, str) and chat_jid
        ):
            self._plain(HTTPStatus.BAD_REQUEST, "Message ID and Chat JID are required")
            return
        try:
            media_type, filename, path = self.bridge.download(message_id, chat_jid)
        except MediaError as error:
            self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                success=False,
                message=f"Failed to download media: {error}",
            )
            return
        self._json(
            HTTPStatus.OK,
            success=True,
            message=f"Successfully downloaded {media_type} media",
            filename=filename,
            path=str(path),
        )

    def _json(self, status: HTTPStatus, *, success: bool, message: str, **extra: str) -> None:
        body = json.dumps({"success": success, "message": message, **extra}).encode()
        self._answer(status, body, "application/json")

    def _plain(self, status: HTTPStatus, text: str | None = None) -> None:
        # Go's http.Error: text/plain with a trailing newline.
        self._answer(status, f"{text or status.phrase}\n".encode(), "text/plain; charset=utf-8")

    def _answer(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
