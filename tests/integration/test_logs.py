"""The log file under logrotate: rotate while the daemon writes; no line lost, none twice."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.env import LAWLEY, sast, write_config
from tests.support.harness import daemon, stop, wait_until
from tests.support.runs import say
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod")


REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "deploy" / "logrotate" / "wa-monitor"
POSTROTATE = "systemctl kill --kill-whom=main --signal=HUP wa-monitor-prod.service"
CREATED = "✅ Created QA review for "
DROPS = 150


def logrotate_config(tmp_path: Path, log_dir: Path, pid: int) -> Path:
    """The shipped config, pointed at this test's log file and at this daemon's pid."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert "/opt/wa-monitor/prod/logs/" in text
    assert POSTROTATE in text
    text = text.replace("/opt/wa-monitor/prod/logs/", f"{log_dir}/").replace(
        POSTROTATE, f"kill -HUP {pid}"
    )
    path = tmp_path / "logrotate.conf"
    path.write_text(text, encoding="utf-8")
    return path


def rotate(config: Path, state: Path, log_file: Path, pid: int) -> None:
    """What the daily logrotate run does; by hand (rename, SIGHUP) where it is not installed."""
    if shutil.which("logrotate"):
        done = subprocess.run(
            ["logrotate", "--force", "--state", str(state), str(config)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    else:  # what the shipped config does, for the two rotations this test makes
        one = log_file.with_name(f"{log_file.name}.1")
        if one.exists():
            two = log_file.with_name(f"{log_file.name}.2.gz")
            two.write_bytes(gzip.compress(one.read_bytes()))
            one.unlink()
        log_file.rename(one)
        subprocess.run(["kill", "-HUP", str(pid)], check=True)


def created(text: str) -> list[str]:
    return [line for line in text.splitlines() if CREATED in line]


def read(path: Path) -> str:
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_rotation_while_the_daemon_writes_loses_no_line_and_the_new_file_gets_the_next(
    tmp_path: Path, bridge: BridgeWriter, database_url: str
) -> None:
    config = write_config(tmp_path, "prod", bridge_db=bridge.path, groups={LAWLEY: "Lawley"})
    log_file = tmp_path / "logs" / "wa-monitor-prod.log"
    stderr = tmp_path / "stderr"
    drops = [f"DR{2_000_000 + i}" for i in range(DROPS)]
    with daemon(config, database_url, stderr) as proc:
        wait_until(log_file.exists, what="the log file")
        rotation = logrotate_config(tmp_path, log_file.parent, proc.pid)
        for i, drop in enumerate(drops):
            say(bridge, f"M{i}", f"{drop} photos", sast(11, 9, i // 60, i % 60))
            time.sleep(0.01)
            if i in {DROPS // 3, 2 * DROPS // 3}:  # rotate twice, mid-stream
                rotate(rotation, tmp_path / "logrotate.state", log_file, proc.pid)
        wait_until(
            lambda: log_file.exists() and drops[-1] in log_file.read_text("utf-8"),
            what="the last drop in the new file",
        )
        assert stop(proc) == 0
    rotated = [
        log_file.with_name(f"{log_file.name}.2.gz"),
        log_file.with_name(f"{log_file.name}.1"),
    ]
    assert sorted(log_file.parent.iterdir()) == sorted([*rotated, log_file])
    files = [read(p) for p in [*rotated, log_file]]
    assert all(created(text) for text in files), "every file got creation lines"
    in_files = [line for text in files for line in created(text)]
    # Every drop exactly once, in the order posted, across the rotated files and the new one.
    assert [line.split(CREATED)[1].split(" ")[0] for line in in_files] == drops
    # The journal (stderr) got the very same lines.
    journal = stderr.read_text("utf-8")
    assert created(journal) == in_files
    assert "Logging error" not in journal
