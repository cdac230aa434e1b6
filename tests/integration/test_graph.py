"""The Graph workbook client against a local HTTPS stand-in of Graph and the token endpoint."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.support.graph_server import (
    CLIENT_ID,
    DRIVE,
    ITEM,
    SECRET,
    TENANT,
    Fault,
    GraphStandIn,
)
from wa_monitor.adapters.graph import (
    GraphAuthFailed,
    GraphRefused,
    GraphUnavailable,
    GraphWorkbook,
    RetryLimits,
    WorkbookLocation,
)
from wa_monitor.core.records import DailyCount
from wa_monitor.core.sheet import SheetRow, WriteKind, plan

D11, D12 = date(2025, 11, 11), date(2025, 11, 12)
SERIAL_D11, SERIAL_D12 = 45972, 45973
FAST = RetryLimits(attempts=4, give_up_after=20.0, backoff=0.05, max_wait=3.0)


class Lines:
    """A logger that keeps what it was given, as the configured one would print it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _log(self, level: str, event: str, **context: Any) -> None:
        self.lines.append(" ".join([level, event, *(f"{k}={v}" for k, v in context.items())]))

    def info(self, event: str, **context: Any) -> None:
        self._log("INFO", event, **context)

    def warning(self, event: str, **context: Any) -> None:
        self._log("WARNING", event, **context)


def workbook(
    graph: GraphStandIn, log: Lines, *, secret: str = SECRET, worksheet: str = "Daily Drops"
) -> GraphWorkbook:
    location = WorkbookLocation(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        drive_id=DRIVE,
        item_id=ITEM,
        worksheet=worksheet,
        authority_host=graph.authority_host,
        graph_root=graph.graph_root,
    )
    return GraphWorkbook(
        location, client_secret=secret, log=log, ca_file=graph.ca_file, limits=FAST
    )


WANTED = [
    DailyCount(D11, "Lawley", 12),
    DailyCount(D11, "Mohadin", 3),
    DailyCount(D12, "Lawley", 4),
]


def sync(book: GraphWorkbook, wanted: list[DailyCount]) -> list[int]:
    return [w.row for w in book.apply(plan(book.read(), wanted))]


def test_an_empty_worksheet_gets_the_header_and_one_row_per_key(graph: GraphStandIn) -> None:
    with workbook(graph, Lines()) as book:
        assert sync(book, WANTED) == [2, 3, 4]
    assert graph.cells("Daily Drops") == [
        ["Date", "Project", "Total Drops"],
        [SERIAL_D11, "Lawley", 12],
        [SERIAL_D11, "Mohadin", 3],
        [SERIAL_D12, "Lawley", 4],
    ]
    # One token, asked for as a confidential client, for Graph's default scope.
    (token,) = graph.token_requests()
    form = token.form()
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://graph.microsoft.com/.default"
    assert form["client_id"] == CLIENT_ID
    assert token.path == f"/{TENANT}/oauth2/v2.0/token"
    reads = graph.graph_requests("GET")
    assert [r.path for r in reads] == [
        f"/v1.0/drives/{DRIVE}/items/{ITEM}/workbook/worksheets/Daily Drops"
        "/usedRange(valuesOnly=true)"
    ]
    writes = graph.graph_requests("PATCH")
    assert [r.path.rsplit("/", 1)[1] for r in writes] == [
        "range(address='A1:C1')",
        "range(address='A2:C2')",
        "range(address='A3:C3')",
        "range(address='A4:C4')",
    ]
    assert writes[1].json() == {"values": [["2025-11-11", "Lawley", 12]]}
    assert all(r.headers["authorization"].startswith("Bearer ey") for r in reads + writes)
    assert all(r.headers["content-type"] == "application/json" for r in writes)


def test_a_rerun_reads_and_writes_nothing(graph: GraphStandIn) -> None:
    with workbook(graph, Lines()) as book:
        sync(book, WANTED)
    before = len(graph.graph_requests("PATCH"))
    with workbook(graph, Lines()) as book:
        again = plan(book.read(), WANTED)
        assert again.writes == ()
        assert list(book.apply(again)) == []
    assert len(graph.graph_requests("PATCH")) == before


def test_a_late_drop_rewrites_its_row_and_leaves_the_rest_of_the_sheet(
    graph: GraphStandIn,
) -> None:
    graph.worksheets["Daily Drops"] = [
        ["Daily drops per project", None, None, None],
        [],
        ["Date", "Project", "Total Drops", "Checked by"],
        [SERIAL_D11, "Lawley", 12, "Thabo"],
        [SERIAL_D11, "Mohadin", 3, None],
        [None, None, None, "=SUM(C4:C5)"],
    ]
    with workbook(graph, Lines()) as book:
        late = [DailyCount(D11, "Lawley", 13), DailyCount(D11, "Mohadin", 3)]
        assert sync(book, [*late, DailyCount(D12, "Lawley", 1)]) == [4, 7]
    assert graph.cells("Daily Drops") == [
        ["Daily drops per project", None, None, None],
        [],
        ["Date", "Project", "Total Drops", "Checked by"],
        [SERIAL_D11, "Lawley", 13, "Thabo"],
        [SERIAL_D11, "Mohadin", 3, None],
        [None, None, None, "=SUM(C4:C5)"],
        [SERIAL_D12, "Lawley", 1],
    ]


