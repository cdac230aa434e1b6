"""`wa-monitor demo`: prod and dev side by side on one simulated bridge and an embedded database."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.sqlfiles import named_queries
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.embedded import embedded_postgres
from wa_monitor.devtools.history import seed_history
from wa_monitor.devtools.simulator import (
    BridgeWriter,
    Post,
    Twins,
    bridge_timestamp,
    create_lid_map,
    message_id,
)
from wa_monitor.settings import CONFIG_DIR_VAR, DATABASE_URL_VAR, WEB_SECRET_VAR, load_settings

SIMULATOR_SQL = named_queries(__package__, "simulator.sql")  # the bridge file's last rowid
PROJECTS = {
    "120363418298130331@g.us": "Lawley",
    "120363421532174586@g.us": "Mohadin",
    "120363408849234743@g.us": "Mamelodi",
    "120363421664266245@g.us": "Velo Test",  # the real test group, as config/dev.toml has it
}
PROD_GROUPS = ["Lawley", "Mohadin", "Mamelodi"]
DEV_GROUPS = ["Velo Test", "Lawley"]  # the test group, plus one production group's real traffic
# Agents' numbers are never a bot number: the shipped configs skip those (bot_senders).
AGENTS = {
    "27825550147": "Sipho Mokoena",
    "27821234567": "Thabo Nkosi",
    "27715550123": "Lerato Dlamini",
    "27837654321": "Johan van Wyk",
    "27609998877": "Ayanda Khumalo",
}
LID_SENDER = ("210987654321098", "27821234567")  # a LID the bridge stores instead of the number
BOT = "27640412391"  # a known bot number, listed in the shipped configs' bot_senders
CHATTER = [
    "Morning team 👷",
    "Who has the ladder?",
    "Pole 23 is leaning, logged it",
    "On site now",
    "ONT not powering on, checking the UPS",
    "Customer not home, will return at 2",
    "Need more drop cable at the depot",
    "Thanks!",
    "Rain stopped, continuing",
    "👍",
]
ADDRESSES = ["12 Jacaranda St", "88 Protea Ave", "5 Baobab Cres", "301 Marula Rd", "17 Aloe Ln"]
SAST = timezone(timedelta(hours=2))
LOG_TAIL = 8
DEMO_USER = "demo"
DEMO_PASSWORD = "watch-the-counts"  # noqa: S105  a demo login, printed for the viewer
DASHBOARD_PORT = 8090
FIRST_DROP = 1752028
TEST_GROUP = "Velo Test"  # dev validates here and answers an invalid drop
FIRST, SECOND = "host-a", "host-b"  # production's two bridges (linked devices)
PLAN = [f"DR{FIRST_DROP + i}" for i in range(10_000)]  # the test group's plan list
MISTYPED = "DR17520280"  # an agent's extra digit: not in the plan


@dataclass
class _Story:
    """What the simulated bridge has written, to tell the viewer."""

    messages: int = 0
    drops_posted: int = 0
    resubmissions: int = 0
    multi: int = 0
    lid: int = 0
    redelivered: int = 0
    late_history: int = 0
    offset_switch: str = ""
    mistyped: int = 0
    second_down_at: float = 0.0
    second_synced: int = 0  # messages the second bridge missed, stored by its history sync
    posted: deque[tuple[str, str, str]] = field(default_factory=lambda: deque(maxlen=30))


def run_demo(
    *,
    seconds: float,
    workdir: Path | None,
    keep: bool = False,
    port: int | None = None,
    stay: bool = False,
) -> int:
    """Run the demo; return the exit code. With `stay`, the dashboard stays up after the
    bridge's run until Ctrl-C or SIGTERM."""
    with working_folder(workdir, "wa-monitor-demo-", keep=keep) as work:
        print(f"wa-monitor demo — working folder {work}")
        return _demo(work, seconds, port or _free_port(DASHBOARD_PORT), stay=stay)


@contextlib.contextmanager
def working_folder(named: Path | None, prefix: str, *, keep: bool) -> Iterator[Path]:
    """The folder a demo works in: `named` (left in place after), or a new temporary one that
    is removed after unless `keep`. Either way the demo says where it is and how big."""
    work = named or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        size = _megabytes(work)
        if named is None and not keep:
            shutil.rmtree(work, ignore_errors=True)
            print(f"▶ removed the working folder {work} ({size} MB; --keep leaves it)")
        else:
            print(f"▶ left the working folder {work} ({size} MB): remove it with rm -rf {work}")


