"""The dashboard's log filter: a storm of one kind of line logs a few of them, not megabytes."""

from __future__ import annotations

import logging

from wa_monitor.web.server import RateLimited


def record(msg: str, name: str = "asyncio") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)


def test_a_storm_of_one_kind_passes_a_few_lines_then_says_how_many_it_held() -> None:
    now = [0.0]
    storm = RateLimited(burst=3, period=60.0, clock=lambda: now[0])
    line = "socket.accept() out of system resource\nsocket: <fd=8>"
    passed = [r for r in (record(line) for _ in range(2000)) if storm.filter(r)]
    assert len(passed) == 3
    assert "more like it are held back for 60 s" in passed[-1].getMessage()
    # Another kind of line is not held back by the storm.
    assert storm.filter(record("Shutting down", "uvicorn.error"))
    now[0] = 61.0
    after = record(line)
    assert storm.filter(after)
    assert "1997 more like it were held back" in after.getMessage()


def test_lines_that_differ_after_their_first_line_are_one_kind() -> None:
    storm = RateLimited(burst=1, period=60.0, clock=lambda: 0.0)
    assert storm.filter(record("accept failed\nsocket: <fd=8>"))
    assert not storm.filter(record("accept failed\nsocket: <fd=9>"))
