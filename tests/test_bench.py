"""The benchmark's quick mode runs and prints every figure (no timed assertions)."""

from __future__ import annotations

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
    pg_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--quick", "--dir", str(tmp_path), "--database-url", pg_server]) == 0
    out = capsys.readouterr().out
    for figure in FIGURES:
        assert figure in out, figure
    assert "4. messages never seen (should be 0)" in out
    seen = next(line for line in out.splitlines() if "messages never seen" in line)
    assert seen.split()[-1] == "0"  # every message written during the latency run was applied
