"""A hand-written, compliant dev stack in the synth format, for rule tests that must not depend on the program.

Wire-form (camelCase) inputs as pulumi-aws 7 sends them, documents already parsed (as ``dsctl.synth`` presents
them). Each rule test breaks one thing of a deep copy and expects exactly that rule to fire.

The accounts, the store, its key and the shared documents (TLS deny, the store's reader grant, the key policy, the
task trust) come from ``handwritten_stacks``, the single source the access-model tests use too.
"""

from __future__ import annotations

import copy
import json
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

REPLICA_REGION = "us-west-2"
REPLICA = f"ds-artifacts-dev-{DEV}-{REPLICA_REGION}"
REPLICA_KEY = f"arn:aws:kms:{REPLICA_REGION}:{DEV}:key/0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"

DEV_CONTEXT = RuleContext(
    environment="dev",
    account_id=DEV,
    region=REGION,
    reader_accounts=(PROD,),
    artifact_replica_region=REPLICA_REGION,
)
PROD_CONTEXT = RuleContext(
    environment="prod",
    account_id=PROD,
    region=REGION,
    require_failed_execution_alarm=True,
    production=True,
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


AUDIT_LOGS = bucket_name("audit", "dev", DEV)
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{DEV}:trail/ds-preprocessing-audit-dev"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{DEV}:ds-preprocessing-alarms-dev"
_TRAIL_LOG_GROUP = "/aws/cloudtrail/ds-preprocessing-audit-dev"
MODEL_KEY_PARAMETER = "/ds/preprocessing/model-key"


def _alert_rule(name: str, pattern: dict[str, Any]) -> list[dict[str, Any]]:
    """An EventBridge rule (pattern as the JSON text the provider takes) and its target, the alarm topic."""
    return [
        res("aws:cloudwatch/eventRule:EventRule", name, {"name": name, "eventPattern": json.dumps(pattern)}),
        res("aws:cloudwatch/eventTarget:EventTarget", f"{name}-target", {"rule": name, "arn": TOPIC_ARN}),
    ]


def audit_resources() -> list[dict[str, Any]]:
    """The account's trail into its log bucket, the store's data events and alerts, the access analyzer."""
    cloudtrail = {"Service": "cloudtrail.amazonaws.com"}
    trail_statements = [
        {
            "Effect": "Allow",
            "Principal": cloudtrail,
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{AUDIT_LOGS}",
            "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
        },
        {
            "Effect": "Allow",
            "Principal": cloudtrail,
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{AUDIT_LOGS}/AWSLogs/{DEV}/*",
            "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN, "s3:x-amz-acl": "bucket-owner-full-control"}},
        },
    ]
    selectors = [
        {"name": "management", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]},
        {
            "name": "store objects",
            "fieldSelectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "resources.ARN", "startsWiths": [f"arn:aws:s3:::{ARTIFACTS}/models/"]},
            ],
        },
    ]
    denied = {"namespace": "DS/Audit", "name": "StoreAccessDenied", "value": "1"}
    return [
        *secure_bucket(AUDIT_LOGS, "audit-logs", trail_statements),
        res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "audit-logs-lifecycle",
            {
                "bucket": AUDIT_LOGS,
                "rules": [
                    {
                        "id": "expire-logs",
                        "status": "Enabled",
                        "filter": {"prefix": "AWSLogs/"},
                        "expiration": {"days": 365},
                    }
                ],
            },
        ),
        res(
            "aws:cloudtrail/trail:Trail",
            "audit-trail",
            {
                "name": "ds-preprocessing-audit-dev",
                "s3BucketName": AUDIT_LOGS,
                "isMultiRegionTrail": True,
                "includeGlobalServiceEvents": True,
                "enableLogFileValidation": True,
                "enableLogging": True,
                "advancedEventSelectors": selectors,
            },
        ),
        res("aws:accessanalyzer/analyzer:Analyzer", "audit-analyzer", {"analyzerName": "x", "type": "ACCOUNT"}),
        res(
            "aws:cloudwatch/logMetricFilter:LogMetricFilter",
            "store-access-denied",
            {
                "logGroupName": _TRAIL_LOG_GROUP,
                "pattern": f'{{ ($.errorCode = "AccessDenied") && ($.requestParameters.bucketName = "{ARTIFACTS}") }}',
                "metricTransformation": denied,
            },
        ),
        res(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "store-access-denied-alarm",
            {"namespace": "DS/Audit", "metricName": "StoreAccessDenied", "alarmActions": [TOPIC_ARN], "threshold": 1},
        ),
        *_alert_rule(
            "store-bucket-alert",
            {
                "source": ["aws.s3"],
                "detail": {
                    "eventName": [
                        "PutBucketPolicy",
                        "DeleteBucketPolicy",
                        "PutBucketReplication",
                        "DeleteBucketReplication",
                    ],
                    "requestParameters": {"bucketName": [ARTIFACTS]},
                },
            },
        ),
        *_alert_rule(
            "store-key-alert",
            {
                "source": ["aws.kms"],
                "detail": {
                    "eventName": ["PutKeyPolicy", "DisableKey", "ScheduleKeyDeletion"],
                    "resources": {"ARN": [KEY_ARN]},
                },
            },
        ),
        res("aws:ssm/parameter:Parameter", "param-model-key", {"name": MODEL_KEY_PARAMETER, "value": "NONE"}),
        *_alert_rule(
            "model-parameter-alert",
            {
                "source": ["aws.ssm"],
                "detail": {
                    "eventName": ["DeleteParameter", "DeleteParameters", "LabelParameterVersion", "PutParameter"],
                    "requestParameters": {"$or": [{"name": [MODEL_KEY_PARAMETER]}, {"names": [MODEL_KEY_PARAMETER]}]},
                },
            },
        ),
        res(
            "aws:sns/topicPolicy:TopicPolicy",
            "alarm-topic-policy",
            {
                "arn": TOPIC_ARN,
                "policy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": TOPIC_ARN,
                            "Condition": {
                                "ArnLike": {
                                    "aws:SourceArn": f"arn:aws:events:{REGION}:{DEV}:rule/ds-preprocessing-alert-*"
                                }
                            },
                        }
                    ],
                },
            },
        ),
    ]


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
        *audit_resources(),
    ]
    return copy.deepcopy([*resources, *replica_resources(resources)])


def replica_resources(stack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store's replica (another region, its own key, the store's policy) and the replication rule."""
    store_policy = json.dumps(find(stack, "artifacts-policy")["inputs"]["policy"])
    replica = secure_bucket(REPLICA, "replica")
    for resource in replica:
        if resource["type"] == "aws:s3/bucketPolicy:BucketPolicy":
            resource["inputs"]["policy"] = json.loads(store_policy.replace(ARTIFACTS, REPLICA))
    rule = {
        "id": "models-to-replica",
        "status": "Enabled",
        "filter": {"prefix": "models/"},
        "deleteMarkerReplication": {"status": "Disabled"},
        "sourceSelectionCriteria": {"sseKmsEncryptedObjects": {"status": "Enabled"}},
        "destination": {
            "bucket": f"arn:aws:s3:::{REPLICA}",
            "encryptionConfiguration": {"replicaKmsKeyId": REPLICA_KEY},
        },
    }
    config = res(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig", "replication", {"bucket": ARTIFACTS, "rules": [rule]}
    )
    return [*replica, config]


def find(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The resource with logical ``name`` (for mutating a copy)."""
    return next(resource for resource in resources if resource["name"] == name)