def wait_for_stop(seconds: float | None) -> None:
    """Wait `seconds` (None: for ever) or until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait(seconds)


def _demo(work: Path, seconds: float, web_port: int, *, stay: bool) -> int:
    print("▶ starting an embedded PostgreSQL …", flush=True)
    with embedded_postgres(work / "pgdata") as url:
        bridge_path, lid_path = make_bridge(work / "bridge" / "messages.db")
        # Production's second linked device, on "another host": the same messages, its own file.
        second, second_lid = make_bridge(work / "bridge-b" / "messages.db")
        api = SimulatedBridgeApi(bridge_db=bridge_path, bot_number=BOT).start()
        configs = {
            env: _write_config(
                work,
                env,
                bridge_path,
                lid_path,
                api.url,
                web_port=web_port,
                second=(second, second_lid) if env == "prod" else None,
            )
            for env in ("prod", "dev")
        }
        # Dev learns which groups are production's (never to be answered) from prod's config.
        env_vars = {
            **os.environ,
            DATABASE_URL_VAR: url,
            CONFIG_DIR_VAR: str(work / "config"),
            WEB_SECRET_VAR: secrets.token_urlsafe(48),
        }
        for env, config in configs.items():
            run_cli(["schema", "migrate", "--config", str(config)], env_vars, f"migrate {env}")
        prod_db = Database(url, load_settings(configs["prod"]).schema, "prod")
        past = seed_history(url, prod_db, projects=PROD_GROUPS, agents=AGENTS)
        print(f"▶ prod's past six weeks: {past} reviews with their verdicts and feedback")
        plan = work / "velo-plan.csv"
        plan.write_text("Drop Number\n" + "\n".join(PLAN) + "\n", encoding="utf-8")
        import_args = ["drops", "import", "--config", str(configs["dev"])]
        run_cli([*import_args, "--project", TEST_GROUP, str(plan)], env_vars, "import dev's plan")
        print(f"▶ simulated bridge writes to {bridge_path}")
        print(
            f"▶ a second linked device ({SECOND}) stores the same messages in {second}; it is "
            "down for a while, then syncs its history"
        )
        print("▶ prod watches " + ", ".join(PROD_GROUPS) + " → schema public, from both bridges")
        print("▶ dev  watches " + ", ".join(DEV_GROUPS) + " → schema dev")
        with contextlib.ExitStack() as stderrs:
            dashboard = _start_dashboard(work, configs["prod"], env_vars, web_port, stderrs)
            runs = {
                "prod": (configs["prod"], FIRST),
                "dev": (configs["dev"], None),
                f"prod@{SECOND}": (configs["prod"], SECOND),
            }
            monitors = {
                name: subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    [sys.executable, "-m", "wa_monitor", "run", "--config", str(config)]
                    + (["--bridge", bridge] if bridge else []),
                    env=env_vars,
                    stdout=subprocess.DEVNULL,
                    stderr=stderrs.enter_context((work / f"{name}.stderr").open("w")),
                )
                for name, (config, bridge) in runs.items()
            }
            try:
                story = _simulate({FIRST: bridge_path, SECOND: second}, seconds)
                dbs = {
                    env: Database(url, load_settings(config).schema, env)
                    for env, config in configs.items()
                }
                _catch_up(url, {FIRST: bridge_path, SECOND: second}, dbs["prod"])
                _catch_up(url, {"main": bridge_path}, dbs["dev"])
                if stay:
                    print(
                        f"▶ the bridge stopped writing; the dashboard stays up at "
                        f"http://127.0.0.1:{web_port}/wa-monitor: Ctrl-C ends the demo",
                        flush=True,
                    )
                    wait_for_stop(None)
            finally:
                codes = _stop(monitors)
                _stop({"web": dashboard})
                api.stop()
        _report(url, work, story, codes, dbs)
        _report_replies(url, api, dbs["dev"])
    return 0 if all(code == 0 for code in codes.values()) else 1


def _catch_up(url: str, bridges: Mapping[str, Path], db: Database, *, within: float = 60.0) -> None:
    """Wait until the environment's monitors have read each bridge's last message (on a loaded
    machine that can take a while), then a moment for the reply sender to post what they
    wrote."""
    last = {}
    for name, bridge in bridges.items():
        with sqlite3.connect(f"file:{bridge}?mode=ro", uri=True) as lite:
            last[name] = lite.execute(SIMULATOR_SQL["last_rowid"]).fetchone()[0] or 0
    deadline = time.monotonic() + within
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            read: dict[str, int] = dict(conn.execute(_query("read_up_to", db)).fetchall())
            if all(read.get(name, 0) >= rowid for name, rowid in last.items()):
                break
            time.sleep(0.2)
    time.sleep(1.5)


def _megabytes(folder: Path) -> int:
    total = sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file())
    return round(total / 1_000_000)


def make_bridge(path: Path) -> tuple[Path, Path]:
    """An empty messages.db at `path` in the bridge's exact schema, with the demo's group and
    contact chats, and its whatsapp.db (the LID map) beside it; returns both paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bridge_path, lid_path = path, path.parent / "whatsapp.db"
    for stale in (bridge_path, lid_path):
        stale.unlink(missing_ok=True)
    with BridgeWriter(bridge_path) as writer:
        writer.chats(PROJECTS)
        writer.chats({f"{phone}@s.whatsapp.net": name for phone, name in AGENTS.items()})
    create_lid_map(lid_path, dict([LID_SENDER]))
    return bridge_path, lid_path


