"""A hand-written stack in the ``SynthResult.to_dict()`` format (CONTRACTS §7), for provisioning unit tests.

Tests of ``dsctl.local.provision`` use it so they exercise every handler without
running the Pulumi program; the end-to-end test uses the real ``dsctl synth``.
"""

from __future__ import annotations

from typing import Any

from components import naming
from components.settings import StackSettings


def _resource(type_: str, name: str, inputs: dict[str, Any], id_: str | None = None) -> dict[str, Any]:
    return {
        "type": type_,
        "name": name,
        "urn": f"urn:pulumi:test::ds-preprocessing::{type_}::{name}",
        "id": id_ or name,
        "parent": None,
        "inputs": inputs,
        "options": {"read": False},
    }


def stack(settings: StackSettings) -> dict[str, Any]:
    """Buckets with their settings, the six parameters, log group, cluster, task definition, state machine."""
    env, account, region = settings.environment, settings.account_id, settings.region
    buckets = [settings.input_bucket_name, settings.output_bucket_name]
    resources: list[dict[str, Any]] = []
    if settings.owns_artifact_store:
        buckets.append(naming.artifact_bucket(env, account, region))
        key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
        resources.append(_resource("aws:kms/key:Key", "artifact-key", {"enableKeyRotation": True}, key_id))
        resources.append(
            _resource(
                "aws:kms/alias:Alias",
                "artifact-key-alias",
                {"name": naming.artifact_key_alias(env), "targetKeyId": key_id},
            )
        )
    for bucket in buckets:
        resources += [
            _resource("aws:s3/bucket:Bucket", bucket, {"bucket": bucket, "forceDestroy": False}),
            _resource(
                "aws:s3/bucketVersioning:BucketVersioning",
                f"{bucket}-versioning",
                {"bucket": bucket, "versioningConfiguration": {"status": "Enabled"}},
            ),
            _resource(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                f"{bucket}-sse",
                {"bucket": bucket, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
            ),
            _resource(
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                f"{bucket}-pab",
                {
                    "bucket": bucket,
                    "blockPublicAcls": True,
                    "blockPublicPolicy": True,
                    "ignorePublicAcls": True,
                    "restrictPublicBuckets": True,
                },
            ),
        ]
    values = {
        naming.PARAM_INPUT_BUCKET: settings.input_bucket_name,
        naming.PARAM_OUTPUT_BUCKET: settings.output_bucket_name,
        naming.PARAM_ARTIFACT_BUCKET: settings.artifact_bucket_name,
        naming.PARAM_INPUT_KEY: settings.input_key,
        naming.PARAM_MODEL_KEY: naming.NO_MODEL_SENTINEL,
        naming.PARAM_MODEL_SHA256: naming.NO_MODEL_SENTINEL,
    }
    for key, value in values.items():
        resources.append(
            _resource(
                "aws:ssm/parameter:Parameter",
                key,
                {"name": settings.parameter_name(key), "type": "String", "value": value},
            )
        )
    resources.append(
        _resource("aws:cloudwatch/logGroup:LogGroup", "logs", {"name": naming.log_group(env), "retentionInDays": 7})
    )
    resources.append(_resource("aws:ecs/cluster:Cluster", "cluster", {"name": naming.CLUSTER}))
    resources.append(
        _resource(
            "aws:ecs/taskDefinition:TaskDefinition",
            "task",
            {
                "family": naming.TASK_FAMILY,
                "cpu": str(settings.task_cpu),
                "memory": str(settings.task_memory),
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "taskRoleArn": f"arn:aws:iam::{account}:role/{naming.task_role(env)}",
                "executionRoleArn": f"arn:aws:iam::{account}:role/{naming.execution_role(env)}",
                "containerDefinitions": [
                    {
                        "name": naming.CONTAINER_NAME,
                        "image": f"{account}.dkr.ecr.{region}.amazonaws.com/ds-preprocessing@sha256:" + "0" * 64,
                        "essential": True,
                        "entryPoint": ["python", "-m", "job"],
                        "command": ["run"],
                        "readonlyRootFilesystem": True,
                        "unknownWireKey": "dropped by fit_to_shape",
                        "environment": [
                            {"name": "DS_PARAMETER_PREFIX", "value": settings.parameter_prefix},
                            {"name": "DS_ENVIRONMENT", "value": env},
                            {"name": "AWS_REGION", "value": region},
                            {"name": "AWS_DEFAULT_REGION", "value": region},
                        ],
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": naming.log_group(env),
                                "awslogs-region": region,
                                "awslogs-stream-prefix": "job",
                            },
                        },
                    }
                ],
            },
        )
    )
    resources.append(
        _resource(
            "aws:sfn/stateMachine:StateMachine",
            "pipeline",
            {
                "name": naming.STATE_MACHINE,
                "roleArn": f"arn:aws:iam::{account}:role/{naming.state_machine_role(env)}",
                "definition": {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}},
            },
        )
    )
    resources.append(_resource("aws:iam/role:Role", "task-role", {"name": naming.task_role(env)}))
    return {"project": "ds-preprocessing", "stack": settings.stack, "resources": resources, "outputs": {}}
