"""`python -m benchmarks.bench`: the benchmark, with its baselines measured in the same run.

It builds its own bridge files in the bridge's exact schema, runs the real daemon
(`wa-monitor run`) as a separate process against a real PostgreSQL (embedded, or the server
`--database-url` / $WA_MONITOR_BENCH_DATABASE_URL names: a maintenance URL, the benchmark
creates and drops its own databases), and prints one table. Nothing here is used by the daemon.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import functools
import itertools
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

import wa_monitor
from wa_monitor.adapters.bridge import _PHOTO_ROWS, _READ
from wa_monitor.core.drops import find_drops, says_resubmitted
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.simulator import (
    BRIDGE_DDL,
    BridgeWriter,
    Post,
    bridge_timestamp,
    media_filename,
)
from wa_monitor.settings import DATABASE_URL_VAR

SERVER_VAR = "WA_MONITOR_BENCH_DATABASE_URL"
SAST = timezone(timedelta(hours=2))
GROUPS = [f"1203634{i:011d}@g.us" for i in range(50)]
WATCHED = {jid: f"Project {i:02d}" for i, jid in enumerate(GROUPS[:40])}  # 10 groups unwatched
AGENTS = [f"2764{i:07d}" for i in range(400)]
CHATTER = [
    "Morning team",
    "Who has the ladder?",
    "Pole 23 is leaning, logged it",
    "On site now, address confirmed",
    "ONT not powering on, checking the UPS",
    "Customer not home, will return at 2",
    "Need more drop cable at the depot",
    "Thanks!",
    "Driving to the next site",
    "Rain stopped, continuing",
    "Drill bit broke, fetching another",
    "ok",
    "Hundred metres of cable left",
    "Who is on standby tonight?",
]
DROP_TEXT = [
    "{d}",
    "{d} all 12 photos",
    "{lower} photos attached",
    "Dr {digits} installed at 12 Jacaranda St",
    "DR {digits} done",
    "{d} complete, customer happy",
]
RESUBMIT_TEXT = ["{d} fixed", "{d} photos updated", "{d} done, redid the ONT photo", "{d}"]
LATENCY_DROP_BASE = 90_000_000  # DR9xxxxxxx: never in the backlog


# -- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BridgeFile:
    path: Path
    messages: int
    drop_messages: int


def build_bridge(path: Path, n: int, *, seed: int = 1) -> BridgeFile:
    """A messages.db with `n` messages over a year across 50 groups, ~10% naming drops.

    Rows are written in one transaction with the bridge's own statement (INSERT OR REPLACE);
    one transaction per message, as the bridge does it live, would only slow the set-up.
    """
    rng = random.Random(seed)  # noqa: S311 - repeatable data, not security
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(BRIDGE_DDL)
    conn.execute("PRAGMA synchronous = OFF")
    start = datetime(2025, 1, 1, 7, tzinfo=SAST)
    step = 365 * 86400 / max(n, 1)
    recent: dict[str, deque[str]] = {jid: deque(maxlen=300) for jid in GROUPS}
    next_drop = 1_000_000
    drop_messages = 0

    def rows() -> Iterator[tuple[object, ...]]:
        nonlocal next_drop, drop_messages
        for i in range(n):
            jid = GROUPS[int(rng.paretovariate(1.2)) % len(GROUPS)]  # a few busy groups
            sender = rng.choice(AGENTS)
            at = start + timedelta(seconds=i * step + rng.random() * step)
            roll = rng.random()
            content: str | None
            if roll < 0.10:
                drop_messages += 1
                if recent[jid] and rng.random() < 0.3:  # the same drop again: repeat or resubmit
                    drop = rng.choice(recent[jid])
                    content = rng.choice(RESUBMIT_TEXT).format(d=drop)
                else:
                    next_drop += rng.randint(1, 3)
                    drop = f"DR{next_drop}"
                    recent[jid].append(drop)
                    content = rng.choice(DROP_TEXT).format(
                        d=drop, lower=drop.lower(), digits=drop[2:]
                    )
                    if rng.random() < 0.03:  # two drops in one message
                        next_drop += 1
                        content += f" and DR{next_drop}"
                        recent[jid].append(f"DR{next_drop}")
            elif roll < 0.25:
                # A photo without a caption, as the bridge stores it: an image row with the
                # file's description (photo association ties it to its sender's drop).
                mid = f"{rng.getrandbits(128):032X}"[: rng.randint(20, 32)]
                yield (
                    mid, jid, sender, None, bridge_timestamp(at), False, "image",
                    media_filename("image", at), rng.randbytes(32), rng.randint(50_000, 400_000),
                )  # fmt: skip
                continue
            else:
                content = rng.choice(CHATTER)
            if rng.random() < 0.01:
                sender += "@s.whatsapp.net"  # history sync stores a full JID
            mid = f"{rng.getrandbits(128):032X}"[: rng.randint(20, 32)]
            yield (mid, jid, sender, content, bridge_timestamp(at), False, None, "", None, 0)

    conn.execute("BEGIN")
    conn.executemany(
        "INSERT OR REPLACE INTO chats (jid, name) VALUES (?, ?)",
        [(jid, WATCHED.get(jid, "Other group")) for jid in GROUPS]
        + [(f"{a}@s.whatsapp.net", f"Agent {a[-3:]}") for a in AGENTS[:320]],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO messages (id, chat_jid, sender, content, timestamp, is_from_me, "
        "media_type, filename, url, media_key, file_sha256, file_enc_sha256, file_length) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', NULL, ?, NULL, ?)",
        rows(),
    )
    conn.execute("COMMIT")
    conn.close()
    return BridgeFile(path=path, messages=n, drop_messages=drop_messages)


def write_config(
    folder: Path,
    bridge: Path,
    *,
    poll: float = 5.0,
    validate: int = 0,
    production: bool = False,
    shipped: bool = True,
    photos: bool = True,
    name: str = "prod.toml",
    bridges: dict[str, Path] | None = None,
    api_url: str = "http://127.0.0.1:9",
    extra: Sequence[str] = (),
    email: bool = True,
) -> Path:
    """A prod config watching the 40 project groups; default batch size and poll.

    `shipped`: the settings production ships (replies on, `[alerts]` configured, photos on —
    their default — and the heartbeat, always on); `photos=False` turns the photos off. With
    `validate` = k, the first k projects check their drops and an invalid one is flagged and
    answered. `production` is everything the production daemon runs switched on, validation
    of every project included (so that the outbox sender thread runs). `bridges` (name → file)
    lists several bridges in place of `bridge`. `api_url`: the bridge's API (by default a port
    nothing listens on); `extra`: more top-level settings; `email=False` leaves the alerts'
    e-mail channel out."""
    if production:
        validate, shipped = validate or len(WATCHED), True
    lines = [
        'environment = "prod"',
        'schema = "public"',
        'log_prefix = ""',
        f'log_file = "{folder / "wa-monitor.log"}"',
        *([] if bridges else [f'bridge_db = "{bridge}"']),
        f"poll_interval_seconds = {poll}",
        f"photos = {str(photos).lower()}",
        *extra,
    ]
    if validate or shipped:
        # The most work per invalid drop: recorded, a flagged review, and a reply in the outbox.
        lines += ['invalid_action = "flag"', "replies = true", 'bot_senders = ["27000000001"]']
    if shipped:
        # Nothing listens on these: an alert that fires fails fast, as a real one would not.
        lines += [] if bridges else [f'bridge_api_url = "{api_url}"']
        lines += ["[alerts]"]
        lines += ['whatsapp_recipient = "120363400000000099@g.us"']
        lines += ['email_to = ["ops@example.com"]', "smtp_port = 9"] if email else []
    for name_, path_ in (bridges or {}).items():
        lines += ["[[bridges]]", f'name = "{name_}"', f'db = "{path_}"']
        lines += ['api_url = "http://127.0.0.1:9"'] if shipped else []
    for i, (jid, project) in enumerate(WATCHED.items()):
        lines += ["[[projects]]", f'name = "{project}"', f'group_jid = "{jid}"']
        if i < validate:
            lines.append("validate = true")
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the database --------------------------------------------------------------------------------


@contextmanager
def server(url: str | None, workdir: Path) -> Iterator[str]:
    """The maintenance URL of the server to use: the one given, or an embedded one."""
    if url:
        yield url
        return
    from wa_monitor.devtools.embedded import embedded_postgres  # noqa: PLC0415 - only when needed

    with embedded_postgres(workdir / "pgdata") as embedded:
        yield embedded


@contextmanager
def fresh_database(maintenance: str) -> Iterator[str]:
    name = f"wa_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(maintenance, dbname=name)
    finally:
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def cli(args: Sequence[str], url: str) -> None:
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "wa_monitor", *args],
        env={**os.environ, DATABASE_URL_VAR: url},
        check=True,
        capture_output=True,
    )


# -- the daemon as a separate process ------------------------------------------------------------


@dataclass
class Daemon:
    """`wa-monitor run` in its own process; peak RSS and CPU come from the kernel."""

    config: Path
    url: str
    once: bool = False
    bridge: str | None = None  # run --bridge NAME (a config of several bridges)
    proc: subprocess.Popen[bytes] = field(init=False)
    exit_code: int | None = None
    max_rss_kb: int = 0
    cpu_used: float = 0.0  # user + system seconds, known once it has exited

    def __post_init__(self) -> None:
        RUNNING.append(self)
        args = ["run", "--config", str(self.config)] + (["--once"] if self.once else [])
        args += ["--bridge", self.bridge] if self.bridge else []
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "wa_monitor", *args],
            env={**os.environ, DATABASE_URL_VAR: self.url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # the same lines go to the config's log file
        )

    def cpu_seconds(self) -> float:
        """CPU time of all the process's threads so far, in ns resolution (schedstat)."""
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def thread_cpu(self) -> dict[str, tuple[str, float]]:
        """Each thread's name and CPU seconds so far (schedstat), by thread id."""
        found = {}
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                name = (task / "comm").read_text().strip()
                found[task.name] = (name, int((task / "schedstat").read_text().split()[0]) / 1e9)
        return found

    def wait(self) -> int:
        if self.proc.returncode is not None:  # already reaped (poll() saw it exit): no rusage
            self.exit_code = self.proc.returncode
            return self.exit_code
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.exit_code = self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.max_rss_kb = usage.ru_maxrss
        self.cpu_used = usage.ru_utime + usage.ru_stime
        return self.exit_code

    def stop(self) -> float:
        """SIGTERM, then wait; return how long it took to exit."""
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        self.wait()
        return time.perf_counter() - started


