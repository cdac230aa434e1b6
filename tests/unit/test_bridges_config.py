"""Several bridges per environment: [[bridges]], `bridge_db` as a list of one, the choice of
the bridge a host reads, and what a wrong list says."""

from __future__ import annotations

from pathlib import Path

import pytest

from wa_monitor.adapters.bridge_api import BridgeRoutes
from wa_monitor.adapters.replies import BridgeEchoes
from wa_monitor.cli import main
from wa_monitor.core.ports import NoEchoes
from wa_monitor.errors import ConfigError
from wa_monitor.settings import SINGLE_BRIDGE, load_settings

HEAD = """
environment = "prod"
schema = "public"
bot_senders = ["27640412391"]
"""
TWO = """
[[bridges]]
name = "host-a"
db = "{a}"
lid_map_db = "/srv/a/whatsapp.db"
api_url = "http://10.0.0.1:8080"
[[bridges]]
name = "host-b"
db = "{b}"
api_url = "http://10.0.0.2:8080"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prod.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return path


def test_bridge_db_is_a_list_of_one(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, 'bridge_db = "/srv/messages.db"\n'))
    (only,) = settings.bridge_list
    assert (only.name, only.db, settings.bridge) == (
        SINGLE_BRIDGE,
        Path("/srv/messages.db"),
        "main",
    )
    assert only.api_url == settings.bridge_api_url == "http://localhost:8080"


def test_the_bridge_whose_file_is_here_is_read(tmp_path: Path) -> None:
    b = tmp_path / "b.db"
    b.write_bytes(b"")
    settings = load_settings(write(tmp_path, TWO.format(a="/nowhere/a.db", b=b)))
    assert [x.name for x in settings.bridge_list] == ["host-a", "host-b"]
    assert (settings.bridge, settings.bridge_db) == ("host-b", b)
    assert settings.bridge_api_url == "http://10.0.0.2:8080"
    assert settings.lid_map_db is None
    a = settings.on_bridge("host-a")
    assert (a.bridge, a.bridge_db, a.lid_map_db) == (
        "host-a",
        Path("/nowhere/a.db"),
        Path("/srv/a/whatsapp.db"),
    )
    assert a.bridge_api_url == "http://10.0.0.1:8080"
    with pytest.raises(ConfigError, match="no bridge named 'c'"):
        settings.on_bridge("c")


def test_two_hosts_may_keep_their_bridge_at_the_same_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "messages.db"
    here.write_bytes(b"")
    monkeypatch.setenv("WA_MONITOR_BRIDGE", "host-b")  # each host's unit names its own
    settings = load_settings(write(tmp_path, TWO.format(a=here, b=here)))
    assert (settings.bridge, settings.bridge_db) == ("host-b", here)


def test_a_named_bridge_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WA_MONITOR_BRIDGE", "host-a")
    settings = load_settings(write(tmp_path, TWO.format(a="/x/a.db", b="/x/b.db")))
    assert (settings.bridge, settings.bridge_db) == ("host-a", Path("/x/a.db"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TWO.format(a="/x/a.db", b="/x/b.db").replace("host-b", "host-a"), "listed more than once"),
        (TWO.format(a="/x/a.db", b="/x/b.db").replace('"host-b"', '"Host B"'), "short lowercase"),
        ('bridge_db = "/x/m.db"\n' + TWO.format(a="/x/a.db", b="/x/b.db"), "both name a bridge"),
        (TWO.format(a="/x/a.db", b="/x/b.db").replace("10.0.0.2", "u:p@10.0.0.2"), "credentials"),
        ('bridge = "c"\n' + TWO.format(a="/x/a.db", b="/x/b.db"), "is not one of the [[bridges]]"),
        ('bridge = "other"\nbridge_db = "/x/m.db"\n', "names one bridge"),
        ('[[bridges]]\nname = "a"\n', "db: required key is missing"),
        ("", "bridge_db: required key is missing"),
    ],
)
def test_a_wrong_bridge_list_fails_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert "u:p@" not in str(err.value)


def test_run_exits_2_on_a_wrong_bridge_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", "postgresql://x@127.0.0.1:1/x")
    path = write(tmp_path, TWO.format(a="/x/a.db", b="/x/b.db"))
    assert main(["run", "--config", str(path), "--once", "--bridge", "c"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "no bridge named 'c'" in err


def test_a_host_posts_through_its_own_bridge_first_then_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    three = (
        TWO + '[[bridges]]\nname = "host-c"\ndb = "/x/c.db"\napi_url = "http://10.0.0.1:8080/"\n'
    )
    monkeypatch.setenv("WA_MONITOR_BRIDGE", "host-b")
    bridges = BridgeRoutes(load_settings(write(tmp_path, three.format(a="/x/a.db", b="/x/b.db"))))
    try:
        # host-c's API is host-a's address again: the same API, asked once.
        assert [r.bridge for r in bridges.routes] == ["host-b", "host-a"]
        assert bridges.urls == ["http://10.0.0.2:8080", "http://10.0.0.1:8080"]
        assert all(isinstance(r.echoes, BridgeEchoes) for r in bridges.routes)
    finally:
        bridges.close()


def test_another_bridges_file_at_this_hosts_own_path_proves_nothing_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both hosts keep their bridge at one path: read here, it is this host's file, not host-a's.
    monkeypatch.setenv("WA_MONITOR_BRIDGE", "host-b")
    bridges = BridgeRoutes(load_settings(write(tmp_path, TWO.format(a="/x/m.db", b="/x/m.db"))))
    try:
        routes = bridges.routes
        assert [r.bridge for r in routes] == ["host-b", "host-a"]
        assert isinstance(routes[0].echoes, BridgeEchoes)
        assert isinstance(routes[1].echoes, NoEchoes)
    finally:
        bridges.close()


def test_bridges_all_at_localhost_are_one_route(tmp_path: Path) -> None:
    text = TWO.replace("10.0.0.1", "localhost").replace("10.0.0.2", "localhost")
    bridges = BridgeRoutes(load_settings(write(tmp_path, text.format(a="/x/a.db", b="/x/b.db"))))
    try:
        assert [r.bridge for r in bridges.routes] == ["host-a"]
    finally:
        bridges.close()
