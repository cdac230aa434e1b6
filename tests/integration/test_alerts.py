"""Alerts: a stopped monitor is announced once to the ops WhatsApp group (through the simulated
bridge API) and by e-mail (a local SMTP server), and its recovery once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from tests.support.env import write_config
from tests.support.harness import daemon, stop, wait_until, waiting_on_locks
from tests.support.ops import DEV_GROUPS, Envs, Roles, make_envs
from tests.support.smtp import SmtpSink
from wa_monitor.core.records import Delivery, SendResult
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.simulator import BridgeWriter
from wa_monitor.services import alerts
from wa_monitor.settings import load_settings

OPS_GROUP = "120363400000000001@g.us"


@pytest.fixture
def api() -> Iterator[SimulatedBridgeApi]:
    with SimulatedBridgeApi() as simulated:
        yield simulated


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


Setup = Callable[..., Envs]


pytestmark = pytest.mark.migrated("prod", "dev")


@pytest.fixture
def alerting(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    api: SimulatedBridgeApi,
    smtp: SmtpSink,
) -> Setup:
    """prod alone, alerting to the simulated bridge API and the SMTP sink; `extra` TOML lines
    go in its [alerts] table."""

    def setup(extra: str = "") -> Envs:
        return _alerting(tmp_path, bridge, database_url, api, smtp, extra)

    return setup


def _alerting(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    api: SimulatedBridgeApi,
    smtp: SmtpSink,
    extra: str,
) -> Envs:
    envs = make_envs(tmp_path / "config", bridge, database_url)
    (envs.folder / "dev.toml").unlink()
    prod = envs.folder / "prod.toml"
    prod.write_text(
        prod.read_text()
        + "\n[alerts]\n"
        + f'whatsapp_recipient = "{OPS_GROUP}"\nbridge_api_url = "{api.url}"\n'
        + f'email_to = ["ops@example.com"]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'
        + extra
    )
    envs.say("A1", "DR1111111", datetime.now().astimezone())
    return envs


def check(envs: Envs, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = envs.wa("alerts", "check", "--env", "prod")
    return code, capsys.readouterr().out


def running(envs: Envs, capsys: pytest.CaptureFixture[str]) -> bool:
    """The monitor holds its lock and has read the bridge: a monitor elected a moment ago
    that has not read yet, with messages waiting, is what `alerts check` calls stuck."""
    capsys.readouterr()
    envs.wa("status", "--json")
    prod = json.loads(capsys.readouterr().out)["environments"][0]
    return bool(prod["running"]) and prod["last_read_at"] is not None


def test_a_stopped_monitor_is_announced_once_and_its_recovery_once(
    alerting: Setup,
    tmp_path: Path,
    api: SimulatedBridgeApi,
    smtp: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs = alerting()
    config = envs.folder / "prod.toml"
    with daemon(config, envs.url, tmp_path / "first.txt") as proc:
        wait_until(lambda: running(envs, capsys), what="the monitor to run")
        assert check(envs, capsys) == (0, "prod: nothing new to announce\n")
        assert stop(proc) == 0
    capsys.readouterr()
    assert envs.wa("status", "--max-behind", "500") == 1
    assert "no wa-monitor is running for environment prod" in capsys.readouterr().out
    code, out = check(envs, capsys)
    assert code == 0
    assert "stopped: alert sent via whatsapp" in out
    assert "stopped: alert sent via email" in out
    # The timer comes round again (or the OnFailure= hook fires): nothing is said twice.
    assert check(envs, capsys) == (0, "prod: nothing new to announce\n")
    with daemon(config, envs.url, tmp_path / "second.txt"):
        wait_until(lambda: running(envs, capsys), what="the monitor to run again")
        code, out = check(envs, capsys)
        assert code == 0
        assert "stopped: recovery sent via whatsapp" in out
        assert "stopped: recovery sent via email" in out
        assert check(envs, capsys) == (0, "prod: nothing new to announce\n")
    sent = api.sent()
    assert [m.recipient for m in sent] == [OPS_GROUP, OPS_GROUP]
    assert sent[0].text.startswith("🔴 wa-monitor prod: no wa-monitor is running")
    assert sent[1].text.startswith("✅ wa-monitor prod: recovered, a monitor is running again")
    mails = smtp.wait_for(2)
    assert [m["Subject"] for m in mails] == [
        "wa-monitor prod: stopped",
        "wa-monitor prod: recovered (stopped)",
    ]
    assert mails[0]["To"] == "ops@example.com"
    assert "no wa-monitor is running" in mails[0].get_content()


def test_a_channel_that_failed_is_tried_again_and_the_other_is_not_repeated(
    alerting: Setup,
    api: SimulatedBridgeApi,
    smtp: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs = alerting()
    api.down()
    code, out = check(envs, capsys)
    assert code == 1
    assert "stopped: alert FAILED via whatsapp: bridge API down" in out
    assert "stopped: alert sent via email" in out
    api.up()
    code, out = check(envs, capsys)
    assert (code, out.count("\n")) == (0, 1)
    assert "stopped: alert sent via whatsapp" in out
    assert len(api.sent()) == 1
    assert len(smtp.wait_for(1)) == 1


def test_a_quiet_bridge_in_working_hours_is_an_incident(
    alerting: Setup,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    api: SimulatedBridgeApi,
    smtp: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    every_hour = 'quiet_minutes = 30\nworking_hours = ["00:00", "23:59"]\n'
    every_day = "working_days = [1, 2, 3, 4, 5, 6, 7]\n"
    envs = alerting(every_hour + every_day)
    envs.say("A2", "DR2222222", datetime.now().astimezone() - timedelta(minutes=45))
    code, out = check(envs, capsys)
    assert code == 0
    assert "bridge_quiet: alert sent via whatsapp" in out
    assert any("the bridge stored no new message for 45 min" in m.text for m in api.sent())
    # Outside working hours a quiet bridge is no incident: it is over, and that is said once.
    prod = envs.folder / "prod.toml"
    prod.write_text(prod.read_text().replace('"00:00", "23:59"', '"00:00", "00:01"'))
    code, out = check(envs, capsys)
    assert "bridge_quiet: recovery sent via whatsapp" in out
    assert db.execute("SELECT count(*) FROM public.wa_monitor_alerts").fetchone() == (1,)


def test_dev_alerts_are_off_unless_enabled_and_prods_must_go_somewhere(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    envs = make_envs(tmp_path / "config", bridge, database_url)
    # Off is fine (the OnFailure= hook of dev's unit runs it too): exit 0, nothing sent.
    assert envs.wa("alerts", "check", "--env", "dev") == 0
    assert "alerts are off for dev: nothing checked" in capsys.readouterr().out
    dev = envs.folder / "dev.toml"
    dev.write_text(dev.read_text() + "\n[alerts]\nenabled = true\n")
    assert envs.wa("alerts", "check", "--env", "dev") == 2
    assert "enabled = true needs whatsapp_recipient or email_to" in capsys.readouterr().err
    # Production's are on: a config that names no channel is a mistake, said loudly.
    assert envs.wa("alerts", "check", "--env", "prod") == 2
    assert "alerts for prod have nowhere to go" in capsys.readouterr().err
    assert envs.wa("doctor", "--env", "prod") == 1
    assert "FAIL  alerts: on for prod, but [alerts] names no channel" in capsys.readouterr().out


def test_dev_never_alerts_in_productions_ops_group(
    tmp_path: Path,
    bridge: BridgeWriter,
    database_url: str,
    api: SimulatedBridgeApi,
    smtp: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Production's config names the ops group as its alert recipient: dev's alerts may not go
    there (nor anywhere by WhatsApp while production's config is unknown)."""
    envs = _alerting(tmp_path, bridge, database_url, api, smtp, "")
    dev = write_config(
        envs.folder,
        "dev",
        bridge_db=bridge.path,
        groups=DEV_GROUPS,
        extra=f'[alerts]\nenabled = true\nwhatsapp_recipient = "{OPS_GROUP}"\n'
        f'bridge_api_url = "{api.url}"',
    )
    capsys.readouterr()
    assert envs.wa("alerts", "check", "--env", "dev") == 2
    err = capsys.readouterr().err.strip()
    assert f"may not go to WhatsApp {OPS_GROUP}" in err
    assert "\n" not in err
    (envs.folder / "prod.toml").unlink()
    own = "120363400000000077@g.us"  # dev's own ops group: still not while prod is unknown
    dev.write_text(dev.read_text().replace(OPS_GROUP, own))
    assert envs.wa("alerts", "check", "--env", "dev") == 2
    assert "no config for environment 'prod'" in capsys.readouterr().err
    assert api.sent() == ()


