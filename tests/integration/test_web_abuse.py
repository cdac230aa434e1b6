"""What one viewer, or anyone who can reach the port, must not be able to do to the dashboard:
starve the others with exports, make it parse large bodies, hold its connections with slow
requests, or guess passwords faster than the throttle allows."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
from starlette.testclient import TestClient

from tests.support.web import (
    SECRET,
    add_user,
    csrf_of,
    dashboard,
    environment,
    free_port,
    make_app,
    served,
)
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role, UserBook
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.services import accounts
from wa_monitor.settings import Settings
from wa_monitor.web.app import create_app

pytestmark = pytest.mark.migrated("prod")


COOKIE = "wa_monitor_prod_session"
VIEWERS = ("anele", "bongani", "carla", "dumisani")


@pytest.fixture
def settings(tmp_path: Path, bridge: BridgeWriter, database_url: str) -> Settings:
    return environment(tmp_path, "prod", bridge=bridge, url=database_url)


def _seed_many(db: Any, n: int) -> None:
    """n reviews, enough that an export's CSV is megabytes and outlasts the socket buffers."""
    db.execute(
        "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, user_name, "
        "submitted_by, whatsapp_message_date, comment) "
        "SELECT 'DR' || (1000000 + g), date '2025-11-11', 'Lawley', 'Thandi Agent', "
        "'27821234567', timestamptz '2025-11-11 08:00+02' + g * interval '1 second', "
        "repeat('a long comment ', 10) FROM generate_series(1, %s) AS g",
        (n,),
    )


def _login(base: str, username: str) -> str:
    """The session cookie of `username`, logged in through the real server."""
    with httpx2.Client(base_url=base) as client:
        page = client.get("/wa-monitor/login")
        form = {"csrf": csrf_of(page.text), "username": username, "password": PASSWORD}
        assert client.post("/wa-monitor/login", data=form).status_code in {200, 303}
        return str(client.cookies[COOKIE])


def _start_export(base: str, cookie: str) -> tuple[socket.socket, int, bytes]:
    """An export request on a socket that will read its status line and nothing more."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(20)
    sock.connect((host, int(port)))
    request = (
        f"GET /wa-monitor/reviews?format=csv HTTP/1.1\r\nHost: {host}\r\n"
        f"Cookie: {COOKIE}={cookie}\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = sock.recv(512)
    status = int(head.split(b" ", 2)[1])
    return sock, status, head


def _whole(sock: socket.socket, head: bytes) -> bytes:
    """The rest of a short response whose start was read already."""
    while b"\r\n\r\n" not in head:
        head += sock.recv(512)
    fields, _, body = head.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in fields.split(b"\r\n")
        if line.startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(512)
    return body


def _exports_in_flight(db: Any) -> int:
    """Backends of the dashboard holding a transaction open in this test's database."""
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name LIKE 'wa-monitor-web%%' AND xact_start IS NOT NULL "
        "AND pid <> pg_backend_pid()"
    ).fetchone()
    return int(row[0])


PASSWORD = "correct horse battery"


def test_exports_are_bounded_and_never_starve_the_pages_or_healthz(
    settings: Settings, database_url: str, db: Any
) -> None:
    for name in VIEWERS:
        add_user(database_url, "public", name, Role.VIEWER)
    _seed_many(db, 12_000)
    with served(make_app(settings, database_url)) as base:
        cookies = {name: _login(base, name) for name in VIEWERS}
        # Everyone starts two exports and reads none of them: more than the bound in all.
        started: list[tuple[str, socket.socket, int, bytes]] = []
        try:
            for name in VIEWERS:
                for _ in range(2):
                    started.append((name, *_start_export(base, cookies[name])))
            third = _start_export(base, cookies["anele"])  # a third of one person's
            started.append(("anele", *third))
            statuses = [(name, status) for name, _, status, _ in started]
            assert statuses == [
                ("anele", 200),
                ("anele", 200),
                ("bongani", 200),
                ("bongani", 200),
                ("carla", 429),
                ("carla", 429),
                ("dumisani", 429),
                ("dumisani", 429),
                ("anele", 429),
            ]
            assert b"4 exports are running already" in _whole(started[4][1], started[4][3])
            assert b"at most 2 per person" in _whole(third[0], third[2])
            assert _exports_in_flight(db) == 4  # the bound in all

            # The pages and /healthz answer at once all the same.
            with httpx2.Client(base_url=base, timeout=5) as client:
                began = time.monotonic()
                assert client.get("/healthz").json()["ok"] is True
                client.cookies.set(COOKIE, cookies["carla"])
                assert client.get("/wa-monitor/reviews").status_code == 200
                assert time.monotonic() - began < 5  # before: never (the pool was taken)
        finally:
            for _, sock, _, _ in started:
                sock.close()

        # The clients went away: their exports end and give back their connections.
        deadline = time.monotonic() + 15
        while _exports_in_flight(db):
            assert time.monotonic() < deadline, "an export outlived its client"
            time.sleep(0.1)
        with httpx2.Client(base_url=base, timeout=30) as client:
            client.cookies.set(COOKIE, cookies["dumisani"])
            whole = client.get("/wa-monitor/reviews", params={"format": "csv"})
        assert whole.status_code == 200
        assert len(whole.text.splitlines()) == 12_001  # the header and every review


