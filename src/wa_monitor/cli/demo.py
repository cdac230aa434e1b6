"""`wa-monitor demo`: prod and dev side by side on an embedded database (devtools extra)."""

from __future__ import annotations

import argparse
from pathlib import Path

from wa_monitor.cli.common import Commands


def register(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="show prod and dev side by side on an embedded database and a simulated bridge",
        description="Start an embedded PostgreSQL and a simulated WhatsApp bridge, run the prod "
        "and dev monitors side by side on the same bridge file, and serve the prod dashboard "
        "while the bridge writes (its URL and a demo login are printed first; --seconds 300 "
        "gives time to watch). Then print the comparison ops run by hand (drops and latest "
        "created_at per environment) and the tail of each log.",
    )
    demo.add_argument(
        "--port",
        type=int,
        default=None,
        help="the dashboard's port (default 8090, or a free one when 8090 is taken)",
    )
    demo.add_argument(
        "--review",
        action="store_true",
        help="the review loop instead: the dashboard with a reviewer login, feedback sent "
        "through the simulated bridge's HTTP API, and an agent who answers with a fix "
        "(--seconds: stop after this long; default: until Ctrl-C)",
    )
    demo.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="how long the simulated bridge writes (default: 20 for the demo, 5 for --make-bridge)",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="working folder, left in place after (default: a new temporary one, removed after)",
    )
    demo.add_argument(
        "--keep", action="store_true", help="leave the temporary working folder (~40 MB)"
    )
    demo.add_argument(
        "--make-bridge",
        metavar="PATH",
        type=Path,
        default=None,
        help="only write a sample bridge file (messages.db in the bridge's exact schema, "
        "whatsapp.db beside it) at PATH, to point a config's bridge_db at, and exit",
    )
    demo.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    # Imported here: the devtools (and the embedded server) are not in a production install.
    if args.review:
        from wa_monitor.devtools.review_demo import run_review_demo  # noqa: PLC0415

        return run_review_demo(
            seconds=args.seconds, workdir=args.dir, port=args.port or 8090, answer_s=8
        )
    from wa_monitor.devtools import demo  # noqa: PLC0415

    if args.make_bridge is not None:
        return demo.make_sample_bridge(args.make_bridge, seconds=args.seconds or 5.0)
    return demo.run_demo(
        seconds=args.seconds or 20.0, workdir=args.dir, keep=args.keep, port=args.port
    )
