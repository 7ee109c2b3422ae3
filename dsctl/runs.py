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
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from components import naming
from dsctl.envs import Connection, Environment, client
from dsctl.models import error_code, is_not_found
from dsctl.output import EXIT_FAILED, CommandError

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
FAILED = ("FAILED", "TIMED_OUT", "ABORTED")
_sleep = time.sleep
"""How ``wait_for`` waits between polls (looked up at call time, so tests can finish the run meanwhile)."""


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
        _sleep(poll_seconds)


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


def recent_executions(conn: Connection, limit: int = 3) -> list[dict[str, Any]]:
    """The newest executions of the env's state machine."""
    sfn = client(conn.session, "stepfunctions")
    response = sfn.list_executions(stateMachineArn=conn.env.state_machine_arn, maxResults=limit)
    return [
        {"name": e["name"], "status": e["status"], "started": e["startDate"], "stopped": e.get("stopDate")}
        for e in response["executions"][:limit]
    ]
