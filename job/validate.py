"""``python -m job validate``: the gate a model passes before promotion (the guide's validate_model step).

It checks what the monthly run relies on, using the run's own code: the digest, the
schema against the test data, the transform, finite non-null outputs, the share of
rejected rows, and throughput. Failed checks are reported, not raised, so the caller
(``dsctl model validate``) can store the report next to the model as validation.json.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from job import s3
from job.drift import has_baseline, measure, summary_line
from job.errors import ExitCode, JobError
from job.model_source import fetch_model
from job.process import check_columns, empty_input, read_failure
from job.ragged import find_malformed
from job.sources import resolve_inputs
from job.transform import REJECT_REASON, build_plan, scan_input

log = logging.getLogger(__name__)


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail}


def _output_problems(frame: pl.DataFrame) -> list[str]:
    """Columns holding nulls or non-finite floats (the model must never emit those)."""
    problems = []
    for name, series in frame.to_dict().items():
        nulls = series.null_count()
        bad = int((~series.is_finite()).sum()) if series.dtype.is_float() else 0
        if nulls or bad:
            problems.append(f"{name} ({nulls} null, {bad} non-finite)")
    return problems


def validate_model(
    model: str,
    test_data: str,
    expected_sha256: str | None = None,
    max_rejected_share: float = 0.05,
    report_path: Path | None = None,
    min_rows_per_second: float | None = None,
) -> dict[str, Any]:
    """Validate ``model`` on ``test_data``; return the report (``passed`` plus every check), optionally saved."""
    s3.reset_clients()
    report: dict[str, Any] = {"model": {"url": model}, "test_data": test_data, "checks": []}
    checks: list[dict[str, Any]] = report["checks"]
    started = time.perf_counter()
    try:
        loaded = fetch_model(model, expected_sha256)
    except JobError as exc:
        if exc.code not in (ExitCode.DIGEST_MISMATCH, ExitCode.INVALID_MODEL):
            raise
        checks.append(_check("digest", False, exc.message))
        return _finish(report, report_path)
    report["model"].update(version=loaded.model.version, sha256=loaded.sha256)
    report["load_ms"] = round((time.perf_counter() - started) * 1000, 2)
    checks.append(_check("digest", True, f"sha256 {loaded.sha256} verified"))

    inputs = resolve_inputs(test_data)
    try:
        sources = list(check_columns(inputs.non_empty, loaded.model))
        checks.append(_check("schema", True, f"all {len(loaded.model.schema.required_columns)} required columns"))
    except JobError as exc:
        if exc.code not in (ExitCode.MISSING_COLUMNS, ExitCode.MALFORMED_CSV):
            raise
        checks.append(_check("schema", False, exc.message))
        return _finish(report, report_path)

    t0 = time.perf_counter()
    try:
        # test data is small: the exact field-count check always runs, so malformed rows are rejected rows here too
        malformed = (find_malformed(sources) or None) if sources else None
        lf = scan_input(sources, s3.storage_options(sources[0]), malformed) if sources else empty_input(loaded.model)
        plan = build_plan(lf, loaded.model)
        valid, rejected, counts = pl.collect_all([plan.valid, plan.rejected, plan.rows_in], engine="streaming")
    except (pl.exceptions.PolarsError, OSError, JobError) as exc:
        error = exc if isinstance(exc, JobError) else read_failure(exc, sources)
        if error.code != ExitCode.MALFORMED_CSV:
            raise error from None
        checks.append(_check("transform", False, error.message))
        return _finish(report, report_path)
    seconds = max(time.perf_counter() - t0, 1e-9)
    rows_in = valid.height + rejected.height
    by_reason = dict(rejected.group_by(REJECT_REASON).len().sort(REJECT_REASON).iter_rows())
    report.update(
        rows_in=rows_in,
        rows_out=valid.height,
        rows_rejected=rejected.height,
        rejected_by_reason={str(k): int(v) for k, v in by_reason.items()},
    )
    columns_ok = valid.columns == loaded.model.output_columns
    checks.append(_check("transform", columns_ok and rows_in > 0, f"{rows_in} rows -> {len(valid.columns)} columns"))
    # drift of the test data against training: reported (in the report and its text), not a pass/fail check
    report["drift"] = measure(loaded.model, counts.row(0, named=True) if has_baseline(loaded.model) else None)
    problems = _output_problems(valid)
    checks.append(_check("finite_outputs", not problems, "; ".join(problems) or "no nulls or non-finite values"))
    share = rejected.height / rows_in if rows_in else 0.0
    report["rejected_share"] = share
    checks.append(
        _check("rejected_share", share <= max_rejected_share, f"{share:.4%} rejected (max {max_rejected_share:.2%})")
    )
    rate = rows_in / seconds
    report["throughput_rows_per_s"] = round(rate)
    limit = min_rows_per_second
    checks.append(_check("throughput", limit is None or rate >= limit, f"{rate:,.0f} rows/s (min {limit or 'none'})"))
    return _finish(report, report_path)


def _finish(report: dict[str, Any], report_path: Path | None) -> dict[str, Any]:
    report["passed"] = bool(report["checks"]) and all(c["passed"] for c in report["checks"])
    report["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    log.info(
        "validation %s", "passed" if report["passed"] else "FAILED", extra={"fields": {"report": str(report_path)}}
    )
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as text, one line per check, for a terminal."""
    model = report.get("model", {})
    lines = [f"model {model.get('version', '?')} ({model.get('url')}) on {report.get('test_data')}"]
    lines += [f"  {'PASS' if c['passed'] else 'FAIL'}  {c['name']:15s} {c['detail']}" for c in report["checks"]]
    if "drift" in report:
        lines.append(f"  drift (test data vs training): {summary_line(report['drift'])}")
    lines.append("PASSED" if report["passed"] else "FAILED")
    return "\n".join(lines)
