"""The review list's query string: filters, page keyset and size, read into records and written
back into links. Everything a person chose lives in the URL, so a link can be shared."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TypeVar
from urllib.parse import urlencode

from wa_monitor.adapters.postgres.dashboard import Feedback, Keyset, ReviewFilter, Status
from wa_monitor.core.steps import Step

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# At least 4 digits: a shorter start matches a large part of the table (DR1 nearly all of it).
MIN_DROP_DIGITS = 4
_DROP_SEARCH = re.compile(r"^(?:DR)?\s?(\d{4,8})$", re.IGNORECASE)
# The days the pages show. WhatsApp (and so any drop) came after the first; a year past the
# last is a typo. Both stay far from the calendar's ends, which the chart's 30 days back, the
# day after, and a zone's offset would otherwise cross (OverflowError).
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
E = TypeVar("E")
_YES_NO = {"yes": True, "no": False}


@dataclass(frozen=True, slots=True)
class ReviewQuery:
    """What the list shows, as the query string says it; `problems` are values it ignored."""

    first: date | None = None  # local dates, both inclusive
    last: date | None = None
    project: str | None = None
    status: Status | None = None
    resubmitted: bool | None = None
    feedback: Feedback | None = None
    drop: str | None = None  # "DR12" as normalised from what was typed
    agent: str | None = None  # the agent's phone (the Quality page links here)
    step: Step | None = None  # a step the first verdict marked missing or wrong
    mark: str | None = None  # "missing" or "wrong": only those of the step
    older: Keyset | None = None
    newer: Keyset | None = None
    size: int = PAGE_SIZE
    problems: tuple[str, ...] = ()

    def where(self, tz: tzinfo) -> ReviewFilter:
        """The filter as instants: a local day runs from its midnight to the next one."""
        return ReviewFilter(
            start=None if self.first is None else local_midnight(self.first, tz),
            end=None if self.last is None else local_midnight(self.last + timedelta(days=1), tz),
            project=self.project,
            status=self.status,
            resubmitted=self.resubmitted,
            feedback=self.feedback,
            drop_prefix=self.drop,
            agent=self.agent,
            failed=self.step,
            failed_mark=self.mark if self.step is not None else None,
        )

    def params(self) -> dict[str, str]:
        """The filters as query-string values (without the page keyset)."""
        values = {
            "from": _text(self.first),
            "to": _text(self.last),
            "project": self.project or "",
            "status": _text(self.status),
            "resubmitted": ""
            if self.resubmitted is None
            else ("yes" if self.resubmitted else "no"),
            "feedback": _text(self.feedback),
            "drop": self.drop or "",
            "agent": self.agent or "",
            "step": "" if self.step is None else str(self.step.number),
            "mark": self.mark or "",
            "size": "" if self.size == PAGE_SIZE else str(self.size),
        }
        return {k: v for k, v in values.items() if v}

    def link(self, **extra: str) -> str:
        """The query string of this filter, with `extra` (a page keyset, a format) added."""
        return urlencode(self.params() | extra)

    def first_page(self) -> ReviewQuery:
        return replace(self, older=None, newer=None)

    @property
    def filtered(self) -> bool:
        return bool(set(self.params()) - {"size"})


def _text(value: object) -> str:
    return "" if value is None else str(value)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


class OutOfRange(ValueError):
    """A day the pages cannot show; the message says which and what they can (a 400)."""


def parse_day(text: str | None, *, key: str = "day") -> date | None:
    """The date `text` names, None when it names none; OutOfRange when it is a date outside
    EARLIEST..LATEST."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    if not EARLIEST <= day <= LATEST:
        raise OutOfRange(
            f"{key}: {day.isoformat()} is outside the days this dashboard shows "
            f"({EARLIEST.isoformat()} to {LATEST.isoformat()})."
        )
    return day


def normalise_drop(text: str) -> str | None:
    """`dr 1234`, `DR1234`, `1234` → `DR1234`: the start of a drop number, at least
    MIN_DROP_DIGITS digits; None if it cannot be one."""
    match = _DROP_SEARCH.fullmatch(text.strip())
    return f"DR{match[1]}" if match else None


def parse(query: Mapping[str, str], *, projects: frozenset[str]) -> ReviewQuery:
    """The list's query string, read leniently: a value that means nothing is left out and
    named in `problems`, and the rest of the filter still applies."""
    problems: list[str] = []

    def choice(key: str, allowed: Mapping[str, E]) -> E | None:
        raw = query.get(key, "").strip().lower()
        if not raw:
            return None
        if raw not in allowed:
            problems.append(f"{key}: {raw!r} is not one of {', '.join(allowed)}")
            return None
        return allowed[raw]

    def day(key: str) -> date | None:
        raw = query.get(key, "").strip()
        parsed = parse_day(raw, key=key)
        if raw and parsed is None:
            problems.append(f"{key}: {raw!r} is not a date like 2025-11-11")
        return parsed

    first, last = day("from"), day("to")
    if first and last and first > last:
        problems.append("from is after to: the two dates were swapped")
        first, last = last, first
    project = query.get("project", "").strip() or None
    if project is not None and project not in projects:
        problems.append(f"project: no project is called {project!r}")
        project = None
    drop_text = query.get("drop", "").strip()
    drop = normalise_drop(drop_text) if drop_text else None
    if drop_text and drop is None:
        problems.append(
            f"drop: {drop_text!r} is not the start of a drop number like DR1234567 "
            f"(at least {MIN_DROP_DIGITS} digits)"
        )
    agent = query.get("agent", "").strip()[:50] or None
    return ReviewQuery(
        agent=agent,
        step=_step(query.get("step", ""), problems),
        mark=choice("mark", {"missing": "missing", "wrong": "wrong"}),
        first=first,
        last=last,
        project=project,
        status=choice("status", {s.value: s for s in Status}),
        resubmitted=choice("resubmitted", _YES_NO),
        feedback=choice("feedback", {f.value: f for f in Feedback}),
        drop=drop,
        older=Keyset.parse(query["older"]) if query.get("older") else None,
        newer=Keyset.parse(query["newer"]) if query.get("newer") else None,
        size=_size(query.get("size", ""), problems),
        problems=tuple(problems),
    )


def _size(raw: str, problems: list[str]) -> int:
    if not raw.strip():
        return PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        problems.append(f"size: use a number from 1 to {MAX_PAGE_SIZE}")
        return PAGE_SIZE
    return size


def _step(raw: str, problems: list[str]) -> Step | None:
    """`step=7`: the step the first verdict marked missing or wrong (the Quality page's link)."""
    if not raw.strip():
        return None
    if raw.strip().isdigit() and 1 <= int(raw) <= len(Step):
        return Step(int(raw))
    problems.append(f"step: use a step number from 1 to {len(Step)}")
    return None
