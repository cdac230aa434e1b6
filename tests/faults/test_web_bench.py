"""The dashboard benchmark measures every view and writes its figures into the doc (at a small
size; no timed assertions: a machine's speed is the benchmark's verdict, not CI's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks import web_bench

VIEWS = [
    "overview (today)",
    "overview, a day 200 days ago",
    "overview, a past day's first view",
    "reviews, first page",
    "reviews, feedback pending",
    "reviews, feedback pending + resubmitted",
    "queue, oldest first",
    "queue, one project",
    "quality, 30 days",
    "quality, 30 days, JSON twin",
    "review, 12 cached photos",
    "review, no photo",
    "a photo's thumbnail",
    "healthz (one SELECT 1)",
]


@pytest.mark.slow
def test_a_small_run_measures_every_view_and_writes_the_doc(
    pg_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    begin, end = web_bench.MARKERS
    doc.write_text(f"# Performance\nbefore\n{begin}\nold figures\n{end}\nafter\n", "utf-8")
    argv = ["--rows", "2000", "--repeat", "3", "--database-url", pg_server, "--doc", str(doc)]
    assert web_bench.main(argv) == 0
    out = capsys.readouterr().out
    text = doc.read_text("utf-8")
    assert "old figures" not in text
    assert text.startswith(f"# Performance\nbefore\n{begin}\n")
    assert text.endswith(f"{end}\nafter\n")
    assert "python -m benchmarks.web_bench --rows 2000 --repeat 3" in text
    assert "CPUs (nproc)" in text
    assert "load average before the requests" in text
    for view in VIEWS:
        row = next((line for line in text.splitlines() if line.startswith(f"| {view} |")), None)
        assert row is not None, view
        assert view in out
        # Its p50, p95 and max, its target and its verdict (unjudged at this size).
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert len(cells) == 6, row
        assert all(float(c) >= 0 for c in cells[1:4]), row
        assert cells[4] == "baseline" or ("not judged" in cells[5]), row
    assert "| quality, 30 days / overview (today) |" in text
    assert "| CSV export, ~300,000 rows |" in text
    assert "The Quality page's queries over 30 days" in text
    assert "**verdict: a run below 1,000,000 rows" in text


def test_the_performance_doc_has_the_block_the_web_benchmark_writes() -> None:
    text = web_bench.DOC.read_text("utf-8")
    for marker in web_bench.MARKERS:
        assert text.count(marker) == 1
