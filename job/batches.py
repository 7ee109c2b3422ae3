"""``python -m job run --batch N``: one batch of a planned run, processed into the run's staging (job.plan).

A batch runs the same streaming pass as a single run (job.run's staging and accounting
check), over only its own objects, into ``_staging/{run_id}/batches/{NNNNN}/``, and
writes ``counts.json`` last: the commit (job.commit) takes a batch as done only when its
counts exist and match the staged Parquet. A retried batch starts by removing its counts,
so a half-written retry never looks done. Nothing is published here.
"""

from __future__ import annotations

import json
import logging
import time

from job.errors import ExitCode, JobError
from job.model_source import fetch_model
from job.outputs import Attempt, open_root, run_prefix
from job.plan import BATCHES_DIR, COUNTS_FILE, batch_dir, published_skip, read_plan
from job.process import check_columns
from job.run import RunOptions, RunResult, RunSpec, check_run_id, stage_and_count

log = logging.getLogger(__name__)


def required_run_id(options: RunOptions, step: str) -> str:
    """A batch or commit belongs to a planned run: its id must be given, never invented."""
    if not options.run_id:
        raise JobError(
            ExitCode.USAGE,
            f"{step} needs the run id of its plan — pass --run-id or set DS_RUN_ID (as the state machine does)",
        )
    return check_run_id(options.run_id)


def parse_batch(value: str | int) -> int:
    """``--batch`` / ``$DS_BATCH`` as a batch number; USAGE otherwise."""
    text = str(value).strip()
    if not text.isdigit():
        raise JobError(ExitCode.USAGE, f"batch {text!r} is invalid — pass the batch number from the plan (0, 1, ...)")
    return int(text)


def run_batch(spec: RunSpec, options: RunOptions, index: int) -> RunResult:
    """Process batch ``index`` of the run's plan into its staging directory; see the module docstring."""
    started = time.perf_counter()
    run_id = required_run_id(options, f"batch {index}")
    root = open_root(spec.output)
    target = f"{root.url.rstrip('/')}/{run_prefix(run_id)}"
    if published_skip(root, run_id, f"batch {index}"):
        return RunResult(run_id, "skipped", output=target)
    plan = read_plan(root, run_id)
    if index >= len(plan.batches):
        raise JobError(
            ExitCode.USAGE, f"run {run_id} has {len(plan.batches)} batch(es) (0..{len(plan.batches) - 1}), not {index}"
        )
    batch = plan.batches[index]
    attempt = Attempt(root, run_id, id=BATCHES_DIR + batch_dir(index).rstrip("/"))
    root.delete([attempt.staging + COUNTS_FILE])  # a retry: not done until it writes its counts again
    loaded = fetch_model(plan.model_url, plan.model_sha256, spec.artifact_store)  # the plan's model, by digest
    headers = check_columns([o.url for o in batch.objects if o.size > 0], loaded.model)
    log.info(
        "run %s batch %d/%d: %d object(s), %d bytes",
        run_id,
        index,
        len(plan.batches),
        len(batch.objects),
        batch.bytes,
        extra={"fields": {"run_id": run_id, "batch": index}},
    )
    try:
        counts, streamed = stage_and_count(attempt, headers, loaded, options)
        record = {
            "batch": index,
            "rows_in": counts.rows_in,
            "rows_out": counts.rows_out,
            "rows_rejected": counts.rows_rejected,
            "rejected_by_reason": counts.rejected_by_reason,
            "malformed_rows": streamed.malformed_rows,
            "drift_counts": streamed.drift_counts,
            "objects": [o.to_dict() for o in batch.objects],
            "process_s": round(time.perf_counter() - started, 4),
        }
        root.put(attempt.staging + COUNTS_FILE, (json.dumps(record, indent=1) + "\n").encode())
    except BaseException:
        attempt.abandon()  # this batch's staging only: its siblings and the plan stay for a retry
        raise
    log.info(
        "run %s batch %d staged: %d in, %d out, %d rejected",
        run_id,
        index,
        counts.rows_in,
        counts.rows_out,
        counts.rows_rejected,
        extra={"fields": {"batch": index, "rows_in": counts.rows_in, "rows_out": counts.rows_out}},
    )
    return RunResult(run_id, "staged", record, target)
