"""Two bridges' monitors, two reply senders on one outbox: a reply one sender is posting is
never taken for stranded by the other (which would mark it 'unknown' while it goes out); one
whose sender's session is gone is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.support.env import LAWLEY
from tests.support.harness import wait_until
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.adapters.postgres.outbox import PgOutbox

pytestmark = pytest.mark.migrated("prod")


def test_a_reply_in_flight_on_another_sender_is_not_stranded(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    db.execute(
        "INSERT INTO wa_monitor_outbox (kind, chat_jid, message_id, drop_number, project, text, "
        "message_at, sender) VALUES ('invalid_drop', %s, 'M1', 'DR1000001', 'Lawley', 'no', "
        "%s, '27825550147')",
        (LAWLEY, datetime.now(UTC)),
    )
    a, b = (
        PgOutbox(Database(database_url, "public", "prod")),
        PgOutbox(Database(database_url, "public", "prod")),
    )
    try:
        claimed = a.claim(interval_s=0, window_s=3600, per_sender=10, per_group=60)
        assert claimed is not None
        assert b.stranded() == []  # host A's sender is posting it
        assert [m.id for m in a.stranded()] == []  # its own session: in flight, not stranded
        a.close()  # host A dies: its session ends with the post's outcome unknown
        wait_until(lambda: bool(b.stranded()), timeout=10, what="the closed session to end")
        assert [m.id for m in b.stranded()] == [claimed.id]
    finally:
        a.close()
        b.close()