def log_lines(config: Path) -> list[str]:
    return (config.parent / "wa-monitor.log").read_text("utf-8").splitlines()


def stopped_figure(config: Path, key: str) -> float | None:
    """A figure the daemon logs in its `stopped` line (`key=value`), from the last run."""
    pattern = re.compile(rf"\b{re.escape(key)}=([0-9.]+)")
    found = [m[1] for line in log_lines(config) if (m := pattern.search(line)) is not None]
    return float(found[-1]) if found else None


def peak_rss_mb(config: Path, fallback_kb: int) -> float:
    """The daemon's own peak RSS; else wait4's ru_maxrss (which also counts this benchmark's
    memory at the moment it started the daemon)."""
    logged = stopped_figure(config, "peak_rss_mb")
    return logged if logged is not None else fallback_kb / 1024


def longest_read_ms(config: Path) -> float:
    """The daemon's own figure, logged when it stops (the last run's line)."""
    logged = stopped_figure(config, "longest_bridge_read_ms")
    return logged if logged is not None else float("nan")


RUNNING: list[Daemon] = []  # every daemon started, so that none outlives the benchmark
_CREATED = re.compile(r"^(\S+) INFO +✅ Created QA review for (DR\d+)")


def start_daemon(config: Path, url: str, timeout: float = 60.0) -> Daemon:
    """The daemon, once it has logged that it started and has had a second to catch up."""
    log = config.parent / "wa-monitor.log"
    before = log.read_text("utf-8").count(" starting ") if log.exists() else 0
    daemon = Daemon(config, url)
    deadline = time.monotonic() + timeout
    while log.read_text("utf-8").count(" starting ") <= before:
        if time.monotonic() > deadline or daemon.proc.poll() is not None:
            raise RuntimeError(f"the daemon did not start; see {log}")
        time.sleep(0.05)
    time.sleep(1.0)
    return daemon


# -- the measurements ----------------------------------------------------------------------------


@dataclass
class Drain:
    messages: int
    seconds: float
    reviews: int
    ledger: int
    max_rss_mb: float
    longest_read_ms: float
    cpu_seconds: float
    server_cpu_seconds: float = 0.0  # the daemon's PostgreSQL backends (measured when asked)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def total_cpu(self) -> float:
        return self.cpu_seconds + self.server_cpu_seconds


class ServerCpu:
    """CPU time of the PostgreSQL backends serving wa-monitor's sessions on one database (a
    server on this host: their /proc/PID/schedstat), polled while a drain runs. On a loaded
    machine CPU time says what work cost where wall time mostly says how busy the others were."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: dict[int, int] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ServerCpu:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values()) / 1e9

    def _poll(self) -> None:
        query = (
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'wa-monitor%%'"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.done.wait(0.01):
                for (pid,) in conn.execute(query).fetchall():
                    try:
                        used = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
                    except (OSError, ValueError, IndexError):
                        continue  # gone already, or another host's server
                    self.seen[pid] = max(used, self.seen.get(pid, 0))


# The per-day summary's triggers on the reviews (migration 0019): section 10 drains with them
# disabled for its baseline.
SUMMARY_TRIGGERS = ("wa_monitor_daily_insert", "wa_monitor_daily_update")


def drain(
    bridge: BridgeFile,
    url: str,
    folder: Path,
    *,
    validate: int = 0,
    photos: bool = True,
    summary: bool = True,
    server_cpu: bool = False,
) -> Drain:
    """`wa-monitor run --once` over the whole file, from an empty schema, with the shipped
    settings (with `validate` = k: the first k projects validating against a 25,000-drop plan
    list, imported first; `photos=False`: the photos off; without `summary`: the per-day
    summary's triggers disabled)."""
    config = write_config(folder, bridge.path, validate=validate, photos=photos)
    cli(["schema", "migrate", "--config", str(config)], url)
    if not summary:
        with psycopg.connect(url, autocommit=True) as conn:
            for trigger in SUMMARY_TRIGGERS:
                conn.execute(
                    sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                        sql.Identifier("public", "qa_photo_reviews"), sql.Identifier(trigger)
                    )
                )
    if validate:
        import_lists(config, url, bridge.path, validate)
    with ServerCpu(url) if server_cpu else contextlib.nullcontext() as backends:
        started = time.perf_counter()
        daemon = Daemon(config, url, once=True)
        code = daemon.wait()
        seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"run --once exited {code}; see {config.parent / 'wa-monitor.log'}")
    with psycopg.connect(url) as conn:
        reviews = _count(conn, "qa_photo_reviews")
        ledger = _count(conn, "wa_monitor_ledger")
    return Drain(
        messages=bridge.messages,
        seconds=seconds,
        reviews=reviews,
        ledger=ledger,
        max_rss_mb=peak_rss_mb(config, daemon.max_rss_kb),
        longest_read_ms=longest_read_ms(config),
        cpu_seconds=daemon.cpu_used,
        server_cpu_seconds=backends.seconds if backends is not None else 0.0,
    )


PLAN_SIZE = 25_000


@functools.cache
def plan_lists(bridge: Path, projects: int) -> dict[str, list[str]]:
    """The first `projects` projects' plan lists, as issue 26 measured validation: each holds
    the drops its group's messages name but one in ten (those whose number ends in 0: about
    10% of submissions invalid), padded to at least 25,000 with drops nobody posts."""
    names = dict(list(WATCHED.items())[:projects])
    named: dict[str, set[str]] = {name: set() for name in names.values()}
    conn = sqlite3.connect(f"file:{bridge}?mode=ro", uri=True)
    try:
        for chat, content in conn.execute(
            "SELECT chat_jid, content FROM messages WHERE content LIKE '%dr%'"
        ):
            if chat in names:
                named[names[chat]].update(d for d in find_drops(content) if d[-1] != "0")
    finally:
        conn.close()
    filler = (f"DR{30_000_000 + i}" for i in range(PLAN_SIZE * projects))
    return {
        name: sorted(drops) + [next(filler) for _ in range(PLAN_SIZE - len(drops))]
        for name, drops in named.items()
    }


def import_lists(
    config: Path, url: str, bridge: Path, projects: int, *, through_command: bool = False
) -> float:
    """The validating projects' plan lists (plan_lists) into the database, set-wise; with
    `through_command`, the first project's alone through `wa-monitor drops import`, and the
    seconds that took (40 imports before each validating drain would be most of a full run's
    time, and measure nothing but the import, which is timed on its own)."""
    lists = plan_lists(bridge, projects)
    if through_command:
        name, drops = next(iter(lists.items()))
        plan = config.parent / "plan.csv"
        plan.write_text("Drop Number\n" + "\n".join(drops) + "\n", encoding="utf-8")
        started = time.perf_counter()
        cli(["drops", "import", "--config", str(config), "--project", name, str(plan)], url)
        return time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.valid_drops (project, drop_number) "
            "SELECT * FROM unnest(%s::text[], %s::text[])",
            ([p for p, drops in lists.items() for _ in drops], [*itertools.chain(*lists.values())]),
        )
        conn.execute("ANALYZE public.valid_drops")
    return 0.0


@dataclass
class OnOff:
    """Drains without a feature and with it, alternated on the same machine."""

    off: list[Drain]
    on: list[Drain]
    invalid: int = 0  # invalid drop submissions one drain with validation on recorded

    @property
    def ratio(self) -> float:
        """The best drain rate with the feature on over the best with it off: on a shared
        machine the fastest of several runs is the one least disturbed by the others."""
        return max(d.rate for d in self.on) / max(d.rate for d in self.off)

    @property
    def median_ratio(self) -> float:
        return statistics.median(d.rate for d in self.on) / statistics.median(
            d.rate for d in self.off
        )


VALIDATING_SHAPES = (5, len(WATCHED))  # the two shapes: 5 projects, and all 40


def validation(bridge: BridgeFile, maintenance: str, work: Path, *, runs: int) -> dict[int, OnOff]:
    """The drain with validation off, on for 5 projects and on for all 40, alternated, `runs`
    times each; by the number of validating projects."""
    off: list[Drain] = []
    on = {k: OnOff(off=off, on=[]) for k in VALIDATING_SHAPES}
    for i in range(runs):
        folder = _folder(work / f"validation-{bridge.messages}-off-{i}")
        with fresh_database(maintenance) as url:
            off.append(drain(bridge, url, folder))
        for k, compared in on.items():
            folder = _folder(work / f"validation-{bridge.messages}-{k}-{i}")
            with fresh_database(maintenance) as url:
                compared.on.append(drain(bridge, url, folder, validate=k))
                with psycopg.connect(url) as conn:
                    compared.invalid = _count(conn, "invalid_drop_submissions")
    return on


