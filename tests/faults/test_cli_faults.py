"""Bad configuration and secrets, through the real command line in a subprocess: a bad config
stops at start with one clear line and exit 2; the database password never reaches a log
line, an error message or a traceback."""

from __future__ import annotations

import signal
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.env import VELO, write_config
from tests.support.harness import RETRY_LINE, CutProxy, Daemon, cli
from wa_monitor.devtools.simulator import BridgeWriter, Post, create_bridge

pytestmark = pytest.mark.slow

PASSWORD = "S3cr3t-Pa55word"
GOOD = {VELO: "Velo Test"}


def dev_config(tmp_path: Path, extra: str = "") -> Path:
    """A good dev config, with the key set in `extra` (if any) set to that instead."""
    return write_config(
        tmp_path, "dev", bridge_db=tmp_path / "messages.db", groups=GOOD, extra=extra
    )


BAD_CONFIGS = [
    ('batch_size = "many"', {}, "batch_size"),
    ("bot_senders = 5", {}, "bot_senders"),
    ("poll_interval_seconds = [1]", {}, "poll_interval_seconds"),
    ('colour = "red"', {}, "colour: unknown key"),
    ('schema = "dev; drop table x"', {}, "plain lowercase identifier"),
    ("", {"WA_MONITOR_SCHEMA": "dev; drop table x"}, "come from the environment's file only"),
    ("", {"WA_MONITOR_BATCH_SIZE": "lots"}, "batch_size"),
    (f'password = "{PASSWORD}"', {}, "secrets never go in the config file"),
    (f'database_url = "postgresql://wa:{PASSWORD}@db/wa"', {}, "secrets never go"),
    ("timezone = ", {}, "not valid TOML"),
]
# Only `run` opens the log file.
UNUSABLE_LOG = ('log_file = "/proc/1/no/such/dir/x.log"', {}, "log_file /proc/1/no/such")


