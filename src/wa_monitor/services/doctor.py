"""`wa-monitor doctor --env NAME`: the runbook's troubleshooting list, each check pass or fail
with the exact fix."""

from __future__ import annotations

import hmac
import os
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wa_monitor.adapters.bridge import (
    Bridge,
    BridgeError,
    BridgeSchemaError,
    known_groups,
    lid_count,
)
from wa_monitor.adapters.graph import (
    GraphAuthFailed,
    GraphRefused,
    GraphUnavailable,
    GraphWorkbook,
    RetryLimits,
    WorkbookLocation,
)
from wa_monitor.adapters.logs import register_secret
from wa_monitor.adapters.media import BridgeMedia
from wa_monitor.adapters.postgres.admin import Examination
from wa_monitor.adapters.postgres.db import (
    AuthenticationFailed,
    Database,
    PrivilegeDenied,
    SchemaState,
    resolve_url,
    url_variable,
)
from wa_monitor.core.privileges import Audit, Service
from wa_monitor.core.redaction import redacted_url
from wa_monitor.errors import ConfigError, NotMigrated, WaMonitorError
from wa_monitor.settings import (
    PROD_SCHEMA,
    SHAREPOINT_SECRET_VAR,
    WEB_SECRET_VAR,
    Environment,
    Settings,
    config_dirs,
    find_config,
    load_environment,
    load_settings,
)

