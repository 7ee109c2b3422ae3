"""Who may touch the model artifact store and the data buckets, decided by principalmapper from the synthesized
documents of both stacks (moto does not enforce bucket or key policies, DESIGN.md section 4).

Each row is one request as AWS would see it (realistic condition keys: TLS, principal ARN/account, ``kms:ViaService``
for S3's calls to KMS, ``s3:prefix`` for listings) and the answer we require. Outsiders (a prod role outside the
reader patterns, a foreign account's role named like ours, the dev CI role, the operators' SSO role) get a broad
identity policy, so their rows test what the *resource* side (bucket, key, trust policy) allows. The operator roles
are the stacks' own, with their real policies and boundary.
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
PROD_PREVIEW = _role(PROD, "ds-preprocessing-preview-prod")
DEV_TASK = _role(DEV, "ds-preprocessing-task-dev")
# dsctl's role in each account (created by the stacks: operatorPermissionSet), and the SSO roles it trusts
PROD_OPERATOR = _role(PROD, "ds-preprocessing-operator")
PROD_PROMOTER = _role(PROD, "ds-preprocessing-promoter")  # promoterPermissionSet (ModelApprovers) in Pulumi.prod.yaml
DEV_OPERATOR = _role(DEV, "ds-preprocessing-operator")
OUTSIDERS = {
    "prod-analytics": _role(PROD, "analytics"),
    "foreign-task": _role(FOREIGN, "ds-preprocessing-task-prod"),
    "dev-ci": _role(DEV, "ds-preprocessing-ci"),
    "dev-someone": _role(DEV, "someone-else"),
    "dev-sso-data-science": _role(DEV, "aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataScience_0123456789abcdef"),
    # re-provisioned (new suffix) and outside us-east-1 (region path segment): still the permission set's role
    "prod-sso-data-science": _role(
        PROD, "aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_DataScience_fedcba9876"
    ),
    "prod-sso-approvers": _role(PROD, "aws-reserved/sso.amazonaws.com/AWSReservedSSO_ModelApprovers_0123456789abcdef"),
    "prod-sso-admin": _role(PROD, "aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataScienceAdmin_0123456789abcdef"),
    "foreign-sso-data-science": _role(
        FOREIGN, "aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataScience_0123456789abcdef"
    ),
    # dev's administrator (adminPrincipalArns in Pulumi.dev.yaml): the one principal that may break glass on the store
    "dev-admin": _role(DEV, "aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformAdmin_0123456789abcdef"),
}
# The request context S3 gives a PutObject that creates an object (PutObject, CopyObject, CompleteMultipartUpload),
# with and without dsctl's If-None-Match: *, and with an If-Match (replace-if-unchanged); and an UploadPart, which
# authorizes as PutObject but is no object creation and cannot carry the header.
CREATE = {"s3:ObjectCreationOperation": "true"}
CREATE_IF_NONE_MATCH = {**CREATE, "s3:if-none-match": "*"}
CREATE_IF_MATCH = {**CREATE, "s3:if-match": '"0123456789abcdef0123456789abcdef"'}
UPLOAD_PART = {"s3:ObjectCreationOperation": "false"}


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
PROD_OPERATOR_BOUNDARY = f"arn:aws:iam::{PROD}:policy/{naming.operator_boundary('prod')}"
OTHER_BOUNDARY = f"arn:aws:iam::{PROD}:policy/some-wider-boundary"
STORE = ("dev", "artifactBucketArn")
DEV_REPOSITORY = f"arn:aws:ecr:{REGION}:{DEV}:repository/{naming.ECR_REPOSITORY}"
PROD_REPOSITORY = f"arn:aws:ecr:{REGION}:{PROD}:repository/{naming.ECR_REPOSITORY}"
KEY = ("dev", "artifactKmsKeyArn", "")
REPLICA_REGION = "us-west-2"  # artifactReplicaRegion in Pulumi.dev.yaml
REPLICA_KEY = ("dev", "artifactReplicaKmsKeyArn", "")
REPLICA_VIA_S3 = via_service("s3", REPLICA_REGION)


def _replica(suffix: str = "") -> tuple[str, str, str]:
    return ("dev", "", f"arn:aws:s3:::{naming.artifact_replica_bucket('dev', DEV, REPLICA_REGION)}{suffix}")


def _store(suffix: str = "") -> tuple[str, str, str]:
    return (*STORE, suffix)


def _param(stack: str, key: str) -> tuple[str, str, str]:
    account = {"dev": DEV, "prod": PROD}[stack]
    return (stack, "", f"arn:aws:ssm:{REGION}:{account}:parameter/ds/preprocessing/{key}")


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
    # prod's task role reads the store's replica (dev's artifactReplicaRegion) in advance, so a failover needs no
    # deploy: models/* and its own key through S3 in the replica's region, and nothing else there
    Request(PROD_TASK, "s3:GetObject", _replica(f"/{MODEL}"), True),
    Request(PROD_TASK, "s3:ListBucket", _replica(), True, {"s3:prefix": "models/"}),
    Request(PROD_TASK, "kms:Decrypt", REPLICA_KEY, True, REPLICA_VIA_S3),
    Request(PROD_TASK, "kms:Decrypt", REPLICA_KEY, False, VIA_S3),  # through S3 of the store's region: not its key
    Request(PROD_TASK, "kms:Decrypt", REPLICA_KEY, False),
    Request(PROD_TASK, "s3:PutObject", _replica(f"/{MODEL}"), False),
    Request(PROD_TASK, "s3:DeleteObject", _replica(f"/{MODEL}"), False),
    Request(PROD_TASK, "s3:GetObject", _replica("/staging/draft.pkl"), False),
    Request(PROD_TASK, "s3:ListBucket", _replica(), False, {"s3:prefix": ""}),
    Request(PROD_EXEC, "s3:GetObject", _replica(f"/{MODEL}"), False),
    Request(OUTSIDERS["prod-analytics"], "s3:GetObject", _replica(f"/{MODEL}"), False),
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
    # prod's operator role (dsctl in prod): reads models/* of dev's store and decrypts through S3, as prod's job will
    Request(PROD_OPERATOR, "s3:GetObject", _store(f"/{MODEL}"), True),
    Request(PROD_OPERATOR, "s3:GetObject", _store("/models/1.2.3/validation.json"), True),
    Request(PROD_OPERATOR, "s3:ListBucket", _store(), True, {"s3:prefix": "models/"}),
    Request(PROD_OPERATOR, "kms:Decrypt", KEY, True, VIA_S3),
    # ... but never writes there (publishing is the owning account's), nor uses the key directly
    Request(PROD_OPERATOR, "s3:PutObject", _store(f"/{MODEL}"), False),
    Request(PROD_OPERATOR, "s3:PutObject", _store("/models/1.2.3/validation.json"), False),
    Request(PROD_OPERATOR, "s3:DeleteObject", _store(f"/{MODEL}"), False),
    Request(PROD_OPERATOR, "s3:GetObject", _store("/staging/draft.pkl"), False),
    Request(PROD_OPERATOR, "kms:Decrypt", KEY, False),
    Request(PROD_OPERATOR, "kms:GenerateDataKey", KEY, False, VIA_S3),
    # ... does not promote in prod (promoterPermissionSet: only the promoter role changes the model parameters)
    Request(PROD_OPERATOR, "ssm:PutParameter", _param("prod", "model-key"), False),
    Request(PROD_OPERATOR, "ssm:PutParameter", _param("prod", "model-sha256"), False),
    Request(PROD_OPERATOR, "ssm:PutParameter", _param("prod", "dsctl/promotion"), False),
    Request(PROD_OPERATOR, "ssm:LabelParameterVersion", _param("prod", "model-key"), False),
    Request(PROD_OPERATOR, "ssm:GetParameterHistory", _param("prod", "model-sha256"), True),
    # the promoter role: the model parameters, dsctl's record, labels and history, and the model read promote makes
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("prod", "model-key"), True),
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("prod", "model-sha256"), True),
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("prod", "dsctl/promotion"), True),
    Request(PROD_PROMOTER, "ssm:LabelParameterVersion", _param("prod", "model-sha256"), True),
    Request(PROD_PROMOTER, "ssm:GetParameterHistory", _param("prod", "model-key"), True),
    Request(PROD_PROMOTER, "s3:GetObject", _store(f"/{MODEL}"), True),
    Request(PROD_PROMOTER, "kms:Decrypt", KEY, True, VIA_S3),
    # ... `dsctl model failover`: artifact-bucket (to the store's replica and back), checking the model there first
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("prod", "artifact-bucket"), True),
    Request(PROD_PROMOTER, "s3:GetObject", _replica(f"/{MODEL}"), True),
    Request(PROD_PROMOTER, "kms:Decrypt", REPLICA_KEY, True, REPLICA_VIA_S3),
    Request(PROD_PROMOTER, "s3:PutObject", _replica(f"/{MODEL}"), False),
    # ... and nothing else: not the other bucket parameters, not another stack's, no runs, no writes to the store
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("prod", "input-bucket"), False),
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("prod", "output-bucket"), False),
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("dev", "artifact-bucket"), False),
    Request(PROD_PROMOTER, "ssm:DeleteParameter", _param("prod", "model-key"), False),
    Request(PROD_PROMOTER, "ssm:PutParameter", _param("dev", "model-key"), False),
    Request(PROD_PROMOTER, "states:StartExecution", ("prod", "stateMachineArn", ""), False),
    Request(PROD_PROMOTER, "s3:PutObject", _store(f"/{MODEL}"), False),
    # only the promoter permission set's SSO roles assume it (and set their source identity); not the operators
    Request(OUTSIDERS["prod-sso-approvers"], "sts:AssumeRole", ("prod", "promoterRoleArn", ""), True),
    Request(OUTSIDERS["prod-sso-approvers"], "sts:SetSourceIdentity", ("prod", "promoterRoleArn", ""), True),
    Request(OUTSIDERS["prod-sso-data-science"], "sts:AssumeRole", ("prod", "promoterRoleArn", ""), False),
    Request(OUTSIDERS["prod-sso-approvers"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(PROD_OPERATOR, "sts:AssumeRole", ("prod", "promoterRoleArn", ""), False),
    Request(OUTSIDERS["dev-ci"], "sts:AssumeRole", ("prod", "promoterRoleArn", ""), False),
    Request(OUTSIDERS["prod-sso-data-science"], "sts:SetSourceIdentity", ("prod", "operatorRoleArn", ""), True),
    Request(
        PROD_OPERATOR,
        "ssm:GetParametersByPath",
        ("prod", "", f"arn:aws:ssm:{REGION}:{PROD}:parameter/ds/preprocessing"),
        True,
    ),
    Request(PROD_OPERATOR, "ssm:PutParameter", _param("prod", "artifact-bucket"), False),
    Request(PROD_OPERATOR, "ssm:PutParameter", _param("prod", "input-key"), False),
    Request(PROD_OPERATOR, "ssm:DeleteParameter", _param("prod", "model-key"), False),
    # ... never another stack's parameters or pipeline
    Request(PROD_OPERATOR, "ssm:PutParameter", _param("dev", "model-key"), False),
    Request(PROD_OPERATOR, "ssm:GetParameter", _param("dev", "model-key"), False),
    Request(PROD_OPERATOR, "states:StartExecution", ("dev", "stateMachineArn", ""), False),
    # ... runs prod's pipeline and reads what a run reports, not the data it wrote
    Request(PROD_OPERATOR, "states:StartExecution", ("prod", "stateMachineArn", ""), True),
    Request(PROD_OPERATOR, "states:ListExecutions", ("prod", "stateMachineArn", ""), True),
    Request(
        PROD_OPERATOR,
        "states:DescribeExecution",
        ("prod", "", f"arn:aws:states:{REGION}:{PROD}:execution:ds-preprocessing-pipeline:run-20261127-101500-a1b2"),
        True,
    ),
    Request(PROD_OPERATOR, "states:DeleteStateMachine", ("prod", "stateMachineArn", ""), False),
    # ... follows a run: the execution's history (its task), that task's state, the job's log lines, nothing more
    Request(
        PROD_OPERATOR,
        "states:GetExecutionHistory",
        ("prod", "", f"arn:aws:states:{REGION}:{PROD}:execution:ds-preprocessing-pipeline:run-20261127-101500-a1b2"),
        True,
    ),
    Request(
        PROD_OPERATOR,
        "ecs:DescribeTasks",
        ("prod", "", f"arn:aws:ecs:{REGION}:{PROD}:task/ds-processing-cluster/0123456789abcdef"),
        True,
        {"ecs:cluster": f"arn:aws:ecs:{REGION}:{PROD}:cluster/ds-processing-cluster"},
    ),
    Request(
        PROD_OPERATOR,
        "ecs:DescribeTasks",
        ("prod", "", f"arn:aws:ecs:{REGION}:{PROD}:task/other-cluster/0123456789abcdef"),
        False,
        {"ecs:cluster": f"arn:aws:ecs:{REGION}:{PROD}:cluster/other-cluster"},
    ),
    Request(
        PROD_OPERATOR,
        "ecs:StopTask",
        ("prod", "", f"arn:aws:ecs:{REGION}:{PROD}:task/ds-processing-cluster/0123456789abcdef"),
        False,
        {"ecs:cluster": f"arn:aws:ecs:{REGION}:{PROD}:cluster/ds-processing-cluster"},
    ),
    Request(
        PROD_OPERATOR,
        "logs:GetLogEvents",
        (
            "prod",
            "",
            f"arn:aws:logs:{REGION}:{PROD}:log-group:{naming.log_group('prod')}:log-stream:job/ds-preprocessing/0a1b",
        ),
        True,
    ),
    Request(
        PROD_OPERATOR,
        "logs:GetLogEvents",
        ("prod", "", f"arn:aws:logs:{REGION}:{PROD}:log-group:/aws/lambda/other:log-stream:x"),
        False,
    ),
    Request(
        PROD_OPERATOR,
        "logs:PutLogEvents",
        (
            "prod",
            "",
            f"arn:aws:logs:{REGION}:{PROD}:log-group:{naming.log_group('prod')}:log-stream:job/ds-preprocessing/0a1b",
        ),
        False,
    ),
    Request(PROD_OPERATOR, "s3:GetObject", ("prod", "outputBucketArn", "/processed/run-1/manifest.json"), True),
    Request(PROD_OPERATOR, "s3:ListBucket", ("prod", "outputBucketArn", ""), True, {"s3:prefix": "processed/"}),
    Request(PROD_OPERATOR, "s3:GetObject", ("prod", "outputBucketArn", "/processed/run-1/part-0.parquet"), False),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "outputBucketArn", "/processed/run-1/manifest.json"), False),
    Request(
        PROD_OPERATOR,
        "cloudwatch:DescribeAlarms",
        ("prod", "", f"arn:aws:cloudwatch:{REGION}:{PROD}:alarm:ds-preprocessing-failed-executions-prod"),
        True,
    ),
    Request(PROD_OPERATOR, "ecs:DescribeClusters", ("prod", "clusterArn", ""), True),
    # ... uploads the month's input and validation data (make demo, the README's workflow), nowhere else
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), True),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/raw/x.csv"), True),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/validation/test_data.csv"), True),
    Request(PROD_OPERATOR, "s3:AbortMultipartUpload", ("prod", "inputBucketArn", "/raw/x.csv"), True),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/raw/x.csv"), False, NO_TLS),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/other/x.csv"), False),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/x.csv"), False),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/rawdata/x.csv"), False),
    Request(PROD_OPERATOR, "s3:DeleteObject", ("prod", "inputBucketArn", "/raw/x.csv"), False),
    # ... and reads none of prod's raw input: only validation/ (test data, the only dsctl read of input data)
    Request(PROD_OPERATOR, "s3:GetObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(PROD_OPERATOR, "s3:GetObject", ("prod", "inputBucketArn", "/validation/test_data.csv"), True),
    Request(PROD_OPERATOR, "s3:DeleteObjectVersion", ("prod", "inputBucketArn", "/raw/x.csv"), False),
    Request(PROD_OPERATOR, "s3:PutObjectAcl", ("prod", "inputBucketArn", "/raw/x.csv"), False),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "outputBucketArn", "/processed/run-1/part-0.parquet"), False),
    Request(PROD_OPERATOR, "s3:PutObject", ("prod", "outputBucketArn", "/raw/x.csv"), False),
    Request(PROD_OPERATOR, "s3:PutObject", ("dev", "inputBucketArn", "/raw/x.csv"), False),
    Request(PROD_OPERATOR, "iam:PassRole", ("prod", "taskRoleArn", ""), False),
    # each operator role may protect a pinned image in its own account's repository (a keep- tag: BatchGetImage +
    # PutImage of an existing manifest), and push no image content nor change the repository
    Request(DEV_OPERATOR, "ecr:BatchGetImage", ("dev", "", DEV_REPOSITORY), True),
    Request(DEV_OPERATOR, "ecr:PutImage", ("dev", "", DEV_REPOSITORY), True),
    Request(PROD_OPERATOR, "ecr:PutImage", ("prod", "", PROD_REPOSITORY), True),
    Request(PROD_OPERATOR, "ecr:PutImage", ("dev", "", DEV_REPOSITORY), False),
    Request(DEV_OPERATOR, "ecr:PutImage", ("dev", "", f"arn:aws:ecr:{REGION}:{DEV}:repository/other"), False),
    Request(DEV_OPERATOR, "ecr:InitiateLayerUpload", ("dev", "", DEV_REPOSITORY), False),
    Request(DEV_OPERATOR, "ecr:BatchDeleteImage", ("dev", "", DEV_REPOSITORY), False),
    Request(DEV_OPERATOR, "ecr:SetRepositoryPolicy", ("dev", "", DEV_REPOSITORY), False),
    Request(DEV_OPERATOR, "ecr:PutLifecyclePolicy", ("dev", "", DEV_REPOSITORY), False),
    # dev's operator role publishes: conditional PutObject of models and validation reports, the key through S3
    Request(DEV_OPERATOR, "s3:PutObject", _store(f"/{MODEL}"), True, CREATE_IF_NONE_MATCH),
    Request(DEV_OPERATOR, "s3:PutObject", _store("/models/1.2.3/validations/x.json"), True, CREATE_IF_NONE_MATCH),
    Request(DEV_OPERATOR, "s3:PutObject", _store(f"/{MODEL}"), True, UPLOAD_PART),  # multipart parts: no header
    # ... but never replaces one: the store's bucket policy denies a write without If-None-Match, or with If-Match
    Request(DEV_OPERATOR, "s3:PutObject", _store(f"/{MODEL}"), False, CREATE),
    Request(DEV_OPERATOR, "s3:PutObject", _store("/models/1.2.3/validation.json"), False, CREATE),
    Request(DEV_OPERATOR, "s3:PutObject", _store(f"/{MODEL}"), False, CREATE_IF_MATCH),
    Request(DEV_OPERATOR, "s3:DeleteObjectVersion", _store(f"/{MODEL}"), False),
    # the store's bucket policy binds everyone in the owning account, whatever their IAM policy (here: Allow *),
    # except the configured administrators
    Request(OUTSIDERS["dev-someone"], "s3:PutObject", _store(f"/{MODEL}"), True, CREATE_IF_NONE_MATCH),
    Request(OUTSIDERS["dev-someone"], "s3:PutObject", _store(f"/{MODEL}"), False, CREATE),
    Request(OUTSIDERS["dev-someone"], "s3:PutObject", _store(f"/{MODEL}"), False, CREATE_IF_MATCH),
    Request(OUTSIDERS["dev-someone"], "s3:DeleteObject", _store(f"/{MODEL}"), False),
    Request(OUTSIDERS["dev-someone"], "s3:DeleteObjectVersion", _store(f"/{MODEL}"), False),
    Request(OUTSIDERS["dev-someone"], "s3:PutBucketPolicy", _store(), False),
    Request(OUTSIDERS["dev-someone"], "s3:DeleteBucketPolicy", _store(), False),
    Request(OUTSIDERS["dev-someone"], "s3:PutBucketVersioning", _store(), False),
    Request(OUTSIDERS["dev-someone"], "s3:PutLifecycleConfiguration", _store(), False),
    Request(OUTSIDERS["dev-someone"], "s3:PutReplicationConfiguration", _store(), False),
    Request(OUTSIDERS["dev-someone"], "kms:ScheduleKeyDeletion", KEY, False),
    Request(OUTSIDERS["dev-someone"], "kms:DisableKey", KEY, False),
    Request(OUTSIDERS["dev-someone"], "kms:PutKeyPolicy", KEY, False),
    Request(OUTSIDERS["dev-someone"], "kms:EnableKeyRotation", KEY, True),  # routine key administration stays
    Request(OUTSIDERS["dev-someone"], "s3:PutObject", ("dev", "inputBucketArn", "/raw/x.csv"), True, CREATE),
    Request(OUTSIDERS["dev-admin"], "s3:PutObject", _store(f"/{MODEL}"), True, CREATE),
    Request(OUTSIDERS["dev-admin"], "s3:DeleteObjectVersion", _store(f"/{MODEL}"), True),
    Request(OUTSIDERS["dev-admin"], "s3:PutBucketPolicy", _store(), True),
    Request(OUTSIDERS["dev-admin"], "s3:PutReplicationConfiguration", _store(), True),
    Request(OUTSIDERS["dev-admin"], "kms:PutKeyPolicy", KEY, True),
    Request(OUTSIDERS["dev-admin"], "kms:ScheduleKeyDeletion", KEY, True),
    Request(OUTSIDERS["dev-admin"], "s3:GetObject", _store(f"/{MODEL}"), False, NO_TLS),
    Request(DEV_OPERATOR, "s3:GetObject", _store("/models/1.2.3/manifest.json"), True),
    Request(DEV_OPERATOR, "s3:ListBucket", _store(), True),  # a missing model answers 404, not 403
    Request(DEV_OPERATOR, "kms:GenerateDataKey", KEY, True, VIA_S3),
    Request(DEV_OPERATOR, "kms:Decrypt", KEY, True, VIA_S3),
    Request(DEV_OPERATOR, "s3:PutObject", _store("/staging/draft.pkl"), False),
    Request(DEV_OPERATOR, "s3:DeleteObject", _store(f"/{MODEL}"), False),
    Request(DEV_OPERATOR, "s3:PutBucketPolicy", _store(), False),
    Request(DEV_OPERATOR, "kms:GenerateDataKey", KEY, False),  # directly, not through S3
    Request(DEV_OPERATOR, "kms:Encrypt", KEY, False, VIA_S3),
    Request(DEV_OPERATOR, "s3:GetObject", _store(f"/{MODEL}"), False, NO_TLS),
    Request(DEV_OPERATOR, "s3:PutObject", ("dev", "inputBucketArn", "/raw/monthly_data.csv"), True),
    Request(DEV_OPERATOR, "s3:PutObject", ("dev", "inputBucketArn", "/validation/test_data.csv"), True),
    Request(DEV_OPERATOR, "s3:AbortMultipartUpload", ("dev", "inputBucketArn", "/validation/test_data.csv"), True),
    Request(DEV_OPERATOR, "s3:PutObject", ("dev", "inputBucketArn", "/processed/x.csv"), False),
    Request(DEV_OPERATOR, "s3:GetObject", ("dev", "inputBucketArn", "/validation/test_data.csv"), True),
    Request(DEV_OPERATOR, "s3:GetObject", ("dev", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(DEV_OPERATOR, "s3:DeleteObject", ("dev", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(DEV_OPERATOR, "s3:PutObject", ("dev", "outputBucketArn", "/processed/run-1/manifest.json"), False),
    # the promotion gate downstream: whether a dev run published (its _SUCCESS), not the run's data
    Request(DEV_OPERATOR, "s3:GetObject", ("dev", "outputBucketArn", "/processed/run-1/_SUCCESS"), True),
    Request(DEV_OPERATOR, "s3:GetObject", ("dev", "outputBucketArn", "/processed/run-1/part-0.parquet"), False),
    Request(DEV_OPERATOR, "s3:PutObject", ("prod", "inputBucketArn", "/raw/x.csv"), False),
    Request(DEV_OPERATOR, "ssm:PutParameter", _param("dev", "model-key"), True),
    Request(DEV_OPERATOR, "ssm:PutParameter", _param("dev", "output-bucket"), False),
    Request(DEV_OPERATOR, "ssm:PutParameter", _param("prod", "model-key"), False),
    # only the permission set's SSO roles of the same account may assume an operator role (any suffix, any region path)
    Request(OUTSIDERS["prod-sso-data-science"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), True),
    Request(OUTSIDERS["dev-sso-data-science"], "sts:AssumeRole", ("dev", "operatorRoleArn", ""), True),
    Request(OUTSIDERS["dev-sso-data-science"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(OUTSIDERS["prod-sso-admin"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(OUTSIDERS["foreign-sso-data-science"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(OUTSIDERS["dev-someone"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(OUTSIDERS["dev-someone"], "sts:AssumeRole", ("dev", "operatorRoleArn", ""), False),
    Request(OUTSIDERS["dev-ci"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(OUTSIDERS["prod-analytics"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(OUTSIDERS["foreign-task"], "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(PROD_DEPLOY, "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
    Request(PROD_TASK, "sts:AssumeRole", ("prod", "operatorRoleArn", ""), False),
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
    # deployment: the deploy role is assumed by GitHub OIDC only (no IAM principal, no cross-account CI role); it
    # deploys the job and nothing that changes who can access what, and reads no data
    Request(OUTSIDERS["dev-ci"], "sts:AssumeRole", ("prod", "deployRoleArn", ""), False),
    Request(OUTSIDERS["prod-analytics"], "sts:AssumeRole", ("prod", "deployRoleArn", ""), False),
    Request(PROD_DEPLOY, "s3:GetObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(PROD_DEPLOY, "ecs:RegisterTaskDefinition", ("prod", "taskDefinitionArn", ""), True),
    Request(PROD_DEPLOY, "states:UpdateStateMachine", ("prod", "stateMachineArn", ""), True),
    Request(
        PROD_DEPLOY,
        "iam:PassRole",
        ("prod", "taskRoleArn", ""),
        True,
        {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
    ),
    Request(
        PROD_DEPLOY, "iam:PassRole", ("prod", "taskRoleArn", ""), False, {"iam:PassedToService": "states.amazonaws.com"}
    ),
    Request(PROD_DEPLOY, "iam:PassRole", ("prod", "operatorRoleArn", ""), False),
    *(
        Request(PROD_DEPLOY, action, ("prod", role, ""), False)
        for role in ("taskRoleArn", "operatorRoleArn", "deployRoleArn", "previewRoleArn")
        for action in (
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:CreateRole",
            "iam:DeleteRole",
            "iam:AttachRolePolicy",
            "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary",
        )
    ),
    Request(PROD_DEPLOY, "iam:CreatePolicyVersion", ("prod", "", PROD_BOUNDARY), False),
    Request(PROD_DEPLOY, "iam:CreatePolicyVersion", ("prod", "", PROD_OPERATOR_BOUNDARY), False),
    *(
        Request(PROD_DEPLOY, action, ("prod", "inputBucketArn", ""), False)
        for action in (
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketVersioning",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketOwnershipControls",
            "s3:DeleteBucket",
        )
    ),
    Request(PROD_DEPLOY, "s3:GetBucketPolicy", ("prod", "inputBucketArn", ""), True),
    # the preview role reads the project's resources' configuration, never data, and changes nothing
    Request(PROD_PREVIEW, "s3:GetBucketPolicy", ("prod", "inputBucketArn", ""), True),
    Request(PROD_PREVIEW, "iam:GetRole", ("prod", "taskRoleArn", ""), True),
    Request(PROD_PREVIEW, "s3:GetObject", ("prod", "inputBucketArn", "/raw/monthly_data.csv"), False),
    Request(PROD_PREVIEW, "s3:PutObject", ("prod", "outputBucketArn", "/processed/x"), False),
    Request(PROD_PREVIEW, "ssm:PutParameter", _param("prod", "model-key"), False),
    Request(
        PROD_PREVIEW,
        "iam:PassRole",
        ("prod", "taskRoleArn", ""),
        False,
        {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
    ),
    Request(PROD_PREVIEW, "ecs:RegisterTaskDefinition", ("prod", "taskDefinitionArn", ""), False),
    Request(PROD_PREVIEW, "states:StartExecution", ("prod", "stateMachineArn", ""), False),
    Request(PROD_PREVIEW, "sts:AssumeRole", ("prod", "deployRoleArn", ""), False),
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
        for output in ("taskRoleArn", "executionRoleArn", "stateMachineRoleArn", "operatorRoleArn"):
            assert stack.outputs[output] in model.principals
    assert prod_stack.outputs["promoterRoleArn"] in model.principals


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


def test_the_operator_boundary_caps_a_widened_operator_policy(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    """A deployer that rewrites the operator's inline policy (it may) still cannot give it more than its boundary."""
    prod = copy.deepcopy(prod_stack.to_dict())
    (policy,) = [r["inputs"]["policy"] for r in prod["resources"] if r["name"] == "operator-policy"]
    policy["Statement"].append({"Effect": "Allow", "Action": ["ssm:PutParameter", "s3:GetObject"], "Resource": "*"})
    widened = AccessModel.from_stacks(dev_stack.to_dict(), prod)
    input_bucket = _param("prod", "input-bucket")[2]
    assert not widened.can(PROD_OPERATOR, "ssm:PutParameter", input_bucket)
    data = prod_stack.outputs["outputBucketArn"] + "/processed/run-1/part-0.parquet"
    assert not widened.can(PROD_OPERATOR, "s3:GetObject", data)
    for resource in prod["resources"]:
        if resource["name"] == "operator-role":
            del resource["inputs"]["permissionsBoundary"]
    unbounded = AccessModel.from_stacks(dev_stack.to_dict(), prod)
    assert unbounded.can(PROD_OPERATOR, "ssm:PutParameter", input_bucket), "the boundary, not luck, stopped it"
