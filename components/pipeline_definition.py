"""Pure builders for the pipeline's two JSON documents: the container definitions and the state machine.

Kept free of Pulumi so the job contract (CONTRACTS.md section 4) and the Step Functions
definition can be unit-tested and validated (asl-validator) from plain dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components import naming

JOB_USER = "10001:10001"
"""Non-root user the job runs as (the image's Dockerfile creates the same uid)."""
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/tmp"
"""The only writable path in the container (root filesystem is read-only)."""


def job_environment(
    parameter_prefix: str, environment: str, region: str, image_digest: str, max_parallel_tasks: int = 10
) -> list[dict[str, str]]:
    """The environment the job reads (CONTRACTS.md section 4); ``DS_IMAGE_DIGEST`` is what the job records as the
    image that ran (the container cannot learn its own digest otherwise without the task metadata endpoint);
    ``DS_MAX_PARALLEL_TASKS`` is how many batches the job's plan makes of a month given as a prefix (the local
    runner reads it from here too)."""
    values = {
        naming.IMAGE_DIGEST_ENV: image_digest,
        naming.MAX_PARALLEL_ENV: str(max_parallel_tasks),
        "DS_PARAMETER_PREFIX": parameter_prefix,
        "DS_ENVIRONMENT": environment,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "TMPDIR": SCRATCH_PATH,
    }
    return [{"name": key, "value": value} for key, value in values.items()]


def container_definitions(
    *,
    image: str,
    image_digest: str,
    parameter_prefix: str,
    environment: str,
    region: str,
    log_group: str,
    max_parallel_tasks: int = 10,
) -> list[dict[str, Any]]:
    """One essential container: ``python -m job run``, non-root, read-only root, logs to CloudWatch."""
    return [
        {
            "name": naming.CONTAINER_NAME,
            "image": image,
            "essential": True,
            "entryPoint": ["python", "-m", "job"],
            "command": ["run"],
            "user": JOB_USER,
            "readonlyRootFilesystem": True,
            # No "privileged" key at all: it is not a valid task definition parameter on Fargate.
            "linuxParameters": {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True},
            "environment": job_environment(parameter_prefix, environment, region, image_digest, max_parallel_tasks),
            "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": SCRATCH_PATH, "readOnly": False}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": "job"},
            },
            "stopTimeout": 60,
        }
    ]


PREFIX_PATTERN = "*/"
"""An ``inputKey`` matching this (ending in ``/``) names a prefix of many objects: the run goes through the plan,
the Distributed Map of batches and the commit (the scale-out path); any other key runs as one task."""


def is_prefix(input_key: str) -> bool:
    """Whether ``input_key`` takes the scale-out path (what the state machine's Choice tests with PREFIX_PATTERN)."""
    return input_key.endswith("/")


# Execution input `{"inputKey": "..."}` is optional: merge it over defaults so the path always exists.
# The defaults are a plain JSON object in a Pass state's Parameters, not a string literal inside an intrinsic:
# in intrinsic literals `{`, `}`, `'` and `\\` are reserved and must be escaped, and States.JsonMerge takes paths.
DEFAULT_INPUT: dict[str, str] = {"inputKey": ""}

# Retry policy of the job's Task state (used in the definition and in the execution's time budget below).
START_RETRY = {"IntervalSeconds": 30, "MaxAttempts": 3, "BackoffRate": 2.0}  # ECS could not start the task
JOB_RETRY = {"IntervalSeconds": 120, "MaxAttempts": 1, "BackoffRate": 2.0}  # the job itself failed
# Room after the last attempt for the failure notification and the task's stop (stopTimeout is 60 s).
NOTIFY_MARGIN_SECONDS = 300


def _retry_waits(retry: dict[str, float]) -> int:
    """Total seconds a Retry rule waits between its attempts (interval x backoff^n)."""
    return int(sum(retry["IntervalSeconds"] * retry["BackoffRate"] ** n for n in range(int(retry["MaxAttempts"]))))


def execution_timeout_seconds(task_timeout_seconds: int) -> int:
    """The whole execution's limit: every job attempt may use its full task timeout, plus the retry waits and time to
    notify. Equal to the task timeout, a timed-out task would end the execution before its Catch could notify."""
    attempts = 1 + int(JOB_RETRY["MaxAttempts"])
    waits = _retry_waits(JOB_RETRY) + attempts * _retry_waits(START_RETRY)
    return attempts * task_timeout_seconds + waits + NOTIFY_MARGIN_SECONDS