def test_healthz_answers_while_the_pages_hold_every_connection_and_thread(
    settings: Settings, database_url: str
) -> None:
    add_user(database_url, "public", "anele", Role.VIEWER)
    app = make_app(settings, database_url)
    with served(app) as base:
        cookie = _login(base, "anele")
        pool = app.state.site.pool
        held = [pool.getconn(timeout=10) for _ in range(pool.max_size)]  # as slow pages would
        waiting: list[int] = []

        def page() -> None:  # waits in the threadpool for a pooled connection
            with httpx2.Client(base_url=base, timeout=30) as client:
                client.cookies.set(COOKIE, cookie)
                waiting.append(client.get("/wa-monitor/reviews").status_code)

        # More pages than the threadpool has workers (40): every one of them waits.
        with ThreadPoolExecutor(max_workers=48) as pages:
            try:
                for _ in range(48):
                    pages.submit(page)
                time.sleep(1.0)  # let them reach the pool
                assert not waiting, "a page got a connection the test holds"
                with httpx2.Client(base_url=base, timeout=10) as client:
                    health = client.get("/healthz")
                # Before: 503 "unreachable" after the pool's 2 s (or no answer at all while
                # the threadpool was full), and the reverse proxy took the dashboard out.
                assert (health.status_code, health.json()["ok"]) == (200, True)
            finally:
                for conn in held:
                    pool.putconn(conn)
        assert set(waiting) <= {200, 503}
        with httpx2.Client(base_url=base, timeout=10) as client:
            client.cookies.set(COOKIE, cookie)
            assert client.get("/wa-monitor/reviews").status_code == 200


def _export_connections(db: Any) -> int:
    """The dashboard's export connections open in this test's database, idle or not."""
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'wa-monitor-web-prod-export'"
    ).fetchone()
    return int(row[0])


def test_an_export_whose_client_stops_reading_is_ended_and_gives_back_its_slot(
    settings: Settings, database_url: str, db: Any
) -> None:
    add_user(database_url, "public", "anele", Role.VIEWER)
    _seed_many(db, 12_000)
    stall_s = 1.0  # 60 s in service: the same code path, a shorter wait
    app = create_app(
        settings, database_url=database_url, secret=SECRET, export_stall_seconds=stall_s
    )
    with served(app) as base:
        cookie = _login(base, "anele")
        stalled = [_start_export(base, cookie) for _ in range(2)]  # read no further
        try:
            assert [status for _, status, _ in stalled] == [200, 200]
            refused = _start_export(base, cookie)
            refused[0].close()
            assert refused[1] == 429  # both of the person's slots are taken
            assert _export_connections(db) == 2
            # The clients stay connected and read nothing: each export ends after its stall
            # time, its connection closes and its slot is free again. Before: held for 60 s.
            deadline = time.monotonic() + 15
            while _export_connections(db) or app.state.exports.slots.running:
                assert time.monotonic() < deadline, "a stalled export kept its connection"
                time.sleep(0.1)
            for sock, _, _ in stalled:  # the server closed them (after what it had sent)
                sock.settimeout(10)
                while sock.recv(65536):
                    pass
        finally:
            for sock, _, _ in stalled:
                sock.close()
        with httpx2.Client(base_url=base, timeout=30) as client:
            client.cookies.set(COOKIE, cookie)
            whole = client.get("/wa-monitor/reviews", params={"format": "csv"})
        assert whole.status_code == 200
        assert len(whole.text.splitlines()) == 12_001


@pytest.fixture
def client(settings: Settings, database_url: str) -> Iterator[Any]:
    add_user(database_url, "public", "anele", Role.REVIEWER)
    with dashboard(settings, database_url) as d:
        yield d


