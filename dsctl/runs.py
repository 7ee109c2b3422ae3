"""Pipeline runs: start the state machine, follow an execution, read a run's manifest.

Execution names double as run ids (the state machine passes ``$$.Execution.Name`` to
the job as ``DS_RUN_ID``, CONTRACTS §4), so a readable name such as
``run-20261127-101500-a1b2`` is also the ``processed/{run_id}/`` prefix an operator
will look for; the random suffix keeps two runs started in the same second apart.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from components import naming
from dsctl.envs import Connection, Environment, client
from dsctl.follow import TaskWatcher
from dsctl.models import error_code, is_not_found
from dsctl.output import EXIT_FAILED, CommandError

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
FAILED = ("FAILED", "TIMED_OUT", "ABORTED", "STOPPED")
"""Run states that did not publish: an execution's, and the job record's STOPPED (ended by a signal)."""
_sleep = time.sleep
"""How following waits between polls (looked up at call time, so tests can finish the run meanwhile)."""


def pause(seconds: float) -> None:
    """Wait between two polls of a followed run (``_sleep``)."""
    _sleep(seconds)


def execution_name(now: datetime | None = None) -> str:
    """A readable, unique execution name: ``run-YYYYMMDD-HHMMSS-xxxx`` (UTC)."""
    moment = now or datetime.now(UTC)
    return f"run-{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def start_run(conn: Connection, input_key: str | None, name: str | None = None) -> dict[str, Any]:
    """Start the environment's state machine; an empty ``inputKey`` means the ``input-key`` parameter."""
    run_name = name or execution_name()
    sfn = client(conn.session, "stepfunctions")
    try:
        response = sfn.start_execution(
            stateMachineArn=conn.env.state_machine_arn,
            name=run_name,
            input=json.dumps({"inputKey": input_key or ""}),
        )
    except ClientError as err:
        raise CommandError(
            f"cannot start {conn.env.state_machine_arn}: {err}; deploy the stack "
            f"(pulumi up --refresh --stack {conn.env.name}) or check states:StartExecution",
            EXIT_FAILED,
        ) from err
    return {"execution_arn": response["executionArn"], "name": run_name, "started": response["startDate"]}


def wait_for(
    conn: Connection,
    execution_arn: str,
    poll_seconds: float = 5.0,
    on_poll: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll ``describe_execution`` until the execution ends; return its last description."""
    sfn = client(conn.session, "stepfunctions")
    while True:
        description: dict[str, Any] = dict(sfn.describe_execution(executionArn=execution_arn))
        if on_poll:
            on_poll(description)
        if description["status"] in TERMINAL:
            return description
        pause(poll_seconds)


def run_output_url(env: Environment, run_id: str) -> str:
    """Where a run writes its output (CONTRACTS §6)."""
    return f"s3://{env.output_bucket}/{naming.PROCESSED_PREFIX}{run_id}/"


def run_manifest(conn: Connection, run_id: str) -> dict[str, Any] | None:
    """``processed/{run_id}/manifest.json`` of the env's output bucket, or None if the run wrote none."""
    s3 = client(conn.session, "s3")
    try:
        body = s3.get_object(Bucket=conn.env.output_bucket, Key=f"{naming.PROCESSED_PREFIX}{run_id}/manifest.json")[
            "Body"
        ]
    except ClientError as err:
        if is_not_found(error_code(err)):
            return None
        raise
    return dict(json.loads(body.read()))


def latest_run_manifest(conn: Connection) -> dict[str, Any] | None:
    """The newest run manifest under ``processed/`` (by when it was written: scheduled runs have UUID names)."""
    s3 = client(conn.session, "s3")
    newest: tuple[datetime, str] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=conn.env.output_bucket, Prefix=naming.PROCESSED_PREFIX, Delimiter="/"
    ):
        for prefix in page.get("CommonPrefixes", []):
            key = f"{prefix['Prefix']}manifest.json"
            try:
                modified = s3.head_object(Bucket=conn.env.output_bucket, Key=key)["LastModified"]
            except ClientError:
                continue
            if newest is None or modified > newest[0]:
                newest = (modified, prefix["Prefix"][len(naming.PROCESSED_PREFIX) :].rstrip("/"))
    return run_manifest(conn, newest[1]) if newest else None


def counts(manifest: dict[str, Any] | None) -> dict[str, Any]:
    """The row counts of a run manifest (empty when there is none)."""
    if not manifest:
        return {}
    return {key: manifest.get(key) for key in ("run_id", "rows_in", "rows_out", "rows_rejected")}