def photo_cost(bridge: BridgeFile, maintenance: str, work: Path, *, runs: int) -> OnOff:
    """The drain with photo association off and on (the shipped default), alternated."""
    compared = OnOff(off=[], on=[])
    for i in range(runs):
        for photos, into in ((False, compared.off), (True, compared.on)):
            folder = _folder(work / f"photos-{bridge.messages}-{'on' if photos else 'off'}-{i}")
            with fresh_database(maintenance) as url:
                into.append(drain(bridge, url, folder, photos=photos, server_cpu=True))
    return compared


def summary_cost(bridge: BridgeFile, maintenance: str, work: Path, *, quick: bool = False) -> OnOff:
    """The drain without the per-day summary's triggers and with them, alternated, three times
    each (twice, quick): what keeping the summary in the batch's transaction costs."""
    runs = 2 if quick else 3
    cost = OnOff(off=[], on=[])
    for i in range(runs):
        for summary, into in ((False, cost.off), (True, cost.on)):
            folder = _folder(work / f"summary-{'on' if summary else 'off'}-{i}")
            with fresh_database(maintenance) as url:
                into.append(drain(bridge, url, folder, summary=summary, server_cpu=True))
    return cost


def second_bridge(
    bridge: BridgeFile, path: Path, *, seed: int = 2, window: int = 1000
) -> BridgeFile:
    """The same messages as `bridge` as a second linked device stores them: the same ids and
    times in its own order (rows shuffled within windows of `window`, as two devices receive
    one stream a little differently), so under other rowids."""
    rng = random.Random(seed)  # noqa: S311 - repeatable data, not security
    path.unlink(missing_ok=True)
    shutil.copyfile(bridge.path, path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    columns = (
        "id, chat_jid, sender, content, timestamp, is_from_me, media_type, filename, url, "
        "media_key, file_sha256, file_enc_sha256, file_length"
    )
    rows = conn.execute(f"SELECT {columns} FROM messages ORDER BY rowid").fetchall()
    for start in range(0, len(rows), window):
        part = rows[start : start + window]
        rng.shuffle(part)
        rows[start : start + window] = part
    conn.execute("BEGIN")
    conn.execute("DELETE FROM messages")
    conn.executemany(
        f"INSERT INTO messages ({columns}) VALUES ({', '.join('?' * 13)})",
        rows,
    )
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.close()
    return BridgeFile(path=path, messages=bridge.messages, drop_messages=bridge.drop_messages)


def drain_two(a: BridgeFile, b: BridgeFile, url: str, folder: Path) -> Drain:
    """Two bridges holding the same messages drained at once, each by its own `run --once`
    (as two hosts would), from an empty schema: the wall time until both have exited, and the
    CPU of both processes and of their PostgreSQL backends."""
    config = write_config(folder, a.path, bridges={"a": a.path, "b": b.path})
    cli(["schema", "migrate", "--config", str(config)], url)
    with ServerCpu(url) as backends:
        started = time.perf_counter()
        daemons = [Daemon(config, url, once=True, bridge=name) for name in ("a", "b")]
        codes = [d.wait() for d in daemons]
        seconds = time.perf_counter() - started
    if codes != [0, 0]:
        raise RuntimeError(f"run --once exited {codes}; see {folder / 'wa-monitor.log'}")
    with psycopg.connect(url) as conn:
        reviews = _count(conn, "qa_photo_reviews")
        ledger = _count(conn, "wa_monitor_ledger")
    return Drain(
        messages=a.messages,
        seconds=seconds,
        reviews=reviews,
        ledger=ledger,
        max_rss_mb=max(d.max_rss_kb for d in daemons) / 1024,
        longest_read_ms=longest_read_ms(config),
        cpu_seconds=sum(d.cpu_used for d in daemons),
        server_cpu_seconds=backends.seconds,
    )


def two_bridges(bridge: BridgeFile, maintenance: str, work: Path, *, runs: int) -> OnOff:
    """The drain of one bridge (off) and of two bridges holding the same messages (on),
    alternated, `runs` times each; the two must leave exactly the one's reviews and ledger."""
    other = second_bridge(bridge, _folder(work / "bridge-b") / "messages.db")
    compared = OnOff(off=[], on=[])
    for i in range(runs):
        with fresh_database(maintenance) as url:
            one = drain(bridge, url, _folder(work / f"bridges-one-{i}"), server_cpu=True)
        compared.off.append(one)
        with fresh_database(maintenance) as url:
            two = drain_two(bridge, other, url, _folder(work / f"bridges-two-{i}"))
        if (two.reviews, two.ledger) != (one.reviews, one.ledger):
            raise RuntimeError(
                f"two bridges left {two.reviews:,} reviews and {two.ledger:,} ledger rows, "
                f"one bridge {one.reviews:,} and {one.ledger:,}"
            )
        compared.on.append(two)
    return compared


def report_bridges(report: Report, compared: OnOff, n: int) -> None:
    """Section 12: two bridges holding the same N messages, drained at once, against one."""
    for name, drains in (("one bridge", compared.off), ("two bridges", compared.on)):
        report.add(
            f"12. drain of {n:,}, {name}: wall s (CPU s, daemons + backends)",
            " / ".join(f"{d.seconds:.2f}" for d in drains),
            " / ".join(f"{d.total_cpu:.1f}" for d in drains),
        )
    best = min(d.seconds for d in compared.on) / min(d.seconds for d in compared.off)
    medians = statistics.median(d.seconds for d in compared.on) / statistics.median(
        d.seconds for d in compared.off
    )
    report.add(
        "12. two bridges / one, wall time: best runs | medians",
        f"{best:.2f} | {medians:.2f}",
        "target <= 1.3 (best)",
        met=best <= 1.3,
    )
    by_cpu = min(d.total_cpu for d in compared.on) / min(d.total_cpu for d in compared.off)
    report.add("12. two bridges / one, CPU of daemons and backends (best runs)", f"{by_cpu:.2f}")


def import_seconds(bridge: BridgeFile, maintenance: str, work: Path) -> float:
    """How long `wa-monitor drops import` takes for one 25,000-drop plan list."""
    with fresh_database(maintenance) as url:
        config = write_config(_folder(work / "validation-import"), bridge.path, validate=1)
        cli(["schema", "migrate", "--config", str(config)], url)
        return import_lists(config, url, bridge.path, 1, through_command=True)


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table))
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass
class Limit:
    read_seconds: float  # SQLite's own filtered scan of the rows that can hold a drop
    photo_read_seconds: float  # the same scan with the photo rows too: not in the limit
    copy_seconds: float
    ledger_seconds: float  # not part of the limit: what exactly-once adds on the same terms

    @property
    def seconds(self) -> float:
        """The tight limit (issue 26): the filtered scan + the COPY of the review rows."""
        return self.read_seconds + self.copy_seconds


def limit(bridge: BridgeFile, url: str) -> Limit:
    """Read the rows that can hold a drop out of SQLite, with the daemon's own filtered query in
    one statement, and COPY the drain's review rows into an empty table."""
    conn = sqlite3.connect(f"file:{bridge.path}?mode=ro", uri=True)
    groups = json.dumps(sorted(WATCHED))
    seconds = []
    late = datetime.now(UTC) + timedelta(days=1)
    for photos in (False, True):
        started = time.perf_counter()
        rows = conn.execute(_READ, (0, bridge.messages * 2, groups)).fetchall()
        if photos:  # and the photo rows, in one piece (bridge.sql: photo_rows)
            params = {
                "lo": 0,
                "hi": bridge.messages * 2,
                "groups": groups,
                "taken": json.dumps([r[0] for r in rows]),
                "late": late.strftime("%Y-%m-%d %H:%M:%S"),
                "early": (late - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"),
            }
            conn.execute(_PHOTO_ROWS, params).fetchone()
        seconds.append(time.perf_counter() - started)
        del rows
    conn.close()
    with psycopg.connect(url, autocommit=True) as pg:
        copy_seconds = _copy_into_empty(pg, "qa_photo_reviews")
        ledger_seconds = _copy_into_empty(pg, "wa_monitor_ledger")
    return Limit(
        read_seconds=seconds[0],
        photo_read_seconds=seconds[1],
        copy_seconds=copy_seconds,
        ledger_seconds=ledger_seconds,
    )


def _copy_into_empty(pg: psycopg.Connection[Any], table: str) -> float:
    """Seconds to COPY `table`'s rows into an empty table of the same structure and indexes."""
    source = sql.Identifier("public", table)
    target = sql.Identifier("public", f"limit_{table}")
    pg.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(target, source))
    buffer = bytearray()
    with pg.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(source)) as out:
        for chunk in out:
            buffer += chunk
    started = time.perf_counter()
    with pg.transaction(), pg.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(target)) as into:
        into.write(bytes(buffer))
    seconds = time.perf_counter() - started
    pg.execute(sql.SQL("DROP TABLE {}").format(target))
    return seconds


@dataclass
class Simple:
    messages: int
    seconds: float
    commits: int


