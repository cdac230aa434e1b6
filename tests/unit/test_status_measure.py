"""`status`'s one computation (services/status.measure) and the dashboard's health on it, on
FakeFigures (tests/support/fakes.py): what it reads and leaves unread, the problems it finds
(not migrated, no monitor, behind, idle, unknown replies, an unreadable bridge) and the figures
it reports in the environment's zone. The SQL behind the figures: tests/integration
(test_status.py, test_liveness.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.env import LAWLEY, write_config
from tests.support.fakes import LATEST, FakeFigures
from wa_monitor.adapters.bridge import BridgeError
from wa_monitor.adapters.postgres.db import SchemaState
from wa_monitor.adapters.postgres.figures import Progress, RepliesDay, ReviewCounts
from wa_monitor.services import health
from wa_monitor.services.status import Limits, measure
from wa_monitor.settings import Settings, load_settings

WATCHED = Limits(max_behind=500, max_idle=timedelta(minutes=10))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder: Path = tmp_path_factory.mktemp("status")
    config = write_config(folder, "prod", bridge_db=folder / "messages.db", groups={LAWLEY: "L"})
    return load_settings(config, expect="prod")


def test_a_running_monitor_that_keeps_up_has_no_problem_and_its_figures_in_local_time(
    settings: Settings,
) -> None:
    applied = datetime(2025, 11, 11, 9, 59, tzinfo=UTC)
    found = FakeFigures(
        reviews=ReviewCounts(1200, 40, applied),
        done=Progress(applied, applied, 777, applied, datetime.now(UTC)),
        pending=3,
    )

    status = measure(found, settings, limits=WATCHED)

    assert status.ok, status.problems
    assert (status.reviews_total, status.reviews_today, status.behind) == (1200, 40, 3)
    assert (status.migration_version, status.cursor_rowid, status.running) == (LATEST, 777, True)
    assert status.last_processed_at is not None
    assert status.last_processed_at.isoformat() == "2025-11-11T11:59:00+02:00"  # Johannesburg


def test_a_schema_that_is_not_migrated_is_the_one_problem_and_nothing_else_is_read(
    settings: Settings,
) -> None:
    found = FakeFigures(state=SchemaState("public", LATEST - 1, LATEST))

    status = measure(found, settings, limits=WATCHED)

    assert status.problems == (
        f"schema 'public' is at version {LATEST - 1}, not {LATEST}: "
        "run `wa-monitor schema migrate --env prod`",
    )
    assert found.asked == ["schema"]


def test_no_monitor_is_a_problem_only_where_one_must_run(settings: Settings) -> None:
    found = FakeFigures(holder=None)
    assert measure(found, settings).ok  # `status` without limits: a figure, not a failure
    assert measure(found, settings, limits=WATCHED).problems == (
        "no wa-monitor is running for environment prod",
    )


def test_messages_waiting_past_the_limit_and_a_monitor_that_stopped_reading(
    settings: Settings,
) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    found = FakeFigures(done=Progress(None, None, 10, None, long_ago), pending=501)

    problems = measure(found, settings, limits=WATCHED).problems

    assert problems == (
        "501 bridge messages not yet processed (> 500)",
        "501 bridge messages wait and the monitor last read the bridge 30 min ago (> 10 min)",
    )


def test_replies_with_an_unknown_outcome_point_to_the_command_that_settles_them(
    settings: Settings,
) -> None:
    found = FakeFigures(replies=RepliesDay(0, 0, 2))
    (problem,) = measure(found, settings).problems
    assert problem.startswith("2 replies may or may not have been posted")
    assert "wa-monitor replies resolve" in problem


def test_an_unreadable_bridge_is_a_problem_that_keeps_the_databases_figures(
    settings: Settings,
) -> None:
    found = FakeFigures(
        reviews=ReviewCounts(5, 1, None), unreadable=BridgeError("messages.db: no such file")
    )
    status = measure(found, settings, limits=WATCHED)
    assert status.problems == ("bridge: messages.db: no such file",)
    assert (status.reviews_total, status.running, status.behind) == (5, True, None)


def test_the_dashboards_health_reads_neither_the_review_counts_nor_the_outbox(
    settings: Settings,
) -> None:
    found = FakeFigures(holder=None)

    shown = health.check(found, settings, now=datetime.now(UTC))

    assert shown.level is health.Level.STOPPED
    assert found.asked == ["schema", "bridge"]
