"""The pure policy builders: the '*'-only action list is true, and the builders refuse a needless '*'."""

from __future__ import annotations

import warnings

import pytest

from components import ci_policies, policy_docs
from components.arns import StackArns

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from parliament import iam_definition


def resource_types(action: str) -> list[str]:
    """Resource types AWS authorizes ``action`` on (per parliament's copy of the Service Authorization Reference)."""
    prefix, name = action.split(":")
    for service in iam_definition:
        if service["prefix"] == prefix:
            for privilege in service["privileges"]:
                if privilege["privilege"].lower() == name.lower():
                    return [r["resource_type"] for r in privilege["resource_types"] if r["resource_type"]]
    raise AssertionError(f"{action} is not an AWS action")


@pytest.mark.parametrize("action", sorted(policy_docs.STAR_ONLY_ACTIONS))
def test_star_only_actions_really_take_no_resource(action: str) -> None:
    assert resource_types(action) == [], f"{action} can name a resource; remove it from STAR_ONLY_ACTIONS"


def test_statement_refuses_a_wildcard_resource_for_actions_that_take_arns() -> None:
    with pytest.raises(ValueError, match=r"\['s3:GetObject'\] accept resource ARNs"):
        policy_docs.statement("Bad", ["s3:GetObject", "ecr:GetAuthorizationToken"], "*")
    ok = policy_docs.statement("Ok", ["ecr:GetAuthorizationToken"], "*")
    assert ok == {"Sid": "Ok", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}


def test_every_action_the_builders_use_exists() -> None:
    documents = [
        policy_docs.task_role_policy(
            region="us-east-1",
            account_id="987654321098",
            parameter_prefix="/ds/preprocessing",
            input_bucket_arn="arn:aws:s3:::in",
            output_bucket_arn="arn:aws:s3:::out",
        ),
        ci_policies.deploy_role_policy(
            arns=StackArns("prod", "987654321098", "us-east-1"),
            parameter_prefix="/ds/preprocessing",
            owns_artifact_store=False,
        ),
        ci_policies.preview_role_policy(
            arns=StackArns("dev", "123456789012", "us-east-1"),
            parameter_prefix="/ds/preprocessing",
            owns_artifact_store=True,
        ),
        policy_docs.artifact_key_policy("123456789012", "us-east-1", ["987654321098"], ["ds-preprocessing-task-*"]),
    ]
    for document in documents:
        for statement in document["Statement"]:
            for action in statement["Action"]:
                resource_types(action)  # raises for a misspelt action


def test_reader_grants_are_empty_without_readers() -> None:
    assert policy_docs.artifact_reader_statements("arn:aws:s3:::b", [], ["x"]) == []
    sids = [s["Sid"] for s in policy_docs.artifact_key_policy("123456789012", "us-east-1", [], [])["Statement"]]
    assert sids == ["OwningAccountAdministers", "OwningAccountUsesThroughS3"]


@pytest.mark.parametrize("owns", [True, False])
def test_inline_ci_policies_fit_the_iam_size_limit(owns: bool) -> None:
    import json

    for builder in (ci_policies.deploy_role_policy, ci_policies.preview_role_policy):
        document = builder(
            arns=StackArns("prod", "987654321098", "us-east-1"),
            parameter_prefix="/ds/preprocessing",
            owns_artifact_store=owns,
        )
        # IAM counts inline role policies without whitespace; the limit is 10,240 characters per role.
        assert len(json.dumps(document, separators=(",", ":"))) < 10_240


def _operator(owns: bool) -> dict[str, object]:
    from components.arns import StackArns

    return policy_docs.operator_policy(
        arns=StackArns("dev", "123456789012", "us-east-1"),
        parameter_prefix="/ds/preprocessing",
        artifact_bucket_arn="arn:aws:s3:::ds-artifacts-dev-123456789012-us-east-1",
        artifact_key_arn="arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
        owns_artifact_store=owns,
    )