def simple(bridge: BridgeFile, url: str, slice_size: int, *, reconnect: bool) -> Simple:
    """The old way on the first `slice_size` rowids: one message per query, a commit per review.

    With `reconnect`, a new SQLite and PostgreSQL connection for every query, as the monitor
    this replaces did; without, both connections are kept (a kinder baseline).
    """
    lite = _Connections(bridge, url, reconnect=reconnect)
    commits = 0
    started = time.perf_counter()
    for rowid in range(1, slice_size + 1):
        row = lite.message(rowid)
        if row is None or row[0] not in WATCHED:
            continue
        chat, sender, content, ts = row
        for drop in find_drops(content):
            commits += _simple_apply(lite, drop, chat, sender, content, ts)
    seconds = time.perf_counter() - started
    lite.close()
    return Simple(messages=slice_size, seconds=seconds, commits=commits)


class _Connections:
    """The simple approach's connections: kept open, or opened anew for each query."""

    def __init__(self, bridge: BridgeFile, url: str, *, reconnect: bool) -> None:
        self._uri = f"file:{bridge.path}?mode=ro"
        self._url = url
        self._reconnect = reconnect
        self._lite = sqlite3.connect(self._uri, uri=True)
        self._pg = psycopg.connect(url)

    def message(self, rowid: int) -> tuple[str, str, str, str] | None:
        lite = sqlite3.connect(self._uri, uri=True) if self._reconnect else self._lite
        row = lite.execute(
            "SELECT chat_jid, sender, content, timestamp FROM messages WHERE rowid = ?", (rowid,)
        ).fetchone()
        if self._reconnect:
            lite.close()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]), str(row[3]))

    def pg(self) -> psycopg.Connection[Any]:
        if self._reconnect:
            self._pg.close()
            self._pg = psycopg.connect(self._url)
        return self._pg

    def close(self) -> None:
        self._lite.close()
        self._pg.close()


def _simple_apply(  # noqa: PLR0917 - one row's fields, as the old code passed them
    conns: _Connections, drop: str, chat: str, sender: str, content: str, ts: str
) -> int:
    at = datetime.fromisoformat(ts)
    pg = conns.pg()
    found = pg.execute(
        "SELECT id, last_submitted_at FROM public.qa_photo_reviews WHERE drop_number = %s "
        "ORDER BY review_date DESC LIMIT 1",
        (drop,),
    ).fetchone()
    pg.commit()
    pg = conns.pg()
    if found is None:
        pg.execute(
            "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, user_name, "
            "submitted_by, whatsapp_message_date, last_submitted_at, comment) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (drop, at.date(), WATCHED[chat], sender, sender, at, at, "from WhatsApp"),
        )
    elif says_resubmitted(content) or found[1] is None or at.date() > found[1].date():
        pg.execute(
            "UPDATE public.qa_photo_reviews SET resubmitted = true, incomplete = false, "
            "feedback_sent = NULL, last_submitted_at = %s, updated_at = now() WHERE id = %s",
            (at, found[0]),
        )
    pg.commit()
    return 1


@dataclass
class Latency:
    steady_ms: list[float]
    burst_ms: list[float]
    recovery_ms: list[float]  # the 10 msg/s after each burst, while its lag clears
    busy_retries: int  # reads that found the bridge file locked for the whole busy timeout
    burst_tail_ms: list[float]  # the last message of each burst: a growing lag shows here
    missing: int
    achieved_burst_rate: float


def write_traffic(
    path: Path,
    out: Path,
    *,
    steady_rate: float,
    steady_seconds: float,
    burst_rate: float,
    burst_seconds: float,
    bursts: int,
) -> None:
    """The writer process: posts like the bridge (own connection, a commit per message)."""
    rng = random.Random(7)  # noqa: S311 - repeatable, not security
    phases = [("steady", steady_rate, steady_seconds)]
    for _ in range(bursts):
        phases += [("burst", burst_rate, burst_seconds), ("recovery", steady_rate, 2.0)]
    committed: list[tuple[str, str, float, bool]] = []
    number = LATENCY_DROP_BASE
    with BridgeWriter(path) as writer:
        for phase, rate, seconds in phases:
            began = time.perf_counter()
            count, sent = round(rate * seconds), 0
            while sent < count:
                pause = began + sent / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                # A commit per message while the disk keeps up; when it falls behind, the
                # messages already due go in one transaction, so the rate holds.
                due = min(count, max(sent + 1, int((time.perf_counter() - began) * rate) + 1))
                posts = []
                for _ in range(due - sent):
                    number += 1
                    posts.append(
                        Post(
                            id=f"{rng.getrandbits(96):024X}",
                            chat_jid=GROUPS[number % len(WATCHED)],
                            sender=rng.choice(AGENTS),
                            content=f"DR{number} all 12 photos",
                            timestamp=bridge_timestamp(datetime.now(SAST)),
                        )
                    )
                writer.post_many(posts)
                at = time.time()
                sent = due
                committed += [(p.content.split()[0], phase, at, False) for p in posts if p.content]
            committed[-1] = (*committed[-1][:3], True)
    out.write_text(json.dumps(committed), encoding="utf-8")


def latency(config: Path, bridge: BridgeFile, *, quick: bool) -> Latency:
    """Time from each commit in SQLite to its '✅ Created' line (logged after the PG commit)."""
    times = config.parent / "committed.json"
    steady_seconds, burst_seconds, bursts = (3.0, 0.5, 2) if quick else (30.0, 2.0, 3)
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "benchmarks.bench",
            "write",
            str(bridge.path),
            str(times),
            f"--steady-seconds={steady_seconds}",
            f"--burst-seconds={burst_seconds}",
            f"--bursts={bursts}",
        ],
        check=True,
    )
    time.sleep(1.0)  # let the last burst be applied
    created: dict[str, float] = {}
    for line in log_lines(config):
        if m := _CREATED.match(line):
            created[m[2]] = datetime.fromisoformat(m[1]).timestamp()
    lags: dict[str, list[float]] = {"steady": [], "burst": [], "recovery": []}
    tails: list[float] = []
    missing = 0
    committed = json.loads(times.read_text("utf-8"))
    for drop, phase, at, last in committed:
        if drop not in created:
            missing += 1
            continue
        lag = (created[drop] - at) * 1000
        lags[phase].append(lag)
        if last and phase == "burst":
            tails.append(lag)
    busy = sum("⏳ waiting to retry" in line and "locked" in line for line in log_lines(config))
    runs: list[list[float]] = []
    previous = ""
    for _, phase, at, _ in committed:
        if phase == "burst":
            if previous != "burst":
                runs.append([])
            runs[-1].append(at)
        previous = phase
    rates = [len(r) / (r[-1] - r[0]) for r in runs if len(r) > 1 and r[-1] > r[0]]
    return Latency(
        steady_ms=lags["steady"],
        burst_ms=lags["burst"],
        recovery_ms=lags["recovery"],
        burst_tail_ms=tails,
        busy_retries=busy,
        missing=missing,
        achieved_burst_rate=statistics.fmean(rates) if rates else 0.0,
    )


def idle_cpu(daemon: Daemon, seconds: float) -> float:
    """CPU seconds the daemon uses over `seconds` with nothing new, scaled to an hour."""
    before, threads = daemon.cpu_seconds(), daemon.thread_cpu()
    time.sleep(seconds)
    used = sorted(
        ((cpu - threads.get(tid, (name, 0.0))[1]) * 3600 / seconds, name)
        for tid, (name, cpu) in daemon.thread_cpu().items()
    )
    print(
        "   idle CPU by thread (s/hour): "
        + ", ".join(f"{name} {cpu:.2f}" for cpu, name in reversed(used)),
        flush=True,
    )
    return (daemon.cpu_seconds() - before) * 3600 / seconds


@dataclass(frozen=True)
class IdleRun:
    cpu_per_hour: float
    stop_seconds: float
    alert_timer: float | None  # CPU s/hour of `alerts check` 30x/hour, when measured


def idle_production(
    folder: Path, bridge: Path, url: str, seconds: float, *, alert_runs: int = 0
) -> IdleRun:
    """Idle CPU (s/hour) of a caught-up daemon with the production settings (replies and their
    sender thread, `[alerts]`, the heartbeat, the photo fetcher asking the simulator's bridge
    API for the bridge file's media), started with every photo answered; its exit time (s);
    and, with `alert_runs`, the alert timer's cost while it runs (alert_timer_cpu)."""
    with SimulatedBridgeApi(bridge_db=bridge) as api:
        photo_settings = [f'photos_cache_dir = "{folder / "photo-cache"}"']
        catch_up_photos(folder, bridge, url, api.url, photo_settings)
        config = write_config(
            folder, bridge, production=True, name="idle.toml", api_url=api.url, extra=photo_settings
        )
        daemon = start_daemon(config, url)
        try:
            idle = idle_cpu(daemon, seconds)
            alerts = None
            if alert_runs:
                # The channel that works (the simulator's API): a check that finds nothing new
                # posts nothing, as on a healthy day. The first check announces what is due now
                # (the bridge quiet in working hours, say), once.
                timer = write_config(
                    folder,
                    bridge,
                    production=True,
                    name="alerts.toml",
                    api_url=api.url,
                    extra=photo_settings,
                    email=False,
                )
                alert_timer_cpu(timer, url, 1)
                alerts = alert_timer_cpu(timer, url, alert_runs)
            return IdleRun(idle, daemon.stop(), alerts)
        finally:
            if daemon.exit_code is None:
                daemon.proc.kill()
                daemon.wait()


