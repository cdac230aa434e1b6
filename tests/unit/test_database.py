"""The database handle without a database: its query registry, the identifiers it composes,
its translation of driver errors, and a pool or URL that cannot give a connection."""

from __future__ import annotations

from importlib import resources

import psycopg
import pytest
from psycopg import errors as pg_errors

from wa_monitor.adapters.postgres import db as db_module
from wa_monitor.adapters.postgres.db import (
    AuthenticationFailed,
    Database,
    DatabaseUnreachable,
    PrivilegeDenied,
    SchemaMissing,
    StoreError,
    StoreUnavailable,
    registry,
)
from wa_monitor.errors import ConfigError, NotMigrated, RowRefused

DEV = Database("", "dev", "dev")


def test_the_registry_holds_every_named_query_of_every_sql_file_by_file_and_name() -> None:
    folder = resources.files(db_module.__package__).joinpath("sql")
    expected = set()
    for entry in folder.iterdir():
        if entry.name.endswith(".sql") and entry.name != "schema.sql":
            text = entry.read_text("utf-8")
            stem = entry.name.removesuffix(".sql")
            expected |= {
                f"{stem}.{b.partition(chr(10))[0].strip()}" for b in text.split("-- name: ")[1:]
            }
    assert set(registry()) == expected
    # The same name in two files is two queries, each found by its file.
    assert {"users.add", "plans.add"} <= expected
    assert registry() is registry()  # read once


@pytest.mark.parametrize(
    ("schema", "cursor"),
    [
        ("dev", '"dev"."wa_monitor_cursor"'),
        ("public", '"public"."wa_monitor_cursor"'),
        ('odd"name', '"odd""name"."wa_monitor_cursor"'),
    ],
)
def test_a_query_names_its_tables_in_the_handles_schema_as_identifiers(
    schema: str, cursor: str
) -> None:
    text = Database("", schema, "dev").query("queries.load_position").as_string(None)
    assert cursor in text


def test_a_query_with_extra_identifiers_is_composed_each_time() -> None:
    locked = DEV.query("locks.table_lock", locked=DEV.table("wa_monitor_instance"))
    assert '"dev"."wa_monitor_instance"' in locked.as_string(None)
    assert DEV.query("queries.load_position") is DEV.query("queries.load_position")


def _refused_login() -> psycopg.OperationalError:
    return pg_errors.InvalidPassword("password authentication failed for user x")


@pytest.mark.parametrize(
    ("driver_error", "ours", "says"),
    [
        (
            pg_errors.InvalidSchemaName("no schema"),
            SchemaMissing,
            "wa-monitor schema migrate --env dev",
        ),
        (pg_errors.UndefinedTable("no table"), NotMigrated, "wa-monitor schema migrate --env dev"),
        (pg_errors.UniqueViolation("duplicate"), RowRefused, "refused a row"),
        (pg_errors.InsufficientPrivilege("denied"), PrivilegeDenied, "schema grant --env dev"),
        (_refused_login(), AuthenticationFailed, "refused the login"),
        (psycopg.OperationalError("connection refused"), DatabaseUnreachable, "unreachable"),
        (pg_errors.LockNotAvailable("lock"), StoreUnavailable, "database unavailable"),
        (pg_errors.SyntaxError("bad"), StoreError, "database error"),
    ],
)
def test_driver_errors_come_out_as_ours_with_the_environments_fix(
    driver_error: psycopg.Error, ours: type[Exception], says: str
) -> None:
    error = DEV.error(driver_error)
    assert type(error) is ours
    assert says in str(error)


def test_translated_blocks_raise_ours_and_let_the_rest_through() -> None:
    with pytest.raises(PrivilegeDenied), DEV.translated():
        raise pg_errors.InsufficientPrivilege("denied")
    with pytest.raises(KeyError), DEV.translated():
        raise KeyError("not the driver's")


def test_a_handle_without_a_url_refuses_to_connect() -> None:
    with pytest.raises(ConfigError, match="no database URL for environment dev"):
        DEV.connect("test")


def test_the_handle_never_shows_its_url() -> None:
    handle = Database("postgresql://wa:Hunter2Secret@db.example/wa", "dev", "dev")
    assert "Hunter2Secret" not in repr(handle)
