"""Hand-written synthesized stacks (``SynthResult.to_dict()`` shape) for unit tests of the checkers.

They mirror what the real program creates (TLS-only bucket policies, the artifact store's prefix- and role-limited
cross-account grant, the KMS key usable only through S3), so the checkers are proven on realistic documents before
and independently of the Pulumi program.

This module is the single source of the documents and constants the policy tests share: the accounts, the CI
principal, the store and its key, the reader role patterns, the TLS deny, the store's reader grant, the key policy and
the task trust. ``stack_fixture`` builds its compliant rule-test stack from them, so a change to the store's grant
shape is made here once.
"""

from __future__ import annotations

import copy
from typing import Any

DEV, PROD, REGION = "123456789012", "987654321098", "us-east-1"
STORE = f"ds-artifacts-dev-{DEV}-{REGION}"
KEY_ID = "0b1c2d3e-4f50-4617-a829-3a4b5c6d7e8f"
KEY_ARN = f"arn:aws:kms:{REGION}:{DEV}:key/{KEY_ID}"
READER_ROOT = f"arn:aws:iam::{PROD}:root"
GITHUB_OIDC = f"arn:aws:iam::{PROD}:oidc-provider/token.actions.githubusercontent.com"


def bucket_name(kind: str, env: str, account: str) -> str:
    return f"ds-{kind}-{env}-{account}-{REGION}"


def urn(token: str, name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::ds-preprocessing::{token}::{name}"


def resource(
    token: str,
    name: str,
    inputs: dict[str, Any],
    parent: str | None = None,
    *,
    resource_id: str | None = None,
    stack: str = "dev",
) -> dict[str, Any]:
    """One resource in the synth format (its id is its logical name unless given)."""
    return {
        "type": token,
        "name": name,
        "urn": urn(token, name, stack),
        "id": name if resource_id is None else resource_id,
        "parent": parent,
        "inputs": inputs,
    }


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def tls_deny(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(bucket: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """A TLS-only bucket policy (statement 0 is the deny), plus ``extra`` statements."""
    return document(tls_deny(bucket), *extra)


def reader_patterns() -> list[str]:
    """The ``aws:PrincipalArn`` patterns of the reader account's roles that may read the store."""
    return [f"arn:aws:iam::{PROD}:role/ds-preprocessing-task-*", f"arn:aws:iam::{PROD}:role/ds-preprocessing-operator"]


def store_reader_statements() -> list[dict[str, Any]]:
    """The store's grant to the reader account: GetObject on ``models/*``, then ListBucket under ``models/``."""
    return [
        {
            "Sid": "ReadersGetModels",
            "Effect": "Allow",
            "Principal": {"AWS": READER_ROOT},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{STORE}/models/*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": reader_patterns()}},
        },
        {
            "Sid": "ReadersListModels",
            "Effect": "Allow",
            "Principal": {"AWS": READER_ROOT},
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{STORE}",
            "Condition": {"ArnLike": {"aws:PrincipalArn": reader_patterns()}, "StringLike": {"s3:prefix": "models/*"}},
        },
    ]


ADMIN = f"arn:aws:iam::{DEV}:role/platform-admin"


def store_immutability_statements() -> list[dict[str, Any]]:
    """The store's write-once denies (AWS's documented conditional-write enforcement), exempting the admin role."""
    not_admin = {"ArnNotLike": {"aws:PrincipalArn": [ADMIN]}}
    models = f"arn:aws:s3:::{STORE}/models/*"
    deny = {"Effect": "Deny", "Principal": "*"}
    return [
        {
            **deny,
            "Sid": "NoUnconditionalModelWrites",
            "Action": "s3:PutObject",
            "Resource": models,
            "Condition": {
                "Null": {"s3:if-none-match": "true"},
                "Bool": {"s3:ObjectCreationOperation": "true"},
                **not_admin,
            },
        },
        {
            **deny,
            "Sid": "NoIfMatchModelWrites",
            "Action": "s3:PutObject",
            "Resource": models,
            "Condition": {"Null": {"s3:if-match": "false"}, **not_admin},
        },
        {
            **deny,
            "Sid": "NoModelDeletes",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": models,
            "Condition": not_admin,
        },
        {
            **deny,
            "Sid": "NoGovernanceChanges",
            "Action": [
                "s3:DeleteBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:PutBucketVersioning",
                "s3:PutLifecycleConfiguration",
                "s3:PutReplicationConfiguration",
            ],
            "Resource": f"arn:aws:s3:::{STORE}",
            "Condition": not_admin,
        },
    ]


def store_policy() -> dict[str, Any]:
    """The store's bucket policy: 0 TLS deny, 1 ReadersGetModels, 2 ReadersListModels, 3-6 the write-once denies."""
    return bucket_policy(STORE, *store_reader_statements(), *store_immutability_statements())


def key_policy() -> dict[str, Any]:
    """The store key's policy: 0 the owner account administers it (kms:*), 1 readers decrypt through S3 only."""
    return document(
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
            "Principal": {"AWS": READER_ROOT},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
                "ArnLike": {"aws:PrincipalArn": reader_patterns()},
            },
        },
    )


def task_trust() -> dict[str, Any]:
    return document(
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )


def _task_policy(env: str, account: str) -> dict[str, Any]:
    inp, out = bucket_name("input", env, account), bucket_name("output", env, account)
    return document(
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

    def _resource(token: str, name: str, resource_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return resource(token, name, inputs, resource_id=resource_id, stack=env)

    resources = [
        _resource("pulumi:providers:aws", "aws", "p", {"region": REGION, "allowedAccountIds": f'["{account}"]'}),
    ]
    for kind in ("input", "output"):
        name = bucket_name(kind, env, account)
        resources += [
            _resource("aws:s3/bucket:Bucket", f"{kind}-bucket", name, {"bucket": name}),
            _resource(
                "aws:s3/bucketPolicy:BucketPolicy", f"{kind}-tls", name, {"bucket": name, "policy": bucket_policy(name)}
            ),
        ]
    if env == "dev":
        resources += [
            _resource("aws:s3/bucket:Bucket", "artifact-bucket", STORE, {"bucket": STORE}),
            _resource(
                "aws:s3/bucketPolicy:BucketPolicy",
                "artifact-policy",
                STORE,
                {"bucket": STORE, "policy": store_policy()},
            ),
            _resource("aws:kms/key:Key", "artifact-key", KEY_ID, {"enableKeyRotation": True, "policy": key_policy()}),
        ]
    role = f"ds-preprocessing-task-{env}"
    resources += [
        _resource("aws:iam/role:Role", "task-role", role, {"name": role, "assumeRolePolicy": task_trust()}),
        _resource(
            "aws:iam/rolePolicy:RolePolicy",
            "task-policy",
            f"{role}:task",
            {"role": role, "name": "task", "policy": _task_policy(env, account)},
        ),
    ]
    if env == "prod":
        deploy = "ds-preprocessing-deploy-prod"
        trust = document(
            {
                "Effect": "Allow",
                "Principal": {"Federated": GITHUB_OIDC},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": "repo:acme-data/ds-preprocessing:environment:prod",
                    }
                },
            }
        )
        resources.append(
            _resource("aws:iam/role:Role", "deploy-role", deploy, {"name": deploy, "assumeRolePolicy": trust})
        )
    return {"project": "ds-preprocessing", "stack": env, "resources": copy.deepcopy(resources), "outputs": {}}
