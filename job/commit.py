"""``python -m job commit``: publish a scaled-out run from its batches' staged output, all or nothing.

Every batch of the plan (job.plan) must have staged its Parquet and ``counts.json``
(job.batches), each balanced, and the Parquet footers must hold the rows the counts
claim; otherwise BATCH_FAILED and nothing is published. The commit then publishes with
the single run's protocol (job.outputs: exclusive ``manifest.json`` claim, files moved
in, ``_SUCCESS`` last): one manifest with the totals and, per batch, its objects (with
ETags) and rows in/out/rejected; batch ``N``'s files are published as
``part-0000N.parquet`` and ``rejected/part-0000N.parquet``. Drift is measured over the
summed bucket counts of all batches, so it equals a single run's. Any failure here
removes the whole batch staging (``--abandon`` does only that: the state machine's path
when a batch failed for good).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from job.batches import required_run_id
from job.drift import measure
from job.errors import ExitCode, JobError, Stopped
from job.model_source import fetch_model
from job.outputs import Attempt, OutputRoot, open_root, run_prefix
from job.plan import BATCHES_DIR, COUNTS_FILE, Plan, batch_dir, published_skip, read_plan
from job.process import REJECTED_FILE, VALID_FILE, Counts, count_outputs
from job.run import RunOptions, RunResult, RunSpec, after_publish, check_drift, clean_failed, run_manifest, stage_report
from job.sources import Inputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedBatch:
    """A batch's verified staged output."""

    index: int
    counts: dict[str, Any]

    @property
    def valid(self) -> str:
        return batch_dir(self.index) + VALID_FILE

    @property
    def rejected(self) -> str:
        return batch_dir(self.index) + REJECTED_FILE

    def published_names(self) -> dict[str, str]:
        """Staged name -> published name: ``00003/part-00000.parquet`` -> ``part-00003.parquet``."""
        part = f"part-{self.index:05d}.parquet"
        return {self.valid: part, self.rejected: f"rejected/{part}"}


def _missing(run_id: str, plan: Plan, missing: list[int]) -> JobError:
    shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
    return JobError(
        ExitCode.BATCH_FAILED,
        f"run {run_id}: {len(missing)} of {len(plan.batches)} batch(es) did not finish (batch {shown}: no staged "
        "counts) — nothing was published and the staged batches were removed; see the failed batch's log, then "
        "rerun the whole run",
    )


def check_batch(root: OutputRoot, staging: str, index: int) -> StagedBatch | None:
    """The batch's counts when its staged output is complete and adds up; None when it never finished."""
    where = staging + batch_dir(index)
    if not root.exists(where + COUNTS_FILE):
        return None
    counts = dict(json.loads(root.read(where + COUNTS_FILE)))
    rows_out, by_reason = count_outputs(root, where)  # what was written, from the Parquet footers
    written = (rows_out, sum(by_reason.values()))
    claimed = (int(counts["rows_out"]), int(counts["rows_rejected"]))
    if written != claimed or counts["rows_in"] != sum(claimed):
        raise JobError(
            ExitCode.ROW_ACCOUNTING,
            f"batch {index}: its counts ({counts['rows_in']} in = {claimed[0]} out + {claimed[1]} rejected) do not "
            f"match its staged files ({written[0]} out, {written[1]} rejected) — refused to publish; please report "
            "this with the run's log",
        )
    return StagedBatch(index, counts)


def _summed_drift(batches: list[StagedBatch]) -> dict[str, Any] | None:
    """The bucket counts of all batches added up (None when the model has no drift baseline)."""
    parts = [b.counts.get("drift_counts") for b in batches]
    if any(p is None for p in parts):
        return None
    total: Counter[str] = Counter()
    for part in parts:
        total.update({k: int(v) for k, v in dict(part or {}).items()})
    return dict(total)


