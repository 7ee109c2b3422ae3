"""Hand-written synthesized stacks (``SynthResult.to_dict()`` shape) for unit tests of the checkers.

They mirror what the real program creates (TLS-only bucket policies, the artifact store's prefix- and role-limited
cross-account grant, the KMS key usable only through S3), so the checkers are proven on realistic documents before
and independently of the Pulumi program.
"""

from __future__ import annotations

import copy
from typing import Any

DEV, PROD, REGION = "123456789012", "987654321098", "us-east-1"
STORE = f"ds-artifacts-dev-{DEV}-{REGION}"
KEY_ID = "0b1c2d3e-4f50-4617-a829-3a4b5c6d7e8f"
KEY_ARN = f"arn:aws:kms:{REGION}:{DEV}:key/{KEY_ID}"


def bucket_name(kind: str, env: str, account: str) -> str:
    return f"ds-{kind}-{env}-{account}-{REGION}"


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _tls_only(bucket: str, *extra: dict[str, Any]) -> dict[str, Any]:
    return _doc(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        *extra,
    )


def _reader_patterns() -> list[str]:
    return [f"arn:aws:iam::{PROD}:role/ds-preprocessing-task-*", f"arn:aws:iam::{PROD}:role/ds-preprocessing-operator"]


def _store_policy() -> dict[str, Any]:
    return _tls_only(
        STORE,
        {
            "Sid": "ReadersGetModels",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PROD}:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{STORE}/models/*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": _reader_patterns()}},
        },
        {
            "Sid": "ReadersListModels",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PROD}:root"},
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{STORE}",
            "Condition": {"ArnLike": {"aws:PrincipalArn": _reader_patterns()}, "StringLike": {"s3:prefix": "models/*"}},
        },
    )


def _key_policy() -> dict[str, Any]:
    return _doc(
        {
            "Sid": "OwnerAccount",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{DEV}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "ReadersDecryptViaS3",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PROD}:root"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
                "ArnLike": {"aws:PrincipalArn": _reader_patterns()},
            },
        },
    )


def _task_trust() -> dict[str, Any]:
    return _doc({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"})


def _resource(token: str, name: str, resource_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": token,
        "name": name,
        "urn": f"urn:pulumi:x::ds-preprocessing::{token}::{name}",
        "id": resource_id,
        "parent": None,
        "inputs": inputs,
    }


def _task_policy(env: str, account: str) -> dict[str, Any]:
    inp, out = bucket_name("input", env, account), bucket_name("output", env, account)
    return _doc(
        {"Sid": "ReadInput", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{inp}/raw/*"},
        {
            "Sid": "WriteOutput",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::{out}/*",
        },
        {
            "Sid": "ReadModels",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{STORE}/models/*",
        },
        {
            "Sid": "ListModels",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{STORE}",
            "Condition": {"StringLike": {"s3:prefix": "models/*"}},
        },
        {"Sid": "DecryptModels", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN},
    )


def stack(env: str) -> dict[str, Any]:
    """A synthesized ``dev`` (owns the store) or ``prod`` (reads it) stack."""
    account = DEV if env == "dev" else PROD
    resources = [
        _resource("pulumi:providers:aws", "aws", "p", {"region": REGION, "allowedAccountIds": f'["{account}"]'}),
    ]
    for kind in ("input", "output"):
        name = bucket_name(kind, env, account)
        resources += [
            _resource("aws:s3/bucket:Bucket", f"{kind}-bucket", name, {"bucket": name}),
            _resource(
                "aws:s3/bucketPolicy:BucketPolicy", f"{kind}-tls", name, {"bucket": name, "policy": _tls_only(name)}
            ),
        ]
    if env == "dev":
        resources += [
            _resource("aws:s3/bucket:Bucket", "artifact-bucket", STORE, {"bucket": STORE}),
            _resource(
                "aws:s3/bucketPolicy:BucketPolicy",
                "artifact-policy",
                STORE,
                {"bucket": STORE, "policy": _store_policy()},
            ),
            _resource("aws:kms/key:Key", "artifact-key", KEY_ID, {"enableKeyRotation": True, "policy": _key_policy()}),
        ]
    role = f"ds-preprocessing-task-{env}"
    resources += [
        _resource("aws:iam/role:Role", "task-role", role, {"name": role, "assumeRolePolicy": _task_trust()}),
        _resource(
            "aws:iam/rolePolicy:RolePolicy",
            "task-policy",
            f"{role}:task",
            {"role": role, "name": "task", "policy": _task_policy(env, account)},
        ),
    ]
    if env == "prod":
        deploy = "ds-preprocessing-deploy-prod"
        trust = _doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{DEV}:role/ds-preprocessing-ci"},
                "Action": "sts:AssumeRole",
            }
        )
        resources.append(
            _resource("aws:iam/role:Role", "deploy-role", deploy, {"name": deploy, "assumeRolePolicy": trust})
        )
    return {"project": "ds-preprocessing", "stack": env, "resources": copy.deepcopy(resources), "outputs": {}}
