"""`wa-monitor schema …`: migrate, summarize, reset, drop, copy-from-prod, grant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from wa_monitor.adapters.bridge import messages_by_key
from wa_monitor.adapters.postgres import admin, summary
from wa_monitor.adapters.postgres.db import Connection, Database, PrivilegeDenied, latest_version
from wa_monitor.adapters.postgres.store import Store
from wa_monitor.cli.common import CONFIG_HELP, SUMMARIES, Commands, leaf, load
from wa_monitor.core import reviews
from wa_monitor.core.privileges import Service
from wa_monitor.core.records import Sighting
from wa_monitor.errors import EXIT_FAILED, EXIT_OK, ConfigError, Refused
from wa_monitor.services.status import environment_names
from wa_monitor.settings import Settings, find_config, load_settings

OWNER_NOTE = """\
Runs with the URL in $WA_MONITOR_DATABASE_URL: the database owner's for drop, copy-from-prod,
migrate and grant; reset also works with dev's own service URL."""


def register(commands: Commands) -> None:
    schema = commands.add_parser("schema", help=SUMMARIES["schema"])
    schema_cmds = schema.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    leaf(
        schema_cmds,
        "migrate",
        help="create the schema and its tables at the current version (idempotent)",
        description="Create the environment's schema if missing, and its tables and indexes at "
        f"the current version ({latest_version()}). Safe to run again; prod and dev get the "
        "identical structure. An existing qa_photo_reviews table is adopted.",
        epilog=CONFIG_HELP,
        handler=migrate_command,
    )
    leaf(
        schema_cmds,
        "summarize",
        help="recompute the per-day summary the dashboard and the sync read, from the reviews",
        description="Recompute the per-day summary (drops, verdicts, failing steps per local "
        "day, project and agent) from the reviews and their change trail, its days local to "
        "the config's timezone, in one transaction; the monitor's and the reviewers' writes "
        "wait meanwhile. Triggers keep it in every write's transaction, so this is needed only "
        "after a change of timezone (schema migrate does it then) or to check it.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
        handler=summarize_command,
    )
    leaf(
        schema_cmds,
        "reset",
        help="empty dev's reviews and all the monitor's state so the dev monitor starts over",
        description="Empty the dev environment in one transaction: its qa_photo_reviews, its "
        "ledger, its cursor, its invalid drop submissions and reply outbox (the plan lists "
        "stay), so the dev monitor reads the bridge again from the first "
        "message. Refuses prod whatever the flags, and refuses while the dev monitor runs "
        "(stop it first). Without --yes it asks on a terminal and refuses without one.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
        handler=reset_command,
        confirm=True,
    )

    leaf(
        schema_cmds,
        "drop",
        help="drop dev's whole schema (schema migrate creates it again)",
        description="Drop the dev environment's schema and everything in it, in one "
        "transaction. Refuses prod whatever the flags, refuses while the dev monitor runs, and "
        "refuses when an object outside the schema (a view, a foreign key) depends on it. "
        "Without --yes it asks on a terminal and refuses without one.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
        handler=drop_command,
        confirm=True,
    )

    copy = schema_cmds.add_parser(
        "copy-from-prod",
        help="copy production reviews created within a window into dev",
        description="Copy the production reviews (schema public) created within --since into "
        "the dev environment's schema, in one transaction. A review dev already has for the "
        "same (drop_number, review_date) is skipped, or with --replace overwritten. The "
        "production ledger entries of the copied drops' messages are added to dev's ledger so "
        "the dev monitor never applies those messages again; dev's cursor is left alone. Both "
        "schemas must be at the same migration version. Prints how many rows were copied, "
        "skipped and replaced. Only ever production -> dev.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
    )
    target = copy.add_mutually_exclusive_group()
    target.add_argument("--env", metavar="NAME", help="the dev environment (default: dev)")
    target.add_argument("--config", metavar="PATH", type=Path, help="its TOML config file")
    copy.set_defaults(env="dev")
    copy.add_argument(
        "--since",
        required=True,
        metavar="DURATION",
        help="window by created_at: a whole number and a unit m, h, d or w (90m, 24h, 7d, 1d12h)",
    )
    copy.add_argument(
        "--replace",
        action="store_true",
        help="overwrite dev's row on a conflict instead of skipping",
    )
    copy.set_defaults(handler=copy_command)

    grant = leaf(
        schema_cmds,
        "grant",
        help="give a role exactly the privileges the environment's service needs",
        description="Least privilege, in one transaction: revoke the role's table privileges in "
        "schema public (and in the environment's schema), then grant USAGE on the environment's "
        "schema and only what the service does to its tables. The monitor (default): "
        f"{admin.spell(admin.RUN_NEEDS)} (dev's role may also TRUNCATE its tables, for schema "
        f"reset). --service sync (prod only): {admin.spell(admin.SYNC_NEEDS)}. --service web "
        f"(the dashboard): {admin.spell(admin.WEB_NEEDS)}; and only these columns: "
        f"{admin.spell_columns(admin.WEB_COLUMNS)}; a login through EXECUTE on "
        f"{admin.LOGGED_IN_FUNCTION}() (it notes the login and replaces a rehashed password, no "
        f"more), a logout through {admin.LOGGED_OUT_FUNCTION}() (it ends the user's sessions) and "
        f"a drop-number correction through {admin.CORRECT_DROP_FUNCTION}() (one review's "
        "drop_number, with a reason in the change trail). Nothing else: no role may create "
        "objects anywhere. The role must exist, log in, and be neither a superuser nor the "
        "tables' owner. Run it again after `schema drop` + `schema migrate`.",
        epilog=f"{OWNER_NOTE}\n{CONFIG_HELP}",
        handler=grant_command,
    )
    grant.add_argument("--role", required=True, help="the service's database role")
    grant.add_argument(
        "--service",
        type=Service,
        choices=list(Service),
        default=Service.MONITOR,
        help="whose role: the monitor's (default), the SharePoint sync's (read-only, prod) or "
        "the dashboard's (web)",
    )
    grant.add_argument(
        "--allow-other-env",
        action="store_true",
        help="grant even though the role serves another environment (holds privileges in "
        "another wa-monitor schema, or is named as its service_role); its privileges there are "
        "then left alone",
    )
    grant.add_argument(
        "--print",
        action="store_true",
        help="only print the SQL (no database needed), e.g. to review it or run it with psql",
    )


