"""The bridge API client against the simulated bridge (and a few canned HTTP answers): each
way a send can end maps to the outcome that tells the caller whether retrying is safe."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wa_monitor.adapters.bridge_api import BridgeApi
from wa_monitor.core.records import Delivery
from wa_monitor.devtools.bridge_api import Fault, SimulatedBridgeApi

VELO = "120363421664266245@g.us"
BOT = "27640412391"
FEEDBACK = "DR1234567\nNEEDS CORRECTION\n\nMissing items:\n• 1. House Photo"
# Short timeouts keep the fault tests fast; production uses the defaults (2 s / 7 s).
CONNECT_S, TOTAL_S = 0.5, 1.5


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[SimulatedBridgeApi]:
    with SimulatedBridgeApi(
        bridge_db=tmp_path / "messages.db", bot_number=BOT, record_file=tmp_path / "sent.jsonl"
    ) as api:
        yield api


@pytest.fixture
def client(bridge: SimulatedBridgeApi) -> Iterator[BridgeApi]:
    with BridgeApi(bridge.url, connect_timeout_s=CONNECT_S, total_timeout_s=TOTAL_S) as api:
        yield api


def bridge_rows(path: Path) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT chat_jid, sender, content, is_from_me FROM messages ORDER BY rowid"
        ).fetchall()


def test_a_send_is_posted_once_and_appears_in_messages_db_as_the_bots_own(
    bridge: SimulatedBridgeApi, client: BridgeApi, tmp_path: Path
) -> None:
    result = client.send(VELO, FEEDBACK)

    assert result.outcome is Delivery.SENT
    assert result.detail == f"Message sent to {VELO}"
    assert result.status == 200
    [sent] = bridge.sent()
    assert (sent.recipient, sent.text) == (VELO, FEEDBACK)
    assert bridge_rows(tmp_path / "messages.db") == [(VELO, BOT, FEEDBACK, 1)]
    [line] = (tmp_path / "sent.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["message"] == FEEDBACK


def test_a_refusal_posts_nothing_and_may_be_retried(
    bridge: SimulatedBridgeApi, client: BridgeApi, tmp_path: Path
) -> None:
    bridge.fault(Fault.REFUSE)

    result = client.send(VELO, FEEDBACK)

    assert result.outcome is Delivery.REFUSED
    assert result.outcome.retry_is_safe
    assert result.detail == "Error sending message: simulated refusal"
    assert result.status == 500
    assert bridge.sent() == ()
    assert bridge_rows(tmp_path / "messages.db") == []


@pytest.mark.parametrize(
    ("recipient", "text", "detail"),
    [("", FEEDBACK, "Recipient is required"), (VELO, "", "Message or media path is required")],
)
def test_a_request_the_bridge_rejects_is_refused_with_its_reason(
    bridge: SimulatedBridgeApi, client: BridgeApi, recipient: str, text: str, detail: str
) -> None:
    result = client.send(recipient, text)

    assert (result.outcome, result.status, result.detail) == (Delivery.REFUSED, 400, detail)
    assert bridge.sent() == ()


def test_a_bridge_that_is_down_is_reported_quickly_and_works_again_once_up(
    bridge: SimulatedBridgeApi, client: BridgeApi
) -> None:
    bridge.down()

    result = client.send(VELO, FEEDBACK)

    assert result.outcome is Delivery.DOWN
    assert result.outcome.retry_is_safe
    assert "not reachable" in result.detail
    assert result.elapsed_s < CONNECT_S + 0.5
    bridge.up()
    assert client.send(VELO, FEEDBACK).outcome is Delivery.SENT
    assert len(bridge.sent()) == 1


def test_a_slow_bridge_gives_unknown_in_time_and_may_still_post(
    bridge: SimulatedBridgeApi, client: BridgeApi
) -> None:
    bridge.fault(Fault.SLOW, delay_s=TOTAL_S + 1.0)

    started = time.monotonic()
    result = client.send(VELO, FEEDBACK)

    assert time.monotonic() - started < TOTAL_S + 0.3
    assert result.outcome is Delivery.UNKNOWN
    assert not result.outcome.retry_is_safe
    assert "may have been posted" in result.detail
    # Why UNKNOWN must never be retried blindly: the bridge posts it after the caller gave up.
    assert len(bridge.wait_for(1, timeout_s=TOTAL_S + 3)) == 1


def test_a_connection_dropped_after_posting_is_unknown_not_refused(
    bridge: SimulatedBridgeApi, client: BridgeApi
) -> None:
    bridge.fault(Fault.DROP_AFTER_POST)

    result = client.send(VELO, FEEDBACK)

    assert result.outcome is Delivery.UNKNOWN
    assert "connection lost after the request went out" in result.detail
    assert [m.text for m in bridge.sent()] == [FEEDBACK]


def test_a_slow_bridge_within_the_timeout_is_a_plain_success(
    bridge: SimulatedBridgeApi, client: BridgeApi
) -> None:
    bridge.fault(Fault.SLOW, delay_s=0.3)

    assert client.send(VELO, FEEDBACK).outcome is Delivery.SENT


def test_concurrent_sends_are_each_posted_exactly_once(
    bridge: SimulatedBridgeApi, client: BridgeApi
) -> None:
    texts = [f"DR{1234560 + i}\nAll items complete! ✅" for i in range(8)]
    results: list[Delivery] = []
    threads = [
        threading.Thread(target=lambda t=t: results.append(client.send(VELO, t).outcome))
        for t in texts
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == [Delivery.SENT] * len(texts)
    assert sorted(m.text for m in bridge.sent()) == sorted(texts)


def test_the_stand_in_queues_a_burst_of_connections_as_the_bridge_does(
    bridge: SimulatedBridgeApi,
) -> None:
    """Go's net/http listens with the kernel's backlog; the standard library's server with 5,
    so the sixth of a burst of connections (concurrent Sends on a loaded host) waited for the
    client's SYN retry and was reported DOWN. With its accept loop paused, the stand-in still
    completes 32 connections at once."""
    assert bridge._server is not None
    bridge._server.shutdown()  # accepts nothing more; the socket keeps listening
    host, port = bridge.url.removeprefix("http://").split(":")
    opened = []
    try:
        for _ in range(32):
            sock = socket.create_connection((host, int(port)), timeout=CONNECT_S)
            opened.append(sock)
    except TimeoutError:
        pass
    finally:
        for sock in opened:
            sock.close()
    assert len(opened) == 32


def test_nothing_listening_is_down(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is free again: nothing listens there.
    with BridgeApi(f"http://127.0.0.1:{port}", connect_timeout_s=CONNECT_S) as client:
        assert client.send(VELO, FEEDBACK).outcome is Delivery.DOWN


# -- answers the simulator never gives, as a proxy or a crashing bridge might -------------------


class Canned(BaseHTTPRequestHandler):
    status = 200
    body = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (503, b"WhatsApp client is not connected\n", Delivery.DOWN),
        (503, b'{"success": false, "message": "client offline"}', Delivery.DOWN),
        (500, b'{"success": false, "message": "Not connected to WhatsApp"}', Delivery.DOWN),
        (500, b'{"success": false, "message": "Error sending message: x"}', Delivery.REFUSED),
        (502, b"Bad Gateway", Delivery.UNKNOWN),
        (504, b"", Delivery.UNKNOWN),
        (500, b"panic: runtime error", Delivery.UNKNOWN),
        (200, b"<html>ok</html>", Delivery.UNKNOWN),
        (200, b'{"success": false, "message": "not on WhatsApp"}', Delivery.REFUSED),
        (404, b"404 page not found\n", Delivery.REFUSED),
    ],
)
def test_answers_that_are_not_the_bridges_usual_ones(
    status: int, body: bytes, outcome: Delivery
) -> None:
    handler = type("H", (Canned,), {"status": status, "body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with BridgeApi(url, connect_timeout_s=CONNECT_S, total_timeout_s=TOTAL_S) as client:
            result = client.send(VELO, FEEDBACK)
    finally:
        server.shutdown()
        server.server_close()

    assert (result.outcome, result.status) == (outcome, status)
