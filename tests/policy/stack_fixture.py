"""A hand-written, compliant dev stack in the synth format, for rule tests that must not depend on the program.

Wire-form (camelCase) inputs as pulumi-aws 7 sends them, documents already parsed (as ``dsctl.synth`` presents
them). Each rule test breaks one thing of a deep copy and expects exactly that rule to fire.

The accounts, the store, its key and the shared documents (TLS deny, the store's reader grant, the key policy, the
task trust) come from ``handwritten_stacks``, the single source the access-model tests use too.
"""

from __future__ import annotations

import copy
from typing import Any

from policy.rules import RuleContext
from tests.policy.handwritten_stacks import (
    DEV,
    KEY_ARN,
    PROD,
    REGION,
    bucket_name,
    bucket_policy,
    key_policy,
    store_immutability_statements,
    store_reader_statements,
    task_trust,
    urn,
)
from tests.policy.handwritten_stacks import STORE as ARTIFACTS
from tests.policy.handwritten_stacks import resource as res

INPUT = bucket_name("input", "dev", DEV)
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{DEV}:stateMachine:ds-preprocessing-pipeline"

DEV_CONTEXT = RuleContext(environment="dev", account_id=DEV, region=REGION, reader_accounts=(PROD,))
PROD_CONTEXT = RuleContext(
    environment="prod",
    account_id=PROD,
    region=REGION,
    require_failed_execution_alarm=True,
)


def secure_bucket(name: str, logical: str, extra_statements: list[dict[str, Any]] | None = None) -> list[dict]:
    """A SecureBucket component's children, as H1's component creates them."""
    parent = urn("ds:storage:SecureBucket", logical)
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
            {"bucket": name, "policy": bucket_policy(name, *(extra_statements or []))},
            parent,
        ),
    ]


def state_machine_definition() -> dict[str, Any]:
    """One task, and a Distributed Map of batch tasks that is bounded, all-or-nothing and caught."""
    task = {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "Parameters": {}, "TimeoutSeconds": 60}
    return {
        "StartAt": "Run",
        "States": {
            "Run": {**task, "Next": "Batches"},
            "Batches": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Batch",
                    "States": {"Batch": {**task, "End": True}},
                },
                "MaxConcurrency": 10,
                "ToleratedFailureCount": 0,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def compliant_stack() -> list[dict[str, Any]]:
    """Resources of a dev stack that every rule accepts (with the prod-alarm rule also satisfied)."""
    task_role = f"arn:aws:iam::{DEV}:role/ds-preprocessing-task-dev"
    resources = [
        *secure_bucket(ARTIFACTS, "artifacts", [*store_reader_statements(), *store_immutability_statements()]),
        *secure_bucket(INPUT, "input"),
        res("aws:kms/key:Key", "artifacts-key", {"enableKeyRotation": True, "policy": key_policy()}),
        res("aws:iam/role:Role", "task-role", {"name": "ds-preprocessing-task-dev", "assumeRolePolicy": task_trust()}),
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
            "aws:sfn/stateMachine:StateMachine",
            "state-machine",
            {"name": "ds-preprocessing-pipeline", "type": "STANDARD", "definition": state_machine_definition()},
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
