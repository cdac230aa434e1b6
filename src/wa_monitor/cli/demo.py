"""`wa-monitor demo`: prod and dev side by side on an embedded database (devtools extra)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wa_monitor.cli.common import SUMMARIES, Commands


def register(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help=SUMMARIES["demo"],
        description="Start an embedded PostgreSQL and a simulated WhatsApp bridge, run the prod "
        "and dev monitors side by side on the same bridge file, and serve the prod dashboard "
        "while the bridge writes (its URL, login and password are printed first). Then print "
        "the comparison ops run by hand (drops and latest created_at per environment) and the "
        "tail of each log. Run in a terminal without --seconds, the dashboard stays up after "
        "that until Ctrl-C. --make-bridge DIR instead writes a sample bridge and two configs "
        "that read it, to try the commands on your own PostgreSQL.",
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
        help="how long the simulated bridge writes, then stop (default: 20 for the demo, then "
        "the dashboard stays up until Ctrl-C when run in a terminal; 5 for --make-bridge)",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="working folder, left in place after (default: a new temporary one, removed after)",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the temporary working folder (~40 MB) of the demo or --review",
    )
    demo.add_argument(
        "--make-bridge",
        metavar="DIR",
        type=Path,
        default=None,
        help="only write, into the new folder DIR, a sample bridge (bridge/messages.db in the "
        "bridge's exact schema, whatsapp.db beside it) and config/prod.toml and dev.toml that "
        "read it; print the export lines and the commands to try it on your own PostgreSQL",
    )
    demo.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    # Imported here: the devtools (and the embedded server) are not in a production install.
    if args.review:
        from wa_monitor.devtools.review_demo import run_review_demo  # noqa: PLC0415

        return run_review_demo(
            seconds=args.seconds,
            workdir=args.dir,
            keep=args.keep,
            port=args.port or 8090,
            answer_s=8,
        )
    from wa_monitor.devtools import demo  # noqa: PLC0415

    if args.make_bridge is not None:
        return demo.make_sample_bridge(args.make_bridge, seconds=args.seconds or 5.0)
    # A person at a terminal gets time to look; a timed or scripted run ends by itself.
    stay = args.seconds is None and sys.stdin.isatty() and sys.stdout.isatty()
    return demo.run_demo(
        seconds=args.seconds or 20.0, workdir=args.dir, keep=args.keep, port=args.port, stay=stay
    )
