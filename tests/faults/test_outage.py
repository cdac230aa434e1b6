"""Database outage: the link to PostgreSQL is cut through a local TCP proxy while the bridge keeps
receiving messages. The daemon stays up, logs one line per backoff step, and catches up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.support.env import LAWLEY, SAST, write_config
from tests.support.harness import (
    FIRST_WAIT,
    GROUPS,
    JITTER,
    MAX_WAIT,
    RETRY_LINE,
    CutProxy,
    Daemon,
    assert_backoff,
    cli,
    reviewed,
    wait_until,
)
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]

OUTAGE_SECONDS = 60.0


def backoff_lines(outage: float, jitter: float) -> int:
    """How many retry lines an outage of `outage` seconds gives when each wait gets `jitter`."""
    lines, elapsed, wait = 0, 0.0, FIRST_WAIT
    while elapsed < outage:
        lines += 1
        elapsed += min(wait, MAX_WAIT) + jitter
        wait *= 2
    return lines


@pytest.fixture
def proxy(pg_server: str) -> Iterator[CutProxy]:
    cut = CutProxy(pg_server)
    yield cut
    cut.close()


def test_a_60s_outage_is_ridden_out_and_nothing_is_lost(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, proxy: CutProxy
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    posted: list[str] = []
    stop = threading.Event()

    def bridge_keeps_receiving() -> None:
        with BridgeWriter(bridge.path) as writer:
            n = 0
            while not stop.wait(0.5):
                n += 1
                drop = f"DR{7000000 + n}"
                at = bridge_timestamp(datetime.now(SAST))
                writer.post(
                    Post(
                        id=f"M{n}",
                        chat_jid=LAWLEY,
                        sender="27600000001",
                        content=drop,
                        timestamp=at,
                    )
                )
                posted.append(drop)

    writer = threading.Thread(target=bridge_keeps_receiving)
    with Daemon(config, proxy.url(database_url)) as daemon:
        writer.start()
        try:
            daemon.wait_for("✅ Created", count=3)
            proxy.cut()
            cut_at, before_cut = time.monotonic(), len(posted)
            daemon.wait_for(RETRY_LINE, timeout=10)
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))
            during = daemon.lines(RETRY_LINE)
            assert daemon.proc.poll() is None, daemon.stderr
            proxy.restore()
            posted_during = len(posted) - before_cut
            time.sleep(2)
        finally:
            stop.set()
            writer.join()
        wait_until(
            lambda: set(posted) <= reviewed(database_url),
            timeout=60,
            what="the backlog after the outage",
            log=daemon,
        )
        code, _ = daemon.stop()
    assert code == 0, daemon.stderr
    retries = daemon.lines(RETRY_LINE)
    waits = assert_backoff(retries)
    print(
        f"outage: {OUTAGE_SECONDS:.0f}s, {posted_during} messages posted during it "
        f"({len(posted)} in all), "
        f"{len(retries)} retry lines (waits {waits}), {proxy.refused} connections refused"
    )
    assert "database unavailable" in during[0]
    # One line per backoff step, not a flood: as many as the schedule allows, give or take one.
    assert backoff_lines(OUTAGE_SECONDS, JITTER) - 1 <= len(retries)
    assert len(retries) <= backoff_lines(OUTAGE_SECONDS, 0.0) + 1
    assert "still failing" not in daemon.stderr
    assert len(reviewed(database_url)) == len(posted)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (len(posted),)


def test_a_cut_inside_a_transaction_is_retried_and_applied_once(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, proxy: CutProxy
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Every batch's transaction sits for a second after claiming its messages: cut there.
        conn.execute("""
            CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$;
            CREATE TRIGGER slow AFTER INSERT ON wa_monitor_ledger
                FOR EACH STATEMENT EXECUTE FUNCTION slow();
        """)
    drops = [f"DR{8000000 + n}" for n in range(40)]
    bridge.post_many(
        Post(id=f"T{n}", chat_jid=LAWLEY, sender="27600000001", content=f"{d} done", timestamp=t)
        for n, d in enumerate(drops)
        for t in [bridge_timestamp(datetime(2025, 11, 11, 9, n % 60, tzinfo=SAST))]
    )
    with Daemon(config, proxy.url(database_url), args=("--log-level", "DEBUG")) as daemon:
        with psycopg.connect(database_url, autocommit=True) as conn:
            wait_until(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'wa-monitor-prod' AND state = 'active' AND query LIKE '%%ledger%%'"
                    ).fetchone()
                    == (1,)
                ),
                timeout=30,
                what="a write transaction in flight",
                log=daemon,
            )
        proxy.cut()
        daemon.wait_for(RETRY_LINE, timeout=10)
        proxy.restore()
        wait_until(lambda: set(drops) <= reviewed(database_url), timeout=60, what="catch-up")
        code, _ = daemon.stop()
    assert code == 0, daemon.stderr
    assert "database unavailable" in daemon.lines(RETRY_LINE)[0]
    assert len(reviewed(database_url)) == len(drops)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (len(drops),)
        # "done" on a first sighting creates the review; nothing was applied twice.
        assert conn.execute(
            "SELECT count(*) FROM qa_photo_reviews WHERE resubmitted"
        ).fetchone() == (0,)
    assert daemon.stderr.count("✅ Created") == len(drops)


def test_sigterm_during_an_outage_stops_cleanly_and_loses_nothing(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, proxy: CutProxy
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    with Daemon(config, proxy.url(database_url)) as daemon:
        daemon.wait_for("resuming")
        proxy.cut()
        at = bridge_timestamp(datetime(2025, 11, 11, 9, tzinfo=SAST))
        bridge.post(
            Post(id="A1", chat_jid=LAWLEY, sender="27600000001", content="DR1000001", timestamp=at)
        )
        daemon.wait_for(RETRY_LINE, count=2)
        code, took = daemon.stop()
    print(f"outage stop: exit {code} after {took:.2f}s")
    assert code == 0, daemon.stderr
    assert took < 5.0
    assert " ERROR " not in daemon.stderr  # a requested stop is not a failure
    assert "stopping with the batch not applied" in daemon.stderr
    proxy.restore()
    done = cli("run", "--config", str(config), "--once", url=proxy.url(database_url))
    assert done.returncode == 0, done.stderr
    assert reviewed(database_url) == {"DR1000001"}


def test_a_link_lost_while_the_session_is_set_up_is_retried(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, proxy: CutProxy
) -> None:
    """Connected and authenticated, then cut before the session settings and the instance lock:
    a transient failure like any other, not a crash."""
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    at = bridge_timestamp(datetime(2025, 11, 11, 9, tzinfo=SAST))
    bridge.post(
        Post(id="A1", chat_jid=LAWLEY, sender="27600000001", content="DR1000001", timestamp=at)
    )
    url = make_conninfo(proxy.url(database_url), sslmode="disable", gssencmode="disable")
    proxy.cut_first_query.set()
    with Daemon(config, url) as daemon:
        daemon.wait_for(RETRY_LINE, count=2)
        assert proxy.refused >= 2
        proxy.cut_first_query.clear()
        daemon.wait_for("✅ Created QA review for DR1000001", timeout=30)
        code, _ = daemon.stop()
    assert code == 0, daemon.stderr
    assert "Traceback" not in daemon.stderr
    assert "database unavailable" in daemon.lines(RETRY_LINE)[0]