CATCH_UP_PHOTOS = 300  # the newest photos the fetcher asks the simulated bridge for, for real
# What the bridge's /api/download answers for the benchmark's image rows (they carry the file's
# name, SHA-256 and length, not the URL and key a download needs): final, never asked again.
NO_MEDIA_KEY = "Failed to download media: incomplete media information for download"


def catch_up_photos(
    folder: Path, bridge: Path, url: str, api_url: str, photo_settings: Sequence[str]
) -> None:
    """Bring the drained photos to where a caught-up production daemon has them: the newest
    CATCH_UP_PHOTOS asked for through the simulator's /api/download by `photos fetch` (paced at
    its 6,000 a minute), every older one set, set-wise, to the answer the simulator gives it
    (the 1M backlog's 150,000 photos would take 25 minutes at that pace). Then none is due."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE public.wa_monitor_photos SET state = 'refused', attempts = attempts + 1, "
            "fetched_at = now(), last_error = %s WHERE state IN ('pending', 'retrying') "
            "AND id NOT IN (SELECT id FROM public.wa_monitor_photos ORDER BY sent_at DESC "
            "LIMIT %s)",
            (NO_MEDIA_KEY, CATCH_UP_PHOTOS),
        )
        # The latency section's daemon asked a bridge that was not there: ask again now.
        conn.execute(
            "UPDATE public.wa_monitor_photos SET next_attempt_at = now() "
            "WHERE state IN ('pending', 'retrying')"
        )
    config = write_config(
        folder,
        bridge,
        production=True,
        name="catch-up.toml",
        api_url=api_url,
        extra=[*photo_settings, "photos_fetch_per_minute = 6000"],
    )
    cli(["photos", "fetch", "--config", str(config), "--limit", str(CATCH_UP_PHOTOS)], url)
    with psycopg.connect(url, autocommit=True) as conn:
        due = conn.execute(
            "SELECT count(*) FROM public.wa_monitor_photos WHERE state IN ('pending', 'retrying')"
        ).fetchone()
    if due is None or due[0]:
        raise RuntimeError(f"photos still waiting after the catch-up: {due}")


ALERT_TIMER_PER_HOUR = 30  # wa-monitor-alert@.timer: `alerts check` every 2 minutes


def alert_timer_cpu(config: Path, url: str, runs: int) -> float:
    """CPU seconds an hour of the alert timer (a process of its own): `alerts check` run
    `runs` times, its user+sys time from the kernel (wait4), scaled to 30 runs an hour. The
    package's bytecode is compiled first, as a pip install leaves it: the units run with
    PYTHONDONTWRITEBYTECODE, so a source tree without it compiles every module at every run."""
    compileall.compile_dir(Path(wa_monitor.__file__).parent, quiet=1)
    used = 0.0
    for _ in range(runs):
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "wa_monitor", "alerts", "check", "--config", str(config)],
            env={**os.environ, DATABASE_URL_VAR: url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must know it
        used += usage.ru_utime + usage.ru_stime
    return used / runs * ALERT_TIMER_PER_HOUR


def fill_reviews(url: str, rows: int) -> int:
    """Bring the review table to `rows` rows (old reviews of other drops), set-wise."""
    with psycopg.connect(url, autocommit=True) as conn:
        have = _count(conn, "qa_photo_reviews")
        conn.execute(
            "INSERT INTO public.qa_photo_reviews (drop_number, review_date, project, user_name, "
            "submitted_by, whatsapp_message_date, last_submitted_at) "
            "SELECT 'DR8' || lpad(g::text, 7, '0'), date '2024-01-01' + (g %% 365), 'Project 00', "
            "'Agent', '27640000000', now(), now() FROM generate_series(1, %s) AS g",
            (max(rows - have, 0),),
        )
        conn.execute("VACUUM ANALYZE public.qa_photo_reviews")
        return _count(conn, "qa_photo_reviews")


@dataclass
class FetchMemory:
    photos: int
    fetched: int
    seconds: float
    samples: list[tuple[int, float]]  # (photos fetched so far, the fetcher's RSS in MB)

    def rss_at(self, share: float) -> float:
        """The RSS when `share` of the photos had been fetched (the first sample past it; the
        last sample when the process ended before one saw them all)."""
        last = self.samples[-1][1] if self.samples else float("nan")
        return next((mb for done, mb in self.samples if done >= share * self.fetched), last)


def fetch_memory(work: Path, maintenance: str, photos: int) -> FetchMemory:
    """`wa-monitor photos fetch` over `photos` drained photos (distinct 640x480 JPEGs, one a
    second, in one watched group) from the simulator's /api/download stand-in, each checked,
    decoded, rendered and cached; its RSS sampled against the photos fetched so far."""
    from wa_monitor.devtools.photos import WALK, draw  # noqa: PLC0415
    from wa_monitor.devtools.simulator import media_post  # noqa: PLC0415

    folder = _folder(work / "fetch")
    store = _folder(folder / "store")
    start = datetime(2025, 11, 11, 8, tzinfo=SAST)
    posts = [
        media_post(
            id=f"F{i:08d}",
            chat_jid=GROUPS[0],
            sender=AGENTS[i % len(AGENTS)],
            moment=start + timedelta(seconds=i),
            data=draw(WALK[i % len(WALK)], label=f"DR{2_000_000 + i}"),
            # Its drop named: only the photos a drop message claims are fetched (0035).
            caption=f"DR{2_000_000 + i}",
        )
        for i in range(photos)
    ]
    with (
        SimulatedBridgeApi(bridge_db=store / "messages.db") as api,
        fresh_database(maintenance) as url,
    ):
        api.post_media(*posts)
        del posts
        config = write_config(folder, store / "messages.db")
        config.write_text(
            config.read_text("utf-8").replace(
                'bridge_api_url = "http://127.0.0.1:9"',
                f'bridge_api_url = "{api.url}"\nphotos_fetch_per_minute = 6000\n'
                f'photos_cache_dir = "{folder / "cache"}"\nphotos_cache_max_mb = 100000',
            ),
            "utf-8",
        )
        cli(["schema", "migrate", "--config", str(config)], url)
        cli(["run", "--once", "--config", str(config)], url)
        samples: list[tuple[int, float]] = []
        started = time.perf_counter()
        command = ["photos", "fetch", "--config", str(config), "--limit", str(photos)]
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "wa_monitor", *command],
            env={**os.environ, DATABASE_URL_VAR: url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with psycopg.connect(url, autocommit=True) as conn:
            while proc.poll() is None:
                rss = _rss_mb(proc.pid)
                done = conn.execute(
                    "SELECT count(*) FROM public.wa_monitor_photos WHERE state <> 'pending'"
                ).fetchone()
                if rss is not None and done is not None:
                    samples.append((int(done[0]), rss))
                time.sleep(0.5)
            seconds = time.perf_counter() - started
            fetched = conn.execute(
                "SELECT count(*) FROM public.wa_monitor_photos WHERE state = 'fetched'"
            ).fetchone()
    return FetchMemory(photos, int(fetched[0]) if fetched else 0, seconds, samples)


def _rss_mb(pid: int) -> float | None:
    """The process's RSS with its children's (the fetcher's decoder child: media.Decoder)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text("utf-8")
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text("utf-8").split()
        ]
    except OSError:
        return None
    own = next(
        (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS")),
        None,
    )
    if own is None:
        return None
    return own + sum(_rss_mb(child) or 0.0 for child in children)


def report_fetch_memory(report: Report, m: FetchMemory) -> None:
    """Section 13: the photo fetcher's memory over many photos."""
    report.add(
        f"13. photos fetch: {m.photos:,} photos from the simulated bridge",
        f"{m.seconds:.0f} s",
        f"{m.fetched:,} fetched",
    )
    early, late = m.rss_at(0.1), m.rss_at(1.0)
    peak = max((mb for _, mb in m.samples), default=float("nan"))
    report.add(
        "13. fetcher RSS (with its decoder child) after 10% / after all / peak",
        f"{early:.0f} / {late:.0f} / {peak:.0f} MB",
    )
    report.add(
        "13. fetcher RSS growth from 10% to all",
        f"{late - early:+.1f} MB",
        "target: flat (< 10 MB)",
        met=late - early < 10,
    )


DROP_PHOTOS = 12
WHATSAPP_PHOTO = (1600, 1200)  # a photo as WhatsApp sends it (standard quality: 1600 px long side)


@dataclass(frozen=True)
class DropFetch:
    fetch_seconds: list[float]  # the production fetcher's pass over the drop's photos, per run
    raw_seconds: list[float]  # the stand-in's own downloads of the same files, read back, per run
    per_minute: int
    burst: int


def drop_fetch(work: Path, maintenance: str, *, runs: int) -> DropFetch:
    """Section 14: one drop's 12 photos (1600x1200 JPEGs) drained, then fetched from the
    simulator's /api/download stand-in by the production fetcher (`Fetcher.for_settings`, the
    shipped pace and burst: checked, decoded in its child process, rendered, cached,
    recorded), timed per pass;
    against the baseline of the same 12 requests to the stand-in with each named file read
    back and nothing else. Runs alternate; before each, the stand-in's store loses its files
    (each request downloads again) and the photos are due again with an empty cache."""
    import httpx  # noqa: PLC0415

    from wa_monitor.adapters.media import Decoder  # noqa: PLC0415
    from wa_monitor.adapters.postgres.db import Database  # noqa: PLC0415
    from wa_monitor.devtools.photos import LAWLEY, WALK, draw  # noqa: PLC0415
    from wa_monitor.devtools.simulator import media_post  # noqa: PLC0415
    from wa_monitor.services.photos import Fetcher  # noqa: PLC0415
    from wa_monitor.settings import load_settings  # noqa: PLC0415

    folder = _folder(work / "drop-fetch")
    store = _folder(folder / "store")
    start = datetime(2025, 11, 11, 9, tzinfo=SAST)
    chat, agent = GROUPS[0], AGENTS[0]
    posts = [
        media_post(
            id=f"DP{i:02d}",
            chat_jid=chat,
            sender=agent,
            moment=start + timedelta(seconds=7 * i),
            data=draw(WALK[i], taken=start, place=LAWLEY, label=f"{i}", size=WHATSAPP_PHOTO),
        )
        for i in range(DROP_PHOTOS)
    ]
    asked = [(item.post.id, chat) for item in posts]
    fetch_seconds: list[float] = []
    raw_seconds: list[float] = []
    with (
        SimulatedBridgeApi(bridge_db=store / "messages.db") as api,
        fresh_database(maintenance) as url,
    ):
        api.post_media(*posts)
        with BridgeWriter(store / "messages.db") as writer:
            writer.post(
                Post(
                    id="DPDROP",
                    chat_jid=chat,
                    sender=agent,
                    content="DR1752028",
                    timestamp=bridge_timestamp(start + timedelta(minutes=3)),
                )
            )
        cache = folder / "cache"
        config = write_config(
            folder, store / "messages.db", api_url=api.url, extra=[f'photos_cache_dir = "{cache}"']
        )
        cli(["schema", "migrate", "--config", str(config)], url)
        cli(["run", "--once", "--config", str(config)], url)
        settings = load_settings(config)
        db = Database(url, "public", "prod")

        def fresh() -> None:
            for file in store.glob("*/*"):
                file.unlink()
            shutil.rmtree(cache, ignore_errors=True)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE public.wa_monitor_photos SET state = 'pending', attempts = 0, "
                    "next_attempt_at = now() - interval '1 second', content_key = NULL"
                )

        with httpx.Client(base_url=api.url) as client, Decoder() as decoder:
            decoder.start()
            for _ in range(runs):
                fresh()
                began = time.perf_counter()
                for message_id, jid in asked:
                    answer = client.post(
                        "/api/download", json={"message_id": message_id, "chat_jid": jid}
                    )
                    Path(answer.json()["path"]).read_bytes()
                raw_seconds.append(time.perf_counter() - began)
                fresh()
                # A full bucket (a new drop after a quiet spell), and the decoder's child up, as
                # the daemon's fetcher keeps it across passes.
                with Fetcher.for_settings(db, settings, decode=decoder) as fetcher:
                    began = time.perf_counter()
                    done = fetcher.run_once()
                    fetch_seconds.append(time.perf_counter() - began)
                if done.outcomes != {"fetched": DROP_PHOTOS}:
                    raise RuntimeError(f"the drop's photos were not all fetched: {done}")
    return DropFetch(
        fetch_seconds, raw_seconds, settings.photos_fetch_per_minute, settings.photos_fetch_burst
    )


