"""``python -m job plan``: split a run's many input objects into size-balanced batches (the scale-out issue).

A month given as a prefix of many CSV / CSV.gz objects is processed by several tasks at
once: this step lists the objects and writes, into the run's staging area,

- ``plan.json``: the run-level facts every later step must agree on (the objects of each
  batch with their sizes and ETags, and the model pinned by digest, so a promotion during
  the run cannot give two batches two models), and
- ``items.json``: the JSON array a Step Functions Distributed Map reads (``ItemReader``),
  one ``{"batch": "N"}`` per batch: a task is told only its batch number, never its keys
  (ECS container overrides are limited to 8 KB).

Batches are balanced by object *size* (greedy, largest object first onto the lightest
batch): ``ItemBatcher``'s ``MaxInputBytesPerBatch`` limits the JSON of a batch, not the
bytes its task reads. There are as many batches as the run may have tasks at once
(``maxParallelTasks``, ``$DS_MAX_PARALLEL_TASKS``), fewer when there are fewer non-empty
objects: one wave of tasks, each with an equal share, so the run's wall time is one
task's time on ``total / tasks`` bytes and each task's time stays within the task
timeout a single run already has.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from job.errors import ExitCode, JobError
from job.model_source import fetch_model
from job.outputs import OutputRoot, clear_staging, is_published, open_root, run_prefix, staging_prefix
from job.run import RunOptions, RunResult, RunSpec, check_run_id, new_run_id, refuse_a_run_as_root
from job.sources import InputObject, resolve_inputs

log = logging.getLogger(__name__)

MAX_PARALLEL_ENV = "DS_MAX_PARALLEL_TASKS"  # copy of components.naming.MAX_PARALLEL_ENV
"""Set by the task definition from the stack's ``maxParallelTasks`` (components/pipeline_definition.py)."""
DEFAULT_MAX_PARALLEL = 10
BATCH_ENV = "DS_BATCH"
"""The batch a task processes (the Distributed Map's item), as the state machine passes it."""
BATCHES_DIR = "batches/"  # copy of components.naming.BATCHES_DIR (tests/test_contract_constants.py)
PLAN_FILE = "plan.json"
ITEMS_FILE = "items.json"  # copy of components.naming.BATCH_ITEMS_FILE: what the Distributed Map's ItemReader reads
COUNTS_FILE = "counts.json"


def batches_staging(run_id: str) -> str:
    """``_staging/{run_id}/batches/``: the plan, and each batch's staged output under ``{NNNNN}/``."""
    return f"{staging_prefix(run_id)}{BATCHES_DIR}"


def batch_dir(index: int) -> str:
    """A batch's directory inside ``batches_staging`` (zero-padded, so names sort as numbers)."""
    return f"{index:05d}/"


@dataclass(frozen=True)
class Batch:
    """One task's share of the input."""

    index: int
    objects: tuple[InputObject, ...]

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.index, "bytes": self.bytes, "objects": [o.to_dict() for o in self.objects]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        return cls(int(data["batch"]), tuple(InputObject(**o) for o in data["objects"]))


def balance(objects: tuple[InputObject, ...] | list[InputObject], tasks: int) -> list[Batch]:
    """Objects into at most ``tasks`` batches of nearly equal bytes (longest-processing-time-first greedy).

    Largest object first onto the lightest batch: within 4/3 of the best split, and exact when sizes are equal.
    Empty objects (0 bytes) still join a batch, so the run's manifest lists every object it read. Each batch's
    objects keep the listing's (sorted) order.
    """
    non_empty = [o for o in objects if o.size > 0]
    count = max(1, min(tasks, len(non_empty)))
    heap = [(0, i) for i in range(count)]
    members: list[list[InputObject]] = [[] for _ in range(count)]
    for obj in sorted(objects, key=lambda o: (-o.size, o.url)):
        load, index = heapq.heappop(heap)
        members[index].append(obj)
        heapq.heappush(heap, (load + obj.size, index))
    order = {o.url: i for i, o in enumerate(objects)}
    return [Batch(i, tuple(sorted(m, key=lambda o: order[o.url]))) for i, m in enumerate(members)]


def max_parallel_tasks() -> int:
    """``$DS_MAX_PARALLEL_TASKS`` (the stack's ``maxParallelTasks``), else 10; USAGE when not a positive integer."""
    raw = os.environ.get(MAX_PARALLEL_ENV, "").strip() or str(DEFAULT_MAX_PARALLEL)
    if not raw.isdigit() or int(raw) < 1:
        raise JobError(ExitCode.USAGE, f"{MAX_PARALLEL_ENV}={raw!r} is invalid — set a positive integer")
    return int(raw)