def as_executions(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs (``list_runs``: failed and local ones included) as ``status`` shows them in its executions column."""
    return [
        {"name": r["run_id"], "status": r["status"], "started": r.get("started"), "stopped": r.get("finished")}
        for r in found
    ]


# --------------------------------------------------------------------------- run history


def execution_arn(env: Environment, run_id: str) -> str:
    """The ARN of execution ``run_id`` of the env's state machine (execution names are the run ids)."""
    return f"{env.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"


def run_record(conn: Connection, run_id: str) -> dict[str, Any] | None:
    """``runs/{run_id}.json`` written by the job (``job.run_record``), or None when the run wrote none."""
    s3 = client(conn.session, "s3")
    try:
        body = s3.get_object(Bucket=conn.env.output_bucket, Key=f"{naming.RUNS_PREFIX}{run_id}.json")["Body"]
    except ClientError as err:
        if is_not_found(error_code(err)):
            return None
        raise
    return dict(json.loads(body.read()))


def _records(conn: Connection) -> list[dict[str, Any]]:
    s3 = client(conn.session, "s3")
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=conn.env.output_bucket, Prefix=naming.RUNS_PREFIX):
        for item in page.get("Contents", []):
            run_id = item["Key"][len(naming.RUNS_PREFIX) :].removesuffix(".json")
            record = run_record(conn, run_id)
            if record is not None:
                found.append(record)
    return found


def _executions(conn: Connection, limit: int) -> dict[str, dict[str, Any]]:
    sfn = client(conn.session, "stepfunctions")
    try:
        response = sfn.list_executions(stateMachineArn=conn.env.state_machine_arn, maxResults=limit)
    except ClientError as err:
        if error_code(err) in ("StateMachineDoesNotExist", "ResourceNotFoundException"):
            return {}
        raise
    return {e["name"]: e for e in response["executions"]}


def _iso(moment: Any) -> str | None:
    return moment.isoformat(timespec="seconds") if isinstance(moment, datetime) else moment


