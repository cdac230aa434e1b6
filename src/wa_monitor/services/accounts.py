"""Dashboard accounts: passwords hashed with Argon2id, logins checked and throttled.

Login attempts are counted in the database (wa_monitor_login_throttle) BEFORE the password is
checked, in one atomic statement, per (username, address block) and per address block: the
count survives a restart of the web service and is shared by all its workers, and concurrent
attempts each get their own number, so at most MAX_FAILURES of them reach the hasher. Past
MAX_FAILURES in WINDOW, that username is refused from that block until the window ends, without
the password being checked; past MAX_CLIENT_FAILURES from one block over any usernames (a
spray), every login from the block is. A success clears the user's count and gives the block
its attempt back. An address block is an IPv4 address, or an IPv6 address's /64 (what one
subscriber usually holds): an attacker gains nothing by walking through their /64, and a
user who logs in from another block is never held back by a lock on this one.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from wa_monitor.adapters.postgres.users import Account, Attempts, Role, User
from wa_monitor.errors import FatalError

MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 30
WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

# Argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes). A
# login whose stored hash has other parameters is re-hashed with these.
_hasher = PasswordHasher()
# Each check takes 64 MiB: logins from many addresses at once (the throttle bounds each one)
# wait their turn here instead of taking 64 MiB apiece.
MAX_CONCURRENT_CHECKS = 4
_checking = threading.BoundedSemaphore(MAX_CONCURRENT_CHECKS)


class Users(Protocol):
    """Where accounts and login counts are kept: adapters/postgres/users.UserBook on one
    connection, or the in-memory one in tests/support/fakes.py."""

    @property
    def where(self) -> str: ...

    def account(self, username: str) -> Account | None: ...

    def count_attempt(self, username: str, block: str, window: timedelta) -> Attempts: ...

    def forgive(self, username: str, block: str) -> None: ...

    def logged_in(self, user_id: int, new_hash: str | None, *, checked_hash: str) -> None: ...

    def add(self, *, username: str, display_name: str, role: Role, password_hash: str) -> bool: ...

    def set_password(self, username: str, password_hash: str) -> bool | None: ...

    def enable(self, username: str) -> bool: ...

    def set_role(self, username: str, role: Role) -> bool: ...

    def disable(self, username: str) -> bool: ...


class AccountError(FatalError):
    """A user command cannot do what was asked (bad name, short password, no such user)."""

    exit_code = 2


class LoginOutcome(enum.Enum):
    """How a login attempt ended."""

    OK = "ok"
    WRONG = "wrong"  # unknown user, wrong password or disabled: the page says the same for all
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class Login:
    outcome: LoginOutcome
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
        with _checking:
            return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def address_block(address: str) -> str:
    """The block an address is throttled by: an IPv4 address itself (an IPv4-mapped IPv6 one
    as its IPv4), an IPv6 address's /64; anything else (a test client's name) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def authenticate(users: Users, username: str, password: str, client: str) -> Login:
    """Check a login: count the attempt first, check the password only within the limits,
    then clear the user's count or leave the failure counted."""
    name = username.strip().lower()[:64]
    known = USERNAME.fullmatch(name) is not None
    block = address_block(client)
    # Names no account can have share one count ('?' is no username), and never the block's.
    tries = users.count_attempt(name if known else "?", block, WINDOW)
    if tries.user > MAX_FAILURES or tries.block > MAX_CLIENT_FAILURES:
        return Login(LoginOutcome.THROTTLED)
    found = users.account(name) if known else None
    stored = found.password_hash if found is not None else _decoy()
    if not _matches(stored, password) or found is None or not found.user.active:
        return Login(LoginOutcome.THROTTLED if tries.user >= MAX_FAILURES else LoginOutcome.WRONG)
    new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    users.forgive(name, block)
    users.logged_in(found.user.id, new_hash, checked_hash=stored)
    return Login(LoginOutcome.OK, found.user)


def add_user(users: Users, *, username: str, display_name: str, role: Role, password: str) -> None:
    name = check_username(username)
    display = display_name.strip() or name
    if not users.add(
        username=name,
        display_name=display[:200],
        role=role,
        password_hash=hash_password(password),
    ):
        raise AccountError(
            f"user {name!r} exists already: `users passwd {name}` sets a new password, "
            f"`users role {name} --role ROLE` changes the role, `users enable {name}` lets a "
            "disabled user log in again"
        )


def change_password(users: Users, *, username: str, password: str) -> bool:
    """Set the password and end the user's sessions; whether the user is enabled (a new
    password does not enable a disabled user)."""
    name = check_username(username)
    enabled = users.set_password(name, hash_password(password))
    if enabled is None:
        raise AccountError(f"no user {name!r} in {users.where}")
    return enabled


def enable_user(users: Users, *, username: str) -> None:
    name = check_username(username)
    if not users.enable(name):
        raise AccountError(f"no user {name!r} in {users.where}")


def change_role(users: Users, *, username: str, role: Role) -> None:
    name = check_username(username)
    if not users.set_role(name, role):
        raise AccountError(f"no user {name!r} in {users.where}")


def disable_user(users: Users, *, username: str) -> None:
    name = check_username(username)
    if not users.disable(name):
        raise AccountError(f"no user {name!r} in {users.where}")