def make_sample_bridge(folder: Path, *, seconds: float) -> int:
    """`wa-monitor demo --make-bridge DIR`: a sample bridge and the two configs that read it,
    to try every command on a PostgreSQL of one's own; prints what to type next."""
    if folder.suffix == ".db" or folder.is_file():
        raise SystemExit(
            f"demo: --make-bridge takes a folder (it writes bridge/, config/ and logs/ there), "
            f"not a file: try --make-bridge {folder.with_suffix('')}"
        )
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"demo: {folder} is not empty; name a new folder (nothing is overwritten)")
    folder = folder.resolve()
    bridge_path, lid_path = make_bridge(folder / "bridge" / "messages.db")
    story = _simulate({FIRST: bridge_path}, seconds)
    for env in ("prod", "dev"):
        write_try_config(folder, env, bridge_path, lid_path)
    print(
        f"▶ wrote {story.messages} messages ({story.drops_posted} drop numbers) to "
        f"{bridge_path} in the bridge's exact schema, its LID map {lid_path}, and "
        f"{folder / 'config'}/prod.toml and dev.toml that read them (replies and alerts off: "
        "no bridge API runs here)"
    )
    config, url = folder / "config", "postgresql://USER@localhost/DBNAME"
    service_url = "postgresql://wa_monitor_prod@localhost/DBNAME"
    random_text = "$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
    print(
        f"""
Next, in this shell: USER and DBNAME are your PostgreSQL's (a role that may create schemas).

    export {CONFIG_DIR_VAR}={config}
    export {DATABASE_URL_VAR}={url}
    export {WEB_SECRET_VAR}="{random_text}"

    wa-monitor schema migrate --env prod && wa-monitor schema migrate --env dev
    wa-monitor run --env prod --once && wa-monitor run --env dev --once
    wa-monitor status

The dashboard, as a reviewer named you (it asks for a password; Ctrl-C stops the server):

    wa-monitor users add --env prod --role reviewer you
    wa-monitor web --env prod

then open http://127.0.0.1:8090/wa-monitor and log in.

`wa-monitor doctor --env prod` checks everything; its role check wants the service's own
role, with exactly the rights it needs (add PASSWORD '…' if your server asks for one):

    psql "${DATABASE_URL_VAR}" -c 'CREATE ROLE wa_monitor_prod LOGIN'
    wa-monitor schema grant --env prod --role wa_monitor_prod
    {DATABASE_URL_VAR}={service_url} wa-monitor doctor --env prod""",
        flush=True,
    )
    return 0


