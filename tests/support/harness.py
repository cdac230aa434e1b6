"""What the fault tests share: the daemon as a real subprocess, a realistic bridge backlog, a TCP
proxy that can cut the database away, and snapshots of what the monitor wrote."""

from __future__ import annotations

import contextlib
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.env import GROUPS, OTHER
from wa_monitor.devtools.simulator import BridgeWriter, Post, message_id

SEED_VAR = "WA_MONITOR_TEST_SEED"


def seed_for(test: str) -> int:
    """The RNG seed of a randomised test: $WA_MONITOR_TEST_SEED, else a fresh one. Printed."""
    seed = int(os.environ.get(SEED_VAR) or random.SystemRandom().randrange(2**32))
    print(f"{test}: seed {seed} (rerun with {SEED_VAR}={seed})")
    return seed


# -- the daemon as a subprocess ----------------------------------------------------------------


class Daemon:
    """`python -m wa_monitor run --config ...` with the URL in its environment, stderr to a file."""

    def __init__(
        self,
        config: Path,
        url: str,
        *,
        once: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        stderr_path: Path | None = None,
    ) -> None:
        self.config = config
        self.stderr_path = stderr_path or config.parent / f"stderr-{uuid.uuid4().hex[:8]}.txt"
        command = [sys.executable, "-m", "wa_monitor", "run", "--config", str(config)]
        if once:
            command.append("--once")
        env = {**os.environ, **(env or {}), "WA_MONITOR_DATABASE_URL": url}
        env.pop("WA_MONITOR_TEST_DATABASE_URL", None)
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [*command, *args], env=env, stdout=subprocess.DEVNULL, stderr=err
            )
        self.started = time.monotonic()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def lines(self, text: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if text in line]

    def wait_for(self, text: str, *, timeout: float = 30.0, count: int = 1) -> None:
        """Wait until `text` is in `count` lines of stderr; fail with the output if not."""
        until = time.monotonic() + timeout
        while len(self.lines(text)) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.stderr}")
            if time.monotonic() > until:
                raise AssertionError(f"no {text!r} x{count} after {timeout}s:\n{self.stderr}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, float]:
        """Send `sig`; return the exit code and how long the process took to exit."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon ignored signal {sig}:\n{self.stderr}") from None
        return code, time.monotonic() - sent

    def wait(self, timeout: float = 120.0) -> int:
        return self.proc.wait(timeout)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def cli(
    *args: str, url: str | None, timeout: float = 120.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m wa_monitor ARGS` to the end; the URL (if any) only in its environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WA_MONITOR_")}
    env = {**base, **(env or {})}
    if url is not None:
        env["WA_MONITOR_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "wa_monitor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def waiting_on_locks(conn: psycopg.Connection[Any], application: str) -> int:
    """How many sessions of this test's database whose application_name is LIKE `application`
    wait for a lock another session holds."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s "
        "AND datname = current_database() AND wait_event_type = 'Lock'",
        (application,),
    ).fetchone()
    return int(row[0]) if row else 0


def wait_until(
    condition: Callable[[], bool], *, what: str, timeout: float = 30.0, log: Daemon | None = None
) -> None:
    """Poll `condition` until it holds; fail naming `what` (and the daemon's stderr) if not."""
    until = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > until:
            output = f":\n{log.stderr}" if log else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{output}")
        time.sleep(0.05)


def wait_for_progress(daemon: Daemon, conn: psycopg.Connection[Any], before: int) -> None:
    """Wait until the daemon has committed a batch past `before` (or has exited)."""
    wait_until(
        lambda: (position(conn) or 0) > before or daemon.proc.poll() is not None,
        timeout=30,
        what=f"a batch past rowid {before}",
        log=daemon,
    )


# The loop's one retry policy (monitor.retry_policy): 0.5 s doubling to 30 s, plus 0-1 s jitter.
FIRST_WAIT, MAX_WAIT, JITTER = 0.5, 30.0, 1.0
RETRY_LINE = "⏳ waiting to retry"
_RETRY = re.compile(r"attempt=(\d+) wait_s=([0-9.]+)")


def assert_backoff(lines: list[str]) -> list[float]:
    """Each retry line waits what the schedule says for its attempt: backoff, not a flood."""
    waits = []
    for line in lines:
        found = _RETRY.search(line)
        assert found, line
        attempt, wait = int(found[1]), float(found[2])
        low = min(FIRST_WAIT * 2 ** (attempt - 1), MAX_WAIT)
        assert low - 0.05 <= wait <= min(low + JITTER, MAX_WAIT) + 0.05, line
        waits.append(wait)
    return waits


# -- databases ---------------------------------------------------------------------------------