def scaled_out_timeout_seconds(task_timeout_seconds: int) -> int:
    """The limit of an execution on the scale-out path: the plan, the batches (one wave: the plan makes at most
    MaxConcurrency batches) and the commit may each use every attempt at its full task timeout."""
    return 3 * (execution_timeout_seconds(task_timeout_seconds) - NOTIFY_MARGIN_SECONDS) + NOTIFY_MARGIN_SECONDS


START_RETRY_ERRORS = ["ECS.AmazonECSException", "ECS.ServerException", "ECS.LimitExceededException"]


def _run_task(
    launch: TaskLaunchParameters,
    environment: list[dict[str, str]],
    command: list[str] | None = None,
) -> dict[str, Any]:
    """``ecs:runTask.sync`` parameters: the job's task with these container overrides (ECS limits them to 8 KB, so
    they carry names and numbers, never a batch's object keys)."""
    override: dict[str, Any] = {"Name": naming.CONTAINER_NAME}
    if command is not None:
        override["Command"] = command
    override["Environment"] = environment
    return {
        "LaunchType": "FARGATE",
        "Cluster": launch.cluster_arn,
        "TaskDefinition": launch.task_definition_arn,
        "PropagateTags": "TASK_DEFINITION",
        "NetworkConfiguration": {
            "AwsvpcConfiguration": {
                "Subnets": list(launch.subnet_ids),
                "SecurityGroups": [launch.security_group_id],
                "AssignPublicIp": "ENABLED" if launch.assign_public_ip else "DISABLED",
            }
        },
        "Overrides": {"ContainerOverrides": [override]},
    }


RUN_ENVIRONMENT = [
    {"Name": "DS_RUN_ID", "Value.$": "$$.Execution.Name"},
    {"Name": "DS_INPUT_KEY", "Value.$": "$.args.inputKey"},
]
"""What every task of an execution is told: its run id (the execution's name) and the input key."""


@dataclass(frozen=True)
class TaskLaunchParameters:
    """Where and how the job's task starts."""

    cluster_arn: str
    task_definition_arn: str
    subnet_ids: Sequence[str]
    security_group_id: str
    assign_public_ip: bool


def _job_task(parameters: dict[str, Any], timeout_seconds: int, retry_job: bool, **fields: Any) -> dict[str, Any]:
    """A runTask.sync Task state: start failures retried with backoff; a failed job retried once when ``retry_job``
    (States.TaskFailed does not match States.Timeout: a timed-out task goes straight to Catch)."""
    retry: list[dict[str, Any]] = [{"ErrorEquals": list(START_RETRY_ERRORS), **START_RETRY}]
    if retry_job:
        retry.append({"ErrorEquals": ["States.TaskFailed"], **JOB_RETRY})
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::ecs:runTask.sync",
        "Parameters": parameters,
        "TimeoutSeconds": timeout_seconds,
        "Retry": retry,
        **fields,
    }


def _catch(next_state: str, result_path: str = "$.error") -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]


def batch_items_key_expression() -> str:
    """The intrinsic that names the plan's ``items.json`` of this execution (``job.plan``: the run's staging)."""
    return (
        f"States.Format('{naming.STAGING_PREFIX}{{}}/{naming.BATCHES_DIR}{naming.BATCH_ITEMS_FILE}', $$.Execution.Name)"
    )


