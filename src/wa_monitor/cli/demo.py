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
        "and dev monitors side by side on the same bridge file, then print the comparison ops "
        "run by hand (drops and latest created_at per environment) and the tail of each log.",
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
    from wa_monitor.devtools import demo  # noqa: PLC0415

    if args.make_bridge is not None:
        return demo.make_sample_bridge(args.make_bridge, seconds=args.seconds or 5.0)
    return demo.run_demo(seconds=args.seconds or 20.0, workdir=args.dir, keep=args.keep)
