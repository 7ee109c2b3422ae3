"""Every rule passes the compliant fixture and fails on a deliberately broken copy of it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from components.settings import load_stack_settings
from policy import rules
from policy.rules import UNKNOWN, RuleContext, context_from_settings, evaluate
from tests.policy.handwritten_stacks import KEY_ARN
from tests.policy.stack_fixture import (
    ARTIFACTS,
    DEV,
    DEV_CONTEXT,
    INPUT,
    PROD,
    PROD_CONTEXT,
    compliant_stack,
    find,
    res,
)

Stack = list[dict[str, Any]]


def _fired(resources: Stack, ctx: RuleContext = DEV_CONTEXT) -> set[tuple[str, str]]:
    return {(v.rule, v.resource) for v in evaluate(resources, ctx)}


def test_compliant_fixture_passes_every_rule() -> None:
    assert evaluate(compliant_stack(), DEV_CONTEXT) == []


def _drop(name: str) -> Callable[[Stack], None]:
    def mutate(stack: Stack) -> None:
        stack.remove(find(stack, name))

    return mutate


def _set(name: str, path: str, value: Any) -> Callable[[Stack], None]:
    """Set ``inputs.<path>`` (dotted, integers index lists) of resource ``name``."""

    def mutate(stack: Stack) -> None:
        target: Any = find(stack, name)["inputs"]
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _statement(name: str, index: int, **changes: Any) -> Callable[[Stack], None]:
    def mutate(stack: Stack) -> None:
        find(stack, name)["inputs"]["policy"]["Statement"][index].update(changes)

    return mutate


def _add(resource: dict[str, Any]) -> Callable[[Stack], None]:
    def mutate(stack: Stack) -> None:
        stack.append(resource)

    return mutate


def _drop_store_immutability() -> Callable[[Stack], None]:
    """Keep the store's TLS deny and reader grants, drop its write-once denies (statements 3 onwards)."""

    def mutate(stack: Stack) -> None:
        policy = find(stack, "artifacts-policy")["inputs"]["policy"]
        policy["Statement"] = policy["Statement"][:3]

    return mutate