def migrate_command(args: argparse.Namespace) -> int:
    settings = load(args)
    db = Database.of(settings)
    with Store(db) as store:
        applied = store.migrate()
        version = store.require_migrated()
    if applied:
        print(f"schema {settings.schema}: applied version(s) {applied}; now at version {version}")
    else:
        print(f"schema {settings.schema}: already at version {version}; nothing to do")
    with db.session("schema") as conn:
        if summary.needs_rebuild(conn, db, settings.timezone):
            _summarize(db, conn, settings)
    _complete_ledger(db, settings)
    return EXIT_OK


def _complete_ledger(db: Database, settings: Settings) -> None:
    """The ledger entries from before version 21, completed from this host's bridge file."""
    try:
        with db.session("schema") as conn:
            done = admin.complete_ledger(conn, db, partial(_sightings_in_bridge, settings))
    except PrivilegeDenied:  # a role that may read the ledger but not write it: the owner may
        print(
            f"schema {settings.schema}: ledger entries from before version 21 left as they are "
            "(completing them needs the tables' owner: run schema migrate with its URL)",
            file=sys.stderr,
        )
        return
    if done:
        print(
            f"schema {settings.schema}: {done} ledger entries from before version 21 completed "
            f"from bridge {settings.bridge} ({settings.bridge_db})"
        )


def _sightings_in_bridge(settings: Settings, keys: Sequence[tuple[str, str]]) -> list[Sighting]:
    """The messages with these keys as this host's bridge still holds them, made sightings by
    the monitor's own rules (their project, sender, name and resubmission word)."""
    found = messages_by_key(
        settings.bridge_db, keys, tz=settings.tz, lid_map=settings.lid_map_db
    ).values()
    return reviews.sightings(
        found,
        projects=settings.enabled_projects,
        bot_senders=settings.bot_senders,
        tz=settings.tz,
        own_account_posts_drops=settings.own_account_posts_drops,
    )