def write_try_config(folder: Path, env: str, bridge: Path, lid_map: Path) -> Path:
    """A config for `env` that reads the sample bridge in `folder`, with everything that would
    need the real bridge's API or a mail relay off, so that `doctor` passes."""
    prod = env == "prod"
    lines = [
        f"# wa-monitor {env}, reading the sample bridge of `wa-monitor demo --make-bridge`.",
        f'environment = "{env}"',
        f'schema = "{"public" if prod else "dev"}"',
        f'log_prefix = "{"" if prod else "[DEV]"}"',
        f'log_file = "{folder / "logs" / f"wa-monitor-{env}.log"}"',
        f'bridge_db = "{bridge}"',
        f'lid_map_db = "{lid_map}"',
        'bot_senders = ["27640412391", "27711558396"]',
        "replies = false  # no bridge API to post through: `demo --review` shows replies",
        "",
        "[alerts]",
        "enabled = false  # a deployment names an ops group or e-mail (docs/OPERATIONS.md)",
        "",
        "[web]",
        f"port = {8090 if prod else 8091}",
        "secure_cookies = false  # plain HTTP on loopback: no TLS proxy here",
    ]
    test_group = next(jid for jid, name in PROJECTS.items() if name == TEST_GROUP)
    if not prod:
        lines.append(f'feedback_group = "{test_group}"  # Velo Test')
    for jid, name in PROJECTS.items():
        if (name == TEST_GROUP) != prod:
            lines += ["", "[[projects]]", f'name = "{name}"', f'group_jid = "{jid}"']
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    path = folder / "config" / f"{env}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _start_dashboard(
    work: Path,
    config: Path,
    env_vars: dict[str, str],
    port: int,
    stderrs: contextlib.ExitStack,
) -> subprocess.Popen[bytes]:
    """The prod dashboard on the demo's database, with a demo user; its URL is printed."""
    add = ["users", "add", DEMO_USER, "--role", "reviewer", "--password-stdin"]
    run_cli([*add, "--config", str(config)], env_vars, "dashboard user", DEMO_PASSWORD)
    dashboard = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "wa_monitor", "web", "--config", str(config)],
        env=env_vars,
        stdout=subprocess.DEVNULL,
        stderr=stderrs.enter_context((work / "web.stderr").open("w")),
    )
    deadline = time.monotonic() + 30
    while True:
        if dashboard.poll() is not None:
            raise SystemExit(f"demo: the dashboard exited with {dashboard.returncode} (web.stderr)")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline:
            dashboard.kill()
            raise SystemExit("demo: the dashboard did not start within 30 s (web.stderr)")
        time.sleep(0.2)
    print(
        f"▶ the prod dashboard: http://127.0.0.1:{port}/wa-monitor\n"
        f"  login:    {DEMO_USER}\n"
        f"  password: {DEMO_PASSWORD}\n"
        "  log in and watch the counts move while the bridge writes",
        flush=True,
    )
    return dashboard


def _free_port(preferred: int) -> int:
    """`preferred` when nothing listens there, else any free port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_config(
    work: Path,
    env: str,
    bridge: Path,
    lid_map: Path,
    api_url: str,
    *,
    web_port: int,
    second: tuple[Path, Path] | None = None,
) -> Path:
    """An environment's config; with `second` (a messages.db and its LID map), two bridges."""
    groups = PROD_GROUPS if env == "prod" else DEV_GROUPS
    lines = [
        f'environment = "{env}"',
        f'schema = "{"public" if env == "prod" else "dev"}"',
        f'log_prefix = "{"" if env == "prod" else "[DEV]"}"',
        f'log_file = "{work / "logs" / f"wa-monitor-{env}.log"}"',
        "poll_interval_seconds = 0.5",
        f'bot_senders = ["{BOT}"]',
    ]
    if second is None:
        lines += [f'bridge_db = "{bridge}"', f'lid_map_db = "{lid_map}"']
        lines += [f'bridge_api_url = "{api_url}"']
    if env == "dev":
        lines.append("replies = true  # only in its own groups: never in one prod watches")
    for name, (db, lids) in (
        {FIRST: (bridge, lid_map), SECOND: second}.items() if second is not None else ()
    ):
        lines += ["", "[[bridges]]", f'name = "{name}"', f'db = "{db}"', f'lid_map_db = "{lids}"']
        lines += [f'api_url = "{api_url}"']
    # Plain HTTP on loopback: no TLS proxy in a demo, so the cookie may not ask for HTTPS.
    lines += ["", "[web]", f"port = {web_port if env == 'prod' else web_port + 1}"]
    lines += ["secure_cookies = false", "refresh_seconds = 5"]
    if env == "dev":  # the dev dashboard's feedback goes to the test group only
        test_group = next(jid for jid, name in PROJECTS.items() if name == TEST_GROUP)
        lines.append(f'feedback_group = "{test_group}"')
    for jid, name in PROJECTS.items():
        if name in groups:
            lines += ["", "[[projects]]", f'name = "{name}"', f'group_jid = "{jid}"']
            if env == "dev" and name == TEST_GROUP:
                lines.append("validate = true")
    folder = work / "config"
    folder.mkdir(exist_ok=True)
    path = folder / f"{env}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(args: list[str], env: dict[str, str], what: str, stdin: str = "") -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "wa_monitor", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"demo: {what} failed: {done.stderr.strip()}")
    print(f"▶ {what}: {done.stdout.strip()}")


