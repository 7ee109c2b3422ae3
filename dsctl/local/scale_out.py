"""The state machine's scale-out path, run locally: plan, the batches in parallel processes, commit.

What the Distributed Map does in AWS (components/pipeline_definition.py) is done here with
subprocesses of the same container command: the plan task, then one task per item of the
plan's ``items.json`` (``DS_BATCH`` in its environment, as the Map's container override
sets it), at most ``DS_MAX_PARALLEL_TASKS`` (the task definition's ``maxParallelTasks``)
at once, each retried once when it fails (the Map's Retry), then the commit task; when a
batch fails for good, ``commit --abandon`` removes the staged batches and the run fails,
as the Map's Catch does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from threading import Lock

from botocore.exceptions import ClientError

from components import naming
from dsctl.local.runner import LocalTask
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


def run_batched(task: LocalTask, overrides: Mapping[str, str], log: Callable[[str], None]) -> None:
    """plan → batches (bounded parallelism, one retry each) → commit; CommandError when the run failed."""
    run_id = overrides["DS_RUN_ID"]
    code, lines = task.run(["plan"], overrides, log, "plan")
    task.check(code, lines, "the plan")
    items = batch_items(task, run_id)
    parallel = int(task.variable(naming.MAX_PARALLEL_ENV) or "10")
    log(f"  batches: {len(items)}, at most {parallel} at once")
    lock = Lock()

    def batch(item: str) -> tuple[int, list[str]]:
        def prefixed(line: str) -> None:
            with lock:
                log(f"  [{item}]{line}")

        for attempt in range(BATCH_ATTEMPTS):
            code, lines = task.run(None, {"DS_RUN_ID": run_id, "DS_BATCH": item}, prefixed, f"batch-{item}")
            if code == 0:
                break
            if attempt + 1 < BATCH_ATTEMPTS:
                prefixed(f" batch {item} failed (exit {code}); retrying it")
        return code, lines

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        results = dict(zip(items, pool.map(batch, items), strict=True))
    failed = {item: result for item, result in results.items() if result[0] != 0}
    if failed:
        task.run(["commit", "--abandon"], overrides, log, "abandon")
        item, (code, lines) = next(iter(failed.items()))
        task.check(code, lines, f"batch {item} (of {len(items)}; {len(failed)} failed)")
    code, lines = task.run(["commit"], overrides, log, "commit")
    task.check(code, lines, "the commit")