@pytest.mark.parametrize(
    ("command", "extra", "env", "named"),
    [(("run", "--once"), *case) for case in [*BAD_CONFIGS, UNUSABLE_LOG]]
    + [(("schema", "migrate"), *case) for case in BAD_CONFIGS],
)
def test_bad_config_stops_at_start_with_one_line_and_exit_2(
    tmp_path: Path, command: tuple[str, str], extra: str, env: dict[str, str], named: str
) -> None:
    config = dev_config(tmp_path, extra)
    url = f"postgresql://wa:{PASSWORD}@127.0.0.1:1/wa"
    done = cli(*command, "--config", str(config), url=url, env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("wa-monitor: ")
    assert named in lines[0]
    assert PASSWORD not in done.stderr + done.stdout


BAD_URLS = [
    f"postgresql://wa:{PASSWORD}@127.0.0.1:1/wa",  # nobody listening
    f"postgresql://wa:{PASSWORD}%zz@127.0.0.1:1/wa",  # libpq echoes the bad token
    f"postgresql://wa:{PASSWORD}%00@127.0.0.1:1/wa",
    f"postgresql://wa:{PASSWORD}@127.0.0.1:1/wa?bogus=1",
    f"postgresql://wa:{PASSWORD}@[::1",
    f"postgresql://wa:{quote(PASSWORD + '@/:')}@127.0.0.1:notaport/wa",
    f"host=127.0.0.1 port=1 user=wa password={PASSWORD} dbname=wa",
    f"host=127.0.0.1 port=1 password='{PASSWORD} x' bogus",
    # Every other way libpq takes a secret: query parameters, parsed or not, and conninfo keys.
    f"postgresql://wa@127.0.0.1:1/wa?password={PASSWORD}%zz",
    f"postgresql://wa@127.0.0.1:1/wa?sslpassword={PASSWORD}%zz",
    f"postgresql://wa@127.0.0.1:1/wa?password={PASSWORD}&sslpassword={PASSWORD}x&bogus=1",
    f"postgresql://wa@127.0.0.1:1/wa?sslpassword={PASSWORD}&passfile=/run/{PASSWORD}/pgpass",
    f"host=127.0.0.1 port=1 sslpassword={PASSWORD} passfile=/run/{PASSWORD}/pgpass",
    f"host=127.0.0.1 port=1 password='{PASSWORD}",  # unterminated
]


def leaked(text: str) -> bool:
    return PASSWORD in text or quote(PASSWORD) in text


def parsable(url: str) -> bool:
    try:
        conninfo_to_dict(url)
    except psycopg.Error:
        return False
    return True


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_password_reaches_no_output_on_connection_failures(tmp_path: Path, url: str) -> None:
    assert_no_leak(tmp_path, url, {})


def test_pgpassword_reaches_no_output(tmp_path: Path) -> None:
    secrets = {"PGPASSWORD": PASSWORD, "PGPASSFILE": f"/run/{PASSWORD}/pgpass"}
    assert_no_leak(tmp_path, "postgresql://wa@127.0.0.1:1/wa", secrets)


def assert_no_leak(tmp_path: Path, url: str, secrets: dict[str, str]) -> None:
    """run, schema migrate, status (table and JSON) and doctor all fail on `url`, each with its
    own words and none with a secret; a URL libpq cannot parse is a config error (exit 2)."""
    config = dev_config(tmp_path)
    outputs = []
    for args in (
        ("run", "--config", str(config), "--once", "--give-up-after", "1", "--log-level", "DEBUG"),
        ("schema", "migrate", "--config", str(config)),
    ):
        done = cli(*args, url=url, env=secrets)
        assert done.returncode == (1 if parsable(url) else 2), done.stderr
        assert done.stderr.startswith(("wa-monitor: ", "[DEV] ")), done.stderr
        assert "Traceback" not in done.stderr
        outputs += [done.stdout, done.stderr]
    log_file = tmp_path / "logs" / "wa-monitor-dev.log"
    if parsable(url):
        assert "❌ stopped" in log_file.read_text("utf-8")
    else:
        assert "the database URL cannot be parsed" in outputs[1]
        assert len(outputs[1].splitlines()) == 1
    # The ops commands that report on the database: status (table and JSON) and doctor.
    env = {"WA_MONITOR_CONFIG_DIR": str(config.parent), **secrets}
    for args in (("status",), ("status", "--json"), ("doctor", "--env", "dev")):
        done = cli(*args, url=url, env=env)
        assert done.returncode in {1, 2}, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        outputs += [done.stdout, done.stderr]
    assert any("database" in text for text in outputs[-6:])
    log = log_file.read_text("utf-8") if log_file.exists() else ""
    for text in [*outputs, log]:
        assert not leaked(text), text


def test_the_password_reaches_no_output_in_a_working_daemon_or_an_outage(
    tmp_path: Path, pg_server: str, database_url: str
) -> None:
    """A password the server accepts (or ignores): through migration, work, an outage of the
    database (through the proxy) and a clean stop, no line carries it."""
    config = dev_config(tmp_path)
    create_bridge(tmp_path / "messages.db")
    proxy = CutProxy(pg_server)
    try:
        url = make_conninfo(proxy.url(database_url), password=PASSWORD)
        migrated = cli("schema", "migrate", "--config", str(config), url=url)
        assert migrated.returncode == 0, migrated.stderr
        with Daemon(config, url, args=("--log-level", "DEBUG")) as daemon:
            daemon.wait_for("starting")
            proxy.cut()
            with BridgeWriter(tmp_path / "messages.db") as bridge:
                bridge.post(
                    Post(
                        id="A1",
                        chat_jid=VELO,
                        sender="27600000001",
                        content="DR1000001",
                        timestamp="2025-11-11 09:00:00+02:00",
                    )
                )
            daemon.wait_for(RETRY_LINE, count=2)
            proxy.restore()
            daemon.wait_for("✅ Created QA review for DR1000001", timeout=30)
            code, _ = daemon.stop(signal.SIGINT)
        assert code == 0
    finally:
        proxy.close()
    log = (tmp_path / "logs" / "wa-monitor-dev.log").read_text("utf-8")
    for text in (migrated.stdout, migrated.stderr, daemon.stderr, log):
        assert not leaked(text), text
