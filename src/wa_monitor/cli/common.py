"""What the commands share: --env/--config, loading the settings, the database URL."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from wa_monitor.settings import CONFIG_DIR_VAR, Settings, load_environment, load_settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# Each command's one line in `wa-monitor --help`, and its help where it registers itself.
SUMMARIES = {
    "run": "the daemon: turn new bridge messages into reviews",
    "schema": "create and manage the environment's schema",
    "status": "every environment side by side: reviews, lag, version, is its monitor running",
    "doctor": "check an environment end to end; each check passes or fails with its fix",
    "alerts": "tell ops when a monitor stops or falls behind",
    "drops": "the projects' plan lists of valid drop numbers",
    "replies": "the replies posted (or waiting) in the groups",
    "photos": "the drops' photos: fetch them through the bridge, their state, prune the cache",
    "sync": "copy production's daily drop totals out",
    "web": "serve the environment's dashboard (/wa-monitor) over HTTP",
    "users": "manage the dashboard's users of an environment",
    "demo": "show prod and dev side by side on an embedded database and a simulated bridge",
}

CONFIG_HELP = f"""\
--env NAME reads NAME.toml from ${CONFIG_DIR_VAR} if set, else from ./config, then
/etc/wa-monitor. --config PATH names the file directly."""


def leaf(
    parent: Commands,
    name: str,
    *,
    handler: Callable[[argparse.Namespace], int],
    help: str,  # argparse's own name for it
    description: str | None = None,
    epilog: str | None = None,
    formatter_class: type[argparse.HelpFormatter] = argparse.HelpFormatter,
    confirm: bool = False,
) -> argparse.ArgumentParser:
    """A command that runs: its --help texts, --env/--config, --yes when it asks before it
    acts (`confirm`), and the handler that carries it out."""
    parser = parent.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=formatter_class,
    )
    add_target(parser)
    if confirm:
        parser.add_argument("--yes", action="store_true", help="do not ask")
    parser.set_defaults(handler=handler)
    return parser


def add_target(parser: argparse.ArgumentParser) -> None:
    """--env NAME | --config PATH, one of them required."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--env", metavar="NAME", help="environment name: prod or dev")
    group.add_argument("--config", metavar="PATH", type=Path, help="path of a TOML config file")


def load(args: argparse.Namespace) -> Settings:
    """The settings the command line names; with --env the file must say that environment.
    Dev's settings know what production's config names: the prod.toml beside --config's file,
    or the one --env prod would find."""
    if args.config is not None:
        return load_settings(args.config)
    return load_environment(args.env)


def seconds(text: str) -> float:
    """A finite number of seconds > 0: `nan` or `inf` would make a bound that never ends."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0 (got {text!r})")
    return value


def count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0 (got {text!r})")
    return int(text)
