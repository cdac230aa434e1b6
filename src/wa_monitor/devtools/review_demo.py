"""`wa-monitor demo --review`: the whole review loop to click through in a browser.

An embedded PostgreSQL, a simulated bridge (messages.db and its HTTP API), the prod monitor and
the dashboard. Agents post a few drops with their photos (drawn JPEGs, one drop short of 12,
one photo expired on WhatsApp's servers, one video), fetched by the monitor before the dashboard
opens; a person logs in as a reviewer, ticks the steps, sends
feedback (the simulated bridge "posts" it into the group, as the bot's own message), and the
agent answers a little later with "DR… fixed", which the monitor turns into a resubmission.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role, UserBook
from wa_monitor.devtools.bridge_api import SentMessage, SimulatedBridgeApi
from wa_monitor.devtools.demo import AGENTS, BOT, PROJECTS, run_cli, wait_for_stop, working_folder
from wa_monitor.devtools.embedded import embedded_postgres
from wa_monitor.devtools.photos import LAWLEY, WALK, clip, draw
from wa_monitor.devtools.simulator import (
    BridgeWriter,
    Post,
    bridge_timestamp,
    media_post,
    message_id,
)
from wa_monitor.services import accounts
from wa_monitor.settings import DATABASE_URL_VAR, PROD_SCHEMA, WEB_SECRET_VAR, Environment

GROUPS = ("Lawley", "Mohadin")
DROPS = (
    ("Lawley", "27825550147", "DR1752028 12 Jacaranda St, all 12 photos"),
    ("Lawley", "27821234567", "DR1752031 88 Protea Ave done"),
    ("Mohadin", "27715550123", "dr1752040 5 Baobab Cres photos above"),
    ("Mohadin", "27837654321", "DR 1752044 301 Marula Rd"),
)
REVIEWER, VIEWER = "reviewer", "viewer"
TZ = ZoneInfo("Africa/Johannesburg")


def run_review_demo(
    *, seconds: float | None, workdir: Path | None, keep: bool, port: int, answer_s: float
) -> int:
    """Serve the review loop until Ctrl-C (or `seconds`); return the exit code. A temporary
    working folder is removed after, unless `keep`."""
    with working_folder(workdir, "wa-monitor-review-demo-", keep=keep) as work:
        return _review_demo(work, seconds, port, answer_s)


def _review_demo(work: Path, seconds: float | None, port: int, answer_s: float) -> int:
    password = secrets.token_urlsafe(9)
    print(f"wa-monitor review demo — working folder {work}")
    print("▶ starting an embedded PostgreSQL …", flush=True)
    with embedded_postgres(work / "pgdata") as url:
        bridge_path = work / "bridge" / "messages.db"
        bridge_path.parent.mkdir(exist_ok=True)
        bridge_path.unlink(missing_ok=True)
        with BridgeWriter(bridge_path) as writer:
            writer.chats(PROJECTS)
        agent = _Agent(bridge_path, delay_s=answer_s)
        with SimulatedBridgeApi(
            bridge_db=bridge_path,
            bot_number=BOT,
            record_file=work / "bridge" / "sent.jsonl",
            on_post=agent.answer,
        ) as api:
            config = _write_config(work, bridge_path, api.url, port)
            env = {**os.environ, DATABASE_URL_VAR: url, WEB_SECRET_VAR: secrets.token_urlsafe(32)}
            run_cli(["schema", "migrate", "--config", str(config)], env, "migrate prod")
            _add_users(url, password)
            _post_drops(api)
            # Drained once and fetched before the daemon starts: the photos are there at once.
            run_cli(["run", "--config", str(config), "--once"], env, "drain the drops")
            run_cli(["photos", "fetch", "--config", str(config)], env, "fetch the photos")
            with (
                _service(["run", "--config", str(config)], env, work / "monitor.stderr"),
                _service(["web", "--config", str(config)], env, work / "web.stderr"),
            ):
                _wait_for_port(port)
                _tell(port, password, api.url, work)
                wait_for_stop(seconds)
    print("▶ stopped")
    return 0


class _Agent:
    """The field agent: reads the feedback in the group and posts the fix a little later."""

    def __init__(self, bridge: Path, *, delay_s: float) -> None:
        self.bridge = bridge
        self.delay_s = delay_s

    def answer(self, sent: SentMessage) -> None:
        drop = sent.text.split("\n", 1)[0].strip()
        if "NEEDS CORRECTION" not in sent.text or not drop.upper().startswith("DR"):
            return
        print(
            f"▶ feedback for {drop} posted to the group; the agent answers in {self.delay_s:.0f} s"
        )
        timer = threading.Timer(self.delay_s, self._fix, args=(sent.recipient, drop))
        timer.daemon = True
        timer.start()

    def _fix(self, group: str, drop: str) -> None:
        phone = next((p for _, p, text in DROPS if drop[2:] in text), next(iter(AGENTS)))
        with BridgeWriter(self.bridge) as writer:
            writer.post(
                Post(
                    id=message_id(random.Random()),  # noqa: S311 - ids, not security
                    chat_jid=group,
                    sender=phone,
                    content=f"{drop} fixed, photos updated",
                    timestamp=bridge_timestamp(datetime.now(TZ)),
                )
            )
        print(f"▶ the agent posted “{drop} fixed”: the monitor marks it resubmitted", flush=True)


def _write_config(work: Path, bridge: Path, api_url: str, port: int) -> Path:
    lines = [
        'environment = "prod"',
        'schema = "public"',
        f'log_file = "{work / "logs" / "wa-monitor-prod.log"}"',
        f'bridge_db = "{bridge}"',
        "poll_interval_seconds = 0.5",
        f'bot_senders = ["{BOT}"]',
        f'bridge_api_url = "{api_url}"',
        f'photos_cache_dir = "{work / "photos-cache"}"',
        "photos_fetch_per_minute = 6000",
        "",
        "[web]",
        f"port = {port}",
        "refresh_seconds = 5",
    ]
    for jid, name in PROJECTS.items():
        if name in GROUPS:
            lines += ["", "[[projects]]", f'name = "{name}"', f'group_jid = "{jid}"']
    folder = work / "config"
    folder.mkdir(exist_ok=True)
    path = folder / "prod.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _add_users(url: str, password: str) -> None:
    db = Database(url, PROD_SCHEMA, Environment.PROD.value)
    with db.session("demo") as conn:
        for name, role in ((REVIEWER, Role.REVIEWER), (VIEWER, Role.VIEWER)):
            accounts.add_user(
                UserBook(conn, db),
                username=name,
                display_name=name.title(),
                role=role,
                password=password,
            )


# Photos per drop, in DROPS' order: (photos, expired among them, with a video); one short of 12.
PHOTOS = ((12, 0, False), (9, 0, False), (12, 1, False), (6, 0, True))


def _post_drops(api: SimulatedBridgeApi) -> None:
    """Each agent's photos over the minutes before, then the drop number."""
    assert api.bridge_db is not None  # noqa: S101 - the demo's bridge has its file
    groups = {name: jid for jid, name in PROJECTS.items()}
    now = datetime.now(TZ)
    for i, ((project, phone, _), (count, expired, video)) in enumerate(
        zip(DROPS, PHOTOS, strict=True)
    ):
        media = [
            media_post(
                id=f"DEMO{i}P{n:02d}",
                chat_jid=groups[project],
                sender=phone,
                moment=now - timedelta(minutes=20) + timedelta(seconds=40 * n + 7 * i),
                data=draw(WALK[n % len(WALK)], taken=now, place=LAWLEY, label=f"{i}-{n}"),
            )
            for n in range(count)
        ]
        if video:
            media.append(
                media_post(
                    id=f"DEMO{i}V",
                    chat_jid=groups[project],
                    sender=phone,
                    moment=now - timedelta(minutes=5, seconds=i),
                    data=clip(f"demo {i}"),
                    media_type="video",
                )
            )
        api.post_media(*media)
        api.expire(*media[:expired])
    with BridgeWriter(api.bridge_db) as writer:
        writer.post_many(
            Post(
                id=f"DEMO{i}",
                chat_jid=groups[project],
                sender=phone,
                content=text,
                timestamp=bridge_timestamp(now),
            )
            for i, (project, phone, text) in enumerate(DROPS)
        )


@contextmanager
def _service(args: list[str], env: dict[str, str], stderr: Path) -> Iterator[None]:
    with stderr.open("w") as err:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "wa_monitor", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"demo: the dashboard did not start on port {port} (see web.stderr)")


def _tell(port: int, password: str, api_url: str, work: Path) -> None:
    print(
        f"▶ dashboard: http://127.0.0.1:{port}/wa-monitor\n"
        f"  log in as '{REVIEWER}' (or '{VIEWER}', who may only look), password: {password}\n"
        f"▶ the simulated bridge's HTTP API (it stands in for the real bridge): {api_url}\n"
        f"  what it posted: {work / 'bridge' / 'sent.jsonl'}\n"
        "▶ open a review: its photos sit beside the steps (click one: zoom, ← →, which step).\n"
        "  Mark a step wrong, save, send the feedback: the agent answers with a\n"
        "  fix, the review comes back as resubmitted. Ctrl-C stops the demo.",
        flush=True,
    )
