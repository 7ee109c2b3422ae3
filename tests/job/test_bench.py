"""The benchmark's report (job.bench): the tables docs/job.md quotes, from recorded results (no benchmark runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from job import bench


def _result(shape: str, rows: int, floor_rss: float, job_rss: float) -> dict[str, Any]:
    row = {"seconds": 1.0, "x_floor": 1.0, "cpu_seconds": 1.0, "cpu_x_floor": 1.0, "rows_per_s": 1.0}
    return {
        "shape": shape,
        "rows": rows,
        "input_bytes": rows * 60,
        "table": [{**row, "peak_rss_mb": floor_rss}, {**row, "peak_rss_mb": job_rss}],
    }


def test_flatness_compares_each_shapes_floor_and_job_across_row_counts() -> None:
    earlier = [_result("demo", 10_000_000, 400, 480), _result("wide", 10_000_000, 410, 500)]
    later = [_result("demo", 20_000_000, 404, 600), _result("text", 20_000_000, 1, 1)]
    table = bench.format_flatness(earlier, later).splitlines()
    assert "10,000,000 -> 20,000,000" in table[0]
    assert table[2:] == ["| demo | 400 -> 404 | 1.01x | 480 -> 600 | 1.25x |"]  # text has no earlier run


def test_flat_from_without_earlier_results_names_the_run_to_make_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(bench, "bench", lambda rows, repeats, peer, shapes: [_result("demo", rows, 1, 1)])
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--rows", "20", "--shapes", "demo", "--flat-from", "10"])
    assert exit_.value.code == 2 and "run --rows 10 first" in capsys.readouterr().err
