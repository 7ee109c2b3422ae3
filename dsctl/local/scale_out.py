"""The state machine's scale-out path, run locally: plan, the batches in parallel processes, commit.

What the Distributed Map does in AWS (components/pipeline_definition.py) is done here with
subprocesses of the same container command: the plan task, then one task per item of the
plan's ``items.json`` (``DS_BATCH`` in its environment, as the Map's container override
sets it), at most ``DS_MAX_PARALLEL_TASKS`` (the task definition's ``maxParallelTasks``)
at once, each retried once when it fails (the Map's Retry), then the commit task; when a
batch fails for good, ``commit --abandon`` removes the staged batches and the run fails,
as the Map's Catch does. A run stopped with ``dsctl runs stop`` (every live step gets SIGTERM,
as from StopExecution) starts no further batch, retries none, is abandoned the same way and
ends stopped, not failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from threading import Lock

from botocore.exceptions import ClientError

from components import naming
from dsctl.local.runner import STOPPED_EXIT_CODES, LocalTask, StepProcesses
from dsctl.output import EXIT_FAILED, CommandError
from dsctl.ssm_parameters import read_parameters

BATCH_ATTEMPTS = 2
"""One retry of a failed batch, like the Map's Retry (pipeline_definition.JOB_RETRY)."""


def batch_items(task: LocalTask, run_id: str) -> list[str]:
    """The batch numbers of the run's plan, from the ``items.json`` the Distributed Map's ItemReader reads."""
    bucket = read_parameters(task.session, task.environment).get(
        naming.PARAM_OUTPUT_BUCKET, task.environment.output_bucket
    )
    key = f"{naming.STAGING_PREFIX}{run_id}/{naming.BATCHES_DIR}{naming.BATCH_ITEMS_FILE}"
    try:
        body = task.session.client("s3", endpoint_url=task.endpoint).get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as err:
        raise CommandError(f"the plan exited 0 but s3://{bucket}/{key} is not readable ({err})", EXIT_FAILED) from err
    return [str(item["batch"]) for item in json.loads(body.read())]


def run_batched(
    task: LocalTask, overrides: Mapping[str, str], log: Callable[[str], None], steps: StepProcesses
) -> None:
    """plan → batches (bounded parallelism, one retry each) → commit; CommandError when the run failed, JobStopped
    when a step was stopped.

    Every step runs as one of ``steps``, so ``dsctl runs stop`` finds and stops it. Once a step ends stopped (exit
    code in STOPPED_EXIT_CODES), the run is being stopped, as by StopExecution (``runs stop`` signals every live
    step, and any that starts meanwhile): no batch starts or is retried, and ``commit --abandon --stopped`` removes
    what was staged and records the run STOPPED (it runs outside ``steps``: the cleanup is not stopped). A stopped
    commit has removed the staging itself.
    """
    run_id = overrides["DS_RUN_ID"]
    code, lines = task.run(["plan"], overrides, log, "plan", steps=steps)
    if code in STOPPED_EXIT_CODES:
        _abandon(task, overrides, log, stopped=True)
    task.check(code, lines, "the plan")
    items = batch_items(task, run_id)
    parallel = int(task.variable(naming.MAX_PARALLEL_ENV) or "10")
    log(f"  batches: {len(items)}, at most {parallel} at once")
    lock = Lock()

    def batch(item: str) -> tuple[int, list[str]] | None:
        """The batch's exit code and lines; None when the run was being stopped before it started."""

        def prefixed(line: str) -> None:
            with lock:
                log(f"  [{item}]{line}")

        result = None
        for attempt in range(BATCH_ATTEMPTS):
            if steps.stopping:
                break
            code, lines = task.run(
                None, {"DS_RUN_ID": run_id, "DS_BATCH": item}, prefixed, f"batch-{item}", steps=steps
            )
            result = code, lines
            if code in STOPPED_EXIT_CODES:
                steps.stop()
                break
            if code == 0:
                break
            if attempt + 1 < BATCH_ATTEMPTS:
                prefixed(f" batch {item} failed (exit {code}); retrying it")
        return result

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        results = {
            item: result for item, result in zip(items, pool.map(batch, items), strict=True) if result is not None
        }
    stopped = {item: result for item, result in results.items() if result[0] in STOPPED_EXIT_CODES}
    failed = {item: result for item, result in results.items() if result[0] != 0}
    if stopped or failed:
        _abandon(task, overrides, log, stopped=bool(stopped))
        item, (code, lines) = next(iter((stopped or failed).items()))
        what = "stopped" if stopped else "failed"
        task.check(code, lines, f"batch {item} (of {len(items)}; {len(stopped or failed)} {what})")
    code, lines = task.run(["commit"], overrides, log, "commit", steps=steps)
    task.check(code, lines, "the commit")


def _abandon(task: LocalTask, overrides: Mapping[str, str], log: Callable[[str], None], stopped: bool) -> None:
    """``commit --abandon``: remove the run's staged batches (the Map's Catch) and record the run FAILED, or, with
    ``--stopped``, STOPPED. Not one of the run's stoppable steps: it is the cleanup."""
    task.run(["commit", "--abandon", *(["--stopped"] if stopped else [])], overrides, log, "abandon")
