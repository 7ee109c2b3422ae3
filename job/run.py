"""``python -m job run``: one month, from locations (SSM or arguments) to a published run.

Order matters: the cheap checks that can fail (parameters, already-published, model
digest, input exists, columns, output writable) run before the expensive pass, and
nothing under ``processed/`` is touched until the staged output balances
(``rows_in == rows_out + rows_rejected``). Any failure drops the staging area, so a
failed run leaves nothing that looks published.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from job import s3
from job.drift import measure, summary_line
from job.errors import ExitCode, JobError, Stopped
from job.lease import leased
from job.metrics import put_run_metrics, run_metrics
from job.model_source import LoadedModel, fetch_model
from job.outputs import (
    MANIFEST,
    SUCCESS,
    Attempt,
    OutputRoot,
    S3Root,
    clear_staging,
    is_published,
    open_root,
    run_prefix,
)
from job.params import read_locations
from job.process import (
    REJECTED_FILE,
    VALID_FILE,
    Compression,
    Counts,
    Streamed,
    check_columns,
    count_outputs,
    stream,
)
from job.report import REPORT_FILE, rejected_samples, render
from job.run_record import recorded
from job.sources import Inputs, resolve_inputs
from job.transform import output_schema

log = logging.getLogger(__name__)
# Step Functions execution names (DS_RUN_ID) fit this; "." and ".." are refused (they would climb the key path).
RUN_ID_PATTERN = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9._=-]{1,128}$")
STARTED = "_STARTED"


@dataclass(frozen=True)
class RunSpec:
    """Where one run reads and writes."""

    input: str  # file, directory, glob, s3 object/prefix/glob
    model: str  # model.pkl (or its directory), local or s3://
    output: str  # output root: processed/{run_id}/ goes under it
    model_sha256: str | None = None  # None: from the manifest beside the model
    artifact_store: bool = False  # the model comes from the (possibly cross-account) artifact bucket


@dataclass(frozen=True)
class RunOptions:
    """How to run."""

    run_id: str | None = None
    overwrite: bool = False
    environment: str = "local"
    compression: Compression = "snappy"
    metrics: bool | None = None  # None: send in the container (SSM mode), not for local files
    fail_on_drift: bool = False  # a drifted feature fails the run (exit 13) before anything is published


@dataclass
class RunResult:
    """What a run did: published, or skipped because the run id was already published."""

    run_id: str
    status: str
    manifest: dict[str, Any] | None = None
    output: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def new_run_id() -> str:
    """A run id from the UTC time, e.g. 20261127T101500Z."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def check_run_id(run_id: str) -> str:
    """Run ids become S3 key segments: letters, digits, ``._=-``, at most 128 characters."""
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise JobError(ExitCode.USAGE, f"run id {run_id!r} is invalid — use letters, digits and ._=- (max 128)")
    return run_id


def spec_from_ssm(prefix: str) -> RunSpec:
    """The container's RunSpec: every location from the parameters under ``prefix``."""
    loc = read_locations(prefix)
    if not loc.model_promoted:
        raise JobError(
            ExitCode.MODEL_MISSING,
            f"no model promoted in this environment ({prefix}/model-key is NONE) — run `dsctl model promote VERSION`",
        )
    return RunSpec(
        input=s3.s3_url(loc.input_bucket, loc.input_key),
        model=s3.s3_url(loc.artifact_bucket, loc.model_key),
        output=f"s3://{loc.output_bucket}",
        model_sha256=loc.model_sha256,
        artifact_store=True,
    )


def _input_identity(inputs: Inputs) -> dict[str, Any]:
    first = inputs.objects[0]
    bucket, key = s3.split_s3(inputs.spec) if s3.is_s3(inputs.spec) else (None, inputs.spec)
    single = len(inputs.objects) == 1
    return {
        "bucket": bucket,
        "key": s3.split_s3(first.url)[1] if single and bucket else key,
        "etag": first.etag if single else None,
        "version_id": first.version_id if single else None,
        "objects": [o.to_dict() for o in inputs.objects],
    }


IMAGE_DIGEST_ENV = "DS_IMAGE_DIGEST"
"""Set by the task definition to the image's ``sha256:`` digest (absent when run outside the image: then null)."""


