"""`wa-monitor replies …`: the outbox of replies to the groups, and settling unknown ones."""

from __future__ import annotations

import argparse

from wa_monitor.adapters.postgres import outbox
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.cli.common import (
    CONFIG_HELP,
    SUMMARIES,
    Commands,
    count,
    leaf,
    load,
)
from wa_monitor.errors import EXIT_OK

STATES = ("pending", "sending", "sent", "expired", "unknown", "blocked", "held")
NOTE = """\
A reply is 'unknown' when the bridge took the request but gave no clear answer (a timeout, a
lost connection), or when the daemon stopped in the middle of posting it and the bot's message
is not in messages.db. wa-monitor never posts such a reply again by itself: the bridge has no
idempotency key, so it could appear twice. Look in the group, then resolve it."""


def register(commands: Commands) -> None:
    replies = commands.add_parser("replies", help=SUMMARIES["replies"])
    actions = replies.add_subparsers(dest="replies_command", required=True, metavar="ACTION")

    lst = leaf(
        actions,
        "list",
        help="the newest replies and their state",
        description="The newest replies of the outbox: pending (waiting for the sender, its "
        "group's turn or a retry), sending, sent, expired (the message was older than the "
        "reply window), unknown (may or may not have been posted), blocked (a group this "
        "environment may not reply in) or held (over the hourly cap of its group or sender: "
        "reply_cap_per_group_hour, reply_cap_per_sender_hour).",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=list_command,
    )
    lst.add_argument("--state", choices=STATES, help="only replies in this state")
    lst.add_argument("--limit", type=count, default=50, help="at most this many (default 50)")

    res = leaf(
        actions,
        "resolve",
        help="settle a reply whose outcome is unknown",
        description="Settle one 'unknown' reply after looking in the group: --posted if it is "
        "there (it is marked sent), --resend if it is not (the daemon posts it again).",
        epilog=f"{NOTE}\n{CONFIG_HELP}",
        handler=resolve_command,
    )
    res.add_argument("id", metavar="ID", help="the reply's id, or its first 6+ characters")
    how = res.add_mutually_exclusive_group(required=True)
    how.add_argument("--posted", action="store_true", help="it is in the group: mark it sent")
    how.add_argument("--resend", action="store_true", help="it is not: post it again")


def list_command(args: argparse.Namespace) -> int:
    settings = load(args)
    rows = outbox.list_replies(
        Database.of(settings),
        state=args.state,
        limit=args.limit,
    )
    for r in rows:
        when = r.message_at.astimezone(settings.tz).isoformat(sep=" ", timespec="seconds")
        detail = f"  ({r.detail})" if r.detail else ""
        print(
            f"{str(r.id)[:8]}  {r.state:<8} {r.kind:<13} {r.drop_number:<11} {r.project} "
            f"{r.chat_jid} {when} attempts={r.attempts}{detail}"
        )
    if not rows:
        print("no replies" + (f" in state {args.state}" if args.state else ""))
    return EXIT_OK


def resolve_command(args: argparse.Namespace) -> int:
    settings = load(args)
    [row] = outbox.resolve(
        Database.of(settings),
        prefix=args.id,
        posted=args.posted,
    )
    what = "marked sent" if args.posted else "queued to be posted again by the daemon"
    print(f"reply {row.id} ({row.drop_number}, {row.chat_jid}): {what}")
    return EXIT_OK
