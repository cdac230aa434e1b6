"""One instance per environment: a second `run` for the same schema stands by until the first
stops, then takes over; prod and dev still run side by side on one bridge and one database."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from tests.support.env import LAWLEY, VELO, sast, write_config
from tests.support.harness import GROUPS, Daemon, cli, reviewed
from tests.support.ops import Roles
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp

pytestmark = pytest.mark.slow

STANDBY = "another wa-monitor is running for schema"


def post(bridge: BridgeWriter, mid: str, drop: str, chat: str = LAWLEY) -> None:
    at = bridge_timestamp(sast(11, 9))
    bridge.post(Post(id=mid, chat_jid=chat, sender="27600000001", content=drop, timestamp=at))


@pytest.mark.migrated("prod", "dev")
def test_a_second_run_stands_by_and_takes_over(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    configs = {}
    for env in ("prod", "dev"):
        folder = tmp_path / env
        folder.mkdir()
        configs[env] = write_config(folder, env, bridge_db=bridge.path, groups=GROUPS)
    post(bridge, "A1", "DR1000001")
    with (
        Daemon(configs["prod"], database_url) as first,
        Daemon(configs["dev"], database_url) as dev,
    ):
        first.wait_for("✅ Created QA review for DR1000001")
        dev.wait_for("✅ Created QA review for DR1000001")
        with Daemon(configs["prod"], database_url) as second:
            second.wait_for(STANDBY)
            # A --once run meanwhile exits at once, naming the instance that has the work.
            once = cli("run", "--config", str(configs["prod"]), "--once", url=database_url)
            assert once.returncode == 1
            assert STANDBY in once.stderr.splitlines()[-1]
            time.sleep(2)  # ten polls or more of the standby
            post(bridge, "A2", "DR1000002", chat=VELO)
            first.wait_for("✅ Created QA review for DR1000002")
            dev.wait_for("✅ Created QA review for DR1000002")
            assert "✅ Created" not in second.stderr  # the standby did no work
            assert "resuming" not in second.stderr
            code, _ = first.stop()
            assert code == 0, first.stderr
            post(bridge, "A3", "DR1000003")
            second.wait_for("✅ Created QA review for DR1000003", timeout=30)
            took_over = second.stderr.index("resuming")
            assert took_over > second.stderr.rindex(STANDBY)
            dev.wait_for("✅ Created QA review for DR1000003")
            code, _ = second.stop()
            assert code == 0, second.stderr
        code, _ = dev.stop()
        assert code == 0, dev.stderr
    wanted = {"DR1000001", "DR1000002", "DR1000003"}
    assert reviewed(database_url, "public") == wanted
    assert reviewed(database_url, "dev") == wanted
    # One line for the whole wait (it polled every 0.2 s), naming who holds the lock.
    standby_lines = second.lines(STANDBY)
    print(f"instance: {len(standby_lines)} standby line over a wait of 10+ polls")
    assert len(standby_lines) == 1
    assert "⏸ standing by" in standby_lines[0]
    assert "backend pid" in standby_lines[0]
    assert "⏳" not in second.stderr  # no retry lines: standing by is not a failure
    assert second.stderr.count("✅ Created") == 1


def test_the_lock_is_per_schema_not_per_database(tmp_path: Path, database_url: str) -> None:
    """Two dev configs on different schemas are two environments: neither waits for the other."""
    bridge = tmp_path / "messages.db"
    BridgeWriter(bridge).close()
    configs = []
    for schema in ("dev", "dev_two"):
        folder = tmp_path / schema
        folder.mkdir()
        config = write_config(folder, "dev", bridge_db=bridge, groups=GROUPS)
        config.write_text(
            config.read_text("utf-8").replace('schema = "dev"', f'schema = "{schema}"'), "utf-8"
        )
        assert cli("schema", "migrate", "--config", str(config), url=database_url).returncode == 0
        configs.append(config)
    with Daemon(configs[0], database_url) as one, Daemon(configs[1], database_url) as two:
        for daemon in (one, two):
            daemon.wait_for("resuming")  # elected: it holds its schema's instance row
        for daemon in (one, two):
            code, _ = daemon.stop()
            assert code == 0, daemon.stderr
            assert STANDBY not in daemon.stderr


def refused(role_url: str, schema: str) -> list[str]:
    """The ways of taking an environment's election that a role of no privilege is refused."""
    failures = []
    with psycopg.connect(role_url, autocommit=True) as conn:
        for attempt in (
            f"SELECT * FROM {schema}.wa_monitor_instance FOR UPDATE",
            f"SELECT * FROM {schema}.wa_monitor_instance FOR SHARE",
            f"LOCK TABLE {schema}.wa_monitor_instance",
        ):
            try:
                with conn.transaction():
                    conn.execute(attempt)
            except psycopg.errors.InsufficientPrivilege:
                failures.append(attempt)
    return failures


@pytest.mark.migrated("prod")
def test_no_role_of_another_environment_can_hold_or_block_the_election(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, roles: Roles
) -> None:
    """Any role, even one with no privilege at all, could take the advisory lock that elected
    production's instance: production then stood by and processed nothing."""
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    _, stranger = roles.make("stranger")
    with psycopg.connect(stranger, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('wa-monitor run'), hashtext('public'))")
        assert len(refused(stranger, "public")) == 3
        post(bridge, "A1", "DR1000001")
        with (
            Daemon(config, database_url) as daemon,
            psycopg.connect(database_url, autocommit=True) as conn,
        ):
            daemon.wait_for("✅ Created QA review for DR1000001")
            # The election's open transaction holds no transaction id and no snapshot: it
            # holds back no VACUUM, however long the monitor runs.
            row = conn.execute(
                "SELECT count(*), count(backend_xid), count(backend_xmin) FROM pg_stat_activity "
                "WHERE application_name = 'wa-monitor-prod-instance' "
                "AND state = 'idle in transaction' AND datname = current_database()"
            ).fetchone()
            assert row == (1, 0, 0)
            code, _ = daemon.stop()
    assert code == 0, daemon.stderr
    assert STANDBY not in daemon.stderr
    assert reviewed(database_url) == {"DR1000001"}


@pytest.mark.migrated("prod")
def test_an_instance_whose_election_session_ends_stands_by(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    """The lock is held on a connection of its own: when that session ends (here terminated by
    an administrator) while the work connection lives on, the monitor must notice before its
    next batch and stand again, not work on beside the standby that took over."""
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups=GROUPS)
    post(bridge, "A1", "DR1000001")
    with (
        Daemon(config, database_url) as first,
        psycopg.connect(database_url, autocommit=True) as admin,
    ):
        first.wait_for("✅ Created QA review for DR1000001")
        with Daemon(config, database_url) as second:
            second.wait_for(STANDBY)
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'wa-monitor-prod-instance' AND state <> 'active' "
                "AND datname = current_database()"
            )
            second.wait_for("resuming", timeout=30)  # took over the lock
            post(bridge, "A2", "DR1000002")
            first.wait_for(STANDBY, timeout=30)  # noticed at its next batch
            second.wait_for("✅ Created QA review for DR1000002", timeout=30)
            assert "DR1000002" not in first.stderr
            code, _ = second.stop()
            assert code == 0, second.stderr
        code, _ = first.stop()
        assert code == 0, first.stderr
    assert reviewed(database_url) == {"DR1000001", "DR1000002"}
