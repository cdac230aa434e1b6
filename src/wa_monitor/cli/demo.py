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
    demo.add_argument("--seconds", type=float, default=20.0, help="how long the bridge writes")
    demo.add_argument(
        "--dir", type=Path, default=None, help="working folder (default: a new temporary one)"
    )
    demo.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    # Imported here: the devtools (and the embedded server) are not in a production install.
    from wa_monitor.devtools.demo import run_demo  # noqa: PLC0415

    return run_demo(seconds=args.seconds, workdir=args.dir)