def _simulate(  # noqa: PLR0912, PLR0915 - one scripted story
    paths: Mapping[str, Path], seconds: float
) -> _Story:
    """Write realistic group traffic for `seconds`, the way the bridges do: the second is down
    from 30% to 55% of the time, then stores what it missed as a history sync."""
    rng = random.Random(20251111)  # noqa: S311 - a repeatable story, not security
    story = _Story()
    offset = UTC  # the bridge host starts on UTC, then moves to SAST
    next_drop = FIRST_DROP
    velo_jid = next(j for j, name in PROJECTS.items() if name == TEST_GROUP)
    deadline = time.monotonic() + seconds
    print(f"▶ the bridge is writing for {seconds:.0f} s …", flush=True)
    with Twins(paths) as writer:
        while time.monotonic() < deadline:
            elapsed = 1 - (deadline - time.monotonic()) / seconds
            if SECOND in paths and 0.3 < elapsed < 0.55 and not story.second_down_at:
                writer.down(SECOND)
                story.second_down_at = time.monotonic()
            if elapsed >= 0.55 and story.second_down_at and not story.second_synced:
                story.second_synced = writer.up(SECOND)
            if elapsed > 0.6 and offset is UTC:
                offset = SAST
                story.offset_switch = "bridge host moved from UTC (+00:00) to SAST (+02:00)"
            now = datetime.now(offset)
            jid = rng.choice(list(PROJECTS))
            sender = rng.choice(list(AGENTS))
            roll = rng.random()
            if roll < 0.45:
                content: str | None = rng.choice(CHATTER)
            elif roll < 0.5:
                content = None  # a photo without caption
            elif roll < 0.58 and story.posted:
                jid, drop, sender = rng.choice(list(story.posted))
                content = f"{drop} {rng.choice(['fixed', 'done, photos updated', 'Updated'])}"
                story.resubmissions += 1
            elif roll < 0.62:
                drops = [f"DR{next_drop}", f"DR{next_drop + 1}"]
                next_drop += 2
                content = f"{drops[0]} and {drops[1].lower()} done at {rng.choice(ADDRESSES)}"
                story.multi += 1
                story.drops_posted += 2
                story.posted.extend((jid, d, sender) for d in drops)
            else:
                drop = f"DR{next_drop}"
                next_drop += 1
                if not any(j == velo_jid for j, _, _ in story.posted):
                    jid = velo_jid  # dev's test group gets a drop however short the run
                spelled = rng.choice([drop, drop.lower(), f"Dr {drop[2:]}", f"DR {drop[2:]}"])
                content = f"{spelled} {rng.choice(ADDRESSES)} all 12 photos"
                story.drops_posted += 1
                story.posted.append((jid, drop, sender))
            if content and "DR" in content.upper() and rng.random() < 0.15:
                sender = LID_SENDER[0] + "@lid"
                story.lid += 1
            post = Post(message_id(rng), jid, sender, content, bridge_timestamp(now))
            writer.post(post)
            story.messages += 1
            if content and rng.random() < 0.3:  # the monitor's bot acknowledges
                ack = Post(
                    message_id(rng), jid, BOT, f"✅ received: {content[:20]}", bridge_timestamp(now)
                )
                writer.post(ack)
                story.messages += 1
            if elapsed > 0.3 and content and not story.redelivered:
                writer.post(post)  # re-delivered: INSERT OR REPLACE gives it a new rowid
                story.redelivered += 1
            if elapsed > 0.5 and not story.mistyped:
                velo = next(j for j, name in PROJECTS.items() if name == TEST_GROUP)
                writer.post(
                    Post(message_id(rng), velo, sender, f"{MISTYPED} done", bridge_timestamp(now))
                )
                story.mistyped += 1
                story.messages += 1
            if elapsed > 0.45 and not story.late_history:
                old = now - timedelta(days=2)
                writer.post(
                    Post(
                        message_id(rng),
                        jid,
                        f"{sender.split('@')[0]}@s.whatsapp.net",
                        f"DR{next_drop} from history sync",
                        bridge_timestamp(old),
                    )
                )
                next_drop += 1
                story.late_history += 1
                story.drops_posted += 1
            time.sleep(rng.uniform(0.05, 0.35))
    return story


