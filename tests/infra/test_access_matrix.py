"""Who may touch the model artifact store and the data buckets, decided by principalmapper from the synthesized
documents of both stacks (moto does not enforce bucket or key policies, DESIGN.md section 4).

Each row is one request as AWS would see it (realistic condition keys: TLS, principal ARN/account, ``kms:ViaService``
for S3's calls to KMS, ``s3:prefix`` for listings) and the answer we require. Outsiders (a prod role outside the
reader patterns, a foreign account's role named like ours, the dev CI role) get a broad identity policy, so their
rows test what the *resource* side allows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

from components import naming
from dsctl.synth import SynthResult
from policy.access import AccessModel, via_service

DEV, PROD, FOREIGN = "123456789012", "987654321098", "111122223333"
REGION = "us-east-1"
MODEL = "models/1.2.3/model.pkl"
VIA_S3 = via_service("s3", REGION)
NO_TLS = {"aws:SecureTransport": "false"}


def _role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


PROD_TASK = _role(PROD, "ds-preprocessing-task-prod")
PROD_EXEC = _role(PROD, "ds-preprocessing-exec-prod")
PROD_DEPLOY = _role(PROD, "ds-preprocessing-deploy-prod")
DEV_TASK = _role(DEV, "ds-preprocessing-task-dev")
OUTSIDERS = {
    "prod-analytics": _role(PROD, "analytics"),
    "prod-operator": _role(PROD, "ds-preprocessing-operator"),
    "foreign-task": _role(FOREIGN, "ds-preprocessing-task-prod"),
    "dev-ci": _role(DEV, "ds-preprocessing-ci"),
    "dev-someone": _role(DEV, "someone-else"),
}


@dataclass(frozen=True)
class Request:
    """One row: ``who`` does ``action`` on ``target`` (an output name + suffix) and AWS must answer ``allowed``."""

    who: str
    action: str
    target: tuple[str, str, str]  # (stack, output name, suffix appended to its value); no output: suffix is the ARN
    allowed: bool
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        stack, output, suffix = self.target
        verdict = "allow" if self.allowed else "deny"
        who = self.who.rsplit("/", 1)[-1] + ("@" + self.who.split(":")[4] if self.who.split(":")[4] == FOREIGN else "")
        extra = ",".join(f"{k}={v}" for k, v in self.keys.items())
        target = f"{stack}.{output}{suffix}" if output else suffix.rsplit(":", 1)[-1]
        return f"{verdict}:{who}:{self.action}:{target}" + (f"[{extra}]" if extra else "")


PROD_BOUNDARY = f"arn:aws:iam::{PROD}:policy/{naming.role_boundary('prod')}"
OTHER_BOUNDARY = f"arn:aws:iam::{PROD}:policy/some-wider-boundary"
STORE = ("dev", "artifactBucketArn")
KEY = ("dev", "artifactKmsKeyArn", "")


def _store(suffix: str = "") -> tuple[str, str, str]:
    return (*STORE, suffix)


MATRIX = [
    # prod's task role reads models/* of dev's store, lists under models/, and decrypts only through S3
    Request(PROD_TASK, "s3:GetObject", _store(f"/{MODEL}"), True),
    Request(PROD_TASK, "s3:GetObject", _store("/models/1.2.3/manifest.json"), True),
    Request(PROD_TASK, "s3:ListBucket", _store(), True, {"s3:prefix": "models/"}),
    Request(PROD_TASK, "kms:Decrypt", KEY, True, VIA_S3),
    # ... and nothing else there
    Request(PROD_TASK, "s3:PutObject", _store(f"/{MODEL}"), False),
    Request(PROD_TASK, "s3:DeleteObject", _store(f"/{MODEL}"), False),
    Request(PROD_TASK, "s3:PutObjectAcl", _store(f"/{MODEL}"), False),
    Request(PROD_TASK, "s3:GetObject", _store("/staging/draft.pkl"), False),
    Request(PROD_TASK, "s3:GetObject", _store("/models-old/1.0.0/model.pkl"), False),
    Request(PROD_TASK, "s3:ListBucket", _store(), False, {"s3:prefix": ""}),
    Request(PROD_TASK, "s3:ListBucket", _store(), False, {"s3:prefix": "staging/"}),
    Request(PROD_TASK, "s3:PutBucketPolicy", _store(), False),
    Request(PROD_TASK, "kms:Decrypt", KEY, False),  # directly, not through S3
    Request(PROD_TASK, "kms:Encrypt", KEY, False, VIA_S3),
    Request(PROD_TASK, "kms:GenerateDataKey", KEY, False, VIA_S3),
    Request(PROD_TASK, "s3:GetObject", _store(f"/{MODEL}"), False, NO_TLS),
    # prod's task role cannot reach dev's data
    Request(PROD_TASK, "s3:GetObject", ("dev", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(PROD_TASK, "s3:GetObject", ("dev", "outputBucketArn", "/processed/run-1/part-0.parquet"), False),
    Request(PROD_TASK, "s3:PutObject", ("dev", "outputBucketArn", "/processed/run-1/part-0.parquet"), False),
    # prod's own data path (positive controls)
    Request(PROD_TASK, "s3:GetObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), True),
    Request(PROD_TASK, "s3:PutObject", ("prod", "outputBucketArn", "/processed/run-1/part-0.parquet"), True),
    Request(PROD_TASK, "s3:PutObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), False),
    # other principals cannot read the store: other prod roles, a foreign account's look-alike role
    Request(PROD_EXEC, "s3:GetObject", _store(f"/{MODEL}"), False),
    Request(PROD_DEPLOY, "s3:GetObject", _store(f"/{MODEL}"), False),
    Request(OUTSIDERS["prod-analytics"], "s3:GetObject", _store(f"/{MODEL}"), False),
    Request(OUTSIDERS["prod-analytics"], "s3:ListBucket", _store(), False, {"s3:prefix": "models/"}),
    Request(OUTSIDERS["prod-analytics"], "kms:Decrypt", KEY, False, VIA_S3),
    Request(OUTSIDERS["foreign-task"], "s3:GetObject", _store(f"/{MODEL}"), False),
    Request(OUTSIDERS["foreign-task"], "kms:Decrypt", KEY, False, VIA_S3),
    # the configured operator pattern may read models, still only read
    Request(OUTSIDERS["prod-operator"], "s3:GetObject", _store(f"/{MODEL}"), True),
    Request(OUTSIDERS["prod-operator"], "kms:Decrypt", KEY, True, VIA_S3),
    Request(OUTSIDERS["prod-operator"], "s3:PutObject", _store(f"/{MODEL}"), False),
    Request(OUTSIDERS["prod-operator"], "s3:DeleteObject", _store(f"/{MODEL}"), False),
    # dev's task role: reads its input, writes its output, reads models through its own key; never over plain HTTP
    Request(DEV_TASK, "s3:GetObject", ("dev", "inputBucketArn", "/raw/monthly_data.csv"), True),
    Request(DEV_TASK, "s3:PutObject", ("dev", "outputBucketArn", "/processed/run-1/part-0.parquet"), True),
    Request(DEV_TASK, "s3:PutObject", ("dev", "outputBucketArn", "/_staging/run-1/part-0.parquet"), True),
    Request(DEV_TASK, "s3:GetObject", _store(f"/{MODEL}"), True),
    Request(DEV_TASK, "kms:Decrypt", KEY, True, VIA_S3),
    Request(DEV_TASK, "s3:PutObject", ("dev", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(DEV_TASK, "s3:PutObject", _store(f"/{MODEL}"), False),
    Request(DEV_TASK, "s3:GetObject", ("dev", "inputBucketArn", "/raw/monthly_data.csv"), False, NO_TLS),
    Request(DEV_TASK, "s3:PutObject", ("dev", "outputBucketArn", "/processed/run-1/part-0.parquet"), False, NO_TLS),
    Request(DEV_TASK, "s3:GetObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), False),
    # deployment: only dev's CI role may assume prod's deploy role, which has no data access
    Request(OUTSIDERS["dev-ci"], "sts:AssumeRole", ("prod", "deployRoleArn", ""), True),
    Request(OUTSIDERS["dev-someone"], "sts:AssumeRole", ("prod", "deployRoleArn", ""), False),
    Request(OUTSIDERS["foreign-task"], "sts:AssumeRole", ("prod", "deployRoleArn", ""), False),
    Request(PROD_DEPLOY, "s3:GetObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(PROD_DEPLOY, "iam:PutRolePolicy", ("prod", "deployRoleArn", ""), False),
    Request(PROD_DEPLOY, "iam:PutRolePolicy", ("prod", "taskRoleArn", ""), True),
    # ... only while the role keeps the project's permissions boundary, which the deployer cannot change or drop
    Request(
        PROD_DEPLOY,
        "iam:PutRolePolicy",
        ("prod", "taskRoleArn", ""),
        False,
        {"iam:PermissionsBoundary": OTHER_BOUNDARY},
    ),
    Request(
        PROD_DEPLOY, "iam:CreateRole", ("prod", "taskRoleArn", ""), False, {"iam:PermissionsBoundary": OTHER_BOUNDARY}
    ),
    Request(PROD_DEPLOY, "iam:DeleteRolePermissionsBoundary", ("prod", "taskRoleArn", ""), False),
    Request(PROD_DEPLOY, "iam:PutRolePermissionsBoundary", ("prod", "taskRoleArn", ""), False),
    Request(PROD_DEPLOY, "iam:AttachRolePolicy", ("prod", "taskRoleArn", ""), False),
    Request(PROD_DEPLOY, "iam:CreatePolicyVersion", ("prod", "", PROD_BOUNDARY), False),
    Request(PROD_DEPLOY, "iam:DeletePolicy", ("prod", "", PROD_BOUNDARY), False),
]


@pytest.fixture(scope="module")
def model(dev_stack: SynthResult, prod_stack: SynthResult) -> AccessModel:
    model = AccessModel.from_stacks(dev_stack.to_dict(), prod_stack.to_dict())
    for arn in OUTSIDERS.values():
        model.add_outsider(arn)
    return model


@pytest.mark.parametrize("request_", MATRIX, ids=[row.id for row in MATRIX])
def test_access(request_: Request, model: AccessModel, dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    stack, output, suffix = request_.target
    resource = ({"dev": dev_stack, "prod": prod_stack}[stack].outputs[output] if output else "") + suffix
    assert model.can(request_.who, request_.action, resource, request_.keys) is request_.allowed


def test_every_workload_role_of_both_stacks_is_in_the_model(
    model: AccessModel, dev_stack: SynthResult, prod_stack: SynthResult
) -> None:
    for stack in (dev_stack, prod_stack):
        for output in ("taskRoleArn", "executionRoleArn", "stateMachineRoleArn"):
            assert stack.outputs[output] in model.principals


def test_the_matrix_catches_a_widened_store_policy(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    """Drop the role-pattern condition from the store's grants: the matrix's outsider rows must then flip."""
    dev = copy.deepcopy(dev_stack.to_dict())
    (policy,) = [
        r["inputs"]["policy"]
        for r in dev["resources"]
        if r["type"] == "aws:s3/bucketPolicy:BucketPolicy"
        and r["inputs"]["bucket"] == dev_stack.outputs["artifactBucketName"]
    ]
    for statement in policy["Statement"]:
        statement.get("Condition", {}).pop("ArnLike", None)
    widened = AccessModel.from_stacks(dev, prod_stack.to_dict())
    analytics = widened.add_outsider(OUTSIDERS["prod-analytics"])
    assert widened.can(analytics, "s3:GetObject", dev_stack.outputs["artifactBucketArn"] + f"/{MODEL}")