def list_runs(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    """Every run, newest first: the job's records (kept as long as the team keeps them, failed runs included)
    merged with Step Functions' executions (which also show runs that died before writing a record; a record
    still RUNNING whose execution has ended takes the execution's final state: a task killed by SIGKILL or OOM)."""
    executions = _executions(conn, max(limit, 100))
    runs: dict[str, dict[str, Any]] = {}
    for record in _records(conn):
        runs[record["run_id"]] = {**record, "source": "record"}
    for name, execution in executions.items():
        run = runs.setdefault(name, {"run_id": name, "started": _iso(execution["startDate"]), "source": "execution"})
        run["execution_status"] = execution["status"]
        if run.get("status") in (None, "RUNNING") and execution["status"] != "RUNNING":
            run["status"] = execution["status"]
            run.setdefault("finished", _iso(execution.get("stopDate")))
        run.setdefault("status", execution["status"])
    ordered = sorted(runs.values(), key=lambda run: str(run.get("started") or ""), reverse=True)
    return ordered[:limit]


STALE_RECORD = timedelta(hours=24)
"""A RUNNING record with no execution behind it (a local run killed by SIGKILL) stops blocking new runs after this:
longer than any month's run, short enough not to block the next one."""


def running(conn: Connection) -> list[dict[str, Any]]:
    """Runs of the environment that are still running (by their execution or, locally, their record)."""
    now = datetime.now(UTC)
    active = []
    for run in list_runs(conn, limit=100):
        if run.get("status") != "RUNNING":
            continue
        started = datetime.fromisoformat(str(run["started"])) if run.get("started") else now
        if run.get("source") == "record" and "execution_status" not in run and now - started > STALE_RECORD:
            continue
        active.append(run)
    return active


def show_run(conn: Connection, run_id: str) -> dict[str, Any]:
    """Everything known about one run: its record, its manifest (published runs) and its execution."""
    record = run_record(conn, run_id)
    manifest = run_manifest(conn, run_id)
    execution: dict[str, Any] | None = None
    try:
        execution = dict(
            client(conn.session, "stepfunctions").describe_execution(executionArn=execution_arn(conn.env, run_id))
        )
    except ClientError as err:
        if error_code(err) not in ("ExecutionDoesNotExist", "ResourceNotFoundException"):
            raise
    if record is None and manifest is None and execution is None:
        raise CommandError(
            f"no run {run_id} in {conn.env.name} (no record under s3://{conn.env.output_bucket}/{naming.RUNS_PREFIX}, "
            f"no execution); list them: dsctl runs list --env {conn.env.name}",
            EXIT_FAILED,
        )
    shown: dict[str, Any] = {"run_id": run_id, "output": run_output_url(conn.env, run_id), **(record or {})}
    if manifest:
        shown.update({key: manifest[key] for key in ("rows_in", "rows_out", "rows_rejected") if key in manifest})
        shown.update(
            {key: manifest[key] for key in ("rejected_by_reason", "model", "input", "timings") if key in manifest}
        )
        if "rejected_samples" in manifest:
            shown["rejected_samples"] = manifest["rejected_samples"]
    if execution:
        shown["execution"] = {
            "arn": execution["executionArn"],
            "status": execution["status"],
            "started": _iso(execution.get("startDate")),
            "stopped": _iso(execution.get("stopDate")),
            "error": execution.get("error"),
            "cause": execution.get("cause"),
        }
        if shown.get("status") in (None, "RUNNING") and execution["status"] != "RUNNING":
            shown["status"] = execution["status"]
        shown.setdefault("status", execution["status"])
        if not shown.get("log_stream"):  # the job in ECS cannot know its task id: the history names the task
            shown.update(_task_of(conn, execution["executionArn"]))
    return shown


def _task_of(conn: Connection, arn: str) -> dict[str, Any]:
    """The execution's ECS task and its log stream (empty when not submitted, or when the calls are refused)."""
    try:
        view = TaskWatcher(conn, arn).poll()
    except ClientError:
        return {}
    return {key: value for key, value in (("task_arn", view.task_arn), ("log_stream", view.log_stream)) if value}


def log_tail(conn: Connection, stream: str, lines: int) -> list[str]:
    """The last ``lines`` lines of the job's log stream ``stream`` (in the environment's job log group)."""
    response = client(conn.session, "logs").get_log_events(
        logGroupName=naming.log_group(conn.env.name), logStreamName=stream, startFromHead=False, limit=lines
    )
    return [str(event["message"]) for event in response.get("events", [])]


def stop_run(conn: Connection, run_id: str, reason: str) -> dict[str, Any]:
    """Stop execution ``run_id``; ECS sends the task SIGTERM and the job removes its staging area."""
    sfn = client(conn.session, "stepfunctions")
    arn = execution_arn(conn.env, run_id)
    try:
        status = sfn.describe_execution(executionArn=arn)["status"]
    except ClientError as err:
        raise CommandError(
            f"no execution {run_id} in {conn.env.name} ({error_code(err)}); list runs: dsctl runs list "
            f"--env {conn.env.name}",
            EXIT_FAILED,
        ) from err
    if status != "RUNNING":
        raise CommandError(f"run {run_id} is not running (it is {status}); nothing to stop", EXIT_FAILED)
    sfn.stop_execution(executionArn=arn, error="dsctl.Stopped", cause=reason)
    return {"run_id": run_id, "execution_arn": arn, "status": "ABORTED", "cause": reason}


def stop_local_run(conn: Connection, local: Any, run_id: str, reason: str) -> dict[str, Any]:
    """Stop local run ``run_id`` of the local environment ``local``: its job gets SIGTERM, as from ECS's StopTask,
    removes its staging area and records the run as STOPPED; this returns once the job has exited."""
    from dsctl.local.runner import stop_local_run as stop_job  # local mode only: moto is an optional extra

    if not stop_job(local, run_id):
        record = run_record(conn, run_id)
        if record is None:
            raise CommandError(
                f"no run {run_id} in {conn.env.name}; list runs: dsctl runs list --env {conn.env.name}", EXIT_FAILED
            )
        if record.get("status") == "RUNNING":
            raise CommandError(
                f"run {run_id} is recorded RUNNING but no job process of it runs on this machine (killed, or "
                f"started elsewhere): nothing to stop here; a new local run may start",
                EXIT_FAILED,
            )
        raise CommandError(f"run {run_id} is not running (it is {record.get('status')}); nothing to stop", EXIT_FAILED)
    record = run_record(conn, run_id) or {}
    return {
        "run_id": run_id,
        "mode": "local",
        "status": record.get("status", "STOPPED"),
        "exit_code": record.get("exit_code"),
        "cause": reason,
    }


# --------------------------------------------------------------------------- evidence of a successful run


@dataclass(frozen=True)
class Evidence:
    """A published upstream run that ran the digest."""

    run_id: str
    url: str
    """``s3://<output bucket>/processed/<run>/manifest.json``."""


def find_published_run(s3: Any, bucket: str, ran: Callable[[dict[str, Any]], bool]) -> Evidence | None:
    """The newest published run (``_SUCCESS`` beside its manifest) in ``bucket`` whose manifest satisfies ``ran``.

    Published is the job's own test of success (CONTRACTS §6): a manifest without ``_SUCCESS`` is a run in progress
    or one that never published. Image promotion asks for an ``image_digest``, model promotion for a model digest.
    """
    found: list[tuple[str, Evidence]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=naming.PROCESSED_PREFIX, Delimiter="/"
    ):
        for prefix in page.get("CommonPrefixes", []):
            run_prefix = prefix["Prefix"]
            try:
                s3.head_object(Bucket=bucket, Key=f"{run_prefix}_SUCCESS")
                body = s3.get_object(Bucket=bucket, Key=f"{run_prefix}manifest.json")["Body"].read()
            except ClientError as err:
                if is_not_found(error_code(err)):
                    continue  # a run in progress, or one that never published
                raise
            manifest = json.loads(body)
            if isinstance(manifest, dict) and ran(manifest):
                run_id = run_prefix[len(naming.PROCESSED_PREFIX) :].rstrip("/")
                evidence = Evidence(run_id, f"s3://{bucket}/{run_prefix}manifest.json")
                found.append((str(manifest.get("finished", "")), evidence))
    return max(found, key=lambda item: item[0])[1] if found else None