def _report_replies(url: str, api: SimulatedBridgeApi, dev: Database) -> None:
    """The invalid drop dev recorded, and what the bot posted through the bridge's API."""
    query = _query("invalid", dev)
    print()
    print(f"── {dev.schema}.invalid_drop_submissions ({TEST_GROUP} validates against its plan) ──")
    with psycopg.connect(url) as conn:
        for drop, project, sender, reason in conn.execute(query):
            print(f"{drop}  {project}  by {sender}: {reason}")
    print()
    print("── What the bot posted through the bridge's /api/send (once, after COMMIT) ──")
    for sent in api.sent():
        text = sent.text.replace("\n\n", " / ").replace("\n", " ")
        print(f"→ {PROJECTS.get(sent.recipient, sent.recipient)}: {text}")
    if not api.sent():
        print("(nothing)")


def _stop(monitors: Mapping[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    for proc in monitors.values():
        proc.send_signal(signal.SIGTERM)
    codes = {}
    for env, proc in monitors.items():
        try:
            codes[env] = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            codes[env] = proc.wait()
    return codes


def _report(
    url: str, work: Path, story: _Story, codes: dict[str, int], dbs: Mapping[str, Database]
) -> None:
    print()
    print(
        f"The bridge wrote {story.messages} messages: {story.drops_posted} new drops "
        f"({story.multi} messages with two), {story.resubmissions} resubmissions, "
        f"{story.lid} from a LID sender, {story.redelivered} re-delivery (same id, new rowid), "
        f"{story.late_history} late history message (two days old); {story.offset_switch}."
    )
    print(
        "The monitors stopped on SIGTERM with exit codes "
        + ", ".join(f"{env}={code}" for env, code in codes.items())
        + "."
    )
    print()
    print("── The runbook's comparison: drops and latest created_at per environment ──")
    with psycopg.connect(url) as conn:
        print(f"{'env':<5} {'drops':>6} {'resubmitted':>12}  latest created_at")
        for env, db in dbs.items():
            row = conn.execute(_query("totals", db)).fetchone()
            drops, resub, latest = row if row else (0, 0, None)
            stamp = latest.astimezone(SAST).isoformat(timespec="seconds") if latest else "-"
            print(f"{env:<5} {drops:>6} {resub:>12}  {stamp}")
        print()
        print(
            f"── prod's two bridges ({SECOND} was down, then synced {story.second_synced} "
            "messages as history): each message applied once ──"
        )
        print(f"{'bridge':<8} {'rowid':>6} {'applied first':>14}  newest message read")
        for name, rowid, newest, first in conn.execute(_query("bridges", dbs["prod"])):
            stamp = newest.astimezone(SAST).isoformat(timespec="seconds") if newest else "-"
            print(f"{name:<8} {rowid:>6} {first:>14}  {stamp}")
        print()
        print("── Reviews per project and schema (same bridge, separate rows) ──")
        for db in dbs.values():
            for project, count in conn.execute(_query("per_project", db)):
                print(f"{db.schema + '.qa_photo_reviews':<24} {project:<10} {count:>4}")
    for env in ("prod", "dev"):
        log = work / "logs" / f"wa-monitor-{env}.log"
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        created = sum("✅ Created" in line for line in lines)
        print()
        print(f"── tail -n {LOG_TAIL} {log}   (grep '✅ Created' | wc -l → {created}) ──")
        for line in lines[-LOG_TAIL:]:
            print(line)


def _query(name: str, db: Database) -> sql.Composed:
    """One of demo.sql's queries, for the tables of the environment `db` names."""
    return db.compose(named_queries(__package__, "demo.sql")[name])
