"""The demo is the README's first command: it must keep working end to end."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.support.web import csrf_of, free_port
from wa_monitor.settings import load_settings

# Patience, not a speed check: a demo starts its own embedded PostgreSQL (initdb) and, for
# --review, draws and fetches its photos; ~17 s on a quiet machine, minutes on a loaded one.
PATIENCE = 600


def test_demo_shows_both_environments_on_one_bridge(demo_folder: Path) -> None:
    port = free_port()
    args = ["demo", "--seconds", "8", "--dir", str(demo_folder), "--port", str(port)]
    demo = subprocess.Popen(
        [sys.executable, "-m", "wa_monitor", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    lines = []
    while not any("the prod dashboard:" in line for line in lines):
        line = demo.stdout.readline()
        assert line, demo.communicate()[1]
        lines.append(line)
    lines += [demo.stdout.readline() for _ in range(2)]
    found = re.search(
        r"(http://\S+/wa-monitor)\n\s+login:\s+(\S+)\n\s+password: (\S+)\n$", "".join(lines[-3:])
    )
    assert found, lines[-3:]
    url, user, password = found.groups()
    assert url == f"http://127.0.0.1:{port}/wa-monitor"
    # While the simulated bridge writes, the prod dashboard's count moves.
    with httpx2.Client(base_url=url) as browser:
        form = {"csrf": csrf_of(browser.get("/login").text), "username": user}
        assert browser.post("/login", data=form | {"password": password}).status_code == 303
        deadline = time.monotonic() + 8
        totals = [browser.get("", params={"format": "json"}).json()["total"]]
        while time.monotonic() < deadline and totals[-1] == totals[0]:
            time.sleep(0.5)
            totals.append(browser.get("", params={"format": "json"}).json()["total"])
    assert totals[-1] > totals[0]
    out = "".join(lines) + demo.communicate(timeout=PATIENCE)[0]
    assert demo.returncode == 0
    assert "exit codes prod=0, dev=0" in out
    table = out.split("latest created_at\n", 1)[1].splitlines()
    prod, dev = table[0].split(), table[1].split()
    assert prod[0] == "prod"
    assert int(prod[1]) > 0
    assert dev[0] == "dev"
    assert int(dev[1]) > 0
    assert "public.qa_photo_reviews  Mamelodi" in out  # prod-only group
    assert "dev.qa_photo_reviews     Velo Test" in out  # dev-only group
    assert "public.qa_photo_reviews  Velo Test" not in out
    dev_log = (demo_folder / "logs" / "wa-monitor-dev.log").read_text(encoding="utf-8")
    assert all(line.startswith("[DEV] ") for line in dev_log.splitlines())
    assert "✅ Created QA review for DR" in dev_log
    # The mistyped drop in the test group: recorded by dev, answered once, in that group only.
    assert "DR17520280  Velo Test" in out
    replies = out.split("/api/send (once, after COMMIT) ──\n", 1)[1].splitlines()
    assert replies[0] == (
        "→ Velo Test: ❌ Invalid Drop Number / Drop DR17520280 is not in the valid list for "
        "Velo Test. / Please submit a valid drop number from the project plan."
    )
    assert len(replies) == 1 or not replies[1].startswith("→")


def test_the_demo_removes_its_temporary_folder_and_says_so(demo_folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wa_monitor", "demo", "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
        env={**os.environ, "TMPDIR": str(demo_folder)},
    )
    assert done.returncode == 0, done.stderr
    assert list(demo_folder.glob("wa-monitor-demo-*")) == []
    assert "▶ removed the working folder" in done.stdout
    assert "--keep leaves it" in done.stdout


def test_the_review_demo_removes_its_temporary_folder_too(demo_folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wa_monitor", "demo", "--review", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
        env={**os.environ, "TMPDIR": str(demo_folder)},
    )
    assert done.returncode == 0, done.stderr
    assert list(demo_folder.glob("wa-monitor-review-demo-*")) == []
    assert "▶ removed the working folder" in done.stdout


def test_make_bridge_writes_a_sample_bridge_and_the_configs_that_read_it(
    demo_folder: Path,
) -> None:
    folder = demo_folder / "try"
    args = [sys.executable, "-m", "wa_monitor", "demo", "--make-bridge", str(folder)]
    done = subprocess.run(
        [*args, "--seconds", "1"], capture_output=True, text=True, timeout=PATIENCE, check=False
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(folder / "bridge" / "messages.db") as conn:
        count = conn.execute("SELECT count(*) FROM messages WHERE content LIKE '%DR%'").fetchone()
        columns = {r[1] for r in conn.execute("PRAGMA table_info(messages)")}
        chats = {r[0] for r in conn.execute("SELECT jid FROM chats WHERE jid LIKE '%@g.us'")}
        agents = {
            r[0].split("@")[0]
            for r in conn.execute(
                "SELECT DISTINCT sender FROM messages WHERE content LIKE '%DR%' "
                "AND content NOT LIKE '✅%'"
            )
        }
    assert count[0] > 0
    assert {"id", "chat_jid", "sender", "content", "timestamp", "is_from_me"} <= columns
    assert (folder / "bridge" / "whatsapp.db").exists()
    # The sample agrees with the shipped configs: the same groups, no agent on a bot number.
    for env in ("prod", "dev"):
        shipped = load_settings(Path("config") / f"{env}.toml")
        tried = load_settings(folder / "config" / f"{env}.toml")
        watched = {p.group_jid for p in tried.projects if p.enabled}
        assert watched == {p.group_jid for p in shipped.projects if p.enabled}
        assert watched <= chats
        assert tried.bot_senders == shipped.bot_senders
        assert agents
        assert not agents & shipped.bot_senders
    assert f"export WA_MONITOR_CONFIG_DIR={folder.resolve() / 'config'}" in done.stdout
    assert "wa-monitor schema migrate --env prod" in done.stdout
    again = subprocess.run(args, capture_output=True, text=True, timeout=PATIENCE, check=False)
    assert again.returncode != 0
    assert "not empty" in again.stderr
    a_file = subprocess.run(
        [*args[:-1], str(demo_folder / "messages.db")],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )
    assert a_file.returncode != 0
    assert "takes a folder" in a_file.stderr
