"""`wa-monitor alerts check`: announce incidents (and their recovery) to ops, once each."""

from __future__ import annotations

import argparse

from wa_monitor.adapters.postgres.db import resolve_url
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, leaf, load
from wa_monitor.core.records import Delivery
from wa_monitor.errors import EXIT_FAILED, EXIT_OK
from wa_monitor.services import alerts


def register(commands: Commands) -> None:
    group = commands.add_parser("alerts", help=SUMMARIES["alerts"])
    actions = group.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    leaf(
        actions,
        "check",
        help="send what is new: an alert per new incident, a message when one is over",
        description="Look at the environment as `wa-monitor status` does and compare it with "
        "the incidents already announced (kept in the schema's wa_monitor_alerts). A new "
        "incident is sent once to the [alerts] channels (the ops WhatsApp group through the "
        "bridge's API, and/or e-mail); when it is over, one recovery message. Incidents: no "
        "monitor runs; more than max_behind messages wait; messages wait and the monitor read "
        "nothing for max_idle_minutes; the bridge file cannot be read; the bridge stored no "
        "new message for quiet_minutes within working_hours on working_days. Run it from a "
        "systemd timer (wa-monitor-alert@ENV.timer) and from the units' OnFailure= hook "
        "(wa-monitor-alert@ENV.service). Prints one line per message sent. Exit 0 when every "
        "message went (or alerts are off for the environment: dev's are unless enabled), 1 when "
        "a channel or the database failed (the next check tries again), 2 when they are "
        "misconfigured (prod's must name a channel).",
        epilog="The database URL: $WA_MONITOR_DATABASE_URL_NAME if set, else the service's "
        "(the service's own role may run it). " + CONFIG_HELP,
        handler=check_command,
    )


def check_command(args: argparse.Namespace) -> int:
    settings = load(args)
    if not settings.alerts_on:  # before the URL: an environment without alerts needs none
        print(f"alerts are off for {settings.environment.value}: nothing checked")
        return EXIT_OK
    url = resolve_url(settings, own_variable=True)
    deliveries = alerts.check(settings, url)
    for d in deliveries:
        what = "recovery" if d.recovery else "alert"
        state = {Delivery.SENT: "sent", Delivery.UNKNOWN: "perhaps sent"}.get(d.delivery, "FAILED")
        print(f"{d.kind.value}: {what} {state} via {d.channel}: {d.detail}")
    if not deliveries:
        print(f"{settings.environment.value}: nothing new to announce")
    return EXIT_OK if all(d.ok for d in deliveries) else EXIT_FAILED
