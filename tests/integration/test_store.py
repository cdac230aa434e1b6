"""The schema: migrations give exactly schema.sql, prod and dev match, old tables are adopted."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from wa_monitor.adapters.postgres import photos, users
from wa_monitor.adapters.postgres.db import (
    Database,
    DatabaseUnreachable,
    latest_version,
    migrations,
    schema_sql,
)
from wa_monitor.adapters.postgres.store import Store
from wa_monitor.errors import NotMigrated

CATALOG = """
SELECT c.relname, c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = %s
ORDER BY 1, 3
"""
INDEXES = """
SELECT indexname, regexp_replace(indexdef, ' ON [a-z_]+\\.', ' ON ') FROM pg_indexes
WHERE schemaname = %s ORDER BY 1
"""
# A foreign key names its table with the schema unless that schema is on the search path.
CONSTRAINTS = """
SELECT conname, regexp_replace(pg_get_constraintdef(oid), 'REFERENCES [a-z_]+\\.', 'REFERENCES ')
FROM pg_constraint
WHERE connamespace = %s::regnamespace ORDER BY 1
"""

# The schema's functions: arguments, SECURITY DEFINER, fixed settings (search_path), body (the
# schema's own name taken out, in the body and in a table's row type) and who may execute them.
FUNCTIONS = """
WITH s AS (SELECT %s::text AS name)
SELECT p.proname, replace(pg_get_function_identity_arguments(p.oid), s.name || '.', ''),
       p.prosecdef,
       coalesce(p.proconfig, '{}'), replace(p.prosrc, '"' || s.name || '".', 'S.'),
       coalesce(p.proacl::text, '')