def test_checks_take_turns_and_no_other_role_can_hold_productions_back(
    alerting: Setup,
    roles: Roles,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envs = alerting()
    # Any role may take any advisory lock: one with no right at all held the key the checks
    # used to take, and production's check waited for it. Now it cannot touch the check's lock.
    _, nobody_url = roles.make("nobody")
    with psycopg.connect(nobody_url, autocommit=True) as nobody:
        nobody.execute("SELECT pg_advisory_lock(hashtext('wa-monitor alerts'), hashtext('public'))")
        with pytest.raises(pg_errors.InsufficientPrivilege), nobody.transaction():
            nobody.execute("LOCK TABLE public.wa_monitor_alerts IN SHARE ROW EXCLUSIVE MODE")
        assert check(envs, capsys)[0] == 0
    # A check that finds another one running waits for it, then sees what it announced.
    results: list[int] = []
    with (
        psycopg.connect(database_url) as first,
        psycopg.connect(database_url, autocommit=True) as watch,
    ):
        first.execute("LOCK TABLE public.wa_monitor_alerts IN SHARE ROW EXCLUSIVE MODE")
        second = threading.Thread(
            target=lambda: results.append(envs.wa("alerts", "check", "--env", "prod"))
        )
        second.start()
        wait_until(
            lambda: waiting_on_locks(watch, "wa-monitor-prod-alerts") == 1,
            what="the second check to wait for the first",
        )
        assert results == []
        first.commit()
    second.join(30)
    assert results == [0]


def test_an_alert_is_claimed_then_posted_outside_any_transaction(
    alerting: Setup, database_url: str
) -> None:
    # While a channel's post is in flight (a slow SMTP relay, a hung bridge) the alerts lock is
    # free and the message is claimed: another check may run and will not send it again.
    envs = alerting()
    settings = load_settings(envs.folder / "prod.toml")
    seen: list[tuple[str, list[str]]] = []

    class Carry:
        def __init__(self, channel: str) -> None:
            self.channel = channel

        def send(self, recipient: str, text: str) -> SendResult:
            channel = self.channel
            with psycopg.connect(database_url) as other, other.transaction():
                other.execute("SET lock_timeout = '100ms'")
                other.execute("LOCK TABLE public.wa_monitor_alerts IN SHARE ROW EXCLUSIVE MODE")
                row = other.execute(
                    "SELECT opening FROM public.wa_monitor_alerts WHERE kind = 'stopped'"
                ).fetchone()
            assert row is not None
            seen.append((channel, sorted(row[0])))
            # A second check now, while this post is in flight, claims nothing more.
            assert alerts.check(settings, database_url, post={}) == []
            return SendResult(Delivery.SENT, "taken")

    def post(channel: str) -> alerts.Channel:
        return lambda subject: Carry(channel)

    done = alerts.check(
        settings, database_url, post={"whatsapp": post("whatsapp"), "email": post("email")}
    )
    assert [(d.kind.value, d.channel, d.delivery) for d in done] == [
        ("stopped", "whatsapp", Delivery.SENT),
        ("stopped", "email", Delivery.SENT),
    ]
    # Each post is settled as soon as it is made (core/replies.post_once): while the e-mail is
    # in flight, the WhatsApp alert is settled already, not left claimed behind it.
    assert seen == [("whatsapp", ["email", "whatsapp"]), ("email", ["email"])]
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT opened_via, opening FROM public.wa_monitor_alerts WHERE kind = 'stopped'"
        ).fetchone()
    assert row == (["whatsapp", "email"], [])


def test_a_check_killed_around_its_post_never_posts_that_message_again(
    alerting: Setup, database_url: str, api: SimulatedBridgeApi, smtp: SmtpSink
) -> None:
    envs = alerting()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO public.wa_monitor_alerts (kind, detail, opening, claimed_at) "
            "VALUES ('stopped', 'no wa-monitor is running', ARRAY['email'], "
            "now() - interval '10 minutes')"
        )
    settings = load_settings(envs.folder / "prod.toml")
    done = alerts.check(settings, database_url)
    # The e-mail may have gone before the kill: not sent again. WhatsApp was never claimed.
    assert [(d.channel, d.delivery) for d in done] == [("whatsapp", Delivery.SENT)]
    assert smtp.messages == []
    assert len(api.sent()) == 1
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT opened_via, opening FROM public.wa_monitor_alerts WHERE kind = 'stopped'"
        ).fetchone()
    assert row == (["email", "whatsapp"], [])
