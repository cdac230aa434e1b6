"""The SQL files: every query the code names is there, and the bridge's byte bound agrees."""

from __future__ import annotations

import re

from wa_monitor.adapters import bridge
from wa_monitor.adapters.sqlfiles import named_queries


def test_the_bridge_reads_no_more_of_a_message_than_max_message_bytes() -> None:
    queries = named_queries("wa_monitor.adapters", "bridge.sql")
    bounds = {
        int(n)
        for text in queries.values()
        for n in re.findall(r"substr\(CAST\(\w*\.?content AS BLOB\), 1, (\d+)\)", text)
    }
    assert bounds == {bridge.MAX_MESSAGE_BYTES}


def test_the_bridge_module_takes_its_queries_from_the_file() -> None:
    queries = named_queries("wa_monitor.adapters", "bridge.sql")
    assert queries["read"] == bridge._READ
    assert queries["read_heads"] == bridge._READ_HEADS
