"""Pure builders for the pipeline's two JSON documents: the container definitions and the state machine.

Kept free of Pulumi so the job contract (CONTRACTS.md section 4) and the Step Functions
definition can be unit-tested and validated (asl-validator) from plain dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components import naming

JOB_USER = "10001:10001"
"""Non-root user the job runs as (the image's Dockerfile creates the same uid)."""
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/tmp"
"""The only writable path in the container (root filesystem is read-only)."""


def job_environment(parameter_prefix: str, environment: str, region: str, image_digest: str) -> list[dict[str, str]]:
    """The environment the job reads (CONTRACTS.md section 4); ``DS_IMAGE_DIGEST`` is what the job records as the
    image that ran (the container cannot learn its own digest otherwise without the task metadata endpoint)."""
    values = {
        naming.IMAGE_DIGEST_ENV: image_digest,
        "DS_PARAMETER_PREFIX": parameter_prefix,
        "DS_ENVIRONMENT": environment,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "TMPDIR": SCRATCH_PATH,
    }
    return [{"name": key, "value": value} for key, value in values.items()]


def container_definitions(
    *, image: str, image_digest: str, parameter_prefix: str, environment: str, region: str, log_group: str
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
            "environment": job_environment(parameter_prefix, environment, region, image_digest),
            "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": SCRATCH_PATH, "readOnly": False}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": "job"},
            },
            "stopTimeout": 60,
        }
    ]


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
) -> dict[str, Any]:
    """Run the job as a Fargate task and wait for it; retry transient failures; notify and fail otherwise."""
    return {
        "Comment": f"{naming.stack_label(environment)}: run the preprocessing job on Fargate and wait for it",
        "StartAt": "CollectInput",
        "TimeoutSeconds": execution_timeout_seconds(timeout_seconds),
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
                "Next": "RunPreprocessingJob",
            },
            "RunPreprocessingJob": {
                "Type": "Task",
                "Resource": "arn:aws:states:::ecs:runTask.sync",
                "Parameters": {
                    "LaunchType": "FARGATE",
                    "Cluster": cluster_arn,
                    "TaskDefinition": task_definition_arn,
                    "PropagateTags": "TASK_DEFINITION",
                    "NetworkConfiguration": {
                        "AwsvpcConfiguration": {
                            "Subnets": list(subnet_ids),
                            "SecurityGroups": [security_group_id],
                            "AssignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
                        }
                    },
                    "Overrides": {
                        "ContainerOverrides": [
                            {
                                "Name": naming.CONTAINER_NAME,
                                "Environment": [
                                    {"Name": "DS_RUN_ID", "Value.$": "$$.Execution.Name"},
                                    {"Name": "DS_INPUT_KEY", "Value.$": "$.args.inputKey"},
                                ],
                            }
                        ]
                    },
                },
                "TimeoutSeconds": timeout_seconds,
                "Retry": [
                    {
                        # Capacity, throttling and service errors starting the task: retry with backoff.
                        "ErrorEquals": ["ECS.AmazonECSException", "ECS.ServerException", "ECS.LimitExceededException"],
                        **START_RETRY,
                    },
                    {
                        # The job itself failed (e.g. a spot of S3 trouble): one more try; it is idempotent per run id.
                        # States.TaskFailed does not match States.Timeout: a timed-out task goes straight to Catch.
                        "ErrorEquals": ["States.TaskFailed"],
                        **JOB_RETRY,
                    },
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}],
                "ResultPath": "$.task",
                "Next": "Succeeded",
            },
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