def report_drop_fetch(report: Report, f: DropFetch) -> None:
    """Section 14: a drop's 12 photos fetched, against the stand-in's own downloads."""
    worst = max(f.fetch_seconds)
    report.add(
        f"14. a drop's 12 photos fetched from the simulated bridge "
        f"({f.per_minute}/min, burst {f.burst}): median | worst of {len(f.fetch_seconds)}",
        f"{statistics.median(f.fetch_seconds):.2f} | {worst:.2f} s",
        "target <= 2 s (worst)",
        met=worst <= 2.0,
    )
    report.add(
        "14.   baseline: the stand-in's 12 downloads, files read back: median",
        f"{statistics.median(f.raw_seconds):.2f} s",
    )
    report.add(
        "14.   fetch / baseline (check, decode, render, cache, record): medians",
        f"{statistics.median(f.fetch_seconds) / statistics.median(f.raw_seconds):.1f}x",
    )


# -- the report ----------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


DOC = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench:figures:begin -->", "<!-- bench:figures:end -->"
GIT = shutil.which("git") or "git"


def machine() -> str:
    """nproc and RAM, as the figures' header states them."""
    with Path("/proc/meminfo").open(encoding="utf-8") as meminfo:
        kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return f"{os.cpu_count()} CPUs (nproc), {kb / 1024 / 1024:.1f} GiB RAM"