def run_manifest(
    run_id: str,
    environment: str,
    counts: Counts,
    loaded: LoadedModel,
    inputs: Inputs,
    outputs: list[dict[str, Any]],
    timings: dict[str, float],
    drift: dict[str, Any],
) -> dict[str, Any]:
    """The published run's manifest.json (job.commit adds the batches of a scaled-out run to the same shape)."""
    return {
        "run_id": run_id,
        "environment": environment,
        "image_digest": os.environ.get(IMAGE_DIGEST_ENV) or None,
        "rows_in": counts.rows_in,
        "rows_out": counts.rows_out,
        "rows_rejected": counts.rows_rejected,
        "rejected_by_reason": counts.rejected_by_reason,
        "model": {"version": loaded.model.version, "sha256": loaded.sha256, "bucket": loaded.bucket, "key": loaded.key},
        "input": _input_identity(inputs),
        "outputs": outputs,
        "columns": loaded.model.output_columns,
        "output_schema": output_schema(loaded.model),
        "timings": timings,
        "drift": drift,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def stage_and_count(
    attempt: Attempt, headers: dict[str, list[str]], loaded: LoadedModel, options: RunOptions
) -> tuple[Counts, Streamed]:
    root, staging = attempt.root, attempt.staging
    # proves the output is writable before the long pass, and marks this attempt live until its staging is dropped
    root.put(staging + STARTED, b"")
    streamed = stream(headers, loaded.model, root, staging, options.compression)
    rows_in = streamed.rows_in
    rows_out, by_reason = count_outputs(root, staging)
    counts = Counts(rows_in, rows_out, by_reason)
    if not counts.balanced:
        raise JobError(
            ExitCode.ROW_ACCOUNTING,
            f"rows_in {rows_in} != rows_out {rows_out} + rows_rejected {counts.rows_rejected} — refused to publish; "
            "please report this with the input",
        )
    return counts, streamed


def stage_report(
    attempt: Attempt, manifest: dict[str, Any], loaded: LoadedModel, rejected_files: list[str] | None = None
) -> list[str]:
    """Stage report.html (job.report) beside the data; a report that fails to render is a warning, not a failed run.

    ``rejected_files`` are the staged rejected Parquet files (relative to the staging area; default: the one file of a
    single-task run).
    """
    root, staging = attempt.root, attempt.staging
    try:
        targets = [root.target(staging + name) for name in (rejected_files or [REJECTED_FILE])]
        rejected = pl.scan_parquet(targets, storage_options=root.storage_options())
        page = render(manifest, rejected_samples(rejected), loaded.model.summary())
        root.put(staging + REPORT_FILE, page.encode())
    except (pl.exceptions.PolarsError, OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("run %s: no report.html (%s); the data is unaffected", attempt.run_id, exc)
        return []
    return [REPORT_FILE]


def refuse_a_run_as_root(root: OutputRoot) -> None:
    """USAGE when ``--output`` names a run (it holds _SUCCESS or manifest.json) instead of an output root.

    Writing ``processed/{run_id}/`` and ``_staging/`` inside a published run would change
    what its readers trust. A bucket root (the container's output) is never a run, so it is
    not asked (the task role may read only under ``processed/`` and ``_staging/``).
    """
    if isinstance(root, S3Root) and not root.prefix:
        return
    for marker in (SUCCESS, MANIFEST):
        if root.exists(marker):
            raise JobError(
                ExitCode.USAGE,
                f"--output {root.url} holds {marker}: it is a run, not an output root — pass the root "
                "(the directory or s3://bucket[/prefix] that holds processed/); the run goes to ROOT/processed/RUN_ID/",
            )


def run_job(spec: RunSpec, options: RunOptions) -> RunResult:
    """Process one run end to end and publish it; see the module docstring for the order of checks."""
    started = time.perf_counter()
    run_id = check_run_id(options.run_id or new_run_id())
    root = open_root(spec.output)
    refuse_a_run_as_root(root)
    target = f"{root.url.rstrip('/')}/{run_prefix(run_id)}"
    if is_published(root, run_id) and not options.overwrite:
        log.info("run %s is already published at %s — nothing to do (use --overwrite to redo it)", run_id, target)
        return RunResult(run_id, "skipped", output=target)
    loaded = fetch_model(spec.model, spec.model_sha256, spec.artifact_store)
    t_model = time.perf_counter()
    inputs = resolve_inputs(spec.input)
    headers = check_columns(inputs.non_empty, loaded.model)  # without empty ones
    log.info(
        "run %s: %d input file(s) from %s, model %s",
        run_id,
        len(inputs.objects),
        spec.input,
        loaded.model.version,
        extra={"fields": {"run_id": run_id, "model_sha256": loaded.sha256}},
    )
    attempt = Attempt(root, run_id)
    try:
        counts, streamed = stage_and_count(attempt, headers, loaded, options)
        t_process = time.perf_counter()
        drift = measure(loaded.model, streamed.drift_counts)
        check_drift(run_id, drift, options.fail_on_drift)
        staged = [VALID_FILE, REJECTED_FILE]
        outputs = [{"key": run_prefix(run_id) + name, "bytes": root.size(attempt.staging + name)} for name in staged]
        outputs[0]["rows"], outputs[1]["rows"] = counts.rows_out, counts.rows_rejected
        attempt.clear_the_way(options.overwrite)  # a previous run (--overwrite) or the remains of a crashed publish
        timings = {"load_model_s": round(t_model - started, 4), "process_s": round(t_process - t_model, 4)}
        if streamed.checked:
            timings["field_count_check_s"] = round(streamed.check_seconds, 4)
        timings["total_s"] = round(time.perf_counter() - started, 4)
        manifest = run_manifest(run_id, options.environment, counts, loaded, inputs, outputs, timings, drift)
        attempt.publish(
            staged + stage_report(attempt, manifest, loaded), (json.dumps(manifest, indent=2) + "\n").encode()
        )
    except BaseException:
        clean_failed(attempt)
        raise
    elapsed = time.perf_counter() - started
    try:
        after_publish(spec, options, attempt, counts, elapsed, target, drift)
    except (Exception, KeyboardInterrupt, Stopped) as exc:  # the run is published: nothing here may undo that
        log.warning("run %s is published; what followed was cut short: %s", run_id, repr(exc))
    return RunResult(run_id, "published", manifest, target, timings)


def check_drift(run_id: str, drift: dict[str, Any], fail: bool) -> None:
    """Log the drift line; with ``fail``, a drifted feature stops the run here, before anything is published."""
    fields = {"max_psi": drift.get("max_psi"), "drifted_features": drift.get("drifted_features")}
    drifted = drift.get("drifted_features") or []
    log.log(
        logging.WARNING if drifted else logging.INFO,
        "run %s: %s",
        run_id,
        summary_line(drift),
        extra={"fields": fields},
    )
    if fail and drifted:
        psis = ", ".join(f"{name} PSI {drift['features'][name]['psi']:.3f}" for name in drifted)
        raise JobError(
            ExitCode.DRIFT,
            f"run {run_id}: features drifted from the training data ({psis}; threshold {drift['threshold']}) — "
            "nothing was published; retrain on recent data, or rerun without --fail-on-drift to publish anyway",
        )


def after_publish(
    spec: RunSpec,
    options: RunOptions,
    attempt: Attempt,
    counts: Counts,
    elapsed: float,
    target: str,
    drift: dict[str, Any],
) -> None:
    """Drop the staging area, log the outcome, send metrics: none of it may fail a published run."""
    run_id = attempt.run_id
    clear_staging(attempt.root, attempt.staging)
    log.info(
        "run %s published to %s: %d in, %d out, %d rejected in %.1f s",
        run_id,
        target,
        counts.rows_in,
        counts.rows_out,
        counts.rows_rejected,
        elapsed,
        extra={
            "fields": {"rows_in": counts.rows_in, "rows_out": counts.rows_out, "rejected": counts.rejected_by_reason}
        },
    )
    send = options.metrics if options.metrics is not None else spec.artifact_store
    if send:
        put_run_metrics(
            run_metrics(options.environment, elapsed, counts.rows_in, counts.rows_out, counts.rows_rejected, drift)
        )


def clean_failed(attempt: Attempt) -> None:
    """After a failure: drop this attempt's staging and unpublished remains (never another attempt's files)."""
    try:
        attempt.abandon()
    except Exception as exc:  # cleanup must not hide the original error
        log.warning("could not clean up after the failed run %s: %s", attempt.run_id, exc)


def run_from_args(
    input_url: str | None,
    model_url: str | None,
    output_url: str | None,
    model_sha256: str | None,
    parameter_prefix: str | None,
    options: RunOptions,
) -> RunResult:
    """Local mode when --input/--model/--output are given (all three), else SSM mode."""
    spec, environment_run = resolve_spec(input_url, model_url, output_url, model_sha256, parameter_prefix)
    if environment_run:
        # an environment's run (the container, the local runner): recorded in runs/{run_id}.json, failed ones
        # too, and under the environment's lease (one run at a time; job.lease)
        return recorded(spec, options, leased(run_job))
    return run_job(spec, options)


def resolve_spec(
    input_url: str | None,
    model_url: str | None,
    output_url: str | None,
    model_sha256: str | None,
    parameter_prefix: str | None,
) -> tuple[RunSpec, bool]:
    """The run's locations, and whether it is an environment's run (SSM mode: recorded and leased).

    Local mode when --input/--model/--output are given (all three), else SSM mode; shared by ``run``, ``plan``,
    ``run --batch`` and ``commit``.
    """
    s3.reset_clients()
    given = {"--input": input_url, "--model": model_url, "--output": output_url}
    if any(given.values()):
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise JobError(ExitCode.USAGE, f"local runs need --input, --model and --output; missing {missing}")
        return RunSpec(str(input_url), str(model_url), str(output_url), model_sha256), False
    if parameter_prefix:
        return spec_from_ssm(parameter_prefix), True
    raise JobError(
        ExitCode.PARAMETER_MISSING,
        "DS_PARAMETER_PREFIX is not set — set it (e.g. /ds/preprocessing) or pass --input, --model and --output",
    )