# A log line starts with an optional prefix token, then the time: "[DEV] 2025-11-11T12:25:31…".
_LOG_LINE = re.compile(r"^(?:(\S+) )?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_LOG_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def render(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"      fix: {c.fix}")
    failed = sum(1 for c in checks if not c.ok)
    lines.append(f"{len(checks) - failed} passed, {failed} failed")
    return "\n".join(lines)


def diagnose(
    env: str | None, config: Path | None, *, sharepoint: bool = False, web: bool = False
) -> list[Check]:
    """Run every check that can run; later checks need the config to load. With `sharepoint`,
    also get a token and reach the workbook of [sharepoint]."""
    name = env or (config.stem if config else "")
    checks: list[Check] = []
    try:
        path = config if config is not None else find_config(name)
    except ConfigError as exc:
        folder = config_dirs()[0]
        return [Check("config file", False, str(exc), f"create {folder / f'{name}.toml'}")]
    try:
        settings = load_environment(name) if config is None else load_settings(path, expect=env)
    except ConfigError as exc:
        checks.append(
            Check("config file", False, str(exc), f"correct {path} (docs/CONFIGURATION.md)")
        )
        checks.append(_raw_isolation(path))
        return checks
    checks.append(Check("config file", True, f"{path} parses and validates"))
    checks.append(_isolation(settings))
    checks.append(_posting(settings))
    checks.extend(_log_checks(settings, path))
    checks.append(_bridge_check(settings, path))
    checks.append(_groups_check(settings, path))
    checks.append(_lid_map_check(settings, path))
    checks.append(_alerts_check(settings, path))
    checks.extend(_photo_checks(settings))
    if web:
        checks.append(_web_secret_check(settings))
        checks.append(_shared_secret_check(settings, path))
    checks.extend(_database_checks(settings, path, Service.WEB if web else Service.MONITOR))
    checks.extend(_sharepoint_checks(settings, path, reach=sharepoint))
    return checks


def _photo_checks(settings: Settings) -> list[Check]:
    """The photos' media folder (readable) and the bridge's /api/download (answering)."""
    if not settings.photos:
        return [Check("photos", True, "photos = false: no photo is recorded or fetched")]
    media = settings.media_dir
    if not media.is_dir() or not os.access(media, os.R_OK | os.X_OK):
        folder = Check(
            "photo media folder",
            False,
            f"{media} is not a folder this user can read",
            "set photos_media_dir to the bridge's store/ folder, or grant read access",
        )
    else:
        folder = Check("photo media folder", True, f"{media} is readable")
    with BridgeMedia(settings.bridge_api_url, connect_s=2.0, total_s=5.0) as bridge:
        problem = bridge.probe()
    where = f"{settings.bridge_api_url}/api/download"
    if problem is None:
        api = Check("bridge download API", True, f"{where} answers")
    elif problem.startswith("no answer"):
        # Not a failure of this environment's setup: photos wait and are fetched when the
        # bridge answers (the bridge file check says whether the bridge is running at all).
        api = Check(
            "bridge download API",
            True,
            f"{where}: {problem} now; photos wait and are fetched once the bridge answers",
        )
    else:
        api = Check(
            "bridge download API",
            False,
            f"{where}: {problem}",
            "correct bridge_api_url (something else answers there); photos wait until then",
        )
    return [folder, api]


def _isolation(settings: Settings) -> Check:
    env, schema = settings.environment.value, settings.schema
    if settings.environment is Environment.DEV:
        detail = f"environment dev writes schema {schema!r}, not production's {PROD_SCHEMA!r}"
    else:
        detail = f"environment {env} writes schema {schema!r}"
    return Check("schema matches the environment", True, detail)


def _posting(settings: Settings) -> Check:
    """Where this environment may post (core.isolation's rule): dev only in groups production's
    config names nowhere, and nowhere while that config is unknown."""
    name = "posts only where production does not"
    if settings.environment is Environment.PROD:
        return Check(name, True, "production posts in its own projects' groups")
    production = settings.production
    if production is None or not production.known:
        why = production.source if production is not None else "not read"
        return Check(
            name,
            False,
            f"production's config is unknown ({why}): dev posts nowhere (no replies, feedback "
            "or WhatsApp alerts)",
            "put production's prod.toml beside dev's file (or on the --env search path)",
        )
    wanted = {
        f"[web] feedback_group {settings.web.feedback_group}": settings.web.feedback_group,
        f"[alerts] whatsapp_recipient {settings.alerts.whatsapp_recipient}": (
            settings.alerts.whatsapp_recipient
        ),
    }
    refused = [what for what, to in wanted.items() if to and not settings.may_post(to)]
    if refused:
        return Check(
            name,
            False,
            f"production's config {production.source} names {', '.join(refused)}: dev will "
            "not post there",
            "give dev its own group (the test group), one that production's config does not list",
        )
    groups = sorted(settings.reply_groups) if settings.replying else []
    replies = f"replies in {', '.join(groups)}" if groups else "no replies"
    feedback = settings.web.feedback_group or "none"
    return Check(
        name,
        True,
        f"read {production.source}: {replies}; feedback to {feedback}; never in the "
        f"{len(production.names or ())} groups or recipients production names",
    )


def _raw_isolation(path: Path) -> Check:
    """The config did not load: still say whether it points dev at production's schema."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return Check("schema matches the environment", False, "the config file cannot be read")
    env, schema = raw.get("environment"), raw.get("schema")
    if env == "dev" and schema == PROD_SCHEMA:
        return Check(
            "schema matches the environment",
            False,
            "environment dev names schema 'public': dev would write production's table",
            f'set schema = "dev" in {path}',
        )
    return Check("schema matches the environment", True, f"environment {env}, schema {schema}")


def _log_checks(settings: Settings, path: Path) -> list[Check]:
    log = settings.log_file
    if log is None:
        return [Check("log file", True, "no log_file configured: lines go to stderr (the journal)")]
    return [_log_writable(log, path), _log_prefix(log, settings.log_prefix, settings)]


def _log_writable(log: Path, path: Path) -> Check:
    if log.exists():
        if os.access(log, os.W_OK):
            return Check("log file writable", True, f"{log} is writable")
        return Check(
            "log file writable",
            False,
            f"{log} is not writable by this user",
            f"chown the file to the service user, or fix log_file in {path}",
        )
    folder = next((p for p in log.parents if p.exists()), Path("/"))
    if folder.is_dir() and os.access(folder, os.W_OK | os.X_OK):
        return Check("log file writable", True, f"{log} does not exist yet; it can be created")
    return Check(
        "log file writable",
        False,
        f"{log} cannot be created: {folder} is not a folder this user can write to",
        f"mkdir -p {log.parent} and chown it to the service user",
    )


def _log_prefix(log: Path, prefix: str, settings: Settings) -> Check:
    name = f"log lines carry {prefix!r}" if prefix else "log lines carry no prefix"
    try:
        with log.open("rb") as f:
            start = max(0, log.stat().st_size - _LOG_TAIL_BYTES)
            f.seek(start)
            tail = f.read().decode("utf-8", "replace").splitlines()[1 if start else 0 :]
    except FileNotFoundError:
        return Check(name, True, f"{log} has no lines yet")
    except OSError as exc:
        return Check(name, False, f"cannot read {log}: {exc.strerror}", "fix its permissions")
    found = [m.group(1) or "" for line in tail if (m := _LOG_LINE.match(line))]
    wrong = [p for p in found if p != prefix]
    if not found:
        return Check(name, True, f"{log} has no log lines yet")
    if not wrong:
        return Check(name, True, f"the last {len(found)} lines of {log} all do")
    env = settings.environment.value
    seen = wrong[0] or "none"
    return Check(
        name,
        False,
        f"{len(wrong)} of the last {len(found)} lines of {log} carry prefix {seen!r}",
        f"another service writes into {log}: give each environment its own log_file, and start "
        f"wa-monitor-{env} with --env {env}",
    )


def _bridge_check(settings: Settings, path: Path) -> Check:
    bridge = settings.bridge_db
    groups = list(settings.enabled_projects)
    try:
        with Bridge(bridge, groups=groups, tz=settings.tz, span=1) as reader:
            newest = reader.newest_message_time()
    except BridgeSchemaError as exc:
        fix = f"bridge_db in {path} must name the bridge's messages.db (not whatsapp.db)"
        return Check("bridge file", False, str(exc), fix)
    except BridgeError as exc:
        return Check(
            "bridge file",
            False,
            str(exc),
            f"check bridge_db in {path}, and that this user can read the file and its folder",
        )
    when = newest.isoformat(sep=" ", timespec="seconds") if newest else "none yet"
    return Check(
        "bridge file", True, f"{bridge} readable, schema as expected; newest message {when}"
    )


def _groups_check(settings: Settings, path: Path) -> Check:
    wanted = settings.enabled_projects
    if not wanted:
        return Check(
            "watched groups",
            False,
            "no enabled [[projects]]: nothing will be read",
            f"add a [[projects]] table with name and group_jid to {path}",
        )
    try:
        known = known_groups(settings.bridge_db, wanted)
    except BridgeError as exc:
        return Check("watched groups", False, str(exc), "see the bridge file check")
    unknown = [f"{wanted[j]} ({j})" for j in sorted(wanted) if j not in known]
    if unknown:
        return Check(
            "watched groups",
            False,
            f"the bridge has no chat for {', '.join(unknown)}",
            f"check those group_jid values in {path} against the bridge's chats table",
        )
    return Check("watched groups", True, f"the bridge knows all {len(wanted)} enabled groups")


def _lid_map_check(settings: Settings, path: Path) -> Check:
    lid_map = settings.lid_map_db
    if lid_map is None:
        return Check("LID map", True, "not configured: LID senders are kept as LIDs")
    try:
        count = lid_count(lid_map)
    except BridgeError as exc:
        return Check(
            "LID map",
            False,
            str(exc),
            f"lid_map_db in {path} must name the bridge's whatsapp.db, readable by this user",
        )
    return Check("LID map", True, f"{lid_map} readable; {count} LIDs mapped")


def _web_secret_check(settings: Settings) -> Check:
    env = settings.environment.value
    try:
        settings.require_web_secret()
    except ConfigError as exc:
        return Check(
            "web secret",
            False,
            str(exc),
            f"deploy/install.sh makes /etc/wa-monitor/{env}-web.secret (the unit's "
            f"LoadCredential=web_secret); elsewhere set {WEB_SECRET_VAR}",
        )
    return Check("web secret", True, "the dashboard's session secret is set (not shown)")


def _shared_secret_check(settings: Settings, path: Path) -> Check:
    """Prod and dev sign their session cookies with different secrets. Sessions carry their
    environment, so one secret is not a way in; it is still one secret too many to leak.
    Compared (never shown) when both can be read: this environment's (its variable or
    credential, else the file beside its config) and the other's credential file beside it
    (deploy/install.sh makes /etc/wa-monitor/ENV-web.secret)."""
    name = "web secrets differ"
    env = settings.environment.value
    other = (
        Environment.DEV.value
        if settings.environment is Environment.PROD
        else Environment.PROD.value
    )
    try:
        mine: str | None = settings.require_web_secret()
    except ConfigError:
        mine = _read_secret(path.parent / f"{env}-web.secret")
    theirs_file = path.parent / f"{other}-web.secret"
    theirs = _read_secret(theirs_file)
    if mine is None or theirs is None:
        unread = theirs_file if theirs is None else f"{env}'s secret"
        return Check(
            name, True, f"not compared: {unread} cannot be read here (missing, or not root)"
        )
    if hmac.compare_digest(mine.encode(), theirs.encode()):
        return Check(
            name,
            False,
            f"{env} and {other} sign their sessions with one secret ({theirs_file} holds {env}'s "
            "too; not shown)",
            f"give {env} its own: head -c 48 /dev/urandom | base64 -w0 > "
            f"{path.parent / f'{env}-web.secret'}, then restart wa-monitor-web-{env}",
        )
    return Check(name, True, f"{env}'s secret is not {other}'s ({theirs_file}; neither shown)")


def _read_secret(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if text:
        register_secret(text)
    return text or None


def _alerts_check(settings: Settings, path: Path) -> Check:
    env, rules = settings.environment.value, settings.alerts
    if not settings.alerts_on:
        return Check("alerts", True, f"off for {env} ([alerts] enabled = true turns them on)")
    if not rules.channels:
        return Check(
            "alerts",
            False,
            f"on for {env}, but [alerts] names no channel: an incident would reach nobody",
            f"set whatsapp_recipient (the ops group's JID) and/or email_to in [alerts] of {path}, "
            "or enabled = false",
        )
    where = []
    if rules.whatsapp_recipient:
        where.append(
            f"WhatsApp {rules.whatsapp_recipient} through {redacted_url(rules.bridge_api_url)}"
        )
    if rules.email_to:
        where.append(f"e-mail to {', '.join(rules.email_to)} through {rules.smtp_host}")
    return Check("alerts", True, "on: " + "; ".join(where))


_UNREACHABLE_FIX = (
    "check the host and port in the URL, that PostgreSQL runs there and listens on that "
    "address (listen_addresses), and that no firewall is in the way"
)
_LOGIN_FIX = (
    "check the user, password and database name in the URL, and that pg_hba.conf lets this "
    "user in from this host"
)


def _database_checks(settings: Settings, path: Path, service: Service) -> list[Check]:
    """Reachable, migrated, privileges: each told apart, and each run that still can run."""
    env = settings.environment.value
    name = "database reachable"
    try:
        url = resolve_url(settings, own_variable=True)
    except ConfigError as exc:
        fix = f"set {url_variable(env)} or WA_MONITOR_DATABASE_URL, or the systemd credential"
        return [Check(name, False, str(exc), fix)]
    db = Database(url, settings.schema, env)
    try:
        conn = db.connect("doctor", connect_timeout=5)
    except AuthenticationFailed as exc:
        return [Check(name, False, str(exc), _LOGIN_FIX)]
    except WaMonitorError as exc:
        return [Check(name, False, str(exc), _UNREACHABLE_FIX)]
    with conn:
        return examine(Examination(conn, db), settings, service)


class Examined(Protocol):
    """What doctor asks the environment's database, each answer's driver error translated:
    adapters/postgres/admin.Examination, or FakeExamined in tests/support/fakes.py."""

    def whoami(self) -> tuple[str, str, str]:
        """The role logged in as, the database, the server's version."""
        ...

    def schema_state(self) -> SchemaState: ...

    def audit(self, service: Service) -> Audit:
        """The logged-in role's privileges against what `service` needs."""
        ...

    def plan_sizes(self, projects: Sequence[str]) -> dict[str, int]:
        """The plan list size of each project that has one."""
        ...

    def flawed_rows(self) -> int: ...


