"""/metrics in Prometheus's text format: the environment's liveness, lag and today's figures,
read from the database at each scrape. Figures only: no name, number or drop leaves here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from wa_monitor.services import health
from wa_monitor.services.status import BridgeStatus
from wa_monitor.web.context import Site

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class EnvironmentCollector(Collector):
    """Reads one environment's figures when Prometheus scrapes; a database that cannot be
    reached shows as wa_monitor_database_up 0 and nothing else."""

    def __init__(self, web: Site) -> None:
        self.web = web

    def collect(self) -> Iterator[GaugeMetricFamily]:
        web = self.web
        env = web.settings.environment.value
        labels = ["environment"]
        database_up = GaugeMetricFamily(
            "wa_monitor_database_up", "1 when the dashboard can read its schema", labels=labels
        )
        tz = web.settings.tz
        now = datetime.now(tz)
        today = now.date()
        try:
            with web.desk() as desk:
                state = desk.health(now)
                counts = desk.day_totals(today, today)
                cards = desk.day_cards(today)
        except Exception:  # noqa: BLE001  a scrape reports the outage, it does not fail
            database_up.add_metric([env], 0)
            yield database_up
            return
        database_up.add_metric([env], 1)
        yield database_up
        yield _gauge(
            "wa_monitor_running",
            "1 when a monitor holds the environment's lock",
            env,
            None if state.running is None else int(state.running),
        )
        yield _gauge(
            "wa_monitor_bridge_waiting_messages",
            "bridge messages of watched groups not yet processed",
            env,
            state.waiting,
        )
        yield _gauge(
            "wa_monitor_last_processed_age_seconds",
            "seconds since the monitor applied its newest message",
            env,
            state.age_seconds,
        )
        yield _gauge(
            "wa_monitor_behind",
            "1 when the dashboard warns that the monitor is behind or stopped",
            env,
            int(state.level in {health.Level.BEHIND, health.Level.STOPPED}),
        )
        yield from _bridge_gauges(env, state.bridges, now)
        drops = GaugeMetricFamily(
            "wa_monitor_drops_today",
            "distinct drops today per project (local day)",
            labels=["environment", "project"],
        )
        for c in counts:
            drops.add_metric([env, c.project], c.drops)
        yield drops
        reviews = GaugeMetricFamily(
            "wa_monitor_reviews_today",
            "reviews first seen today, by state",
            labels=["environment", "state"],
        )
        for state_name in (
            "total",
            "complete",
            "incomplete",
            "awaiting",
            "feedback_sent",
            "resubmitted",
        ):
            reviews.add_metric([env, state_name], getattr(cards, state_name))
        yield reviews


def _bridge_gauges(
    env: str, bridges: tuple[BridgeStatus, ...], now: datetime
) -> Iterator[GaugeMetricFamily]:
    """With several bridges, each one: its lag behind the freshest, its monitor, its last read."""
    labels = ["environment", "bridge"]
    lag = GaugeMetricFamily(
        "wa_monitor_bridge_lag_seconds",
        "how far the bridge's newest message is behind the freshest bridge's",
        labels=labels,
    )
    running = GaugeMetricFamily(
        "wa_monitor_bridge_running", "1 when the bridge's monitor runs", labels=labels
    )
    read = GaugeMetricFamily(
        "wa_monitor_bridge_last_read_age_seconds",
        "seconds since the bridge's monitor last read it",
        labels=labels,
    )
    for b in bridges:
        if b.lag_seconds is not None:
            lag.add_metric([env, b.name], b.lag_seconds)
        running.add_metric([env, b.name], int(b.running))
        if b.last_read_at is not None:
            read.add_metric([env, b.name], max((now - b.last_read_at).total_seconds(), 0.0))
    yield from (lag, running, read)


def _gauge(name: str, doc: str, env: str, value: float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["environment"])
    if value is not None:
        family.add_metric([env], value)
    return family


def registry(web: Site) -> CollectorRegistry:
    """A registry of our own: the process-wide default one would mix in other apps' metrics."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(EnvironmentCollector(web))
    return reg


def metrics(reg: CollectorRegistry, request: Request) -> Response:
    return Response(generate_latest(reg), media_type=CONTENT_TYPE)
