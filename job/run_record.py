"""A small record of every run, failed ones included: ``runs/{run_id}.json`` beside ``processed/``.

Step Functions lists finished executions for about 90 days, and a failed run publishes
nothing under ``processed/``, so without this record a failed run leaves no trace an
operator can list. The job writes it when the run starts (``RUNNING``) and again when it
ends (``SUCCEEDED``, ``SKIPPED``, ``FAILED`` with the exit code and message, or ``STOPPED`` when a signal
ended it: ``dsctl runs stop``, ECS's StopTask, Ctrl-C); the local
runner runs this same code, so ``dsctl runs list/show`` read one format everywhere. A run
killed by SIGKILL or out-of-memory stays ``RUNNING`` here; ``dsctl`` then takes the final
state from Step Functions while it still has it.

Writing the record never fails the run: it is history, not output.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from job.errors import ExitCode, JobError, Stopped
from job.outputs import OutputRoot, open_root

if TYPE_CHECKING:
    from job.run import RunOptions, RunResult, RunSpec

log = logging.getLogger(__name__)

RUNS_PREFIX = "runs/"  # copy of components.naming.RUNS_PREFIX (tests/test_contract_constants.py)
LOG_STREAM_ENV = "DS_LOG_STREAM"
"""Optional: the run's log stream name, when the platform tells the container (shown by ``dsctl runs show``)."""


def record_key(run_id: str) -> str:
    """``runs/{run_id}.json``."""
    return f"{RUNS_PREFIX}{run_id}.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write(root: OutputRoot, record: dict[str, Any]) -> None:
    try:
        root.put(record_key(record["run_id"]), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    except Exception as exc:  # history must not fail the run it describes
        log.warning("could not write the run record %s: %s", record_key(record["run_id"]), exc)


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, JobError):
        return {"exit_code": int(exc.code), "error": exc.code.name, "message": exc.message}
    if isinstance(exc, (KeyboardInterrupt, Stopped)):  # the exit codes job.cli.main returns for them
        code = 128 + (signal.SIGTERM if isinstance(exc, Stopped) else signal.SIGINT)
        return {"exit_code": code, "error": "STOPPED", "message": "stopped by a signal; nothing was published"}
    return {"exit_code": int(ExitCode.UNEXPECTED), "error": "UNEXPECTED", "message": repr(exc)}


def _summary(result: RunResult) -> dict[str, Any]:
    manifest = result.manifest or {}
    keys = ("rows_in", "rows_out", "rows_rejected", "rejected_by_reason", "model", "input", "timings")
    return {key: manifest[key] for key in keys if key in manifest}


def _started(root: OutputRoot, run_id: str) -> str | None:
    """When an earlier step of this run (a scaled-out run's plan) recorded its start, if it did."""
    try:
        return str(json.loads(root.read(record_key(run_id)))["started"])
    except Exception:  # no record, or unreadable: the step starts the record afresh
        return None


def recorded(
    spec: RunSpec, options: RunOptions, run: Callable[[RunSpec, RunOptions], RunResult], *, resume: bool = False
) -> RunResult:
    """Run ``run(spec, options)`` with its record written before and after; the run id is fixed here first.

    ``resume``: a later step of a run already recorded (a scaled-out run's commit): keep the recorded start time.
    """
    from job.run import check_run_id, new_run_id  # job.run calls this module: import at call time

    options = replace(options, run_id=check_run_id(options.run_id or new_run_id()))
    run_id = str(options.run_id)
    root = open_root(spec.output)
    record: dict[str, Any] = {
        "run_id": run_id,
        "environment": options.environment,
        "status": "RUNNING",
        "started": (_started(root, run_id) if resume else None) or _now(),
        "input": spec.input,
        "model": {"url": spec.model, "sha256": spec.model_sha256},
        "output": f"{root.url.rstrip('/')}/processed/{run_id}/",
        "log_stream": os.environ.get(LOG_STREAM_ENV),
    }
    _write(root, record)
    try:
        result = run(spec, options)
    except BaseException as exc:
        status = "STOPPED" if isinstance(exc, (KeyboardInterrupt, Stopped)) else "FAILED"
        _write(root, {**record, "status": status, "finished": _now(), **_failure(exc)})
        raise
    status = "SUCCEEDED" if result.status == "published" else result.status.upper()
    _write(root, {**record, **_summary(result), "status": status, "finished": _now(), "exit_code": 0})
    return result