def scale_out_states(
    launch: TaskLaunchParameters, output_bucket: str, max_parallel_tasks: int, timeout_seconds: int
) -> dict[str, Any]:
    """The scale-out path: plan → Distributed Map of batches (one Fargate task each) → commit.

    The Map reads the plan's ``items.json`` (``[{"batch": "0"}, …]``) from the run's staging; each child
    execution (STANDARD: Express does not support ``.sync``) gets only the run id and its batch number. A failed
    batch is retried; one failing for good fails the Map (ToleratedFailureCount 0), whose Catch removes the staged
    batches (``commit --abandon``) and notifies; nothing is published.
    """
    batch_environment = [
        {"Name": "DS_RUN_ID", "Value.$": "$.runId"},
        {"Name": "DS_BATCH", "Value.$": "$.batch"},
    ]
    return {
        "PlanBatches": _job_task(
            _run_task(launch, RUN_ENVIRONMENT, ["plan"]),
            timeout_seconds,
            True,
            Catch=_catch("NotifyFailure"),
            ResultPath=None,
            Next="ProcessBatches",
        ),
        "ProcessBatches": {
            "Type": "Map",
            "Label": "batches",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket": output_bucket, "Key.$": batch_items_key_expression()},
            },
            "ItemSelector": {"runId.$": "$$.Execution.Name", "batch.$": "$$.Map.Item.Value.batch"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "RunBatch",
                "States": {
                    "RunBatch": _job_task(
                        _run_task(launch, batch_environment), timeout_seconds, True, ResultPath=None, End=True
                    )
                },
            },
            "MaxConcurrency": max_parallel_tasks,
            "ToleratedFailureCount": 0,
            "ResultPath": None,
            "Catch": _catch("AbandonBatches"),
            "Next": "CommitBatches",
        },
        "AbandonBatches": _job_task(
            _run_task(launch, RUN_ENVIRONMENT, ["commit", "--abandon"]),
            timeout_seconds,
            False,
            Catch=_catch("NotifyFailure", "$.cleanup"),
            ResultPath="$.cleanup",
            Next="NotifyFailure",
        ),
        "CommitBatches": _job_task(
            # a failed commit has removed the staged batches: a retry could only fail again, so none
            _run_task(launch, RUN_ENVIRONMENT, ["commit"]),
            timeout_seconds,
            False,
            Catch=_catch("NotifyFailure"),
            ResultPath="$.task",
            Next="Succeeded",
        ),
    }


def state_machine_definition(
    *,
    cluster_arn: str,
    task_definition_arn: str,
    subnet_ids: Sequence[str],
    security_group_id: str,
    assign_public_ip: bool,
    topic_arn: str,
    environment: str,
    timeout_seconds: int,
    output_bucket: str,
    max_parallel_tasks: int,
) -> dict[str, Any]:
    """Run the job as a Fargate task and wait for it (a prefix: as batches on parallel tasks); retry transient
    failures; notify and fail otherwise."""
    launch = TaskLaunchParameters(cluster_arn, task_definition_arn, subnet_ids, security_group_id, assign_public_ip)
    return {
        "Comment": f"{naming.stack_label(environment)}: run the preprocessing job on Fargate and wait for it",
        "StartAt": "CollectInput",
        "TimeoutSeconds": scaled_out_timeout_seconds(timeout_seconds),
        "States": {
            "CollectInput": {
                "Type": "Pass",
                "Parameters": {"defaults": dict(DEFAULT_INPUT), "input.$": "$"},
                "Next": "ApplyDefaults",
            },
            "ApplyDefaults": {
                # Shallow merge; on a key in both, the second (the execution input) wins.
                "Type": "Pass",
                "Parameters": {"args.$": "States.JsonMerge($.defaults, $.input, false)"},
                "Next": "ChooseShape",
            },
            "ChooseShape": {
                # A prefix (`raw/2026-10/`) runs as batches on parallel tasks; one object (or the input-key
                # parameter, "") as one task, exactly as before.
                "Type": "Choice",
                "Choices": [{"Variable": "$.args.inputKey", "StringMatches": PREFIX_PATTERN, "Next": "PlanBatches"}],
                "Default": "RunPreprocessingJob",
            },
            # The job failed (e.g. a spot of S3 trouble): one more try; it is idempotent per run id.
            "RunPreprocessingJob": _job_task(
                _run_task(launch, RUN_ENVIRONMENT),
                timeout_seconds,
                True,
                Catch=_catch("NotifyFailure"),
                ResultPath="$.task",
                Next="Succeeded",
            ),
            **scale_out_states(launch, output_bucket, max_parallel_tasks, timeout_seconds),
            "NotifyFailure": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": topic_arn,
                    "Subject": f"{naming.run_label(environment)} failed",
                    # The error output always has `Error` but only "usually" `Cause`: a path that does not exist
                    # fails the state (States.Runtime) and the notification is lost, so send the whole error output.
                    "Message.$": (
                        f"States.Format('{naming.PROJECT} {environment} run {{}} failed: {{}}', "
                        "$$.Execution.Name, States.JsonToString($.error))"
                    ),
                },
                "ResultPath": "$.notification",
                "Next": "Failed",
            },
            "Failed": {"Type": "Fail", "Error": "PreprocessingFailed", "Cause": "the preprocessing job failed"},
            "Succeeded": {"Type": "Succeed"},
        },
    }
