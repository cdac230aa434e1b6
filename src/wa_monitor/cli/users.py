"""`wa-monitor users …`: the dashboard's users of one environment (add, list, disable, enable,
passwd, role)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from wa_monitor.adapters.postgres import users
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Role, UserBook
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, leaf, load
from wa_monitor.errors import EXIT_OK, Refused
from wa_monitor.services import accounts

PASSWORD_NOTE = f"""\
The password is asked twice on a terminal, or read as one line from standard input with
--password-stdin; at least {accounts.MIN_PASSWORD_LENGTH} characters. It is stored as an Argon2id
hash and never printed. Users live in the environment's own schema: prod's and dev's are
separate. Runs with the URL in $WA_MONITOR_DATABASE_URL.
{CONFIG_HELP}"""


def register(commands: Commands) -> None:
    group = commands.add_parser("users", help=SUMMARIES["users"])
    actions = group.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = leaf(
        actions,
        "add",
        help="create a user (viewer: reads; reviewer: also judges reviews)",
        description="Create a dashboard user with a role: viewer (reads every page) or "
        "reviewer (also ticks steps and sends feedback).",
        epilog=PASSWORD_NOTE,
        handler=add_command,
    )
    add.add_argument("username", help="1-64 lowercase letters, digits, '.', '_' or '-'")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", default="", help="the name pages show (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    listing = leaf(
        actions,
        "list",
        help="every user with role, state and last login",
        epilog=CONFIG_HELP,
        handler=list_command,
    )
    listing.add_argument("--json", action="store_true", help="one JSON document instead of a table")

    disable = leaf(
        actions,
        "disable",
        help="refuse a user's logins and end their open sessions",
        epilog=CONFIG_HELP,
        handler=disable_command,
    )
    disable.add_argument("username")

    enable = leaf(
        actions,
        "enable",
        help="let a disabled user log in again (with their password)",
        epilog=CONFIG_HELP,
        handler=enable_command,
    )
    enable.add_argument("username")

    role = leaf(
        actions,
        "role",
        help="change a user's role and end their open sessions",
        epilog=CONFIG_HELP,
        handler=role_command,
    )
    role.add_argument("username")
    role.add_argument("--role", required=True, choices=[r.value for r in Role])

    passwd = leaf(
        actions,
        "passwd",
        help="set a user's password and end their open sessions",
        epilog=PASSWORD_NOTE,
        handler=passwd_command,
    )
    passwd.add_argument("username")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )


def read_password(*, from_stdin: bool) -> str:
    """The new password: one line of stdin, or asked twice on the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise Refused("no terminal to ask the password on: pipe it in with --password-stdin")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise Refused("the two passwords differ; nothing was changed")
    return first


def add_command(args: argparse.Namespace) -> int:
    settings = load(args)
    username = accounts.check_username(args.username)
    password = read_password(from_stdin=args.password_stdin)
    env = settings.environment.value
    db = Database.of(settings)
    with db.session("users") as conn:
        accounts.add_user(
            UserBook(conn, db),
            username=username,
            display_name=args.name,
            role=Role(args.role),
            password=password,
        )
    print(f"user {username!r} added to {env} ({settings.schema}) as {args.role}")
    return EXIT_OK


def list_command(args: argparse.Namespace) -> int:
    settings = load(args)
    db = Database.of(settings)
    with db.session("users") as conn:
        found = users.all_users(conn, db)
    if args.json:
        print(json.dumps([_as_json(u) for u in found], indent=2))
        return EXIT_OK
    rows = [("USERNAME", "NAME", "ROLE", "STATE", "LAST LOGIN")]
    rows += [
        (
            u.username,
            u.display_name,
            u.role.value,
            "active" if u.active else "disabled",
            "-"
            if u.last_login_at is None
            else u.last_login_at.astimezone(settings.tz).isoformat(timespec="seconds"),
        )
        for u in found
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _as_json(user: users.User) -> dict[str, object]:
    return {
        "username": user.username,
        "name": user.display_name,
        "role": user.role.value,
        "active": user.active,
        "last_login_at": None if user.last_login_at is None else user.last_login_at.isoformat(),
    }


def disable_command(args: argparse.Namespace) -> int:
    settings = load(args)
    env = settings.environment.value
    db = Database.of(settings)
    with db.session("users") as conn:
        accounts.disable_user(UserBook(conn, db), username=args.username)
    print(f"user {args.username!r} disabled in {env}; their sessions have ended")
    return EXIT_OK


def passwd_command(args: argparse.Namespace) -> int:
    settings = load(args)
    password = read_password(from_stdin=args.password_stdin)
    env = settings.environment.value
    db = Database.of(settings)
    with db.session("users") as conn:
        enabled = accounts.change_password(
            UserBook(conn, db), username=args.username, password=password
        )
    print(f"password of {args.username!r} changed in {env}; their sessions have ended")
    if not enabled:
        print(
            f"{args.username!r} stays disabled: `wa-monitor users enable {args.username} "
            f"--env {env}` lets them log in again"
        )
    return EXIT_OK


def enable_command(args: argparse.Namespace) -> int:
    settings = load(args)
    env = settings.environment.value
    db = Database.of(settings)
    with db.session("users") as conn:
        accounts.enable_user(UserBook(conn, db), username=args.username)
    print(f"user {args.username!r} enabled in {env}: they can log in with their password")
    return EXIT_OK


def role_command(args: argparse.Namespace) -> int:
    settings = load(args)
    env = settings.environment.value
    db = Database.of(settings)
    with db.session("users") as conn:
        accounts.change_role(UserBook(conn, db), username=args.username, role=Role(args.role))
    print(f"user {args.username!r} is now a {args.role} in {env}; their sessions have ended")
    return EXIT_OK
