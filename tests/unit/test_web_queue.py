"""The queue's age bands and the filters its links carry (no database)."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl

import pytest

from wa_monitor.adapters.postgres.dashboard import Status
from wa_monitor.web import filters
from wa_monitor.web.queue import MARKER, QueueQuery, band_link, bands

TODAY = date(2025, 11, 11)


@pytest.mark.parametrize(
    ("key", "first", "last"),
    [
        ("today", "2025-11-11", None),
        ("days_1_2", "2025-11-09", "2025-11-10"),
        ("days_3_7", "2025-11-04", "2025-11-08"),
        ("older", None, "2025-11-03"),
    ],
)
def test_the_age_bands_cover_every_day_once(key: str, first: str | None, last: str | None) -> None:
    band = {b.key: b for b in bands(TODAY)}[key]
    assert band.params() == {k: v for k, v in (("from", first), ("to", last)) if v}


def test_a_band_link_names_the_project_and_the_dates() -> None:
    older = bands(TODAY)[-1]
    assert dict(parse_qsl(band_link("Lawley", older))) == {"project": "Lawley", "to": "2025-11-03"}
    assert band_link(None, None) == ""


def test_a_review_link_from_the_queue_carries_its_filters_and_order() -> None:
    parsed = filters.parse({"project": "Lawley", "drop": "dr1234"}, projects=frozenset({"Lawley"}))
    asked = QueueQuery(parsed, oldest_first=False)
    carried = dict(parse_qsl(asked.review_link()))
    assert carried == {MARKER: "1", "project": "Lawley", "drop": "DR1234", "order": "newest"}
    # The queue is always "awaiting": the status is the page's, never a filter in its links.
    with_status = QueueQuery(filters.parse({"status": "complete"}, projects=frozenset()))
    assert "status" not in with_status.params()
    assert with_status.query.status is Status.COMPLETE  # parse() is what forces awaiting
