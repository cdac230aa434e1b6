"""Dashboard accounts: passwords hashed with Argon2id, logins checked and throttled.

Failed logins are counted in the database (wa_monitor_login_throttle), per username and client
address: the count survives a restart of the web service and is shared by all its workers, so
neither resets an attacker's budget. After MAX_FAILURES in WINDOW, that username is refused from
that address until the window ends, without the password being checked at all; and after
MAX_CLIENT_FAILURES from one address over any usernames (a spray), every login from it is.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from wa_monitor.adapters.postgres import users
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.users import Conn, Role, User
from wa_monitor.errors import FatalError

MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 30
WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

# Argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes). A
# login whose stored hash has other parameters is re-hashed with these.
_hasher = PasswordHasher()


class AccountError(FatalError):
    """A user command cannot do what was asked (bad name, short password, no such user)."""

    exit_code = 2


class Outcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # unknown user, wrong password or disabled: the page says the same for all
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class Login:
    outcome: Outcome
    user: User | None = None


def check_username(name: str) -> str:
    username = name.strip().lower()
    if not USERNAME.fullmatch(username):
        raise AccountError(
            f"invalid username {name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-'"
        )
    return username


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    return _hasher.hash(password)


@cache
def _decoy() -> str:
    """A hash to check unknown usernames against, so they take as long as known ones."""
    return _hasher.hash("not a password of anyone")


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(conn: Conn, db: Database, username: str, password: str, client: str) -> Login:
    """Check a login; count a failure, or clear the count and note the login."""
    name = username.strip().lower()[:64]
    if (
        users.failures(conn, db, name, client, WINDOW) >= MAX_FAILURES
        or users.client_failures(conn, db, client, WINDOW) >= MAX_CLIENT_FAILURES
    ):
        return Login(Outcome.THROTTLED)
    found = users.account(conn, db, name) if USERNAME.fullmatch(name) else None
    stored = found.password_hash if found is not None else _decoy()
    if not _matches(stored, password) or found is None or not found.user.active:
        failed = users.record_failure(conn, db, name, client, WINDOW)
        return Login(Outcome.THROTTLED if failed >= MAX_FAILURES else Outcome.WRONG)
    new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    users.clear_failures(conn, db, name, client)
    users.logged_in(conn, db, found.user.id, new_hash)
    return Login(Outcome.OK, found.user)


def add_user(
    conn: Conn, db: Database, *, username: str, display_name: str, role: Role, password: str
) -> None:
    name = check_username(username)
    display = display_name.strip() or name
    if not users.add(
        conn,
        db,
        username=name,
        display_name=display[:200],
        role=role,
        password_hash=hash_password(password),
    ):
        raise AccountError(f"user {name!r} exists already (use `users passwd` to reset it)")


def change_password(conn: Conn, db: Database, *, username: str, password: str) -> None:
    name = check_username(username)
    if not users.set_password(conn, db, name, hash_password(password)):
        raise AccountError(f"no user {name!r} in schema {db.schema!r}")


def disable_user(conn: Conn, db: Database, *, username: str) -> None:
    name = check_username(username)
    if not users.disable(conn, db, name):
        raise AccountError(f"no user {name!r} in schema {db.schema!r}")