# What "the same result" means: every column but the generated id and the wall-clock stamps.
_REVIEWS = """
SELECT drop_number, review_date, project, user_name, submitted_by, whatsapp_message_date,
       last_submitted_at, completed, incomplete, resubmitted, feedback_sent, comment,
       completed_photos, outstanding_photos,
       step_01_house_photo, step_02_cable_from_pole, step_03_cable_entry_outside,
       step_04_cable_entry_inside, step_05_wall_for_installation,
       step_06_ont_back_after_install, step_07_power_meter_reading, step_08_ont_barcode,
       step_09_ups_serial, step_10_final_installation, step_11_green_lights,
       step_12_customer_signature
FROM {schema}.qa_photo_reviews ORDER BY drop_number, review_date
"""
_LEDGER = """
SELECT chat_jid, message_id, bridge_rowid, drops, sent_at
FROM {schema}.wa_monitor_ledger ORDER BY chat_jid, message_id
"""


@dataclass(frozen=True)
class Snapshot:
    reviews: list[tuple[Any, ...]]
    ledger: list[tuple[Any, ...]]
    cursor: int | None

    @property
    def resubmitted(self) -> int:
        return sum(1 for r in self.reviews if r[9])


def snapshot(url: str, schema: str = "public") -> Snapshot:
    with psycopg.connect(url) as conn:
        reviews = conn.execute(_REVIEWS.format(schema=schema)).fetchall()
        ledger = conn.execute(_LEDGER.format(schema=schema)).fetchall()
    return Snapshot(reviews=reviews, ledger=ledger, cursor=cursor_of(url, schema))


def reviewed(url: str, schema: str = "public") -> set[str]:
    """The drop numbers that have a review in `schema`."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT drop_number FROM {schema}.qa_photo_reviews").fetchall()
    return {r[0] for r in rows}


def cursor_of(url: str, schema: str = "public") -> int | None:
    """The saved bridge rowid, or None before the first batch (or before migration)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return position(conn, schema)


def position(conn: psycopg.Connection[Any], schema: str = "public") -> int | None:
    """cursor_of() on an open autocommit connection, for tight polling."""
    try:
        row = conn.execute(f"SELECT bridge_rowid FROM {schema}.wa_monitor_cursor").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else int(row[0])


def max_rowid(bridge: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{bridge}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0])
    finally:
        conn.close()


# -- a realistic backlog -----------------------------------------------------------------------

RESUBMIT_WORDS = ("done", "fixed", "updated", "completed", "uploaded", "finished", "Done ✅")
CHATTER = (
    "ok",
    "photos attached",
    "Morning team",
    "dr please check",
    "Drive safe",
    "DR12345 short",
    "see pic",
    "",
    None,
    "pole 12 done",
)


@dataclass(frozen=True)
class Backlog:
    messages: int  # rows in the bridge file
    drops: int  # distinct drops posted in watched groups
    redeliveries: int