def test_a_large_body_is_refused_before_it_is_parsed(client: Any) -> None:
    page = client.client.get("/wa-monitor/login")
    csrf = csrf_of(page.text)
    megabyte = {"csrf": csrf, "username": "anele", "password": "x" * 1_000_000}
    declared = client.client.post("/wa-monitor/login", data=megabyte)
    assert declared.status_code == 413
    assert "larger than the 4 KB" in declared.text

    def trickle() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield f"csrf={csrf}&username=anele&password=".encode()
        for _ in range(100):
            yield b"x" * 10_000

    chunked = client.client.post(
        "/wa-monitor/login",
        content=trickle(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert chunked.status_code == 413

    multipart = client.client.post(
        "/wa-monitor/login",
        data={"csrf": csrf, "username": "anele", "password": PASSWORD},
        files={"upload": ("big.bin", b"\0" * 1_000_000)},
    )
    assert multipart.status_code == 415
    small_multipart = client.client.post(
        "/wa-monitor/login",
        data={"csrf": csrf, "username": "anele", "password": PASSWORD},
        files={"upload": ("tiny.txt", b"hi")},
    )
    assert small_multipart.status_code == 415  # no multipart where none is expected

    # The same form at its ordinary size still logs in.
    assert client.login("anele").status_code == 303
    # Every other form has the default limit, 16 KB.
    assert client.client.post("/wa-monitor/logout", data={"csrf": "x" * 20_000}).status_code == 413


# -- the login throttle -------------------------------------------------------------------------


def test_concurrent_guesses_get_no_more_password_checks_than_the_limit(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(database_url, "public", "anele", Role.REVIEWER)
    prod = Database(database_url, "public", "prod")
    checks: list[str] = []
    lock = threading.Lock()
    real = accounts._matches

    def counted(stored: str, password: str) -> bool:
        with lock:
            checks.append(password)
        return real(stored, password)

    monkeypatch.setattr(accounts, "_matches", counted)
    start = threading.Barrier(40)

    def guess(n: int) -> accounts.LoginOutcome:
        with psycopg.connect(database_url, autocommit=True) as conn:
            start.wait()
            return accounts.authenticate(
                UserBook(conn, prod), "anele", f"guess {n}", "203.0.113.7"
            ).outcome

    with ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(guess, range(40)))
    assert len(checks) <= accounts.MAX_FAILURES
    assert outcomes.count(accounts.LoginOutcome.WRONG) == accounts.MAX_FAILURES - 1
    assert outcomes.count(accounts.LoginOutcome.THROTTLED) == 40 - (accounts.MAX_FAILURES - 1)
    # The right password now waits for the window too, unchecked, from that address ...
    with psycopg.connect(database_url, autocommit=True) as conn:
        late = accounts.authenticate(UserBook(conn, prod), "anele", PASSWORD, "203.0.113.7")
        assert late.outcome is accounts.LoginOutcome.THROTTLED
        assert len(checks) <= accounts.MAX_FAILURES
        # ... and not from anywhere else.
        elsewhere = accounts.authenticate(UserBook(conn, prod), "anele", PASSWORD, "198.51.100.9")
        assert elsewhere.outcome is accounts.LoginOutcome.OK


@pytest.fixture
def behind_proxy(settings: Settings, database_url: str) -> Iterator[TestClient]:
    """A client whose requests come from the trusted local proxy, X-Forwarded-For and all."""
    add_user(database_url, "public", "anele", Role.REVIEWER)
    app = make_app(settings, database_url)
    with TestClient(app, base_url="http://testserver", client=("127.0.0.1", 40000)) as client:
        yield client


def _login_from(client: TestClient, address: str, username: str, password: str) -> int:
    client.cookies.clear()
    page = client.get("/wa-monitor/login", headers={"x-forwarded-for": address})
    form = {"csrf": csrf_of(page.text), "username": username, "password": password}
    response = client.post(
        "/wa-monitor/login",
        data=form,
        headers={"x-forwarded-for": address},
        follow_redirects=False,
    )
    return response.status_code


def test_the_addresses_of_one_ipv6_64_count_as_one(behind_proxy: TestClient) -> None:
    statuses = [
        _login_from(behind_proxy, f"2001:db8:7:1::{i + 1:x}", "anele", "a wrong guess")
        for i in range(20)
    ]
    assert statuses[: accounts.MAX_FAILURES - 1] == [401] * (accounts.MAX_FAILURES - 1)
    assert set(statuses[accounts.MAX_FAILURES - 1 :]) == {429}
    assert _login_from(behind_proxy, "2001:db8:7:1:ffff::1", "anele", PASSWORD) == 429
    # The next /64 is someone else: the user logs in from there.
    assert _login_from(behind_proxy, "2001:db8:7:2::1", "anele", PASSWORD) == 303


def test_a_locked_address_does_not_lock_a_user_out_from_another(
    behind_proxy: TestClient, db: Any
) -> None:
    attacker = "203.0.113.66"
    for name in ("root", "admin", "anele", "qa", "ops", "test"):
        for _ in range(accounts.MAX_FAILURES):
            _login_from(behind_proxy, attacker, name, "password123")
    # Every username is refused from the attacker's address now, the right password included.
    assert _login_from(behind_proxy, attacker, "anele", PASSWORD) == 429
    assert _login_from(behind_proxy, attacker, "someone-new", PASSWORD) == 429
    # The user, from their own address, is not.
    assert _login_from(behind_proxy, "198.51.100.23", "anele", PASSWORD) == 303
    # An address written by the client itself, not by the trusted proxy, is not believed.
    with TestClient(behind_proxy.app, base_url="http://testserver") as direct:
        assert _login_from(direct, "198.51.100.24", "anele", PASSWORD) == 303
    blocks = {r[0] for r in db.execute("SELECT client FROM public.wa_monitor_login_throttle")}
    assert "testclient" in blocks
    assert "198.51.100.24" not in blocks


# -- slow clients and a process out of file descriptors ----------------------------------------

OPEN_FILES = 64  # the service's own files (Python, the pool, the listener) take about 30
TRICKLERS = 150
STORM_LOG_BYTES = 40_000
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
SLOW_BODY = (
    b"POST /wa-monitor/login HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nusername="
)


def test_slow_clients_cannot_hold_the_server_even_out_of_file_descriptors(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    port = free_port()
    extra = f"[web]\nport = {port}\nrequest_seconds = 2"
    environment(tmp_path, "prod", bridge=bridge, url=database_url, extra=extra)
    env = os.environ | {
        "WA_MONITOR_DATABASE_URL": database_url,
        "WA_MONITOR_WEB_SECRET": SECRET,
        "WA_MONITOR_CONFIG_DIR": str(tmp_path),
    }

    def few_files() -> None:  # in the child, before exec: as a unit's LimitNOFILE would
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))

    log = tmp_path / "web.log"
    with log.open("wb") as output:
        service = subprocess.Popen(
            [sys.executable, "-m", "wa_monitor", "web", "--env", "prod"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=few_files,  # noqa: PLW1509  no threads in the test process need it safe
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, service, log)
        # Far more connections than the process has files for, each sending its headers a byte
        # at a time and never finishing them: the kernel queues what the server cannot accept.
        # Every other one sends its headers whole and then its body a byte at a time.
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(TRICKLERS)]
        for n, sock in enumerate(slow):
            sock.setblocking(False)
            sock.send(SLOW_BODY if n % 2 else SLOW_HEAD)
        closed_by_server = 0
        patience = time.monotonic() + 60
        while slow:
            assert time.monotonic() < patience, f"{len(slow)} slow requests still held"
            for sock in list(slow):
                if _server_closed(sock):
                    closed_by_server += 1
                    slow.remove(sock)
                    sock.close()
            time.sleep(0.2)
        assert closed_by_server == TRICKLERS
        # Their files are back: the service answers again.
        assert httpx2.get(f"{base}/healthz", timeout=10).json()["ok"] is True
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "socket.accept() out of system resource" in text  # the storm did happen
    assert log.stat().st_size < STORM_LOG_BYTES, text[-3000:]
    assert "more like it are held back" in text


def _wait_healthy(base: str, service: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx2.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        assert service.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        assert time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.2)


def _server_closed(sock: socket.socket) -> bool:
    """Trickle one more byte; True once the server has answered (408) or closed."""
    try:
        if sock.recv(4096) is not None:
            return True  # b"" (closed) or the 408
    except BlockingIOError:
        pass
    except OSError:
        return True
    try:
        sock.send(b"x")
    except BlockingIOError:
        pass
    except OSError:
        return True
    return False


def test_logins_from_many_addresses_check_a_few_passwords_at_a_time(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(database_url, "public", "anele", Role.REVIEWER)
    real = accounts._hasher
    at_once, most = 0, 0
    lock = threading.Lock()

    class Watched:
        """The real hasher, watched for how many checks run at once (64 MiB each)."""

        def verify(self, stored: str, password: str) -> bool:
            nonlocal at_once, most
            with lock:
                at_once += 1
                most = max(most, at_once)
            try:
                return real.verify(stored, password)
            finally:
                with lock:
                    at_once -= 1

    monkeypatch.setattr(accounts, "_hasher", Watched())
    start = threading.Barrier(16)

    def guess(n: int) -> accounts.LoginOutcome:
        with psycopg.connect(database_url, autocommit=True) as conn:
            start.wait()
            address = f"198.51.100.{n + 1}"  # a spray: every attempt from its own address
            prod = Database(database_url, "public", "prod")
            return accounts.authenticate(
                UserBook(conn, prod), "anele", f"guess {n}", address
            ).outcome

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(guess, range(16)))
    assert outcomes == [accounts.LoginOutcome.WRONG] * 16  # each was checked
    assert 1 < most <= 4  # accounts.MAX_CONCURRENT_CHECKS
