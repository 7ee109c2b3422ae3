"""The steps of a scaled-out run from the command line: ``plan``, ``run --batch N``, ``commit``.

Locations come as for ``run`` (SSM, or --input/--model/--output). In an environment (SSM
mode) the steps share the run's record and lease the way one ``run`` does, spread over
the steps: the plan writes the record (``RUNNING``) and takes the lease and keeps it for
the batches; each batch takes the lease over by run id, renews it while it works and
keeps it for its siblings, the commit and its own retry; the commit (or ``--abandon``)
writes the final record and releases the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from job.batches import required_run_id, run_batch
from job.commit import commit_run
from job.lease import leased
from job.outputs import is_published, open_root
from job.plan import plan_run, read_plan
from job.run import RunOptions, RunResult, RunSpec, resolve_spec
from job.run_record import recorded

Step = Callable[[RunSpec, RunOptions], RunResult]
Locations = tuple[str | None, str | None, str | None, str | None, str | None]
"""--input, --model, --output, --model-sha256, --parameter-prefix."""


def plan_from_args(locations: Locations, options: RunOptions) -> RunResult:
    """``python -m job plan``."""
    spec, environment_run = resolve_spec(*locations)
    if environment_run:
        return recorded(spec, options, leased(plan_run, keep_on_success=True))
    return plan_run(spec, options)


def batch_from_args(locations: Locations, options: RunOptions, batch: int) -> RunResult:
    """``python -m job run --batch N``: no record of its own (the run's record belongs to plan and commit)."""
    run_id = required_run_id(options, f"batch {batch}")
    spec, environment_run = resolve_spec(*locations)
    step: Step = partial(run_batch, index=batch)
    if environment_run:
        root = open_root(spec.output)
        if not is_published(root, run_id):
            read_plan(root, run_id)  # the lease is kept for the run's next steps: only a planned run's
        return leased(step, keep_on_success=True, keep_on_failure=True)(spec, options)
    return step(spec, options)


def commit_from_args(
    locations: Locations, options: RunOptions, abandon: bool = False, stopped: bool = False
) -> RunResult:
    """``python -m job commit [--abandon] [--stopped]`` (``--stopped`` abandons too)."""
    required_run_id(options, "commit")
    spec, environment_run = resolve_spec(*locations)
    step: Step = partial(commit_run, abandon=abandon or stopped, stopped=stopped)
    if environment_run:
        return recorded(spec, options, leased(step), resume=True)
    return step(spec, options)
