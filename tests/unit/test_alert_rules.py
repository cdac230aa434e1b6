"""The alert rules (core/alerts.py), table by table: which incidents a health shows, how the kept
incidents change, and which channel is due which message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from wa_monitor.core.alerts import (
    Due,
    Findings,
    Incident,
    IncidentChange,
    Known,
    Thresholds,
    changes,
    due,
    incidents,
)

SAST = ZoneInfo("Africa/Johannesburg")
RULES = Thresholds(
    max_behind=500,
    max_idle_minutes=10,
    quiet_minutes=30,
    working_hours=("07:00", "18:00"),
    working_days=frozenset({1, 2, 3, 4, 5}),
)
TUESDAY_NOON = datetime(2025, 11, 11, 12, tzinfo=SAST)
SUNDAY_NOON = datetime(2025, 11, 9, 12, tzinfo=SAST)
TUESDAY_NIGHT = datetime(2025, 11, 11, 22, tzinfo=SAST)
MIN = timedelta(minutes=1)


def health(**overrides: object) -> Findings:
    fields: dict[str, object] = {
        "running": True,
        "behind": 0,
        "idle_for": MIN,
        "bridge_quiet_for": MIN,
    }
    return Findings(**(fields | overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seen", "now", "found"),
    [
        (health(), TUESDAY_NOON, set()),
        (health(running=False), TUESDAY_NOON, {Incident.STOPPED}),
        (health(behind=501), TUESDAY_NOON, {Incident.BEHIND}),
        (health(behind=500), TUESDAY_NOON, set()),
        (health(behind=3, idle_for=11 * MIN), TUESDAY_NOON, {Incident.STUCK}),
        (health(behind=3, idle_for=None), TUESDAY_NOON, {Incident.STUCK}),
        (health(behind=0, idle_for=60 * MIN), TUESDAY_NOON, set()),  # idle, nothing waits
        (health(running=False, behind=3, idle_for=60 * MIN), TUESDAY_NOON, {Incident.STOPPED}),
        (health(behind=None, problems=("gone",)), TUESDAY_NOON, {Incident.BRIDGE_UNREADABLE}),
        (
            health(running=False, behind=None),
            TUESDAY_NOON,
            {Incident.STOPPED, Incident.BRIDGE_UNREADABLE},
        ),
        (health(bridge_quiet_for=31 * MIN), TUESDAY_NOON, {Incident.BRIDGE_QUIET}),
        (health(bridge_quiet_for=31 * MIN), SUNDAY_NOON, set()),  # not a working day
        (health(bridge_quiet_for=31 * MIN), TUESDAY_NIGHT, set()),  # not working hours
        (health(bridge_quiet_for=29 * MIN), TUESDAY_NOON, set()),
    ],
)
def test_incidents(seen: Findings, now: datetime, found: set[Incident]) -> None:
    assert set(incidents(seen, RULES, now, SAST)) == found


def test_the_working_day_is_the_environments_not_utc() -> None:
    # 05:30 UTC is 07:30 in Johannesburg: working hours there.
    now = datetime(2025, 11, 11, 5, 30, tzinfo=UTC)
    found = incidents(health(bridge_quiet_for=31 * MIN), RULES, now, SAST)
    assert set(found) == {Incident.BRIDGE_QUIET}


OPENED = datetime(2025, 11, 11, 10, tzinfo=UTC)
RESOLVED = OPENED + 30 * MIN


def known(**overrides: object) -> Known:
    fields: dict[str, object] = {"kind": Incident.STOPPED, "detail": "x", "opened_at": OPENED}
    return Known(**(fields | overrides))  # type: ignore[arg-type]


STOPPED = Incident.STOPPED


@pytest.mark.parametrize(
    ("found", "kept", "made"),
    [
        ({STOPPED: "x"}, None, [(IncidentChange.OPEN, STOPPED)]),
        ({STOPPED: "x"}, known(), []),  # goes on
        ({}, known(), [(IncidentChange.RESOLVE, STOPPED)]),
        ({}, known(resolved_at=RESOLVED), []),  # already over
        # Back before its recovery went anywhere: it goes on, not announced again.
        ({STOPPED: "x"}, known(resolved_at=RESOLVED), [(IncidentChange.REOPEN, STOPPED)]),
        # Back after its recovery went out (or while it is being posted): a new incident later.
        ({STOPPED: "x"}, known(resolved_at=RESOLVED, resolved_via=("email",)), []),
        ({STOPPED: "x"}, known(resolved_at=RESOLVED, recovering=("email",)), []),
    ],
)
def test_changes(
    found: dict[Incident, str], kept: Known | None, made: list[tuple[IncidentChange, Incident]]
) -> None:
    assert changes(found, {} if kept is None else {STOPPED: kept}) == made


BOTH = ("whatsapp", "email")


def said(d: Due) -> list[tuple[str, bool]]:
    return [(m.channel, m.recovery) for m in d.messages]


@pytest.mark.parametrize(
    ("incident", "channels", "messages", "close"),
    [
        (known(), BOTH, [("whatsapp", False), ("email", False)], False),
        (known(opened_via=("whatsapp",)), BOTH, [("email", False)], False),
        (known(opening=("whatsapp",)), BOTH, [("email", False)], False),  # claimed: not twice
        (known(opened_via=BOTH), BOTH, [], False),
        # Over before anyone was told: forgotten without a word.
        (known(resolved_at=RESOLVED), BOTH, [], True),
        # Over while its alert is being posted: kept until that post is settled.
        (known(resolved_at=RESOLVED, opening=("email",)), BOTH, [], False),
        (
            known(resolved_at=RESOLVED, opened_via=BOTH),
            BOTH,
            [("whatsapp", True), ("email", True)],
            False,
        ),
        (
            known(resolved_at=RESOLVED, opened_via=BOTH, resolved_via=("email",)),
            BOTH,
            [("whatsapp", True)],
            False,
        ),
        (
            known(resolved_at=RESOLVED, opened_via=BOTH, recovering=("whatsapp",)),
            BOTH,
            [("email", True)],
            False,
        ),
        (known(resolved_at=RESOLVED, opened_via=BOTH, resolved_via=BOTH), BOTH, [], True),
        # A channel since removed from the config is not told of the recovery.
        (
            known(resolved_at=RESOLVED, opened_via=BOTH, resolved_via=("email",)),
            ("email",),
            [],
            True,
        ),
    ],
)
def test_due(
    incident: Known, channels: tuple[str, ...], messages: list[tuple[str, bool]], close: bool
) -> None:
    d = due(incident, channels, "prod", SAST)
    assert (said(d), d.close) == (messages, close)


def test_the_messages_say_what_and_since_when() -> None:
    [alert] = due(known(detail="no wa-monitor is running"), ("email",), "prod", SAST).messages
    assert alert.subject == "wa-monitor prod: stopped"
    assert alert.text == (
        "🔴 wa-monitor prod: no wa-monitor is running (since 2025-11-11 12:00; see "
        "`wa-monitor status`)"
    )
    over = known(resolved_at=RESOLVED, opened_via=("email",))
    [recovery] = due(over, ("email",), "prod", SAST).messages
    assert recovery.subject == "wa-monitor prod: recovered (stopped)"
    assert recovery.text == (
        "✅ wa-monitor prod: recovered, a monitor is running again (incident since "
        "2025-11-11 12:00, 30 min)"
    )