def write_backlog(
    bridge: BridgeWriter, rng: random.Random, *, messages: int, chunk: int = 500
) -> Backlog:
    """`messages` rows as a busy bridge writes them: several groups, about 10% naming drops,
    repeats and resubmissions, re-deliveries (new rowid, same id), late history and a host
    whose zone switches from UTC to SAST mid-stream."""
    chats = [*GROUPS, OTHER, "27821110000@s.whatsapp.net"]
    agents = [f"2782{rng.randrange(10**7):07d}" for _ in range(15)]
    bridge.chats({f"{a}@s.whatsapp.net": f"Agent {i}" for i, a in enumerate(agents[:10])})
    pool = [f"DR{rng.randrange(10**6, 10**8)}" for _ in range(max(messages // 20, 10))]
    sent: list[Post] = []
    clock = datetime(2025, 11, 10, 6, 0, tzinfo=UTC)
    posts: list[Post] = []
    redelivered = 0
    drops: set[str] = set()
    rows = 0
    while rows < messages:
        clock += timedelta(seconds=rng.randint(1, 40))
        zone = timezone(timedelta(hours=2)) if rows > messages // 2 else UTC
        at = clock.astimezone(zone)
        if sent and rng.random() < 0.02:  # re-delivery: the same message, a new rowid
            posts.append(rng.choice(sent))
            redelivered += 1
        else:
            chat = rng.choice(chats)
            text: str | None  # None: a message without text (a photo alone)
            if rng.random() < 0.1:
                drop = rng.choice(pool)
                spelled = rng.choice([drop, drop.lower(), "Dr " + drop[2:], "DR " + drop[2:]])
                extra = rng.choice(["", "", " " + rng.choice(RESUBMIT_WORDS), " photos"])
                text = spelled + extra
                if rng.random() < 0.1:
                    text += " and " + rng.choice(pool)
                if chat in GROUPS:
                    drops.update(d for d in pool if d in text.upper().replace(" ", ""))
            else:
                text = rng.choice(CHATTER)
            if rng.random() < 0.03:  # late history: an hour to a day before the stream
                at -= timedelta(minutes=rng.randint(60, 1440))
            stamp = at.isoformat(sep=" ", timespec="seconds")
            if rng.random() < 0.05:
                stamp = at.isoformat(sep=" ", timespec="microseconds")
            post = Post(
                id=message_id(rng),
                chat_jid=chat,
                sender=rng.choice(agents),
                content=text,
                timestamp=stamp,
            )
            sent.append(post)
            posts.append(post)
            rows += 1
        if len(posts) >= chunk:
            bridge.post_many(posts)
            posts = []
    bridge.post_many(posts)
    return Backlog(messages=rows, drops=len(drops), redeliveries=redelivered)


# -- a TCP proxy that can cut the database away ------------------------------------------------


def server_address(url: str) -> tuple[int, Any]:
    """(family, address) of the server a libpq URL names: a unix socket or host:port."""
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "/tmp")
    port = int(params.get("port") or 5432)
    if host.startswith("/"):
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host, port)


class CutProxy:
    """127.0.0.1:<free port> → the server. `cut()` drops every link and refuses new ones
    (the server looks gone); `restore()` lets them through again. `freeze()` keeps every link
    open but stops passing bytes (a server that hangs without the link ever looking dead);
    `thaw()` lets the held bytes through."""

    def __init__(self, server_url: str) -> None:
        self._family, self._target = server_address(server_url)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._links: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.refused = 0
        # When set, every new link is cut as the client sends its first query after the server
        # said it is ready: the connection is made, then lost before the session is set up.
        # Needs sslmode=disable and gssencmode=disable, so the stream is plain protocol.
        self.cut_first_query = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        """`database_url` pointed at the proxy."""
        return make_conninfo(database_url, host="127.0.0.1", port=str(self.port))

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            for sock in self._links:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._links.clear()

    def restore(self) -> None:
        self._up.set()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.socket(self._family, socket.SOCK_STREAM)
                upstream.connect(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._links.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Forward between client `a` and server `b` until either side or cut() ends it."""
        peers = {a: b, b: a}
        server_ready = _ReadyWatch()
        try:
            while self._up.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is b:
                        server_ready.feed(data)
                    elif server_ready.seen and self.cut_first_query.is_set():
                        self.refused += 1
                        return
                    self._flowing.wait()
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._links.difference_update((a, b))


class _ReadyWatch:
    """Reads the server's side of a plain protocol stream until its first ReadyForQuery."""

    def __init__(self) -> None:
        self.seen = False
        self._buffer = b""

    def feed(self, data: bytes) -> None:
        if self.seen:
            return
        self._buffer += data
        while len(self._buffer) >= 5:
            kind, length = self._buffer[:1], int.from_bytes(self._buffer[1:5], "big")
            if len(self._buffer) < 1 + length:
                return
            self._buffer = self._buffer[1 + length :]
            if kind == b"Z":
                self.seen = True
                return


# -- the daemon as systemd runs it: a block, a notify socket ---------------------------------

# Generous: these bound how long a broken daemon can hang a test, they are not assertions.
PATIENCE_SECONDS = 30.0


@contextmanager
def daemon(config: Path, url: str, stderr: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """The Daemon above as a block: SIGTERM when it ends, and the process must then exit."""
    with Daemon(config, url, env=env, stderr_path=stderr) as running:
        try:
            yield running.proc
        finally:
            if running.proc.poll() is None:
                running.stop(timeout=PATIENCE_SECONDS)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd stops a service; the exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(PATIENCE_SECONDS)


class NotifySocket:
    """What systemd does for Type=notify: a datagram socket named in $NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        self.address = address  # as $NOTIFY_SOCKET says it: a path, or @name (abstract)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(bind_to)
        self._sock.settimeout(0.2)
        self.messages: list[str] = []
        self.arrived: list[float] = []  # monotonic time of each message

    def close(self) -> None:
        self._sock.close()

    def expect(self, predicate: Callable[[str], bool], what: str) -> str:
        """The first message (already received or still to come) that satisfies `predicate`."""
        deadline = time.monotonic() + PATIENCE_SECONDS
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in {self.messages[-20:]}")
            self.drain()

    def drain(self) -> None:
        try:
            while True:
                self.messages.append(self._sock.recv(4096).decode("utf-8"))
                self.arrived.append(time.monotonic())
                self._sock.settimeout(0)
        except (TimeoutError, BlockingIOError):
            pass
        finally:
            self._sock.settimeout(0.2)

    def falls_silent(self, message: str, seconds: float) -> None:
        """Return once `message` has not arrived for `seconds` (it may never stop: then fail)."""
        since = time.monotonic()
        deadline = since + PATIENCE_SECONDS
        while True:
            self.drain()
            last = max(
                (at for m, at in zip(self.messages, self.arrived, strict=True) if m == message),
                default=since,
            )
            if time.monotonic() - max(last, since) >= seconds:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{message} never stopped for {seconds} s")
            time.sleep(0.05)
