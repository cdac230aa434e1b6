"""The benchmark's quick mode runs and prints every figure (no timed assertions)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from benchmarks import bench

FIGURES = [
    "cores",
    "1. drain: wall time",
    "1. drain: messages/s",
    "1. drain: reviews/s",
    "2. limit_time / drain_time",
    "speed-up over the simple approach",
    "4. detection latency, steady 10 msg/s: p50",
    "4. detection latency, steady: p99",
    "4. detection latency, steady: max",
    "4. bursts: p50 / p99 / max",
    "after a burst: p50",
    "4. bursts: lag of each burst's last message",
    "5. idle CPU",
    "6. peak RSS",
    "7. longest bridge read transaction",
    "8. scaling: drain of",
]


@pytest.mark.slow
def test_quick_benchmark_prints_every_figure(
    pg_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert bench.main(["--quick", "--database-url", pg_server]) == 0
    out = capsys.readouterr().out
    # Its own folder (bridge files, databases) is gone, and it said so.
    assert list(tmp_path.glob("wa-monitor-bench-*")) == []
    assert "removed the working folder" in out
    # At quick size no figure stands beside a target it cannot meet; the verdict says why.
    assert "target" not in out.split("verdict:", 1)[0]
    assert "verdict: quick run (N=20,000): the pipeline works end to end" in out
    for figure in FIGURES:
        assert figure in out, figure
    assert "4. messages never seen (should be 0)" in out
    seen = next(line for line in out.splitlines() if "messages never seen" in line)
    assert seen.split()[-1] == "0"  # every message written during the latency run was applied


def test_a_full_run_judges_each_target() -> None:
    report = bench.Report()
    report.add("1. drain: messages/s", "300,000", "target >= 250,000", met=True)
    report.add("5. idle CPU", "1.20 s/hour", "target <= 1", met=False)
    assert report.rows[1][2] == "target <= 1 MISSED"
    assert report.verdict(1_000_000, missing=0) == (
        "verdict: 1 of 2 targets missed: 5. idle CPU (target <= 1)",
        False,
    )
    assert report.verdict(1_000_000, missing=3)[0].startswith("verdict: FAILED: 3 messages")
    quick = bench.Report(quick=True)
    quick.add("1. drain: messages/s", "90,000", "target >= 250,000", met=False)
    assert quick.rows[0][2] == ""
    assert quick.verdict(20_000, missing=0)[1] is True