def examine(found: Examined, settings: Settings, service: Service) -> list[Check]:
    """Reachable, migrated, privileges, plan lists, flawed rows: each told apart, and each run
    that still can run."""
    env = settings.environment.value
    checks = [_guarded("database reachable", env, lambda: _reachable(found))]
    checks.append(_guarded("schema migrated", env, lambda: _migrated(found, settings)))
    checks.append(_guarded("role privileges", env, lambda: _privileges(found, service, settings)))
    if settings.validating:
        checks.append(_guarded("plan lists", env, lambda: _plan_lists(found, settings)))
    if checks[1].ok:  # migrated: the record of flawed rows is there
        checks.append(_guarded("flawed bridge rows", env, lambda: _flawed(found, settings)))
    return checks


def _guarded(name: str, env: str, check: Callable[[], Check]) -> Check:
    """Run one database check; a database error (translated by the adapter) fails it with the
    fix for its kind."""
    try:
        return check()
    except WaMonitorError as exc:
        error = exc
    if isinstance(error, PrivilegeDenied):
        fix = f"as the database owner: wa-monitor schema grant --env {env} --role ROLE"
        return Check(name, False, f"cannot tell: {error}", fix)
    if isinstance(error, NotMigrated):
        fix = f"as the database owner: wa-monitor schema migrate --env {env}"
        return Check(name, False, str(error), fix)
    if isinstance(error, AuthenticationFailed):
        return Check(name, False, str(error), _LOGIN_FIX)
    return Check(name, False, str(error), _UNREACHABLE_FIX)