FROM pg_proc p, s
WHERE p.pronamespace = s.name::regnamespace ORDER BY 1, 2
"""


def structure(db: psycopg.Connection[Any], schema: str) -> tuple[list[Any], ...]:
    return tuple(
        db.execute(q, (schema,)).fetchall() for q in (CATALOG, INDEXES, CONSTRAINTS, FUNCTIONS)
    )


def test_migrations_build_exactly_schema_sql(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    with Store(Database(database_url, "dev", "dev")) as store:
        assert store.migrate() == [m.version for m in migrations()]
    reference = Database(database_url, "reference", "dev")
    db.execute(reference.compose("CREATE SCHEMA {schema}"))
    db.execute(reference.compose(schema_sql()))
    assert structure(db, "dev") == structure(db, "reference")
    assert structure(db, "dev")[0], "the catalog query found nothing: the comparison is empty"
    assert structure(db, "dev")[3], "the functions query found nothing: the comparison is empty"


def test_the_table_keeps_the_keys_and_indexes_the_ops_documentation_fixes(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    # The ops documentation fixes qa_photo_reviews' id, its UNIQUE (drop_number, review_date)
    # and an index on each of review_date, drop_number and user_name: ops' own queries and
    # tools count on them, so no speed-up may drop one even where another index covers it.
    with Store(Database(database_url, "dev", "dev")) as store:
        store.migrate()
    columns = {
        tuple(row[0])
        for row in db.execute(
            "SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indrelid = 'dev.qa_photo_reviews'::regclass AND i.indpred IS NULL"
            " GROUP BY i.indexrelid"
        ).fetchall()
    }
    for wanted in (
        ("id",),
        ("drop_number", "review_date"),
        ("review_date",),
        ("drop_number",),
        ("user_name",),
    ):
        assert wanted in columns, f"qa_photo_reviews lost its index on {wanted}"
    unique = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'dev.qa_photo_reviews'::regclass AND contype IN ('p', 'u')"
    ).fetchall()
    assert {"PRIMARY KEY (id)", "UNIQUE (drop_number, review_date)"} <= {u[0] for u in unique}


def test_prod_and_dev_get_the_identical_structure(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    for schema, env in (("public", "prod"), ("dev", "dev")):
        with Store(Database(database_url, schema, env)) as store:
            store.migrate()
            assert store.require_migrated() == latest_version()
    assert structure(db, "public") == structure(db, "dev")


def test_the_review_table_has_what_the_dashboard_reads(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    with Store(Database(database_url, "dev", "dev")) as store:
        store.migrate()
    columns = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'dev' AND table_name = 'qa_photo_reviews'"
        ).fetchall()
    )
    assert columns["id"] == "uuid"
    assert columns["drop_number"] == "character varying"
    assert columns["review_date"] == "date"
    for name in (
        "feedback_sent",
        "whatsapp_message_date",
        "last_submitted_at",
        "created_at",
        "updated_at",
    ):
        assert columns[name] == "timestamp with time zone", name
    steps = [c for c in columns if c.startswith("step_")]
    assert len(steps) == 12
    assert all(columns[s] == "boolean" for s in steps)
    unique = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'dev.qa_photo_reviews'::regclass AND contype = 'u'"
    ).fetchall()
    assert unique == [("UNIQUE (drop_number, review_date)",)]


def test_the_old_monitors_table_is_adopted_with_its_rows(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    db.execute("""
        CREATE TABLE public.qa_photo_reviews (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            drop_number varchar(50) NOT NULL,
            review_date date NOT NULL,
            project varchar(100), user_name varchar(255), submitted_by varchar(50),
            whatsapp_message_date timestamptz, completed boolean NOT NULL DEFAULT false,
            incomplete boolean NOT NULL DEFAULT false, resubmitted boolean NOT NULL DEFAULT false,
            feedback_sent timestamptz, comment text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (drop_number, review_date));
        INSERT INTO public.qa_photo_reviews (drop_number, review_date, whatsapp_message_date)
        VALUES ('DR1234567', '2025-11-11', '2025-11-11 09:00+02');
    """)
    with Store(Database(database_url, "public", "prod")) as store:
        store.migrate()
    row = db.execute(
        "SELECT drop_number, last_submitted_at = whatsapp_message_date FROM public.qa_photo_reviews"
    ).fetchall()
    assert row == [("DR1234567", True)]


def test_a_missing_schema_names_the_command_that_fixes_it(database_url: str) -> None:
    with (
        Store(Database(database_url, "dev", "dev")) as store,
        pytest.raises(NotMigrated, match="wa-monitor schema migrate --env dev"),
    ):
        store.require_migrated()


def test_a_newer_schema_asks_for_an_upgrade(database_url: str, db: psycopg.Connection[Any]) -> None:
    with Store(Database(database_url, "dev", "dev")) as store:
        store.migrate()
        db.execute("INSERT INTO dev.wa_monitor_migrations (version, name) VALUES (999, 'future')")
        with pytest.raises(NotMigrated, match="upgrade wa-monitor"):
            store.require_migrated()


def test_a_pool_that_cannot_connect_says_unreachable_not_the_drivers_timeout() -> None:
    nowhere = Database("postgresql://wa@127.0.0.1:1/wa", "dev", "dev")
    pool = nowhere.pool("wa-monitor-test")
    pool.open(wait=False)
    try:
        with pytest.raises(DatabaseUnreachable), nowhere.borrowed(pool, timeout=0.3):
            pass
    finally:
        pool.close()


@pytest.mark.migrated("prod")
def test_the_lookups_of_every_request_are_planned_once_per_web_connection(
    database_url: str,
) -> None:
    """A session's user and a thumbnail's photo are looked up on every request with one fixed
    shape: prepared on the web pool's connection, they are planned once (the thumbnail's
    lookup took 0.47 ms a request, 0.3 of it planning, at 1,000,000 reviews). The pool's other
    queries stay unprepared: the pages' filters want plans made with their values."""
    db = Database(database_url, "public", "prod")
    pool = db.pool("prepared-test", max_size=1)
    pool.open(wait=True)
    try:
        with db.borrowed(pool) as conn:
            for _ in range(3):
                users.by_id(conn, db, 1)
                photos.servable(conn, db, "0" * 64)
                conn.execute(db.query("photos.states")).fetchall()
            prepared = conn.execute(
                "SELECT statement FROM pg_prepared_statements ORDER BY statement"
            ).fetchall()
    finally:
        pool.close()
    assert len(prepared) == 2, prepared
    assert "wa_monitor_users" in prepared[1][0]
    assert "wa_monitor_photos" in prepared[0][0]
