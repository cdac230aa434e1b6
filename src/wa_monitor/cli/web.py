"""`wa-monitor web`: serve one environment's dashboard with uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from wa_monitor.adapters import logs
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, database, leaf, load
from wa_monitor.errors import EXIT_OK
from wa_monitor.settings import WEB_SECRET_CREDENTIAL, WEB_SECRET_VAR, Settings
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
    db = database(settings)
    secret = settings.require_web_secret()
    logs.register_secret(secret)
    with db.session("web") as conn:
        db.require_current(conn)
    serve(
        settings,
        database_url=db.url,
        secret=secret,
        host=args.host or settings.web.host,
        port=args.port or settings.web.port,
    )
    return EXIT_OK


def serve(settings: Settings, *, database_url: str, secret: str, host: str, port: int) -> None:
    """Run the dashboard until SIGTERM or SIGINT (uvicorn's own handling: requests in flight
    finish). X-Forwarded-For is believed from [web] trusted_proxies only (web/limits.py)."""
    uvicorn.run(
        create_app(settings, database_url=database_url, secret=secret),
        host=host,
        port=port,
        proxy_headers=False,  # the app believes X-Forwarded-For from [web] trusted_proxies
        server_header=False,
        log_config=log_config(settings.log_prefix),
    )


def log_config(prefix: str) -> dict[str, Any]:
    """uvicorn's lines on stderr (the journal), with the environment's prefix first on every
    line, a traceback's lines included."""
    formatter = {
        "()": "wa_monitor.adapters.logs.Prefixed",
        "fmt": "%(asctime)s %(levelname)-7s %(name)s %(message)s",
        "prefix": prefix,
    }
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