def _plan_lists(found: Examined, settings: Settings) -> Check:
    """Each validating project has a plan list: with none, its drops are not checked at all."""
    sizes = found.plan_sizes(sorted(settings.validating))
    empty = sorted(settings.validating - set(sizes))
    env = settings.environment.value
    if empty:
        return Check(
            "plan lists",
            False,
            f"validate = true but the plan list is empty, so drops are not checked: "
            f"{', '.join(empty)}",
            f"wa-monitor drops import --env {env} --project {empty[0]!r} PLAN.xlsx "
            "--sheet HLD_Home --column A (or set validate = false)",
        )
    listed = ", ".join(f"{p} {n}" for p, n in sorted(sizes.items()))
    return Check("plan lists", True, f"every validating project has a list ({listed} drops)")


def _flawed(found: Examined, settings: Settings) -> Check:
    """Not a failure: each such row was processed; the count says the bridge sends odd rows."""
    count = found.flawed_rows()
    detail = (
        f"{count} bridge rows processed with the read time in place of their own, or their id "
        f"as typed hex: SELECT * FROM {settings.schema}.wa_monitor_flawed_rows"
        if count
        else "none"
    )
    return Check("flawed bridge rows", True, detail)


def _reachable(found: Examined) -> Check:
    user, database, server = found.whoami()
    return Check(
        "database reachable", True, f"connected as {user} to {database} (PostgreSQL {server})"
    )