def commit() -> str:
    """The code measured: its commit, and whether the work tree had changes besides."""
    root = DOC.parent.parent
    try:
        head = subprocess.run(  # noqa: S603 - git, read only
            [GIT, "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            [GIT, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def write_figures(doc: Path, report: Report, header: str, verdict: str) -> None:
    """Put this run's table between the doc's markers, so the doc shows only what the current
    code measured; the rest of the doc is left as it is."""
    table = ["| figure | measured | target |", "|---|---|---|"]
    table += [f"| {what.strip()} | {value} | {target} |" for what, value, target in report.rows]
    write_block(doc, (BEGIN, END), [header, "", *table, "", f"**{verdict}**"])


def write_block(doc: Path, markers: tuple[str, str], lines: Sequence[str]) -> None:
    """Replace what stands between the doc's two marker comments with `lines` (a benchmark's
    figures: each benchmark has its own markers)."""
    begin, end = markers
    text = doc.read_text("utf-8")
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{doc}: no {begin} … {end} block to write the figures into")
    block = "\n".join([begin, "", *lines, "", end])
    doc.write_text(text[:start] + block + text[stop + len(end) :], "utf-8")


@dataclass
class Report:
    """The table, and each target met or missed. A quick run is too small for the targets
    (they are set at N=1,000,000): it prints its figures without them and judges only that
    the pipeline works."""

    quick: bool = False
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    judged: list[tuple[str, str, bool]] = field(default_factory=list)

    def add(self, what: str, value: str, target: str = "", *, met: bool | None = None) -> None:
        if met is not None:
            self.judged.append((what, target, met))
            # A quick run shows each verdict too (a regression shows in CI's log), unjudged.
            target = f"{target} {'met' if met else 'MISSED'}"
            if self.quick:
                target += " (quick run: not judged)"
        self.rows.append((what, value, target))
        print(f"  {what:<58} {value:>22}  {target}", flush=True)

    def verdict(self, n: int, missing: int) -> tuple[str, bool]:
        """One line for the whole run, and whether it passed."""
        if missing:
            return f"verdict: FAILED: {missing} messages written were never applied", False
        if self.quick:
            return (
                f"verdict: quick run (N={n:,}): the pipeline works end to end (no message "
                "lost); at this size the figures say nothing about the targets, which are "
                "judged at N=1,000,000: run without --quick",
                True,
            )
        missed = [f"{what} ({target})" for what, target, met in self.judged if not met]
        if missed:
            return f"verdict: {len(missed)} of {len(self.judged)} targets missed: " + (
                "; ".join(missed)
            ), False
        return f"verdict: all {len(self.judged)} targets met (N={n:,})", True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    writer = commands.add_parser("write", help="(internal) the bridge writer process")
    writer.add_argument("bridge", type=Path)
    writer.add_argument("out", type=Path)
    writer.add_argument("--steady-rate", type=float, default=10.0)
    writer.add_argument("--steady-seconds", type=float, default=30.0)
    writer.add_argument("--burst-rate", type=float, default=500.0)
    writer.add_argument("--burst-seconds", type=float, default=2.0)
    writer.add_argument("--bursts", type=int, default=3)
    fetching = commands.add_parser(
        "fetch-memory", help="the photo fetcher's memory over many photos (section 13)"
    )
    fetching.add_argument("--photos", type=int, default=10_000)
    commands.add_parser(
        "drop-fetch", help="a drop's 12 photos fetched, against the stand-in's own (section 14)"
    ).add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="write the figures table into this file, between its marker comments (a full "
        "run's default: docs/PERFORMANCE.md; a quick run writes none unless told)",
    )
    parser.add_argument("--no-doc", action="store_true", help="leave docs/PERFORMANCE.md as is")
    parser.add_argument("-n", "--messages", type=int, default=1_000_000, help="backlog size")
    parser.add_argument("--small", type=int, default=None, help="the smaller scaling run (N/10)")
    parser.add_argument("--slice", type=int, default=20_000, help="the simple approach's slice")
    # Two minutes: the idle daemon wakes once a minute (the heartbeat, the sender's look).
    parser.add_argument("--idle-seconds", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="small N, short windows (CI)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(SERVER_VAR),
        help=f"maintenance URL of a PostgreSQL to use (default ${SERVER_VAR}, else embedded)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="working folder, left in place (default: a temporary one, removed after)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the temporary working folder (~1 GB at full N)"
    )
    parser.add_argument(
        "--only-validation",
        action="store_true",
        help="only the drain with validation off and on (section 9)",
    )
    parser.add_argument(
        "--only-summary",
        action="store_true",
        help="only the drain without and with the per-day summary's triggers (section 10)",
    )
    parser.add_argument(
        "--only-bridges",
        action="store_true",
        help="only the drain of two bridges holding the same messages against one (section 12)",
    )
    parser.add_argument(
        "--only-idle",
        action="store_true",
        help="only the idle daemon's CPU, with the small run's reviews and with N, and the "
        "alert timer's (section 5)",
    )
    parser.add_argument(
        "--only-photos",
        action="store_true",
        help="only the drain with photo association off and on (section 11)",
    )
    args = parser.parse_args(argv)
    if args.command == "write":
        write_traffic(
            args.bridge,
            args.out,
            steady_rate=args.steady_rate,
            steady_seconds=args.steady_seconds,
            burst_rate=args.burst_rate,
            burst_seconds=args.burst_seconds,
            bursts=args.bursts,
        )
        return 0
    alone = {"fetch-memory": fetch_memory_command, "drop-fetch": drop_fetch_command}
    if args.command in alone:
        return alone[args.command](args)
    if args.quick:
        args.messages, args.slice, args.idle_seconds = 20_000, 2_000, 3.0
    if args.doc is None and not args.quick and not args.no_doc:
        args.doc = DOC  # a full run's figures are the doc's: it cannot drift from the code
    work = args.dir or Path(tempfile.mkdtemp(prefix="wa-monitor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    # SIGTERM unwinds like Ctrl-C: daemons are stopped and the embedded server shut down.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    passed = False
    try:
        with server(args.database_url, work) as maintenance:
            passed = run_bench(args, work, maintenance)
    finally:
        for daemon in RUNNING:
            if daemon.exit_code is None:
                daemon.proc.kill()
                daemon.wait()
        _leave(work, remove=args.dir is None and not args.keep)
    return 0 if passed else 1


def fetch_memory_command(args: argparse.Namespace) -> int:
    """`python -m benchmarks.bench fetch-memory`: section 13 alone (it is not in the full run:
    10,000 photos take minutes of their own, paced at 100 a second)."""
    work = args.dir or Path(tempfile.mkdtemp(prefix="wa-monitor-bench-"))
    report = Report()
    try:
        with server(args.database_url, work) as maintenance:
            report_fetch_memory(report, fetch_memory(work, maintenance, args.photos))
    finally:
        _leave(work, remove=args.dir is None and not args.keep)
    return 0 if all(met for _, _, met in report.judged) else 1


def drop_fetch_command(args: argparse.Namespace) -> int:
    """`python -m benchmarks.bench drop-fetch`: section 14 alone."""
    work = args.dir or Path(tempfile.mkdtemp(prefix="wa-monitor-bench-"))
    report = Report()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    try:
        with server(args.database_url, work) as maintenance:
            report_drop_fetch(report, drop_fetch(work, maintenance, runs=args.runs))
    finally:
        _leave(work, remove=args.dir is None and not args.keep)
    return 0 if all(met for _, _, met in report.judged) else 1


def _leave(work: Path, *, remove: bool) -> None:
    """Remove the working folder (bridge files, a PostgreSQL data folder), or say where it is."""
    size = sum(p.lstat().st_size for p in work.rglob("*") if p.is_file()) / 1_000_000
    if remove:
        shutil.rmtree(work, ignore_errors=True)
        print(f"removed the working folder {work} ({size:,.0f} MB; --keep leaves it)")
    else:
        print(f"left the working folder {work} ({size:,.0f} MB): rm -rf {work}")


def run_bench(args: argparse.Namespace, work: Path, maintenance: str) -> bool:  # noqa: PLR0915
    """Run every measurement and print the table and the verdict; True when it passed."""
    n = args.messages
    small_n = args.small or max(n // 10, 1000)
    report = Report(quick=args.quick)
    load = os.getloadavg()
    print(
        f"wa-monitor benchmark: N={n:,}, cores={os.cpu_count()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, work folder {work}",
        flush=True,
    )
    started = time.perf_counter()
    big = build_bridge(_folder(work / "big") / "messages.db", n)
    runs = 2 if args.quick else 3
    if args.only_bridges:
        report_bridges(report, two_bridges(big, maintenance, work, runs=runs), n)
        text, passed = report.verdict(n, 0)
        print(text)
        return passed
    if args.only_idle:
        report_idle(report, idle_only(args, work, maintenance, big), args)
        text, passed = report.verdict(n, 0)
        print(text)
        return passed
    if args.only_validation or args.only_photos or args.only_summary:
        files = sized_files(work, big, quick=args.quick)
        if args.only_validation:
            report_validation(report, files, maintenance, work, runs=runs)
        if args.only_summary:
            report_summary(report, summary_cost(big, maintenance, work, quick=args.quick), n)
        if args.only_photos:
            report_photos(report, files, maintenance, work, runs=runs)
        text, passed = report.verdict(n, 0)
        print(text)
        return passed
    small = build_bridge(_folder(work / "small") / "messages.db", small_n)
    report.add("cores (os.cpu_count)", f"{os.cpu_count()}")
    report.add(
        f"bridge files built ({n:,} + {small_n:,} messages)",
        f"{time.perf_counter() - started:.1f} s",
    )
    report.add("messages naming a drop (big file)", f"{big.drop_messages:,}")

    with fresh_database(maintenance) as url_small:
        d_small = drain(small, url_small, work / "small")
        idle_small = idle_production(
            work / "small",
            small.path,
            url_small,
            args.idle_seconds,
            alert_runs=3 if args.quick else 5,
        )

    with fresh_database(maintenance) as url:
        d_big = drain(big, url, work / "big")
        lim = limit(big, url)
        report.add("1. drain: wall time of run --once", f"{d_big.seconds:.2f} s")
        report.add(
            "1. drain: messages/s",
            f"{d_big.rate:,.0f}",
            "target >= 250,000",
            met=d_big.rate >= 250_000,
        )
        report.add("1. drain: reviews created", f"{d_big.reviews:,}")
        report.add("1. drain: reviews/s", f"{d_big.reviews / d_big.seconds:,.0f}")
        report.add("1. drain: CPU of the daemon process (user+sys)", f"{d_big.cpu_seconds:.2f} s")
        report.add("1. drain: ledger rows (messages applied)", f"{d_big.ledger:,}")
        report.add(
            "2. tight limit: SQLite's filtered read of the rows that can hold a drop",
            f"{lim.read_seconds:.2f} s",
        )
        report.add(
            "2. limit: COPY of the review rows into an empty table", f"{lim.copy_seconds:.2f} s"
        )
        ratio = lim.seconds / d_big.seconds
        report.add(
            "2. tight limit / drain time (shipped settings, photos on)",
            f"{ratio:.2f}",
            "target >= 0.5",
            met=ratio >= 0.5,
        )
        report.add(
            "2. (not in the limit) the same read with the photo rows",
            f"{lim.photo_read_seconds:.2f} s",
        )
        report.add("2. (not in the limit) COPY of the ledger rows", f"{lim.ledger_seconds:.2f} s")
        everything = lim.photo_read_seconds + lim.copy_seconds + lim.ledger_seconds
        report.add(
            "2. (read with photos + review and ledger COPY) / drain time",
            f"{everything / d_big.seconds:.2f}",
        )

        daemon = start_daemon(work / "big" / "prod.toml", url)
        lat = latency(daemon.config, big, quick=args.quick)
        stop_seconds = daemon.stop()
        daemon_read_ms = longest_read_ms(daemon.config)
        rows = fill_reviews(url, max(n, 1000))
        idle_big = idle_production(work / "big", big.path, url, args.idle_seconds)

    baselines = {}
    for reconnect in (True, False):
        with fresh_database(maintenance) as url_simple:
            config = write_config(_folder(work / "simple"), big.path)
            cli(["schema", "migrate", "--config", str(config)], url_simple)
            baselines[reconnect] = simple(big, url_simple, min(args.slice, n), reconnect=reconnect)

    for reconnect, base in baselines.items():
        how = "a connection per query (the old monitor)" if reconnect else "connections kept"
        total = base.seconds * n / base.messages
        report.add(
            f"3. simple, {how}: {base.messages:,} messages",
            f"{base.seconds:.2f} s",
            f"{base.commits:,} commits",
        )
        report.add(f"3.   extrapolated to {n:,}", f"{total:.1f} s")
        speedup = total / d_big.seconds
        report.add(
            "3.   speed-up over the simple approach",
            f"{speedup:.0f}x",
            "target >= 50x" if reconnect else "",
            met=speedup >= 50 if reconnect else None,
        )
    report.add("4. detection latency, steady 10 msg/s: p50", f"{pct(lat.steady_ms, 50):.0f} ms")
    p99 = pct(lat.steady_ms, 99)
    report.add(
        "4. detection latency, steady: p99", f"{p99:.0f} ms", "target <= 250 ms", met=p99 <= 250
    )
    report.add(
        "4. detection latency, steady: max", f"{max(lat.steady_ms, default=float('nan')):.0f} ms"
    )
    report.add("4. bursts: rate achieved by the writer", f"{lat.achieved_burst_rate:.0f} msg/s")
    for name, values in (("bursts", lat.burst_ms), ("10 msg/s after a burst", lat.recovery_ms)):
        report.add(
            f"4. {name}: p50 / p99 / max",
            f"{pct(values, 50):.0f} / {pct(values, 99):.0f} / "
            f"{max(values, default=float('nan')):.0f} ms",
        )
    report.add("4. reads that found the bridge locked (retried)", f"{lat.busy_retries}")
    report.add(
        "4. bursts: lag of each burst's last message",
        " / ".join(f"{t:.0f}" for t in lat.burst_tail_ms) + " ms",
        "flat = no growing lag",
    )
    report.add("4. messages never seen (should be 0)", f"{lat.missing}")
    report_idle(report, Idle(d_small.reviews, idle_small, rows, idle_big), args)
    report.add("   daemon exit after SIGTERM", f"{stop_seconds * 1000:.0f} ms")
    report.add(
        f"6. peak RSS, drain of {n:,}",
        f"{d_big.max_rss_mb:.0f} MB",
        "target <= 100 MB",
        met=d_big.max_rss_mb <= 100,
    )
    report.add(f"6. peak RSS, drain of {small_n:,}", f"{d_small.max_rss_mb:.0f} MB", "flat")
    report.add(
        "7. longest bridge read transaction (drain)",
        f"{d_big.longest_read_ms:.1f} ms",
        "target <= 50 ms",
        met=d_big.longest_read_ms <= 50,
    )
    report.add("7. longest bridge read transaction (daemon)", f"{daemon_read_ms:.1f} ms")
    report.add(
        f"8. scaling: drain of {small_n:,}",
        f"{d_small.seconds:.2f} s",
        f"{d_small.rate:,.0f} msg/s",
    )
    report.add(f"8. scaling: drain of {n:,}", f"{d_big.seconds:.2f} s", f"{d_big.rate:,.0f} msg/s")
    report.add(
        "8. time per message, big / small",
        f"{(d_big.seconds / n) / (d_small.seconds / small_n):.2f}",
        "1.0 = linear",
    )
    files = sized_files(work, big, quick=args.quick)
    report_validation(report, files, maintenance, work, runs=runs)
    report_summary(report, summary_cost(big, maintenance, work, quick=args.quick), n)
    report_photos(report, files, maintenance, work, runs=runs)
    report_bridges(report, two_bridges(big, maintenance, work, runs=runs), n)
    report_drop_fetch(report, drop_fetch(work, maintenance, runs=runs))
    after = os.getloadavg()
    print(f"load average after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}", flush=True)
    text, passed = report.verdict(n, lat.missing)
    print(text, flush=True)
    if args.doc is not None:
        header = (
            f"Written by `python -m benchmarks.bench -n {n}` on "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code at {commit()}, on {machine()}; "
            f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after "
            f"{after[0]:.2f} {after[1]:.2f} {after[2]:.2f}; wall time "
            f"{(time.perf_counter() - started) / 60:.1f} min."
        )
        write_figures(args.doc, report, header, text)
        print(f"wrote the figures into {args.doc}", flush=True)
    return passed


@dataclass(frozen=True)
class Idle:
    small_reviews: int
    small: IdleRun
    big_reviews: int
    big: IdleRun


def idle_only(args: argparse.Namespace, work: Path, maintenance: str, big: BridgeFile) -> Idle:
    """Section 5 alone (--only-idle): each file drained, then its caught-up daemon idles."""
    small = build_bridge(_folder(work / "small") / "messages.db", args.small or args.messages // 10)
    with fresh_database(maintenance) as url:
        reviews = drain(small, url, work / "small").reviews
        idle_small = idle_production(
            work / "small", small.path, url, args.idle_seconds, alert_runs=3 if args.quick else 5
        )
    with fresh_database(maintenance) as url:
        drain(big, url, work / "big")
        rows = fill_reviews(url, max(args.messages, 1000))
        idle_big = idle_production(work / "big", big.path, url, args.idle_seconds)
    return Idle(reviews, idle_small, rows, idle_big)


def report_idle(report: Report, idle: Idle, args: argparse.Namespace) -> None:
    report.add(
        f"5. idle CPU, {idle.small_reviews:,} reviews in the table",
        f"{idle.small.cpu_per_hour:.2f} s/hour",
        "target <= 1",
        met=idle.small.cpu_per_hour <= 1,
    )
    report.add(
        f"5. idle CPU, {idle.big_reviews:,} reviews in the table",
        f"{idle.big.cpu_per_hour:.2f} s/hour",
        "target <= 1, flat",
        met=idle.big.cpu_per_hour <= 1,
    )
    report.add("   (idle window measured; production settings)", f"{args.idle_seconds:.0f} s")
    report.add(
        "5. alert timer (own process, `alerts check` 30x/hour, nothing new)",
        f"{idle.small.alert_timer or float('nan'):.2f} s/hour",
    )


def report_summary(report: Report, cost: OnOff, n: int) -> None:
    for name, drains in (("without", cost.off), ("with", cost.on)):
        rates = " / ".join(f"{d.rate / 1000:,.0f}k" for d in drains)
        report.add(f"10. drain of {n:,} {name} the per-day summary: msg/s", rates)
        cpu = " / ".join(f"{d.cpu_seconds:.2f}+{d.server_cpu_seconds:.2f}" for d in drains)
        report.add(f"10. {name}: CPU s, daemon + its PostgreSQL backends", cpu)
    report.add("10. drain rate, with / without the summary (medians)", f"{cost.median_ratio:.3f}")
    report.add("10. drain rate, with / without the summary (best runs)", f"{cost.ratio:.3f}")
    # The CPU the whole drain costs (daemon and server), least disturbed runs of each: what
    # the summary's triggers add to the work, whatever else the machine is doing.
    by_cpu = min(d.total_cpu for d in cost.off) / min(d.total_cpu for d in cost.on)
    report.add(
        "10. drain work, CPU without / with the summary (best runs)",
        f"{by_cpu:.3f}",
        "target >= 0.95",
        met=by_cpu >= 0.95,
    )


VALIDATION_SIZES = (50_000, 200_000)  # and N: the sizes issue 26 names
PHOTO_SIZES = (200_000,)  # and N: the sizes issue 22 names


def sized_files(work: Path, big: BridgeFile, *, quick: bool) -> dict[int, BridgeFile]:
    """The bridge files the comparisons drain: N, and the issues' smaller sizes below N (built
    the same way, a file each; the quick run drains N alone)."""
    files = {big.messages: big}
    if not quick:
        for size in sorted({*VALIDATION_SIZES, *PHOTO_SIZES}):
            if size < big.messages:
                files[size] = build_bridge(_folder(work / f"n{size}") / "messages.db", size)
    return files


def report_validation(
    report: Report, files: dict[int, BridgeFile], maintenance: str, work: Path, *, runs: int
) -> None:
    """Section 9: the drain with validation on vs off, at each size and in both shapes."""
    big = max(files)
    seconds = import_seconds(files[big], maintenance, work)
    report.add(
        f"9. validation: import of a {PLAN_SIZE:,}-drop plan (drops import)",
        f"{seconds:.2f} s",
        "target <= 5 s",
        met=seconds <= 5.0,
    )
    for size in sorted(s for s in files if s in VALIDATION_SIZES or s == big):
        shapes = validation(files[size], maintenance, work, runs=runs)
        off = next(iter(shapes.values())).off
        report.add(
            f"9. drain of {size:,}, validation off: msg/s (daemon CPU, median)",
            " / ".join(f"{d.rate / 1000:,.0f}k" for d in off),
            f"{statistics.median(d.cpu_seconds for d in off):.2f} s",
        )
        for k, compared in shapes.items():
            report.add(
                f"9. drain of {size:,}, validation on ({k} projects): msg/s (daemon CPU)",
                " / ".join(f"{d.rate / 1000:,.0f}k" for d in compared.on),
                f"{statistics.median(d.cpu_seconds for d in compared.on):.2f} s; "
                f"{compared.invalid:,} invalid drops recorded",
            )
            report.add(
                f"9.   on ({k} projects) / off at {size:,}: medians | best runs",
                f"{compared.median_ratio:.2f} | {compared.ratio:.2f}",
                "target >= 0.90 (best)",
                met=compared.ratio >= 0.90,
            )


def report_photos(
    report: Report, files: dict[int, BridgeFile], maintenance: str, work: Path, *, runs: int
) -> None:
    """Section 11: the drain with photo association on vs off (15% of messages are photos)."""
    big = max(files)
    for size in sorted(s for s in files if s in PHOTO_SIZES or s == big):
        compared = photo_cost(files[size], maintenance, work, runs=runs)
        for name, drains in (("off", compared.off), ("on", compared.on)):
            report.add(
                f"11. drain of {size:,}, photos {name}: msg/s (daemon CPU, median)",
                " / ".join(f"{d.rate / 1000:,.0f}k" for d in drains),
                f"{statistics.median(d.cpu_seconds for d in drains):.2f} s",
            )
        report.add(
            f"11.   photos on / off at {size:,}: medians | best runs",
            f"{compared.median_ratio:.2f} | {compared.ratio:.2f}",
            "target >= 0.90 (best)",
            met=compared.ratio >= 0.90,
        )
        # The work the photos add, daemon and server, least disturbed runs of each: on a busy
        # machine the rates say more about the neighbours than about the drain.
        for name, drains in (("off", compared.off), ("on", compared.on)):
            report.add(
                f"11.   photos {name}: CPU s, daemon + its PostgreSQL backends",
                " / ".join(f"{d.cpu_seconds:.2f}+{d.server_cpu_seconds:.2f}" for d in drains),
            )
        by_cpu = min(d.total_cpu for d in compared.off) / min(d.total_cpu for d in compared.on)
        report.add(f"11.   drain work, CPU off / on at {size:,} (best runs)", f"{by_cpu:.2f}")


def _folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    sys.exit(main())
