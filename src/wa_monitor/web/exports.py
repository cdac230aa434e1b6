"""The review list's CSV export: bounded, on its own connection, and gone with its client.

An export is the one request that can take minutes and hold a database transaction while it
runs, so it must never take what the pages need. Each export opens a connection of its own
(not one of the pages' pool) and runs on the event loop (not in the threadpool the pages run
in); at most PER_USER exports run per person and TOTAL in all, and the next is refused with 429.
An export ends, and its connection closes, when the client goes away, when it reads nothing
for `stall_seconds` (STALL_SECONDS unless create_app is told otherwise), or when the database
bounds it (dashboard.sql's export_session).
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from wa_monitor.adapters.postgres import dashboard
from wa_monitor.adapters.postgres.dashboard import COLUMNS, Review, ReviewFilter
from wa_monitor.adapters.postgres.db import Database
from wa_monitor.settings import Settings

PER_USER = 2
TOTAL = 4
STALL_SECONDS = 60.0  # a client that reads nothing for this long has gone, as far as we care
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
log = logging.getLogger("uvicorn.error")


@dataclass
class Slots:
    """How many exports run, per user and in all; taken and given back under one lock (pages
    run in threads, exports on the event loop)."""

    per_user: int = PER_USER
    total: int = TOTAL
    _running: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refusal(self, user_id: int) -> str | None:
        """Why `user_id` may not start an export now; None when a slot was taken for it."""
        with self._lock:
            mine = self._running.get(user_id, 0)
            if mine >= self.per_user:
                return (
                    f"You have {mine} exports running already (at most {self.per_user} per "
                    "person): wait for one to finish, or cancel it, then try again."
                )
            if sum(self._running.values()) >= self.total:
                return (
                    f"{self.total} exports are running already, the most the dashboard runs at "
                    "once: try again in a minute."
                )
            self._running[user_id] = mine + 1
            return None

    def give_back(self, user_id: int) -> None:
        with self._lock:
            left = self._running.get(user_id, 0) - 1
            if left > 0:
                self._running[user_id] = left
            else:
                self._running.pop(user_id, None)

    @property
    def running(self) -> int:
        with self._lock:
            return sum(self._running.values())


class ExportRows(Protocol):
    """Where an export's reviews come from: PgExportRows, or FakeExportRows in
    tests/support/fakes.py."""

    def batches(
        self, where: ReviewFilter
    ) -> AbstractAsyncContextManager[AsyncGenerator[list[Review], None]]:
        """The filtered reviews, newest first, a batch at a time, while the block runs."""
        ...


@dataclass(frozen=True)
class PgExportRows:
    """An export's reviews on a connection of its own (dashboard.export_connection), through
    a server-side cursor, closed on the way out however the export ends."""

    db: Database

    @asynccontextmanager
    async def batches(
        self, where: ReviewFilter
    ) -> AsyncIterator[AsyncGenerator[list[Review], None]]:
        name = f"wa-monitor-web-{self.db.environment}-export"
        async with dashboard.export_connection(self.db, application_name=name) as conn:
            found = dashboard.export(conn, self.db, where)
            try:
                yield found
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await found.aclose()


@dataclass(frozen=True)
class Exports:
    """One environment's exports: where their rows come from, and the slots they share."""

    settings: Settings
    rows: ExportRows
    slots: Slots = field(default_factory=Slots)
    stall_seconds: float = STALL_SECONDS  # create_app's export_stall_seconds (tests lower it)

    def response(self, user_id: int, where: ReviewFilter, *, filename: str) -> Response:
        """The filtered reviews as a CSV download, or 429 when no slot is free."""
        if (why := self.slots.refusal(user_id)) is not None:
            return PlainTextResponse(why, status_code=429, headers={"retry-after": "60"})
        return CsvExport(self, user_id, where, filename)

    def cell(self, value: object) -> str:
        """A value as the CSV carries it: local times, true/false, and text that a spreadsheet
        would run as a formula (=, +, -, @ first) quoted with a leading apostrophe."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.astimezone(self.settings.tz).isoformat()
        text = str(value)
        if text.startswith(_FORMULA_START) and not _is_number(text):
            return "'" + text
        return text


def exports_of(request: Request) -> Exports:
    """The app's exports (create_app keeps them in app.state)."""
    found = request.app.state.exports
    assert isinstance(found, Exports)  # noqa: S101  create_app sets it, nothing else
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class CsvExport(Response):
    """A streamed CSV that owns one export slot and one connection until it ends, however it
    ends: finished, client gone, client stalled, or the database's timeouts."""

    media_type = "text/csv"

    def __init__(self, exports: Exports, user_id: int, where: ReviewFilter, filename: str) -> None:
        self.exports = exports
        self.user_id = user_id
        self.where = where
        self.status_code = 200
        self.background = None
        self.init_headers({"content-disposition": f'attachment; filename="{filename}"'})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._run(receive, send)
        finally:
            self.exports.slots.give_back(self.user_id)

    async def _run(self, receive: Receive, send: Send) -> None:
        # Connect before the response starts: a database that is away is the usual 503 page.
        async with (
            self.exports.rows.batches(self.where) as batches,
            anyio.create_task_group() as group,
        ):
            group.start_soon(_until_disconnect, receive, group.cancel_scope)
            await self._stream(batches, send)
            group.cancel_scope.cancel()

    async def _stream(self, batches: AsyncGenerator[list[Review], None], send: Send) -> None:
        # The query's first rows before the response starts: its errors are the usual pages.
        batch = await anext(batches, None)
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        while batch is not None:
            for review in batch:
                writer.writerow(self.exports.cell(v) for v in review.values())
            chunk = buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            stall = self.exports.stall_seconds
            try:
                with anyio.fail_after(stall):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except TimeoutError:
                # The server closes the connection of a response left unfinished.
                log.warning("export stopped: its client read nothing for %.0f s", stall)
                return
            batch = await anext(batches, None)
        tail = buffer.getvalue().encode()
        await send({"type": "http.response.body", "body": tail, "more_body": False})


async def _until_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """Cancel the export once the client has gone (the server says so through receive)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