def _migrated(found: Examined, settings: Settings) -> Check:
    env, schema = settings.environment.value, settings.schema
    state = found.schema_state()
    fix = f"as the database owner: wa-monitor schema migrate --env {env}"
    if state.version is not None and state.missing:
        return Check(
            "schema migrated",
            False,
            f"schema {schema!r} is at version {state.version} but lacks {', '.join(state.missing)}",
            f"as the database owner: wa-monitor schema drop --env {env}, then schema migrate"
            if env != "prod"
            else "restore the missing tables from a backup",
        )
    if state.version is None:
        return Check("schema migrated", False, f"schema {schema!r} or its tables do not exist", fix)
    if state.version != state.latest:
        return Check(
            "schema migrated",
            False,
            f"schema {schema!r} is at version {state.version}, this wa-monitor needs "
            f"{state.latest}",
            fix if state.version < state.latest else "upgrade wa-monitor",
        )
    return Check(
        "schema migrated", True, f"schema {schema!r} at version {state.version}, all tables"
    )


def _privileges(found: Examined, service: Service, settings: Settings) -> Check:
    """The role may do exactly what the service needs: no less, and nothing elsewhere."""
    env, schema = settings.environment.value, settings.schema
    audited = found.audit(service)
    unit = f"wa-monitor-web-{env}" if service is Service.WEB else f"wa-monitor-{env}"
    if audited.ok:
        return Check(
            "role privileges",
            True,
            f"role {audited.role} holds exactly what {unit} needs in {schema!r}",
        )
    return Check("role privileges", False, "; ".join(audited.problems), "; ".join(audited.fixes))


