"""The parliament wrapper reports real problems, stays quiet on sound documents, and never crashes."""

from __future__ import annotations

from typing import Any

from policy.iam_lint import iam_documents, lint, lint_stack

ARTIFACTS = "arn:aws:s3:::ds-artifacts-dev-123456789012-us-east-1"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


TRUST_ECS = _doc({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"})
READ_MODELS = _doc(
    {"Sid": "ReadModels", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{ARTIFACTS}/models/*"},
    {
        "Sid": "ListModels",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": ARTIFACTS,
        "Condition": {"StringLike": {"s3:prefix": ["models/*"]}},
    },
)
KEY_POLICY = _doc(
    {
        "Sid": "Owner",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
)


def test_a_least_privilege_identity_policy_is_clean() -> None:
    assert lint(READ_MODELS) == []


def test_a_trust_policy_is_clean_as_a_resource_policy() -> None:
    assert lint(TRUST_ECS, resource_policy=True) == []


def test_a_key_policy_may_say_resource_star() -> None:
    assert lint(KEY_POLICY, resource_policy=True) == []
    assert {f.issue for f in lint(_doc({k: v for k, v in KEY_POLICY["Statement"][0].items() if k != "Principal"}))} == {
        "RESOURCE_STAR"
    }


def test_an_unknown_action_is_reported_at_its_statement() -> None:
    findings = lint(
        _doc(
            {"Sid": "Fine", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{ARTIFACTS}/*"},
            {"Sid": "Typo", "Effect": "Allow", "Action": "s3:GetObjekt", "Resource": f"{ARTIFACTS}/*"},
        )
    )
    assert [(f.issue, f.location) for f in findings] == [("UNKNOWN_ACTION", "Statement[1] (Sid Typo)")]
    assert "s3:GetObjekt" in str(findings[0])


def test_resource_star_on_an_identity_policy_is_flagged() -> None:
    findings = lint(_doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
    assert [f.issue for f in findings] == ["RESOURCE_STAR"]


def test_a_condition_key_that_does_not_apply_is_flagged() -> None:
    findings = lint(
        _doc(
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{ARTIFACTS}/*",
                "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
            }
        )
    )
    assert "UNKNOWN_CONDITION_FOR_ACTION" in {f.issue for f in findings}


def test_principal_placement_is_checked_both_ways() -> None:
    assert [f.issue for f in lint(TRUST_ECS)] == ["MALFORMED", "UNEXPECTED_PRINCIPAL"]
    assert [f.issue for f in lint(READ_MODELS, resource_policy=True)] == ["MISSING_PRINCIPAL", "MISSING_PRINCIPAL"]


def test_a_bool_condition_written_as_a_list_is_a_finding_not_a_crash() -> None:
    findings = lint(
        _doc(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": f"{ARTIFACTS}/*",
                "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
            }
        ),
        resource_policy=True,
    )
    assert [(f.issue, f.severity) for f in findings] == [("EXCEPTION", "CRITICAL")]
    assert 'write "false"' in findings[0].detail


def test_documents_are_collected_from_every_carrier_and_string_form_is_accepted() -> None:
    synth = {
        "resources": [
            {"type": "aws:iam/role:Role", "name": "task", "inputs": {"assumeRolePolicy": TRUST_ECS}},
            {"type": "aws:iam/rolePolicy:RolePolicy", "name": "task-read", "inputs": {"policy": READ_MODELS}},
            {"type": "aws:kms/key:Key", "name": "key", "inputs": {"policy": KEY_POLICY}},
            {"type": "aws:s3/bucketPolicy:BucketPolicy", "name": "tls", "inputs": {"policy": '{"Statement": []}'}},
            {"type": "aws:s3/bucket:Bucket", "name": "bucket", "inputs": {"bucket": "b"}},
            {"type": "aws:ecr/lifecyclePolicy:LifecyclePolicy", "name": "lc", "inputs": {"policy": {"rules": []}}},
        ]
    }
    found = [(d.resource, d.kind, d.resource_policy) for d in iam_documents(synth)]
    assert found == [
        ("task", "trust", True),
        ("task-read", "identity", False),
        ("key", "key", True),
        ("tls", "bucket", True),
    ]
    assert lint_stack({"resources": synth["resources"][:3]}) == []