def commit_run(spec: RunSpec, options: RunOptions, abandon: bool = False, stopped: bool = False) -> RunResult:
    """Check every batch, then publish the run (see the module docstring); ``abandon``: only clean up and fail, or,
    ``stopped`` too, end as a stopped run does (``Stopped``: recorded STOPPED, exit 143), for the run was stopped."""
    started = time.perf_counter()
    run_id = required_run_id(options, "commit")
    root = open_root(spec.output)
    target = f"{root.url.rstrip('/')}/{run_prefix(run_id)}"
    if not abandon and published_skip(root, run_id, "commit"):
        return RunResult(run_id, "skipped", output=target)
    attempt = Attempt(root, run_id, id=BATCHES_DIR.rstrip("/"))  # its staging is every batch's
    try:
        if abandon and stopped:
            raise Stopped
        if abandon:
            raise JobError(
                ExitCode.BATCH_FAILED,
                f"run {run_id}: a batch failed for good — nothing was published and the staged batches were "
                "removed; see the failed batch's log, then rerun the whole run",
            )
        plan = read_plan(root, run_id)
        loaded = fetch_model(plan.model_url, plan.model_sha256, spec.artifact_store)
        checked = [check_batch(root, attempt.staging, b.index) for b in plan.batches]
        missing = [b.index for b, c in zip(plan.batches, checked, strict=True) if c is None]
        if missing:
            raise _missing(run_id, plan, missing)
        staged = [c for c in checked if c is not None]
        by_reason: Counter[str] = Counter()
        for batch in staged:
            by_reason.update(batch.counts["rejected_by_reason"])
        counts = Counts(
            sum(int(b.counts["rows_in"]) for b in staged),
            sum(int(b.counts["rows_out"]) for b in staged),
            dict(sorted(by_reason.items())),
        )
        drift = measure(loaded.model, _summed_drift(staged))
        check_drift(run_id, drift, options.fail_on_drift)
        renamed: dict[str, str] = {}
        outputs = []
        for batch in staged:
            names = batch.published_names()
            renamed.update(names)
            rows = {batch.valid: batch.counts["rows_out"], batch.rejected: batch.counts["rows_rejected"]}
            for name, published in names.items():
                size = root.size(attempt.staging + name)
                outputs.append({"key": run_prefix(run_id) + published, "bytes": size, "rows": rows[name]})
        attempt.clear_the_way(plan.overwrite)
        timings = _timings(plan, staged, started)
        inputs = Inputs(plan.input, tuple(plan.objects))
        manifest = run_manifest(run_id, options.environment, counts, loaded, inputs, outputs, timings, drift)
        manifest["batches"] = [_batch_entry(b) for b in staged]
        report = stage_report(attempt, manifest, loaded, [b.rejected for b in staged])
        attempt.publish(list(renamed) + report, (json.dumps(manifest, indent=2) + "\n").encode(), renamed)
    except BaseException:
        clean_failed(attempt)
        raise
    try:
        after_publish(spec, options, attempt, counts, time.perf_counter() - started, target, drift)
    except (Exception, KeyboardInterrupt) as exc:  # the run is published: nothing here may undo that
        log.warning("run %s is published; what followed was cut short: %s", run_id, repr(exc))
    return RunResult(run_id, "published", manifest, target, timings)


def _batch_entry(batch: StagedBatch) -> dict[str, Any]:
    keys = ("batch", "objects", "rows_in", "rows_out", "rows_rejected", "rejected_by_reason", "process_s")
    entry = {key: batch.counts[key] for key in keys}
    entry["outputs"] = sorted(batch.published_names().values())
    return entry


def _timings(plan: Plan, staged: list[StagedBatch], started: float) -> dict[str, float]:
    """Per-step times; ``total_s`` runs from the plan's creation (whole seconds) to now."""
    process = [float(b.counts["process_s"]) for b in staged]
    since_plan = datetime.now(UTC) - datetime.fromisoformat(plan.created)
    return {
        "batch_process_s_max": round(max(process, default=0.0), 4),
        "batch_process_s_sum": round(sum(process), 4),
        "commit_s": round(time.perf_counter() - started, 4),
        "total_s": round(since_plan.total_seconds(), 4),
    }
