"""The dashboard's users and failed logins, in the environment's own schema. SQL in
sql/users.sql; passwords arrive here already hashed (services/accounts.py hashes them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wa_monitor.adapters.postgres.db import IDENTIFIERS, Connection, Database

USERS_TABLE = IDENTIFIERS["users"]
THROTTLE_TABLE = IDENTIFIERS["throttle"]


class Role(enum.StrEnum):
    """What a dashboard user may do: viewers read; reviewers also judge reviews."""

    VIEWER = "viewer"
    REVIEWER = "reviewer"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    session_epoch: int  # bumped by a new password or a disable: older sessions end
    disabled_at: datetime | None
    last_login_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class Account:
    """A user with the stored password hash: only for checking a login, never shown."""

    user: User
    password_hash: str


def _account(row: tuple[Any, ...]) -> Account:
    uid, username, display, role, epoch, disabled, last_login, password_hash = row
    return Account(
        User(uid, username, display, Role(role), epoch, disabled, last_login), password_hash
    )


def account(conn: Connection, db: Database, username: str) -> Account | None:
    row = conn.execute(db.query("users.by_name"), {"username": username}).fetchone()
    return None if row is None else _account(row)


def by_id(conn: Connection, db: Database, user_id: int) -> User | None:
    row = db.prepared(conn, "users.by_id", {"id": user_id}).fetchone()  # every request
    return None if row is None else _account(row).user


def all_users(conn: Connection, db: Database) -> list[User]:
    return [_account(r).user for r in conn.execute(db.query("users.all"))]


def add(
    conn: Connection,
    db: Database,
    *,
    username: str,
    display_name: str,
    role: Role,
    password_hash: str,
) -> bool:
    """Create the user; False when the username is taken (nothing changed)."""
    params = {
        "username": username,
        "display_name": display_name,
        "role": role.value,
        "password_hash": password_hash,
    }
    return conn.execute(db.query("users.add"), params).fetchone() is not None


def set_password(conn: Connection, db: Database, username: str, password_hash: str) -> bool | None:
    """Replace the password and end the user's sessions: whether the user is enabled, None
    when there is no such user."""
    params = {"username": username, "password_hash": password_hash}
    row = conn.execute(db.query("users.set_password"), params).fetchone()
    return None if row is None else bool(row[0])


def enable(conn: Connection, db: Database, username: str) -> bool:
    """Let a disabled user log in again; False when there is no such user."""
    return conn.execute(db.query("users.enable"), {"username": username}).fetchone() is not None


def set_role(conn: Connection, db: Database, username: str, role: Role) -> bool:
    """Give the user another role and end their sessions; False when there is no such user."""
    params = {"username": username, "role": role.value}
    return conn.execute(db.query("users.set_role"), params).fetchone() is not None


def logged_out(conn: Connection, db: Database, user_id: int, epoch: int) -> None:
    """End the user's sessions of `epoch` on the server (a logout)."""
    conn.execute(db.query("users.logged_out"), {"id": user_id, "epoch": epoch})


def disable(conn: Connection, db: Database, username: str) -> bool:
    """Refuse the user's logins and end their sessions; False when there is no such user."""
    return conn.execute(db.query("users.disable"), {"username": username}).fetchone() is not None


def logged_in(
    conn: Connection, db: Database, user_id: int, new_hash: str | None, *, checked_hash: str
) -> None:
    """Note a login; `new_hash` replaces `checked_hash` (the hash the login just checked), and
    nothing else, when the hasher's parameters have changed."""
    conn.execute(
        db.query("users.logged_in"),
        {"id": user_id, "checked_hash": checked_hash, "password_hash": new_hash},
    )


@dataclass(frozen=True, slots=True)
class Attempts:
    """Login attempts in the current window, this one included."""

    user: int  # of this username from this address block
    block: int  # from this address block, over every username


def count_attempt(
    conn: Connection, db: Database, username: str, block: str, window: timedelta
) -> Attempts:
    """Count one more attempt of (username, block) and of the block, atomically, before its
    password is checked; the counts after it."""
    conn.execute(db.query("users.forget_old_failures"))
    params = {"username": username, "client": block, "window": window}
    row = conn.execute(db.query("users.count_attempt"), params).fetchone()
    return Attempts(*(int(v) for v in row)) if row else Attempts(1, 1)


def forgive(conn: Connection, db: Database, username: str, block: str) -> None:
    """A successful login: the user's failures from the block go, the block's count drops by
    the attempt that succeeded."""
    conn.execute(db.query("users.forgive"), {"username": username, "client": block})


class UserBook:
    """One environment's users and login counts on one connection, as the accounts service
    asks for them (services/accounts.py: Users); tests/support/fakes.py has an in-memory twin."""

    def __init__(self, conn: Connection, db: Database) -> None:
        self._conn, self._db = conn, db

    @property
    def where(self) -> str:
        """Where the users live, for a message: "schema 'dev'"."""
        return f"schema {self._db.schema!r}"

    def account(self, username: str) -> Account | None:
        return account(self._conn, self._db, username)

    def count_attempt(self, username: str, block: str, window: timedelta) -> Attempts:
        return count_attempt(self._conn, self._db, username, block, window)

    def forgive(self, username: str, block: str) -> None:
        forgive(self._conn, self._db, username, block)

    def logged_in(self, user_id: int, new_hash: str | None, *, checked_hash: str) -> None:
        logged_in(self._conn, self._db, user_id, new_hash, checked_hash=checked_hash)

    def add(self, *, username: str, display_name: str, role: Role, password_hash: str) -> bool:
        return add(
            self._conn,
            self._db,
            username=username,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
        )

    def set_password(self, username: str, password_hash: str) -> bool | None:
        return set_password(self._conn, self._db, username, password_hash)

    def enable(self, username: str) -> bool:
        return enable(self._conn, self._db, username)

    def set_role(self, username: str, role: Role) -> bool:
        return set_role(self._conn, self._db, username, role)

    def disable(self, username: str) -> bool:
        return disable(self._conn, self._db, username)
