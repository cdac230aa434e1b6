"""`wa-monitor web`: serve one environment's dashboard with uvicorn."""

from __future__ import annotations

import argparse
import sys

from wa_monitor.adapters import logs
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, leaf, load
from wa_monitor.errors import EXIT_OK, FatalError
from wa_monitor.settings import WEB_SECRET_CREDENTIAL, WEB_SECRET_VAR, Settings
from wa_monitor.web import server
from wa_monitor.web.app import create_app


def register(commands: Commands) -> None:
    web = leaf(
        commands,
        "web",
        help=SUMMARIES["web"],
        description="Serve the environment's dashboard: the overview, the review list with its "
        "CSV export and each review, behind a login (users: `wa-monitor users`), plus /healthz "
        "and /metrics. It reads only the environment's schema (prod: public, dev: dev) and "
        "listens where the config's [web] table says (default 127.0.0.1:8090); put a TLS "
        "reverse proxy in front of it and set secure_cookies = true there. Exit 2 on a bad "
        "config, a missing secret or an unmigrated schema.",
        epilog=f"The session secret comes from ${WEB_SECRET_VAR} or the systemd credential "
        f"'{WEB_SECRET_CREDENTIAL}' (32 characters at least), the database URL from "
        f"$WA_MONITOR_DATABASE_URL (or its credential); neither is read from the TOML file.\n"
        + CONFIG_HELP,
        handler=web_command,
    )
    web.add_argument("--host", help="listen on this address instead of [web] host")
    web.add_argument("--port", type=int, help="listen on this port instead of [web] port")


def web_command(args: argparse.Namespace) -> int:
    settings = load(args)
    db = Database.of(settings)
    secret = settings.require_web_secret()
    logs.register_secret(secret)
    # The dashboard's own lines (a feedback send's) as the monitor's: prefix, zone, offset.
    logs.configure(prefix=settings.log_prefix, log_file=None, tz=settings.tz)
    with db.session("web") as conn:
        db.require_current(conn)
    if (production := settings.production) is not None and not production.known:
        # Said once at start: the dashboard's Send then says why on each review page.
        head = f"{settings.log_prefix} " if settings.log_prefix else ""
        print(
            f"{head}dev sends feedback nowhere: production's config is needed to keep dev out "
            f"of its groups ({production.source})",
            file=sys.stderr,
        )
    serve(
        settings,
        database_url=db.url,
        secret=secret,
        host=args.host or settings.web.host,
        port=args.port or settings.web.port,
    )
    return EXIT_OK


def serve(settings: Settings, *, database_url: str, secret: str, host: str, port: int) -> None:
    """Run the dashboard until SIGTERM or SIGINT (requests in flight finish), with a deadline
    for each request's headers and body (web/server.py)."""
    app = create_app(settings, database_url=database_url, secret=secret)
    started = server.serve(
        server.config(
            app,
            host=host,
            port=port,
            request_seconds=settings.web.request_seconds,
            log_prefix=settings.log_prefix,
            timezone=settings.timezone,
        )
    )
    if not started:  # uvicorn said why (the address in use, say); systemd may try again
        raise FatalError(f"the dashboard could not start on {host}:{port}")
