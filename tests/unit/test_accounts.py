"""The accounts service through an in-memory twin of its store: logins counted before the
password is checked, the throttle per user and per address block, a success forgiven, old
hashes renewed, and the user commands' refusals. tests/integration/test_web_auth.py and
test_web_abuse.py drive the same on PostgreSQL, concurrently."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from tests.support.fakes import FakeUsers, HandClock
from wa_monitor.adapters.postgres.users import Role
from wa_monitor.services import accounts
from wa_monitor.services.accounts import AccountError, LoginOutcome, authenticate

PASSWORD = "a long enough secret"
HOME = "203.0.113.7"
NOON = datetime(2025, 11, 11, 10, 0, tzinfo=UTC)
OK, WRONG, THROTTLED = LoginOutcome.OK, LoginOutcome.WRONG, LoginOutcome.THROTTLED


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Argon2id at the smallest cost: what is tested is what the service does around it."""
    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    accounts._decoy.cache_clear()
    yield
    accounts._decoy.cache_clear()


@pytest.fixture
def clock() -> HandClock[datetime]:
    return HandClock(NOON)


@pytest.fixture
def book(clock: HandClock[datetime]) -> FakeUsers:
    users = FakeUsers(now=clock)
    for name in ("ayanda", "thandi"):
        accounts.add_user(
            users, username=name, display_name=name.title(), role=Role.REVIEWER, password=PASSWORD
        )
    return users


def test_the_right_password_logs_in_and_clears_the_users_count(book: FakeUsers) -> None:
    assert authenticate(book, "ayanda", "wrong one", HOME).outcome is WRONG
    login = authenticate(book, " Ayanda ", PASSWORD, HOME)
    assert login.outcome is OK
    assert login.user is not None
    assert login.user.username == "ayanda"
    assert ("ayanda", HOME) not in book.counts
    assert book.counts["", HOME][0] == 1  # the block keeps the failure, not the success


def test_past_the_limit_a_user_is_refused_from_that_block_until_the_window_ends(
    book: FakeUsers, clock: HandClock[datetime]
) -> None:
    tries = [
        authenticate(book, "ayanda", f"guess {n}", HOME).outcome
        for n in range(accounts.MAX_FAILURES)
    ]
    assert tries == [WRONG] * (accounts.MAX_FAILURES - 1) + [THROTTLED]
    assert authenticate(book, "ayanda", PASSWORD, HOME).outcome is THROTTLED  # not even checked
    assert authenticate(book, "ayanda", PASSWORD, "198.51.100.1").outcome is OK  # another block
    clock.now += accounts.WINDOW
    assert authenticate(book, "ayanda", PASSWORD, HOME).outcome is OK


def test_a_spray_over_many_usernames_locks_the_block_for_everyone(book: FakeUsers) -> None:
    for n in range(accounts.MAX_CLIENT_FAILURES):
        assert authenticate(book, f"user{n}", "guess", HOME).outcome is WRONG
    assert authenticate(book, "thandi", PASSWORD, HOME).outcome is THROTTLED
    assert authenticate(book, "thandi", PASSWORD, "198.51.100.1").outcome is OK


def test_a_users_successes_never_count_against_the_block(book: FakeUsers) -> None:
    for _ in range(accounts.MAX_CLIENT_FAILURES + 5):
        assert authenticate(book, "thandi", PASSWORD, HOME).outcome is OK
    assert book.counts["", HOME][0] == 0


def test_an_ipv6_block_is_its_64(book: FakeUsers) -> None:
    for n in range(accounts.MAX_FAILURES):
        authenticate(book, "ayanda", "guess", f"2001:db8:1:2::{n + 1}")
    assert authenticate(book, "ayanda", PASSWORD, "2001:db8:1:2::ff").outcome is THROTTLED
    assert authenticate(book, "ayanda", PASSWORD, "2001:db8:1:3::1").outcome is OK


@pytest.mark.parametrize(
    ("username", "password"),
    [("nobody", PASSWORD), ("ayanda", "not it at all"), ("Robert'); DROP", PASSWORD)],
)
def test_an_unknown_user_a_wrong_password_and_a_bad_name_look_alike(
    book: FakeUsers, username: str, password: str
) -> None:
    assert authenticate(book, username, password, HOME) == accounts.Login(WRONG)


def test_a_disabled_user_is_refused_with_the_right_password(book: FakeUsers) -> None:
    accounts.disable_user(book, username="ayanda")
    assert authenticate(book, "ayanda", PASSWORD, HOME).outcome is WRONG
    accounts.enable_user(book, username="ayanda")
    assert authenticate(book, "ayanda", PASSWORD, HOME).outcome is OK


def test_a_hash_made_with_other_parameters_is_renewed_at_login(book: FakeUsers) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    book.set_password("thandi", old)
    assert authenticate(book, "thandi", PASSWORD, HOME).outcome is OK
    renewed = book.accounts["thandi"].password_hash
    assert renewed != old
    assert not accounts._hasher.check_needs_rehash(renewed)
    assert authenticate(book, "thandi", PASSWORD, HOME).outcome is OK


def test_a_new_password_ends_the_sessions_and_does_not_enable(book: FakeUsers) -> None:
    epoch = book.accounts["ayanda"].user.session_epoch
    accounts.disable_user(book, username="ayanda")
    assert accounts.change_password(book, username="ayanda", password="another long one") is False
    assert book.accounts["ayanda"].user.session_epoch > epoch
    accounts.change_role(book, username="ayanda", role=Role.VIEWER)
    assert book.accounts["ayanda"].user.role is Role.VIEWER


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (
            lambda b: accounts.add_user(
                b, username="ayanda", display_name="", role=Role.VIEWER, password=PASSWORD
            ),
            "user 'ayanda' exists already: `users passwd ayanda` sets a new password",
        ),
        (
            lambda b: accounts.add_user(
                b, username="new", display_name="", role=Role.VIEWER, password="short"
            ),
            f"at least {accounts.MIN_PASSWORD_LENGTH} characters",
        ),
        (
            lambda b: accounts.add_user(
                b, username="no spaces", display_name="", role=Role.VIEWER, password=PASSWORD
            ),
            "invalid username 'no spaces'",
        ),
        (
            lambda b: accounts.change_password(b, username="ghost", password=PASSWORD),
            "no user 'ghost' in schema 'dev'",
        ),
        (lambda b: accounts.disable_user(b, username="ghost"), "no user 'ghost' in schema 'dev'"),
        (
            lambda b: accounts.change_role(b, username="ghost", role=Role.VIEWER),
            "no user 'ghost' in schema 'dev'",
        ),
    ],
)
def test_the_user_commands_refuse_with_what_to_do(
    book: FakeUsers, command: object, says: str
) -> None:
    with pytest.raises(AccountError, match=re.escape(says)):
        command(book)  # type: ignore[operator]
    assert set(book.accounts) == {"ayanda", "thandi"}  # nothing added


def test_a_renewed_window_starts_at_one(book: FakeUsers, clock: HandClock[datetime]) -> None:
    authenticate(book, "ayanda", "guess", HOME)
    clock.now += accounts.WINDOW + timedelta(seconds=1)
    authenticate(book, "ayanda", "guess", HOME)
    assert book.counts["ayanda", HOME][0] == 1
