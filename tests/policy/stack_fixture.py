"""A hand-written, compliant dev stack in the synth format, for rule tests that must not depend on the program.

Wire-form (camelCase) inputs as pulumi-aws 7 sends them, documents already parsed (as ``dsctl.synth`` presents
them). Each rule test breaks one thing of a deep copy and expects exactly that rule to fire.
"""

from __future__ import annotations

import copy
from typing import Any

from policy.rules import RuleContext

DEV = "123456789012"
PROD = "987654321098"
REGION = "us-east-1"
ARTIFACTS = f"ds-artifacts-dev-{DEV}-{REGION}"
INPUT = f"ds-input-dev-{DEV}-{REGION}"
KEY_ARN = f"arn:aws:kms:{REGION}:{DEV}:key/11111111-2222-3333-4444-555555555555"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{DEV}:stateMachine:ds-preprocessing-pipeline"

DEV_CONTEXT = RuleContext(environment="dev", account_id=DEV, region=REGION, reader_accounts=(PROD,))
PROD_CONTEXT = RuleContext(
    environment="prod",
    account_id=PROD,
    region=REGION,
    ci_principal_arn=f"arn:aws:iam::{DEV}:role/ds-preprocessing-ci",
    require_failed_execution_alarm=True,
)


def _urn(token: str, name: str) -> str:
    return f"urn:pulumi:dev::ds-preprocessing::{token}::{name}"


def res(token: str, name: str, inputs: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    """One resource in the synth format."""
    return {"type": token, "name": name, "urn": _urn(token, name), "id": name, "parent": parent, "inputs": inputs}


def _tls_deny(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _reader_grant(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "ReadersReadModels",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PROD}:root"},
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"arn:aws:s3:::{bucket}/models/*",
        "Condition": {"ArnLike": {"aws:PrincipalArn": [f"arn:aws:iam::{PROD}:role/ds-preprocessing-task-*"]}},
    }


def secure_bucket(name: str, logical: str, extra_statements: list[dict[str, Any]] | None = None) -> list[dict]:
    """A SecureBucket component's children, as H1's component creates them."""
    parent = _urn("ds:storage:SecureBucket", logical)
    return [
        res("aws:s3/bucket:Bucket", logical, {"bucket": name, "forceDestroy": False}, parent),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{logical}-public-access",
            {
                "bucket": name,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            parent,
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{logical}-sse",
            {
                "bucket": name,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            parent,
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"{logical}-versioning",
            {"bucket": name, "versioningConfiguration": {"status": "Enabled"}},
            parent,
        ),
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{logical}-policy",
            {
                "bucket": name,
                "policy": {"Version": "2012-10-17", "Statement": [_tls_deny(name), *(extra_statements or [])]},
            },
            parent,
        ),
    ]


def compliant_stack() -> list[dict[str, Any]]:
    """Resources of a dev stack that every rule accepts (with the prod-alarm rule also satisfied)."""
    task_role = f"arn:aws:iam::{DEV}:role/ds-preprocessing-task-dev"
    resources = [
        *secure_bucket(ARTIFACTS, "artifacts", [_reader_grant(ARTIFACTS)]),
        *secure_bucket(INPUT, "input"),
        res(
            "aws:kms/key:Key",
            "artifacts-key",
            {
                "enableKeyRotation": True,
                "policy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministers",
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{DEV}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "ReadersDecryptViaS3",
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{PROD}:root"},
                            "Action": "kms:Decrypt",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
                                "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{PROD}:role/ds-preprocessing-operator"},
                            },
                        },
                    ],
                },
            },
        ),
        res(
            "aws:iam/role:Role",
            "task-role",
            {
                "name": "ds-preprocessing-task-dev",
                "assumeRolePolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
            },
        ),
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "task-role-policy",
            {
                "role": "ds-preprocessing-task-dev",
                "policy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject"],
                            "Resource": [f"arn:aws:s3:::{INPUT}/*", f"arn:aws:s3:::{ARTIFACTS}/models/*"],
                        },
                        {
                            "Effect": "Allow",
                            "Action": "cloudwatch:PutMetricData",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"cloudwatch:namespace": "DS/Pipeline"}},
                        },
                    ],
                },
            },
        ),
        res(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "exec-role-managed",
            {
                "role": "ds-preprocessing-exec-dev",
                "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            },
        ),
        res(
            "aws:cloudwatch/logGroup:LogGroup",
            "job-logs",
            {"name": "/ecs/ds-preprocessing-dev", "retentionInDays": 7},
        ),
        res(
            "aws:ecr/repository:Repository",
            "repository",
            {
                "name": "ds-preprocessing",
                "imageScanningConfiguration": {"scanOnPush": True},
                "imageTagMutability": "IMMUTABLE",
            },
        ),
        res(
            "aws:ecs/taskDefinition:TaskDefinition",
            "task",
            {
                "family": "ds-preprocessing",
                "taskRoleArn": task_role,
                "containerDefinitions": [
                    {
                        "name": "ds-preprocessing",
                        "image": f"{DEV}.dkr.ecr.{REGION}.amazonaws.com/ds-preprocessing@sha256:" + "0" * 64,
                        "user": "1000:1000",
                        "readonlyRootFilesystem": True,
                        "essential": True,
                    }
                ],
            },
        ),
        res(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "failed-executions",
            {
                "namespace": "AWS/States",
                "metricName": "ExecutionsFailed",
                "dimensions": {"StateMachineArn": STATE_MACHINE_ARN},
                "alarmActions": [f"arn:aws:sns:{REGION}:{DEV}:ds-preprocessing-alarms-dev"],
                "comparisonOperator": "GreaterThanOrEqualToThreshold",
                "threshold": 1,
            },
        ),
    ]
    return copy.deepcopy(resources)


def find(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The resource with logical ``name`` (for mutating a copy)."""
    return next(resource for resource in resources if resource["name"] == name)