def test_operator_trust_needs_principals_and_names_each_once() -> None:
    with pytest.raises(ValueError, match="operatorPrincipalArns or operatorPermissionSet"):
        policy_docs.operator_trust([], account_id="123456789012", permission_set=None)
    role = "arn:aws:iam::123456789012:role/ops"
    named, sso = policy_docs.operator_trust([role, role], account_id="123456789012", permission_set="Ops")["Statement"]
    assert named["Principal"] == {"AWS": [role]} and named["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert sso["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert sso["Condition"]["ArnLike"]["aws:PrincipalArn"] == [
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_*",
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Ops_*",
    ]


@pytest.mark.parametrize("owns", [True, False])
def test_operator_policy_names_every_resource_and_has_unique_sids(owns: bool) -> None:
    statements = _operator(owns)["Statement"]
    assert isinstance(statements, list)
    sids = [s["Sid"] for s in statements]
    assert len(sids) == len(set(sids))
    for item in statements:
        if item["Resource"] == "*":
            assert set(item["Action"]) <= set(policy_docs.STAR_ONLY_ACTIONS), item["Sid"]


def _store_actions(owns: bool) -> set[str]:
    """Actions the operator policy grants on the artifact store (its bucket, objects or key)."""
    statements = _operator(owns)["Statement"]
    assert isinstance(statements, list)
    store = ("arn:aws:s3:::ds-artifacts-", "arn:aws:kms:")
    return {
        action
        for s in statements
        for action in s["Action"]
        if any(str(resource).startswith(store) for resource in s["Resource"])
    }


def test_only_the_owning_operator_writes_models_or_generates_data_keys() -> None:
    assert {"s3:PutObject", "kms:GenerateDataKey"} <= _store_actions(True)
    assert not {"s3:PutObject", "kms:GenerateDataKey", "s3:DeleteObject"} & _store_actions(False)
    assert "s3:DeleteObject" not in _store_actions(True)


@pytest.mark.parametrize("owns", [True, False])
def test_the_operator_writes_only_input_uploads_outside_the_store(owns: bool) -> None:
    """PutObject (and the multipart clean-up) outside the store: raw/ and validation/ of the input bucket only."""
    statements = _operator(owns)["Statement"]
    assert isinstance(statements, list)
    writes = {
        resource
        for s in statements
        for resource in s["Resource"]
        if {"s3:PutObject", "s3:AbortMultipartUpload"} & set(s["Action"])
        and not resource.startswith("arn:aws:s3:::ds-artifacts-")
    }
    assert writes == {
        "arn:aws:s3:::ds-input-dev-123456789012-us-east-1/raw/*",
        "arn:aws:s3:::ds-input-dev-123456789012-us-east-1/validation/*",
    }
    actions = {action for s in statements for action in s["Action"]}
    assert not {a for a in actions if a.startswith("s3:Delete")}


@pytest.mark.parametrize("owns", [True, False])
def test_the_operator_boundary_fits_the_managed_policy_size_limit(owns: bool) -> None:
    """The operator's permissions boundary is a managed policy holding the operator policy itself: IAM's limit for a
    managed policy is 6,144 characters, whitespace not counted (IAM and AWS STS quotas)."""
    import json

    size = len(json.dumps(_operator(owns), separators=(",", ":")))
    assert size < 6_144, f"{size} characters"


def test_the_workload_boundary_fits_the_managed_policy_size_limit() -> None:
    import json

    from components.arns import StackArns

    document = policy_docs.workload_boundary(
        arns=StackArns("prod", "987654321098", "us-east-1"),
        parameter_prefix="/ds/preprocessing",
        artifact_bucket_arn="arn:aws:s3:::ds-artifacts-dev-123456789012-us-east-1",
        artifact_key_arn="arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    )
    size = len(json.dumps(document, separators=(",", ":")))
    assert size < 6_144, f"{size} characters"


def test_the_state_machine_role_holds_exactly_the_log_delivery_the_table_names() -> None:
    """Step Functions logging is authorized on the machine's role (provider_actions role_star_only), all on "*"."""
    from policy.provider_actions import TYPES

    machine = TYPES["aws:sfn/stateMachine:StateMachine"]
    document = policy_docs.state_machine_policy(
        region="us-east-1",
        account_id="123456789012",
        cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/c",
        task_role_arn="arn:aws:iam::123456789012:role/t",
        execution_role_arn="arn:aws:iam::123456789012:role/e",
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        output_bucket="ds-output-dev-123456789012-us-east-1",
    )
    (logs,) = [s for s in document["Statement"] if s["Sid"] == "DeliverExecutionLogs"]
    assert logs["Resource"] == "*"
    assert set(logs["Action"]) == {s.action for s in machine.role_star_only}
    assert not {s.action for s in machine.role_star_only} & machine.actions()  # the caller needs none of them