def _summarize(db: Database, conn: Connection, settings: Settings) -> None:
    counted = summary.rebuild(conn, db, settings.timezone)
    print(
        f"schema {settings.schema}: per-day summary rebuilt from {counted} reviews "
        f"(days in {settings.timezone})"
    )


def summarize_command(args: argparse.Namespace) -> int:
    settings = load(args)
    db = Database.of(settings)
    with db.session("schema") as conn:
        db.require_current(conn)
        _summarize(db, conn, settings)
    return EXIT_OK


def _confirm(args: argparse.Namespace, settings: Settings) -> admin.Confirm:
    env = settings.environment.value

    def confirm(question: str) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise Refused("refusing without --yes: there is no terminal to ask on")
        answer = input(f"{question}\nType {env!r} to go on: ")
        return answer.strip() == env

    return confirm


def reset_command(args: argparse.Namespace) -> int:
    settings = load(args)
    emptied = admin.reset(Database.of(settings), confirm=_confirm(args, settings))
    print(
        f"schema {settings.schema}: emptied {emptied.reviews} reviews (and their trail and "
        f"feedback sends), {emptied.ledger} ledger messages, the cursor, the invalid drop "
        "submissions, the reply outbox and the record of flawed rows and skipped messages (the "
        "plan lists stay); the "
        f"{settings.environment.value} monitor starts over from the bridge's first message"
    )
    return EXIT_OK


def drop_command(args: argparse.Namespace) -> int:
    settings = load(args)
    gone = admin.drop(Database.of(settings), confirm=_confirm(args, settings))
    env = settings.environment.value
    print(
        f"dropped schema {settings.schema} ({gone.reviews} reviews, {gone.ledger} ledger "
        f"messages); create it again with `wa-monitor schema migrate --env {env}`, then "
        f"`wa-monitor schema grant --env {env} --role ROLE`"
    )
    return EXIT_OK


def copy_command(args: argparse.Namespace) -> int:
    window = admin.parse_duration(args.since)
    settings = load(args)
    done = admin.copy_from_prod(Database.of(settings), window=window, replace=args.replace)
    print(
        f"copied {done.copied}, skipped {done.skipped}, replaced {done.replaced} "
        f"(of {done.selected} production reviews created in the last {args.since.strip()}) "
        f"into schema {settings.schema}; {done.ledger} production ledger messages marked as "
        "applied in dev"
    )
    return EXIT_OK


def grant_command(args: argparse.Namespace) -> int:
    settings = load(args)
    env = settings.environment.value
    if args.print:
        statements = admin.grant_statements(
            Database.unconnected(settings),
            args.role,
            args.service,
            allow_other_env=args.allow_other_env,
        )
        print(admin.render(statements))
        return EXIT_OK
    found = admin.grant(
        Database.of(settings),
        args.role,
        args.service,
        other_roles=_other_roles(env),
        allow_other_env=args.allow_other_env,
    )
    if args.service is Service.SYNC:
        check = f"`wa-monitor sync sharepoint --env {env} --dry-run` run with its URL"
        unit = f"wa-monitor-sync-{env}"
    elif args.service is Service.WEB:
        check = f"`wa-monitor doctor --env {env} --web` run with its URL"
        unit = f"wa-monitor-web-{env}"
    else:
        check = f"`wa-monitor doctor --env {env}` run with its URL"
        unit = f"wa-monitor-{env}"
    if not found.ok:
        print(
            f"granted what {unit} needs in schema {settings.schema}, but not exactly: "
            f"{'; '.join(found.problems)}\nremove the rest with: {'; '.join(found.fixes)}"
        )
        return EXIT_FAILED
    also = (
        f" (and, as --allow-other-env allowed, privileges in schema {', '.join(found.other_envs)})"
        if found.other_envs
        else " and nothing in another schema"
    )
    print(
        f"role {args.role}: holds exactly what {unit} needs in schema "
        f"{settings.schema}{also}; check with {check}"
    )
    return EXIT_OK


def _other_roles(env: str) -> dict[str, str]:
    """The other environments of the config folder and their service roles."""
    roles = {}
    for name in environment_names():
        if name == env:
            continue
        try:
            other = load_settings(find_config(name), expect=name)
        except ConfigError:
            continue  # a broken file names no role; doctor --env NAME says what is wrong
        roles[other.environment.value] = other.role
    return roles
