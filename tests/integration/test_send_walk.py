"""A reviewer's Send, hop by hop (docs/ARCHITECTURE.md): the functions of ours a real Send is
inside of while its POST is in flight are exactly the ones the document lists, so a wrapper
added on the way fails here, not in a reader's head."""

from __future__ import annotations

import gc
import inspect
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import httpx2
import psycopg
import pytest

import wa_monitor
from tests.support.web import csrf_of, review_desk
from wa_monitor.core.steps import Step
from wa_monitor.devtools.bridge_api import Fault
from wa_monitor.devtools.simulator import BridgeWriter

pytestmark = pytest.mark.migrated("prod")

SRC = Path(wa_monitor.__file__).parent
DOC = SRC.parents[1] / "docs" / "ARCHITECTURE.md"
# A hop of the walk in the document: "3. services/feedback.py:send   what it adds".
_HOP = re.compile(r"^\s*\d+\.\s+(\S+\.py):(\S+)", re.MULTILINE)


def documented(*, round_trips: bool) -> list[str]:
    """The hops of "A Send, hop by hop": those that carry the message to the wire (on a stack
    while the POST is in flight), or those that take it to the database before (round trips)."""
    text = DOC.read_text("utf-8")
    block = text.split("### A Send, hop by hop", 1)[1].split("```", 2)[1]
    return [
        f"{path}:{function}"
        for line in block.splitlines()
        if (m := _HOP.match(line)) and ("round trip" in line) == round_trips
        for path, function in [m.groups()]
    ]


class RoundTrips:
    """A profile hook for every thread started meanwhile: the outermost function of the
    PostgreSQL adapters on the stack each time psycopg executes a statement, in order, once
    each, while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.by: list[str] = []

    def __call__(self, frame: FrameType, event: str, arg: object) -> None:
        if not self.on or event != "call" or frame.f_code.co_name != "execute":
            return
        if "psycopg" not in Path(frame.f_code.co_filename).parts:
            return
        adapters = [
            name
            for name in outermost_first(frame)
            if name.startswith("adapters/postgres/") and not name.startswith(_HANDLE)
        ]
        if adapters and adapters[0] not in self.by:
            self.by.append(adapters[0])


# The handle lends connections and prepares statements for every repository: not one itself.
_HANDLE = "adapters/postgres/db.py:"


def ours(frame: FrameType) -> str | None:
    """`package/module.py:qualname` for a frame of wa_monitor's own code (not the simulator)."""
    path = Path(frame.f_code.co_filename)
    if not path.is_relative_to(SRC) or path.is_relative_to(SRC / "devtools"):
        return None
    return f"{path.relative_to(SRC).as_posix()}:{frame.f_code.co_qualname}"


def outermost_first(frame: FrameType | None) -> list[str]:
    return [name for f in reversed(_stack(frame)) if (name := ours(f)) is not None]


def in_flight() -> list[str]:
    """Every function of ours entered and not yet left, in every thread and every suspended
    coroutine, outermost first: the coroutines (the route's endpoint, awaiting the threadpool),
    then the threads, the deepest stack first (the worker a send starts comes after the thread
    that waits for it). The ASGI middleware every request passes through is no hop."""
    suspended = [
        name
        for obj in gc.get_objects()
        if inspect.iscoroutine(obj)
        and inspect.getcoroutinestate(obj) == inspect.CORO_SUSPENDED
        and obj.cr_frame is not None
        and (name := ours(obj.cr_frame)) is not None
    ]
    me = threading.get_ident()
    stacks = [outermost_first(f) for tid, f in sys._current_frames().items() if tid != me]
    stacks = sorted((s for s in stacks if s), key=len, reverse=True)
    names = suspended + [name for stack in stacks for name in stack]
    return [name for name in names if not name.endswith(".__call__")]


def without(names: list[str], before: Counter[str]) -> list[str]:
    """`names` in order, less those already in flight before (each as many times)."""
    left, kept = Counter(before), []
    for name in names:
        if left[name]:
            left[name] -= 1
        else:
            kept.append(name)
    return kept


def bridge_holding_a_post() -> bool:
    """The simulated bridge has the POST and is holding its answer (Fault.SLOW)."""
    return any(
        frame.f_code.co_name == "do_POST"
        and Path(frame.f_code.co_filename).parent.name == "devtools"
        for top in sys._current_frames().values()
        for frame in _stack(top)
    )


def _stack(frame: FrameType | None) -> list[FrameType]:
    """A thread's frames, innermost first."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def test_a_send_reaches_its_post_through_the_hops_the_architecture_document_lists(
    tmp_path: Path, bridge: BridgeWriter, database_url: str, db: psycopg.Connection[Any]
) -> None:
    trips = RoundTrips()
    threading.setprofile(trips)  # the dashboard's threads start inside review_desk
    try:
        with review_desk(tmp_path, bridge=bridge, url=database_url, db=db) as desk:
            dash, api, url = desk.dash, desk.api, desk.url
            form = {"csrf": csrf_of(dash.client.get(url).text), "version": "1", "comment": ""}
            form |= {f"mark_{step.column}": "ok" for step in Step}
            assert dash.client.post(f"{url}/verdict", data=form).status_code == 200
            csrf = csrf_of(dash.client.get(url).text)
            before = Counter(in_flight())  # the app's own threads (the chart warmer), if busy
            api.fault(Fault.SLOW, delay_s=1.5)  # the POST is in flight while we look
            answers: list[httpx2.Response] = []
            click = threading.Thread(
                target=lambda: answers.append(
                    dash.client.post(
                        f"{url}/send",
                        data={"csrf": csrf, "version": "2", "text": "Please redo photo 1"},
                        follow_redirects=False,
                    )
                )
            )
            trips.on = True
            click.start()
            deadline = time.monotonic() + 5
            while not bridge_holding_a_post() and time.monotonic() < deadline:
                time.sleep(0.01)
            walk = without(in_flight(), before)
            trips.on = False
            click.join(10)
    finally:
        threading.setprofile(None)
    [answer] = answers
    assert answer.status_code == 303
    assert walk == documented(round_trips=False)
    # Before the POST: the session's user (every POST's look-up, no hop), then the Send's own.
    assert trips.by == ["adapters/postgres/users.py:by_id", *documented(round_trips=True)]