def _sharepoint_checks(settings: Settings, path: Path, *, reach: bool) -> list[Check]:
    """[sharepoint] and the client secret; with `reach`, a token and the worksheet."""
    name = "SharePoint sync settings"
    config = settings.sharepoint
    if config is None:
        if not reach:
            return []
        return [
            Check(
                name,
                False,
                f"{path} has no [sharepoint] table",
                "add tenant_id, client_id, drive_id, item_id and worksheet (docs/OPERATIONS.md, "
                "SharePoint sync), in production's config only",
            )
        ]
    location = WorkbookLocation.of(config)
    checks = [
        Check(
            name,
            True,
            f"app {config.client_id} of tenant {config.tenant_id} writes {location.describe()}",
        )
    ]
    try:
        secret = settings.require_sharepoint_secret()
    except ConfigError as exc:
        fix = f"set {SHAREPOINT_SECRET_VAR} in /etc/wa-monitor/sync-prod.env (root, 0600)"
        return [*checks, Check("SharePoint client secret", False, str(exc), fix)]
    register_secret(secret)
    checks.append(Check("SharePoint client secret", True, "set (not shown)"))
    if reach:
        checks.append(_reach_workbook(location, secret, config.ca_file))
    return checks


class _Quiet:
    """The doctor prints its checks, not the client's log lines."""

    def info(self, *_: object, **__: object) -> None: ...

    def warning(self, *_: object, **__: object) -> None: ...


def _reach_workbook(location: WorkbookLocation, secret: str, ca_file: Path | None) -> Check:
    name = "SharePoint workbook reachable"
    limits = RetryLimits(attempts=2, give_up_after=30.0)
    try:
        with GraphWorkbook(
            location, client_secret=secret, log=_Quiet(), ca_file=ca_file, limits=limits
        ) as book:
            sheet = book.check()
    except GraphAuthFailed as exc:
        fix = (
            "check tenant_id and client_id, and that the secret is the secret's value (not its "
            "ID) and has not expired; the app needs admin consent (docs/OPERATIONS.md, "
            "SharePoint sync)"
        )
        return Check(name, False, str(exc), fix)
    except GraphRefused as exc:
        fix = (
            "check drive_id, item_id and worksheet; on 403, give the app write access to the "
            "site (Sites.Selected) or Files.ReadWrite.All with admin consent"
        )
        return Check(name, False, str(exc), fix)
    except GraphUnavailable as exc:
        return Check(name, False, str(exc), "try again later; check the host's outbound HTTPS")
    return Check(name, True, f"token issued; worksheet {sheet!r} reached")