BROKEN: list[tuple[str, str, Callable[[Stack], None], str]] = [
    ("no SSE config", "s3-bucket-encrypted", _drop("input-sse"), "input"),
    (
        "SSE without algorithm",
        "s3-bucket-encrypted",
        _set("artifacts-sse", "rules.0.applyServerSideEncryptionByDefault", {}),
        "artifacts",
    ),
    ("no public access block", "s3-public-access-blocked", _drop("input-public-access"), "input"),
    (
        "public policies allowed",
        "s3-public-access-blocked",
        _set("artifacts-public-access", "blockPublicPolicy", False),
        "artifacts",
    ),
    ("no bucket policy", "s3-tls-only", _drop("input-policy"), "input"),
    ("TLS deny turned into allow", "s3-tls-only", _statement("artifacts-policy", 0, Effect="Allow"), "artifacts"),
    ("model bucket unversioned", "s3-models-versioned", _drop("artifacts-versioning"), "artifacts"),
    (
        "model bucket versioning suspended",
        "s3-models-versioned",
        _set("artifacts-versioning", "versioningConfiguration.status", "Suspended"),
        "artifacts",
    ),
    ("store without write-once denies", "store-models-immutable", _drop_store_immutability(), "artifacts"),
    (
        "write-once deny loses its If-None-Match condition",
        "store-models-immutable",
        _statement("artifacts-policy", 3, Condition={"Bool": {"s3:ObjectCreationOperation": "true"}}),
        "artifacts",
    ),
    (
        "write-once deny narrowed by a condition that never holds",
        "store-models-immutable",
        _statement(
            "artifacts-policy",
            5,
            Condition={"StringEquals": {"aws:PrincipalTag/never": "x"}},
        ),
        "artifacts",
    ),
    (
        "store deletes denied only for one prefix",
        "store-models-immutable",
        _statement("artifacts-policy", 5, Resource=f"arn:aws:s3:::{ARTIFACTS}/models/old/*"),
        "artifacts",
    ),
    (
        "s3:* in identity policy",
        "iam-no-wildcard-actions",
        _statement("task-role-policy", 0, Action="s3:*"),
        "task-role-policy",
    ),
    (
        "NotAction in identity policy",
        "iam-no-wildcard-actions",
        _statement("task-role-policy", 0, NotAction="iam:*"),
        "task-role-policy",
    ),
    (
        "kms:* to a foreign account",
        "iam-no-wildcard-actions",
        lambda s: find(s, "artifacts-key")["inputs"]["policy"]["Statement"][1].update(Action="kms:*"),
        "artifacts-key",
    ),
    (
        "GetObject on *",
        "iam-no-wildcard-resources",
        _statement("task-role-policy", 0, Resource="*"),
        "task-role-policy",
    ),
    (
        "service-wide resource",
        "iam-no-wildcard-resources",
        _statement("task-role-policy", 0, Resource="arn:aws:s3:::*"),
        "task-role-policy",
    ),
    (
        "undocumented action on *",
        "iam-no-wildcard-resources",
        _statement("task-role-policy", 1, Action=["cloudwatch:PutMetricData", "ssm:GetParameter"]),
        "task-role-policy",
    ),
    (
        "AdministratorAccess attached",
        "iam-no-broad-managed-policies",
        _set("exec-role-managed", "policyArn", "arn:aws:iam::aws:policy/AdministratorAccess"),
        "exec-role-managed",
    ),
    (
        "ReadOnlyAccess in managedPolicyArns",
        "iam-no-broad-managed-policies",
        _set("task-role", "managedPolicyArns", ["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
        "task-role",
    ),
    (
        "unconfigured reader account",
        "cross-account-readers-only",
        _statement("artifacts-policy", 1, Principal={"AWS": "arn:aws:iam::111122223333:root"}),
        "artifacts-policy",
    ),
    (
        "write action for reader",
        "cross-account-readers-only",
        _statement("artifacts-policy", 1, Action=["s3:GetObject", "s3:PutObject"]),
        "artifacts-policy",
    ),
    (
        "reader outside models/",
        "cross-account-readers-only",
        _statement("artifacts-policy", 1, Resource=f"arn:aws:s3:::{ARTIFACTS}/*"),
        "artifacts-policy",
    ),
    (
        "whole reader account",
        "cross-account-readers-only",
        lambda s: find(s, "artifacts-policy")["inputs"]["policy"]["Statement"][1].pop("Condition"),
        "artifacts-policy",
    ),
    (
        "wildcard reader role pattern",
        "cross-account-readers-only",
        _statement("artifacts-policy", 1, Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{PROD}:role/*-*"}}),
        "artifacts-policy",
    ),
    (
        "public read",
        "cross-account-readers-only",
        _statement("artifacts-policy", 1, Principal="*"),
        "artifacts-policy",
    ),
    (
        "foreign trust",
        "cross-account-readers-only",
        lambda s: find(s, "task-role")["inputs"]["assumeRolePolicy"]["Statement"][0].update(
            Principal={"AWS": "arn:aws:iam::111122223333:root"}
        ),
        "task-role",
    ),
    ("log group forever", "log-group-retention", _set("job-logs", "retentionInDays", 0), "job-logs"),
    (
        "no scan on push",
        "ecr-scan-immutable",
        _set("repository", "imageScanningConfiguration", {"scanOnPush": False}),
        "repository",
    ),
    ("mutable tags", "ecr-scan-immutable", _set("repository", "imageTagMutability", "MUTABLE"), "repository"),
    ("root user", "task-non-root-read-only", _set("task", "containerDefinitions.0.user", "0:0"), "task"),
    (
        "user not set",
        "task-non-root-read-only",
        lambda s: find(s, "task")["inputs"]["containerDefinitions"][0].pop("user"),
        "task",
    ),
    (
        "writable root fs",
        "task-non-root-read-only",
        _set("task", "containerDefinitions.0.readonlyRootFilesystem", False),
        "task",
    ),
    ("key not rotating", "kms-key-rotation", _set("artifacts-key", "enableKeyRotation", False), "artifacts-key"),
    (
        "task without timeout",
        "state-machine-bounded",
        lambda s: find(s, "state-machine")["inputs"]["definition"]["States"]["Run"].pop("TimeoutSeconds"),
        "state-machine",
    ),
    (
        "batch task without timeout",
        "state-machine-bounded",
        lambda s: find(s, "state-machine")["inputs"]["definition"]["States"]["Batches"]["ItemProcessor"]["States"][
            "Batch"
        ].pop("TimeoutSeconds"),
        "state-machine",
    ),
    (
        "unbounded map",
        "state-machine-bounded",
        lambda s: find(s, "state-machine")["inputs"]["definition"]["States"]["Batches"].pop("MaxConcurrency"),
        "state-machine",
    ),
    (
        "map tolerates failures",
        "state-machine-bounded",
        _set("state-machine", "definition.States.Batches.ToleratedFailurePercentage", 5),
        "state-machine",
    ),
    (
        "express children with .sync",
        "state-machine-bounded",
        _set("state-machine", "definition.States.Batches.ItemProcessor.ProcessorConfig.ExecutionType", "EXPRESS"),
        "state-machine",
    ),
    (
        "uncaught map",
        "state-machine-bounded",
        lambda s: find(s, "state-machine")["inputs"]["definition"]["States"]["Batches"].pop("Catch"),
        "state-machine",
    ),
    ("no trail", "audit-trail", _drop("audit-trail"), "stack"),
    ("single-region trail", "audit-trail", _set("audit-trail", "isMultiRegionTrail", False), "stack"),
    ("trail without log validation", "audit-trail", _set("audit-trail", "enableLogFileValidation", False), "stack"),
    ("trail logs no management events", "audit-trail", _set("audit-trail", "advancedEventSelectors.0", {}), "stack"),
    ("log bucket without lifecycle", "audit-trail", _drop("audit-logs-lifecycle"), "stack"),
    ("log bucket open to any trail", "audit-trail", _statement("audit-logs-policy", 2, Condition={}), "stack"),
    (
        "no data events on the store",
        "store-data-events",
        _set("audit-trail", "advancedEventSelectors.1", {}),
        "artifacts",
    ),
    (
        "data events on another prefix",
        "store-data-events",
        _set(
            "audit-trail", "advancedEventSelectors.1.fieldSelectors.2.startsWiths", [f"arn:aws:s3:::{ARTIFACTS}/raw/"]
        ),
        "artifacts",
    ),
    (
        "data events for writes only",
        "store-data-events",
        lambda s: find(s, "audit-trail")["inputs"]["advancedEventSelectors"][1]["fieldSelectors"].append(
            {"field": "readOnly", "equals": ["false"]}
        ),
        "artifacts",
    ),
    ("no analyzer", "access-analyzer", _drop("audit-analyzer"), "stack"),
    ("no alert on key changes", "store-alerts", _drop("store-key-alert-target"), "artifacts"),
    ("no alert on bucket policy changes", "store-alerts", _drop("store-bucket-alert"), "artifacts"),
    ("no denied-access alarm", "store-alerts", _set("store-access-denied-alarm", "alarmActions", []), "artifacts"),
    ("topic refuses EventBridge", "store-alerts", _drop("alarm-topic-policy"), "artifacts"),
    ("no alert on model parameter changes", "model-parameter-alert", _drop("model-parameter-alert"), "param-model-key"),
    (
        "alert on another parameter",
        "model-parameter-alert",
        _set(
            "model-parameter-alert",
            "eventPattern",
            json.dumps({"detail": {"eventName": ["PutParameter"], "requestParameters": {"name": ["/x/input-key"]}}}),
        ),
        "param-model-key",
    ),
]


@pytest.mark.parametrize(("rule", "mutate", "culprit"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_rule_fails_on_broken_fixture(rule: str, mutate: Callable[[Stack], None], culprit: str) -> None:
    stack = compliant_stack()
    mutate(stack)
    assert (rule, culprit) in _fired(stack)


def test_every_rule_has_a_broken_fixture() -> None:
    # ci-roles-change-no-access is broken on the real synthesized stack: tests/infra/test_ci_access.py
    tested = {b[1] for b in BROKEN} | {
        "production-failed-executions-alarm",
        "ci-roles-change-no-access",
        "production-keeps-data",
        "store-replicated",
    }
    assert tested == set(rules.rule_names())


def test_prod_without_failed_execution_alarm_fails() -> None:
    stack = compliant_stack()
    stack.remove(find(stack, "failed-executions"))
    fired = {v.rule: v for v in evaluate(stack, PROD_CONTEXT)}
    assert fired["production-failed-executions-alarm"].resource == "stack"
    assert "production-failed-executions-alarm" not in {v.rule for v in evaluate(stack, DEV_CONTEXT)}


def test_alarm_without_action_does_not_count() -> None:
    stack = compliant_stack()
    find(stack, "failed-executions")["inputs"]["alarmActions"] = []
    assert "production-failed-executions-alarm" in {v.rule for v in evaluate(stack, PROD_CONTEXT)}


def test_metric_math_alarm_on_failed_executions_counts() -> None:
    stack = compliant_stack()
    alarm = find(stack, "failed-executions")["inputs"]
    metric = {"namespace": alarm.pop("namespace"), "metricName": alarm.pop("metricName"), "stat": "Sum"}
    alarm["metricQueries"] = [{"id": "failed", "metric": metric}, {"id": "total", "expression": "failed"}]
    alarm_rule = [rule for rule in rules.RULES if rule.name == "production-failed-executions-alarm"]
    assert evaluate(stack, PROD_CONTEXT, alarm_rule) == []
    metric["metricName"] = "ExecutionsSucceeded"
    assert len(evaluate(stack, PROD_CONTEXT, alarm_rule)) == 1


def test_documents_as_json_strings_are_judged_like_parsed_ones() -> None:
    """The policy engine hands documents over as JSON text; the rules must not miss them."""
    stack = compliant_stack()
    find(stack, "task-role-policy")["inputs"]["policy"]["Statement"][0]["Action"] = "*"
    for resource in stack:
        for key in ("policy", "assumeRolePolicy", "containerDefinitions"):
            if key in resource["inputs"]:
                resource["inputs"][key] = json.dumps(resource["inputs"][key])
    assert _fired(stack) == {("iam-no-wildcard-actions", "task-role-policy")}


def test_unknown_values_are_not_violations() -> None:
    """During a first preview, ARNs and bucket ids are unknown: rules must stay silent, not guess."""
    stack = compliant_stack()
    for resource in stack:
        if resource["type"] != "aws:s3/bucket:Bucket" and "bucket" in resource["inputs"]:
            resource["inputs"]["bucket"] = UNKNOWN
    find(stack, "task-role-policy")["inputs"]["policy"] = UNKNOWN
    find(stack, "artifacts-policy")["inputs"]["policy"] = UNKNOWN
    assert evaluate(stack, DEV_CONTEXT) == []


def test_unknown_bucket_reference_still_checks_siblings() -> None:
    """With bucket ids unknown, a SecureBucket's children are matched through their parent component."""
    stack = compliant_stack()
    for resource in stack:
        if resource["type"] != "aws:s3/bucket:Bucket" and "bucket" in resource["inputs"]:
            resource["inputs"]["bucket"] = UNKNOWN
    stack.remove(find(stack, "input-public-access"))
    assert ("s3-public-access-blocked", "input") in _fired(stack)


def test_wildcard_resource_exceptions_have_reasons() -> None:
    for action, reason in rules.WILDCARD_RESOURCE_EXCEPTIONS.items():
        assert ":" in action and "*" not in action
        assert len(reason) > 20


def test_violation_names_fix_and_resource() -> None:
    stack = compliant_stack()
    find(stack, "repository")["inputs"]["imageTagMutability"] = "MUTABLE"
    (violation,) = evaluate(stack, DEV_CONTEXT)
    assert violation.to_dict() == {
        "rule": "ecr-scan-immutable",
        "resource": "repository",
        "message": "image tags are mutable (MUTABLE)",
        "fix": 'set image_tag_mutability="IMMUTABLE" so a deployed tag always means the same image',
        "urn": "urn:pulumi:dev::ds-preprocessing::aws:ecr/repository:Repository::repository",
    }


def test_key_admin_exception_is_only_for_own_root() -> None:
    stack = compliant_stack()
    find(stack, "artifacts-key")["inputs"]["policy"]["Statement"][0]["Principal"] = {
        "AWS": f"arn:aws:iam::{DEV}:role/someone"
    }
    assert ("iam-no-wildcard-actions", "artifacts-key") in _fired(stack)


def test_no_role_but_the_operator_role_trusts_another_account() -> None:
    """CI assumes its roles by GitHub OIDC in the stack's own account: a deploy role trusting a CI role elsewhere
    is the cross-account chaining this design removed."""
    foreign_ci = f"arn:aws:iam::{DEV}:role/ds-preprocessing-ci"
    cross_account = [rule for rule in rules.RULES if rule.name == "cross-account-readers-only"]
    (violation,) = evaluate(_trusting("ds-preprocessing-deploy-prod", foreign_ci), PROD_CONTEXT, cross_account)
    assert "trust no other account" in violation.fix


def _trusting(role_name: str, principal: str) -> list[dict[str, Any]]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
    }
    return [res("aws:iam/role:Role", "some-role", {"name": role_name, "assumeRolePolicy": trust})]


def test_operator_role_may_trust_only_the_configured_operators_across_accounts() -> None:
    sso = f"arn:aws:iam::{DEV}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataScience_0123456789abcdef"
    context = dataclasses.replace(PROD_CONTEXT, operator_principal_arns=(sso,))
    cross_account = [rule for rule in rules.RULES if rule.name == "cross-account-readers-only"]
    assert evaluate(_trusting("ds-preprocessing-operator", sso), context, cross_account) == []
    # another principal is not an operator, and an operator principal does not make another role assumable
    stranger = f"arn:aws:iam::{DEV}:role/someone"
    (ci,) = evaluate(_trusting("ds-preprocessing-operator", stranger), context, cross_account)
    assert "trust only the configured operatorPrincipalArns" in ci.fix
    (other,) = evaluate(_trusting("ds-preprocessing-deploy-prod", sso), context, cross_account)
    assert "trust no other account" in other.fix


def test_a_production_stack_may_expire_only_scratch_prefixes() -> None:
    stack = compliant_stack()
    lifecycle = res(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "input-lifecycle",
        {
            "bucket": INPUT,
            "rules": [
                {
                    "id": "expire-staging",
                    "status": "Enabled",
                    "filter": {"prefix": "_staging/"},
                    "expiration": {"days": 7},
                },
                {"id": "expire-data", "status": "Enabled", "filter": {"prefix": ""}, "expiration": {"days": 30}},
            ],
        },
    )
    stack.append(lifecycle)
    fired = [v for v in evaluate(stack, PROD_CONTEXT) if v.rule == "production-keeps-data"]
    assert [(v.resource, "'expire-data'" in v.message) for v in fired] == [("input-lifecycle", True)]
    assert not [v for v in evaluate(stack, DEV_CONTEXT) if v.rule == "production-keeps-data"]
    # The audit log bucket's one-year expiry (AWSLogs/) is allowed in production: it is in the compliant fixture.
    stack.remove(lifecycle)
    assert not [v for v in evaluate(stack, PROD_CONTEXT) if v.rule == "production-keeps-data"]


def _replicated_stack() -> Stack:
    """The compliant stack holds the store's replica (stack_fixture.replica_resources); DEV_CONTEXT declares it."""
    return compliant_stack()


REPLICATED = DEV_CONTEXT
UNREPLICATED = dataclasses.replace(DEV_CONTEXT, artifact_replica_region=None)


def test_a_replicated_store_passes_and_its_replica_is_held_to_the_store_rules() -> None:
    assert evaluate(_replicated_stack(), REPLICATED) == []
    stack = _replicated_stack()
    policy = find(stack, "replica-policy")["inputs"]["policy"]
    policy["Statement"] = policy["Statement"][:1]
    assert ("store-models-immutable", "replica") in _fired(stack, REPLICATED)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda s: s.remove(find(s, "replication")), "no replication configuration"),
        (_set("replication", "rules.0.deleteMarkerReplication.status", "Enabled"), "delete markers are replicated"),
        (_set("replication", "rules.0.destination.encryptionConfiguration", {}), "SSE-KMS objects are not replicated"),
        (
            _set("replication", "rules.0.destination.encryptionConfiguration.replicaKmsKeyId", KEY_ARN),
            "store's own key",
        ),
        (_set("replication", "rules.0.filter.prefix", "raw/"), "no enabled rule replicating models/"),
        (_set("replication", "rules.0.status", "Disabled"), "no enabled rule replicating models/"),
    ],
)
def test_store_replicated_fails_on_broken_replication(mutate: Callable[[Stack], None], problem: str) -> None:
    stack = _replicated_stack()
    mutate(stack)
    fired = [v for v in evaluate(stack, REPLICATED) if v.rule == "store-replicated"]
    assert [v.resource for v in fired] == ["artifacts"] and problem in fired[0].message
    assert not [
        v for v in evaluate(stack, UNREPLICATED) if v.rule == "store-replicated"
    ]  # not configured: not required


def test_an_organization_trail_exempts_the_account_trail_not_the_store_data_events() -> None:
    stack = compliant_stack()
    stack.remove(find(stack, "audit-trail"))
    organization = dataclasses.replace(DEV_CONTEXT, organization_trail=True)
    assert {v.rule for v in evaluate(stack, organization)} == {"store-data-events"}


def test_the_alarm_rule_follows_the_production_declaration_not_the_name() -> None:
    """A production-like stack with any name must alarm; a stack named prod that is not production need not."""
    prod = load_stack_settings("prod")
    staging = dataclasses.replace(prod, stack="staging", environment="staging")
    assert context_from_settings(staging).require_failed_execution_alarm is True
    not_production = dataclasses.replace(prod, production=False)
    assert context_from_settings(not_production).require_failed_execution_alarm is False