@dataclass(frozen=True)
class Plan:
    """What ``plan.json`` holds."""

    run_id: str
    input: str
    model_url: str
    model_sha256: str
    batches: tuple[Batch, ...]
    created: str
    overwrite: bool = False  # the run replaces a published run of the same id (``plan --overwrite``)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "input": self.input,
            "model": {"url": self.model_url, "sha256": self.model_sha256},
            "created": self.created,
            "overwrite": self.overwrite,
            "bytes": sum(b.bytes for b in self.batches),
            "batches": [b.to_dict() for b in self.batches],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            str(data["run_id"]),
            str(data["input"]),
            str(data["model"]["url"]),
            str(data["model"]["sha256"]),
            tuple(Batch.from_dict(b) for b in data["batches"]),
            str(data["created"]),
            bool(data.get("overwrite", False)),
        )

    @property
    def objects(self) -> list[InputObject]:
        """Every object of the run, in listing order."""
        return sorted((o for b in self.batches for o in b.objects), key=lambda o: o.url)


def write_plan(root: OutputRoot, plan: Plan) -> None:
    """Start the run's batch staging afresh (a rerun's leftovers go), then write ``plan.json`` and ``items.json``.

    ``items.json`` last: the Distributed Map starts only from a complete plan.
    """
    staging = batches_staging(plan.run_id)
    clear_staging(root, staging)
    root.put(staging + PLAN_FILE, (json.dumps(plan.to_dict(), indent=1) + "\n").encode())
    items = [{"batch": str(b.index)} for b in plan.batches]
    root.put(staging + ITEMS_FILE, (json.dumps(items) + "\n").encode())


def read_plan(root: OutputRoot, run_id: str) -> Plan:
    """The run's plan; USAGE naming the fix when the run was not planned (or its staging was cleaned up)."""
    rel = batches_staging(run_id) + PLAN_FILE
    if not root.exists(rel):
        raise JobError(
            ExitCode.USAGE,
            f"run {run_id} has no batch plan at {root.url.rstrip('/')}/{rel} — run `python -m job plan` with the "
            "same run id first (a failed run's staging is removed: plan it again)",
        )
    plan = Plan.from_dict(json.loads(root.read(rel)))
    if plan.run_id != run_id:
        raise JobError(ExitCode.UNEXPECTED, f"{rel} belongs to run {plan.run_id}, not {run_id}")
    return plan


def new_plan(
    run_id: str, input_spec: str, objects: list[InputObject], model_url: str, sha256: str, overwrite: bool = False
) -> Plan:
    """Balance ``objects`` over the allowed number of tasks."""
    batches = tuple(balance(objects, max_parallel_tasks()))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return Plan(run_id, input_spec, model_url, sha256, batches, created, overwrite)


def already_published(root: OutputRoot, run_id: str, overwrite: bool, step: str) -> bool:
    """Whether this step of the run has nothing to do: the run id is published (and not to be overwritten)."""
    if overwrite or not is_published(root, run_id):
        return False
    log.info(
        "run %s is already published at %s%s — %s: nothing to do (plan with --overwrite to redo it)",
        run_id,
        root.url.rstrip("/") + "/",
        run_prefix(run_id),
        step,
    )
    return True


def published_skip(root: OutputRoot, run_id: str, step: str) -> bool:
    """Whether a batch or the commit has nothing to do: the run is published and its plan (if any) does not
    overwrite it — a rerun of a finished run changes nothing."""
    if not is_published(root, run_id):
        return False
    rel = batches_staging(run_id) + PLAN_FILE
    if root.exists(rel) and json.loads(root.read(rel)).get("overwrite"):
        return False
    return already_published(root, run_id, False, step)


def plan_run(spec: RunSpec, options: RunOptions) -> RunResult:
    """List the input, pin the model, and write the batch plan into the run's staging (nothing is published)."""
    run_id = check_run_id(options.run_id or new_run_id())
    root = open_root(spec.output)
    refuse_a_run_as_root(root)
    target = f"{root.url.rstrip('/')}/{run_prefix(run_id)}"
    if already_published(root, run_id, options.overwrite, "plan"):
        return RunResult(run_id, "skipped", output=target)
    loaded = fetch_model(spec.model, spec.model_sha256, spec.artifact_store)  # fail before any task starts
    inputs = resolve_inputs(spec.input)
    plan = new_plan(run_id, spec.input, list(inputs.objects), loaded.url, loaded.sha256, options.overwrite)
    try:
        write_plan(root, plan)
    except BaseException:
        clear_staging(root, batches_staging(run_id))
        raise
    sizes = [b.bytes for b in plan.batches]
    log.info(
        "run %s: planned %d batch(es) over %d object(s), %d bytes (batch sizes %d..%d bytes); model %s",
        run_id,
        len(plan.batches),
        len(inputs.objects),
        sum(sizes),
        min(sizes),
        max(sizes),
        loaded.model.version,
        extra={"fields": {"run_id": run_id, "batches": len(plan.batches), "objects": len(inputs.objects)}},
    )
    summary = {"input": {"objects": len(inputs.objects), "bytes": sum(sizes), "batches": len(plan.batches)}}
    return RunResult(run_id, "running", summary, target)  # the run goes on: its record stays RUNNING
