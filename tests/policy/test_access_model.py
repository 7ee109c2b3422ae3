"""The principalmapper access model answers like AWS on hand-written stacks, including the answers that must be "no".

Each grant is also checked in a broken variant (a widened or missing policy), so a model that always said yes or
always said no would fail here.
"""

from __future__ import annotations

from typing import Any

import pytest

from policy.access import AccessModel, via_service
from tests.policy.handwritten_stacks import DEV, KEY_ARN, PROD, REGION, STORE, bucket_name, stack

PROD_TASK = f"arn:aws:iam::{PROD}:role/ds-preprocessing-task-prod"
DEV_TASK = f"arn:aws:iam::{DEV}:role/ds-preprocessing-task-dev"
MODEL = f"arn:aws:s3:::{STORE}/models/1.2.3/model.pkl"
VIA_S3 = via_service("s3", REGION)


def _model(dev: dict[str, Any] | None = None, prod: dict[str, Any] | None = None) -> AccessModel:
    return AccessModel.from_stacks(dev or stack("dev"), prod or stack("prod"))


def _policy(synth: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in synth["resources"] if r["name"] == name)["inputs"]["policy"]


def test_roles_of_both_stacks_become_principals() -> None:
    assert _model().principals == [
        DEV_TASK,
        f"arn:aws:iam::{PROD}:role/ds-preprocessing-deploy-prod",
        PROD_TASK,
    ]
    assert set(_model().graphs()) == {DEV, PROD}


def test_cross_account_model_read_needs_both_sides() -> None:
    model = _model()
    assert model.can(PROD_TASK, "s3:GetObject", MODEL)
    assert model.can(PROD_TASK, "kms:Decrypt", KEY_ARN, VIA_S3)
    assert model.can(PROD_TASK, "s3:ListBucket", f"arn:aws:s3:::{STORE}", {"s3:prefix": "models/"})

    prod = stack("prod")
    del _policy(prod, "task-policy")["Statement"][2]  # identity side loses ReadModels
    assert not _model(prod=prod).can(PROD_TASK, "s3:GetObject", MODEL)

    dev = stack("dev")
    del _policy(dev, "artifact-policy")["Statement"][1]  # resource side loses ReadersGetModels
    assert not _model(dev=dev).can(PROD_TASK, "s3:GetObject", MODEL)


def test_the_grant_stops_at_its_limits() -> None:
    model = _model()
    assert not model.can(PROD_TASK, "s3:PutObject", MODEL)
    assert not model.can(PROD_TASK, "s3:DeleteObject", MODEL)
    assert not model.can(PROD_TASK, "s3:GetObject", f"arn:aws:s3:::{STORE}/secrets/x")
    assert not model.can(PROD_TASK, "s3:ListBucket", f"arn:aws:s3:::{STORE}", {"s3:prefix": ""})
    assert not model.can(PROD_TASK, "kms:Decrypt", KEY_ARN)  # not through S3
    assert not model.can(PROD_TASK, "s3:GetObject", f"arn:aws:s3:::{bucket_name('input', 'dev', DEV)}/raw/x.csv")


def test_non_tls_requests_are_denied_even_to_the_owner() -> None:
    model = _model()
    insecure = {"aws:SecureTransport": "false"}
    assert model.can(DEV_TASK, "s3:GetObject", f"arn:aws:s3:::{bucket_name('input', 'dev', DEV)}/raw/x.csv")
    assert not model.can(
        DEV_TASK, "s3:GetObject", f"arn:aws:s3:::{bucket_name('input', 'dev', DEV)}/raw/x.csv", insecure
    )
    assert not model.can(PROD_TASK, "s3:GetObject", MODEL, insecure)


def test_outsiders_are_stopped_by_the_resource_side() -> None:
    model = _model()
    other_prod_role = model.add_outsider(f"arn:aws:iam::{PROD}:role/analytics")
    foreign = model.add_outsider("arn:aws:iam::111122223333:role/ds-preprocessing-task-prod")
    for outsider in (other_prod_role, foreign):
        assert not model.can(outsider, "s3:GetObject", MODEL)
        assert not model.can(outsider, "kms:Decrypt", KEY_ARN, VIA_S3)
    operator = model.add_outsider(f"arn:aws:iam::{PROD}:role/ds-preprocessing-operator")
    assert model.can(operator, "s3:GetObject", MODEL)