def test_a_used_range_that_does_not_start_at_a1(graph: GraphStandIn) -> None:
    graph.worksheets["Daily Drops"] = [[], [], [None, None, None, "notes"], [], [None, "x"]]
    with workbook(graph, Lines()) as book:
        sheet = book.read()
    assert (sheet.rows, sheet.last_used_row) == ((), 5)
    graph.worksheets["Daily Drops"] = [[], [SERIAL_D11, "Lawley", 2]]
    with workbook(graph, Lines()) as book:
        assert book.read().rows == (SheetRow(2, D11, "Lawley", 2),)


def test_throttling_waits_as_long_as_retry_after_says_and_logs_before_waiting(
    graph: GraphStandIn,
) -> None:
    graph.fail_next(Fault.THROTTLED, times=1, retry_after=1, method="PATCH")
    log = Lines()
    with workbook(graph, log) as book:
        assert sync(book, WANTED[:1]) == [2]
    assert graph.cells("Daily Drops")[1] == [SERIAL_D11, "Lawley", 12]
    header_tries = graph.graph_requests("PATCH")[:2]
    assert header_tries[1].at - header_tries[0].at >= 1.0
    (waited,) = [line for line in log.lines if "waiting to retry" in line]
    assert "429 TooManyRequests" in waited
    assert "wait_s=1.0" in waited


def test_5xx_answers_are_retried_with_backoff(graph: GraphStandIn) -> None:
    graph.fail_next(Fault.UNAVAILABLE, times=2)
    log = Lines()
    with workbook(graph, log) as book:
        assert sync(book, WANTED[:1]) == [2]
    assert graph.cells("Daily Drops")[1] == [SERIAL_D11, "Lawley", 12]
    waits = [line for line in log.lines if "waiting to retry" in line]
    assert len(waits) == 2
    assert all("503 serviceNotAvailable" in line for line in waits)


def test_a_run_that_cannot_finish_says_which_rows_reached_the_sheet(
    graph: GraphStandIn,
) -> None:
    # The header and one row go through, then Graph fails for longer than the retries last.
    graph.fail_next(Fault.UNAVAILABLE, times=FAST.attempts, method="PATCH", after=2)
    written: list[int] = []

    def run() -> None:
        with workbook(graph, Lines()) as book:
            written.extend(w.row for w in book.apply(plan(book.read(), WANTED)))

    with pytest.raises(GraphUnavailable, match="503"):
        run()
    assert written == [2]
    assert len(graph.graph_requests("PATCH")) == 2 + FAST.attempts
    # The next run finds row 2 in place and writes only what is missing.
    with workbook(graph, Lines()) as book:
        rest = plan(book.read(), WANTED)
        assert [(w.kind, w.row) for w in rest.writes] == [
            (WriteKind.APPEND, 3),
            (WriteKind.APPEND, 4),
        ]
        assert [w.row for w in book.apply(rest)] == [3, 4]
    assert len(graph.cells("Daily Drops")) == 4


def test_an_expired_token_is_replaced_once(graph: GraphStandIn) -> None:
    log = Lines()
    with workbook(graph, log) as book:
        sheet = book.read()
        graph.expire_tokens()  # an hour later, MSAL still holds the old token
        assert [w.row for w in book.apply(plan(sheet, WANTED[:1]))] == [2]
    assert len(graph.token_requests()) == 2
    assert graph.cells("Daily Drops")[1] == [SERIAL_D11, "Lawley", 12]
    assert any("token refused" in line for line in log.lines)


def test_a_token_refused_twice_is_not_asked_for_a_third_time(graph: GraphStandIn) -> None:
    graph.fail_next(Fault.EXPIRED_TOKEN, times=2)
    with workbook(graph, Lines()) as book, pytest.raises(GraphRefused, match="401"):
        book.read()
    assert len(graph.token_requests()) == 2
    assert len(graph.graph_requests()) == 2


def test_a_wrong_secret_fails_in_one_line_without_the_secret(graph: GraphStandIn) -> None:
    wrong = "Wrong~Secret.Value-0987654321"
    log = Lines()
    with workbook(graph, log, secret=wrong) as book, pytest.raises(GraphAuthFailed) as failed:
        book.read()
    message = str(failed.value)
    assert "invalid_client" in message
    assert "AADSTS7000215" in message
    assert "\n" not in message
    assert wrong not in message
    assert wrong not in "\n".join(log.lines)
    assert graph.graph_requests() == []


def test_a_missing_worksheet_is_refused_with_graphs_reason(graph: GraphStandIn) -> None:
    with workbook(graph, Lines(), worksheet="Sheet9") as book, pytest.raises(GraphRefused) as no:
        book.read()
    assert "404 ItemNotFound" in str(no.value)
    assert len(graph.graph_requests()) == 1  # not retried: asking again will not help


def test_check_reaches_the_worksheet(graph: GraphStandIn) -> None:
    with workbook(graph, Lines()) as book:
        assert book.check() == "Daily Drops"
    assert graph.graph_requests()[0].path.endswith("/workbook/worksheets/Daily Drops")