def test_a_widened_bucket_policy_is_caught() -> None:
    dev = stack("dev")
    del _policy(dev, "artifact-policy")["Statement"][1]["Condition"]
    model = _model(dev=dev)
    assert model.can(model.add_outsider(f"arn:aws:iam::{PROD}:role/analytics"), "s3:GetObject", MODEL)


def test_a_role_trusting_only_github_oidc_is_assumable_by_no_iam_principal() -> None:
    """The deploy role trusts GitHub's OIDC provider only: no IAM role of any account (the old cross-account CI
    role included) can assume it with sts:AssumeRole."""
    model = _model()
    deploy = f"arn:aws:iam::{PROD}:role/ds-preprocessing-deploy-prod"
    for outsider in (f"arn:aws:iam::{DEV}:role/ds-preprocessing-ci", f"arn:aws:iam::{PROD}:role/someone-else"):
        assert not model.can(model.add_outsider(outsider), "sts:AssumeRole", deploy)


def test_cross_account_access_to_a_resource_without_resource_policy_is_denied() -> None:
    model = _model()
    parameter = f"arn:aws:ssm:{REGION}:{DEV}:parameter/ds/preprocessing/model-key"
    assert not model.can(model.add_outsider(f"arn:aws:iam::{PROD}:role/admin"), "ssm:GetParameter", parameter)
    assert model.can(model.add_outsider(f"arn:aws:iam::{DEV}:role/admin"), "ssm:GetParameter", parameter)


def test_mistakes_in_a_query_name_the_fix() -> None:
    model = _model()
    with pytest.raises(KeyError, match="add_outsider"):
        model.can(f"arn:aws:iam::{PROD}:role/nobody", "s3:GetObject", MODEL)
    with pytest.raises(ValueError, match="no synthesized stack creates bucket"):
        model.can(PROD_TASK, "s3:GetObject", "arn:aws:s3:::somebody-elses-bucket/x")
    with pytest.raises(ValueError, match="not an ARN"):
        model.add_outsider("ds-preprocessing-ci")


def test_a_permissions_boundary_caps_the_role_and_keys_changes_to_it() -> None:
    prod = stack("prod")
    boundary_arn = f"arn:aws:iam::{PROD}:policy/ds-preprocessing-boundary-prod"
    input_objects = f"arn:aws:s3:::{bucket_name('input', 'prod', PROD)}/*"
    boundary = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": [input_objects, f"arn:aws:s3:::{STORE}/models/*"]}
        ],
    }
    deploy_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:PutRolePolicy",
                "Resource": PROD_TASK,
                "Condition": {"ArnEquals": {"iam:PermissionsBoundary": boundary_arn}},
            }
        ],
    }
    for resource in prod["resources"]:
        if resource["name"] == "task-role":
            resource["inputs"]["permissionsBoundary"] = boundary_arn
    prod["resources"] += [
        {
            "type": "aws:iam/policy:Policy",
            "name": "boundary",
            "id": boundary_arn,
            "inputs": {"name": "ds-preprocessing-boundary-prod", "policy": boundary},
        },
        {
            "type": "aws:iam/rolePolicy:RolePolicy",
            "name": "deploy-policy",
            "id": "x",
            "inputs": {"role": "ds-preprocessing-deploy-prod", "policy": deploy_policy},
        },
    ]
    model = _model(prod=prod)
    assert model.can(PROD_TASK, "s3:GetObject", input_objects.replace("*", "raw/x.csv"))
    output_object = f"arn:aws:s3:::{bucket_name('output', 'prod', PROD)}/processed/r/part-0.parquet"
    assert not model.can(PROD_TASK, "s3:PutObject", output_object), "allowed inline, but outside the boundary"

    deploy = f"arn:aws:iam::{PROD}:role/ds-preprocessing-deploy-prod"
    assert model.request_context(deploy, "iam:PutRolePolicy", PROD_TASK)["iam:PermissionsBoundary"] == boundary_arn
    assert model.can(deploy, "iam:PutRolePolicy", PROD_TASK)
    other = {"iam:PermissionsBoundary": f"arn:aws:iam::{PROD}:policy/other"}
    assert not model.can(deploy, "iam:PutRolePolicy", PROD_TASK, other)
