"""Every IAM, bucket, key and trust document of the stack, as pure functions: plain values in, dicts out.

Keeping documents out of the components means they can be linted (parliament),
evaluated (principalmapper) and unit-tested without Pulumi; components only turn
them into JSON once the ARNs they name are known (``pulumi.Output.json_dumps``).

Least privilege rules kept here:
- every Allow names its resources; the only ``"Resource": "*"`` statements hold
  actions from ``STAR_ONLY_ACTIONS``, which AWS authorizes on no resource type;
- cross-account reads reach only ``models/*`` of the artifact store, only for the
  reader roles named by pattern (``aws:PrincipalArn``), and the key only through S3
  (``kms:ViaService``);
- service trust policies carry ``aws:SourceAccount`` (confused-deputy protection).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components import naming
from components.arns import AccountArns, StackArns
from policy import provider_actions

Document = dict[str, Any]
Statement = dict[str, Any]

VERSION = "2012-10-17"

STAR_ONLY_ACTIONS: dict[str, str] = {
    # From the provider-actions table: what the provider calls on "*" for CI's roles, and what a resource's own
    # service role needs on "*" (the state machine's log delivery), each with its reason there.
    **{
        star.action: star.reason
        for entry in (*provider_actions.TYPES.values(), *provider_actions.INVOKES.values())
        for star in (*entry.star_only, *entry.role_star_only)
    },
    # What the workload roles call at run time that no provider entry covers.
    "cloudwatch:PutMetricData": "metrics have no ARN; limited by the cloudwatch:namespace condition instead",
}
"""The one list of actions ever granted on ``"Resource": "*"``: AWS authorizes each on no resource type (reason in
the value; ``tests/infra/test_policy_docs.py`` checks every one against parliament's IAM definitions)."""


@dataclass(frozen=True)
class ReplicaArns:
    """The artifact store's replica as a reader's policies name it: bucket, its own key, its region."""

    bucket_arn: str
    key_arn: str
    region: str


def document(*statements: Statement) -> Document:
    """A policy document with the current language version."""
    return {"Version": VERSION, "Statement": list(statements)}


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str] | str,
    *,
    effect: str = "Allow",
    conditions: dict[str, dict[str, Any]] | None = None,
    principal: dict[str, Any] | str | None = None,
) -> Statement:
    """One statement; refuses a ``"*"`` resource unless every action only accepts ``"*"``."""
    if resources == "*" or "*" in resources:
        loose = [action for action in actions if action not in STAR_ONLY_ACTIONS]
        if loose and effect == "Allow" and principal is None:
            raise ValueError(f"{sid}: {loose} accept resource ARNs; name them instead of '*'")
    result: Statement = {"Sid": sid, "Effect": effect}
    if principal is not None:
        result["Principal"] = principal
    result["Action"] = sorted(set(actions))
    result["Resource"] = resources if isinstance(resources, str) else list(resources)
    if conditions:
        result["Condition"] = conditions
    return result


# ----------------------------------------------------------------------------- ARN helpers


def account_root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def role_arn(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{name}"


def s3_bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket_arn: str, prefix: str = "") -> str:
    return f"{bucket_arn}/{prefix}*"


def s3_via_service(region: str) -> str:
    return f"s3.{region}.amazonaws.com"


def reader_principal_patterns(accounts: Iterable[str], role_patterns: Iterable[str]) -> list[str]:
    """``aws:PrincipalArn`` patterns for the reader roles in each reader account."""
    patterns = list(role_patterns)
    return [role_arn(account, pattern) for account in accounts for pattern in patterns]


# ----------------------------------------------------------------------------- buckets


def tls_only_deny(bucket_arn: str) -> Statement:
    """Deny every request that is not over TLS (a Deny on ``s3:*`` only ever removes access)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, objects_arn(bucket_arn)],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(bucket_arn: str, extra: Sequence[Statement] = ()) -> Document:
    """The policy of every SecureBucket: TLS-only, plus the caller's statements."""
    return document(tls_only_deny(bucket_arn), *extra)


def artifact_reader_statements(
    bucket_arn: str, reader_accounts: Sequence[str], role_patterns: Sequence[str]
) -> list[Statement]:
    """Grants to reader accounts: GetObject on ``models/*`` and ListBucket under ``models/``, named roles only.

    The principal is each account's root so the grant is valid before the reader's role
    exists; ``ArnLike aws:PrincipalArn`` narrows it to the configured role patterns.
    """
    if not reader_accounts:
        return []
    principals = {"AWS": [account_root(account) for account in reader_accounts]}
    only_roles = {"ArnLike": {"aws:PrincipalArn": reader_principal_patterns(reader_accounts, role_patterns)}}
    return [
        statement(
            "ReaderAccountsGetModels",
            ["s3:GetObject"],
            [objects_arn(bucket_arn, naming.MODELS_PREFIX)],
            principal=principals,
            conditions=only_roles,
        ),
        statement(
            "ReaderAccountsListModels",
            ["s3:ListBucket"],
            [bucket_arn],
            principal=principals,
            conditions={**only_roles, "StringLike": {"s3:prefix": [f"{naming.MODELS_PREFIX}*"]}},
        ),
    ]


STORE_GOVERNANCE_ACTIONS = (
    "s3:DeleteBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",
)
"""Bucket-level changes that could end the store's guarantees (history kept, key, retention, replica): admins only."""

MODEL_DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")


def _unless_admin(admin_principal_arns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The condition that exempts the administrators from a Deny (none configured: the Deny binds everyone)."""
    if not admin_principal_arns:
        return {}
    return {"ArnNotLike": {"aws:PrincipalArn": sorted(set(admin_principal_arns))}}


def store_immutability_statements(bucket_arn: str, admin_principal_arns: Sequence[str]) -> list[Statement]:
    """Denies that make published model versions write-once for everyone but the administrators.

    What dsctl does by convention (``If-None-Match: *`` on every write) becomes what AWS enforces, so a direct
    ``aws s3 cp`` cannot replace a published model, manifest or validation report:

    - a ``PutObject`` under ``models/`` without ``If-None-Match`` is denied (``Null s3:if-none-match``); the
      ``s3:ObjectCreationOperation`` key limits this to the calls that create an object (PutObject, CopyObject,
      CompleteMultipartUpload), because CreateMultipartUpload/UploadPart/UploadPartCopy authorize as PutObject
      but cannot carry the header. CopyObject into ``models/`` is therefore refused (AWS: 403 without the
      header, 501 with it);
    - a write carrying ``If-Match`` (replace-if-unchanged) is denied: nothing under ``models/`` is ever replaced;
    - deletes of objects and of object versions under ``models/`` are denied (versioning keeps what a delete
      marker hides, and nobody but an admin can remove a version);
    - changing the bucket's versioning, lifecycle, encryption, replication or policy is denied, so none of the
      above can be switched off by a non-admin.
    """
    models = objects_arn(bucket_arn, naming.MODELS_PREFIX)
    unless_admin = _unless_admin(admin_principal_arns)
    return [
        statement(
            "DenyModelWritesWithoutIfNoneMatch",
            ["s3:PutObject"],
            [models],
            effect="Deny",
            principal="*",
            conditions={
                "Null": {"s3:if-none-match": "true"},
                "Bool": {"s3:ObjectCreationOperation": "true"},
                **unless_admin,
            },
        ),
        statement(
            "DenyModelOverwritesWithIfMatch",
            ["s3:PutObject"],
            [models],
            effect="Deny",
            principal="*",
            conditions={"Null": {"s3:if-match": "false"}, **unless_admin},
        ),
        statement(
            "DenyModelDeletes",
            list(MODEL_DELETE_ACTIONS),
            [models],
            effect="Deny",
            principal="*",
            conditions=unless_admin,
        ),
        statement(
            "DenyStoreGovernanceChanges",
            list(STORE_GOVERNANCE_ACTIONS),
            [bucket_arn],
            effect="Deny",
            principal="*",
            conditions=unless_admin,
        ),
    ]


# ----------------------------------------------------------------------------- audit

CLOUDTRAIL = "cloudtrail.amazonaws.com"


def audit_log_bucket_statements(
    bucket_arn: str, *, account_id: str, trail_arn: str, admin_principal_arns: Sequence[str]
) -> list[Statement]:
    """The CloudTrail log bucket's own statements: only our trail may write, nobody but the admins may delete.

    CloudTrail checks the bucket ACL and writes ``AWSLogs/<account>/...`` with ``bucket-owner-full-control``;
    ``aws:SourceArn`` names our trail, so no other trail (of any account) can use the bucket (confused deputy).
    Deleting log objects or versions is denied to all but the administrators: the lifecycle expires old logs
    (S3 lifecycle actions are not subject to the bucket policy), and log file validation detects any other change.
    """
    from_trail = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return [
        statement(
            "CloudTrailChecksBucketAcl",
            ["s3:GetBucketAcl"],
            [bucket_arn],
            principal={"Service": CLOUDTRAIL},
            conditions=from_trail,
        ),
        statement(
            "CloudTrailWritesLogs",
            ["s3:PutObject"],
            [objects_arn(bucket_arn, f"{naming.AUDIT_TRAIL_LOG_PREFIX}{account_id}/")],
            principal={"Service": CLOUDTRAIL},
            conditions={"StringEquals": {**from_trail["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"}},
        ),
        statement(
            "DenyAuditLogDeletes",
            list(MODEL_DELETE_ACTIONS),
            [objects_arn(bucket_arn)],
            effect="Deny",
            principal="*",
            conditions=_unless_admin(admin_principal_arns),
        ),
    ]


def trail_delivery_policy(log_group_arn: str) -> Document:
    """What CloudTrail's delivery role does: write the trail's events into its one log group."""
    return document(
        statement(
            "DeliverTrailEvents",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{log_group_arn}:log-stream:*"],
        )
    )


def alarm_topic_policy(*, topic_arn: str, arns: StackArns) -> Document:
    """Who may publish to the alarm topic besides the account's own roles (which their IAM policies allow).

    - EventBridge, only for this stack's alert rules (``aws:SourceArn``, ``StackArns.alarm_topic_publishing_rules``:
      the ``naming.ALERTS`` rules on changes to the store's bucket and key, and the model parameter rule);
    - CloudWatch, only for this account's alarms (``aws:SourceArn`` + ``aws:SourceAccount``).
    A topic policy replaces SNS's default one, so without these statements the services could not publish.
    """
    regional = f"{arns.region}:{arns.account_id}"
    return document(
        statement(
            "AlertRulesPublish",
            ["sns:Publish"],
            [topic_arn],
            principal={"Service": "events.amazonaws.com"},
            conditions={"ArnEquals": {"aws:SourceArn": arns.alarm_topic_publishing_rules}},
        ),
        statement(
            "AlarmsPublish",
            ["sns:Publish"],
            [topic_arn],
            principal={"Service": "cloudwatch.amazonaws.com"},
            conditions={
                "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{regional}:alarm:*"},
                "StringEquals": {"aws:SourceAccount": arns.account_id},
            },
        ),
    )


def store_replication_policy(
    *,
    source_bucket_arn: str,
    replica_bucket_arn: str,
    source_key_arn: str,
    replica_key_arn: str,
    region: str,
    replica_region: str,
) -> Document:
    """What S3 replication does as the store's replication role: read ``models/`` versions, write them to the replica.

    Objects are SSE-KMS: decrypt with the store's key and encrypt with the replica's own key, each only through S3
    in its region. No ``s3:ReplicateDelete``: delete markers are not replicated (the replication rule says so, and
    the role could not write them anyway), so a delete in the store never hides a model in the replica.
    """
    return document(
        statement(
            "ReadReplicationConfiguration", ["s3:GetReplicationConfiguration", "s3:ListBucket"], [source_bucket_arn]
        ),
        statement(
            "ReadModelVersions",
            ["s3:GetObjectVersionAcl", "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging"],
            [objects_arn(source_bucket_arn, naming.MODELS_PREFIX)],
        ),
        statement(
            "WriteReplicaModels",
            ["s3:ReplicateObject", "s3:ReplicateTags"],
            [objects_arn(replica_bucket_arn, naming.MODELS_PREFIX)],
        ),
        statement(
            "DecryptWithStoreKey",
            ["kms:Decrypt"],
            [source_key_arn],
            conditions={"StringEquals": {"kms:ViaService": s3_via_service(region)}},
        ),
        statement(
            "EncryptWithReplicaKey",
            ["kms:Encrypt", "kms:GenerateDataKey"],
            [replica_key_arn],
            conditions={"StringEquals": {"kms:ViaService": s3_via_service(replica_region)}},
        ),
    )


# ----------------------------------------------------------------------------- KMS

KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
KEY_BREAK_GLASS_ACTIONS = ("kms:DisableKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion")
"""What would make every model unreadable (or the key's policy anyone's): the administrators only."""
KEY_USE_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


def artifact_key_policy(
    account_id: str,
    region: str,
    reader_accounts: Sequence[str],
    role_patterns: Sequence[str],
    admin_principal_arns: Sequence[str] = (),
) -> Document:
    """Key policy of the artifact store's key.

    In a key policy ``"Resource": "*"`` means "this key" (the only value KMS accepts).
    The owning account administers the key with enumerated actions and may use it only
    through S3; disabling it, scheduling its deletion and replacing its policy are for the
    administrators alone (``aws:PrincipalArn``, so the grant is valid before their roles
    exist); reader accounts may only ``kms:Decrypt`` through S3, for the named roles.
    """
    via_s3 = {"kms:ViaService": s3_via_service(region)}
    statements = [
        {
            "Sid": "OwningAccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": account_root(account_id)},
            "Action": list(KEY_ADMIN_ACTIONS),
            "Resource": "*",
        },
    ]
    if admin_principal_arns:
        statements.append(
            {
                "Sid": "OnlyAdminsDisableDeleteOrRepolicy",
                "Effect": "Allow",
                "Principal": {"AWS": account_root(account_id)},
                "Action": list(KEY_BREAK_GLASS_ACTIONS),
                "Resource": "*",
                "Condition": {"ArnLike": {"aws:PrincipalArn": sorted(set(admin_principal_arns))}},
            }
        )
    statements += [
        {
            "Sid": "OwningAccountUsesThroughS3",
            "Effect": "Allow",
            "Principal": {"AWS": account_root(account_id)},
            "Action": list(KEY_USE_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {**via_s3, "kms:CallerAccount": account_id}},
        },
    ]
    if reader_accounts:
        statements.append(
            {
                "Sid": "ReaderAccountsDecryptModelsThroughS3",
                "Effect": "Allow",
                "Principal": {"AWS": [account_root(account) for account in reader_accounts]},
                "Action": ["kms:Decrypt"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": via_s3,
                    "ArnLike": {"aws:PrincipalArn": reader_principal_patterns(reader_accounts, role_patterns)},
                },
            }
        )
    return document(*statements)


# ----------------------------------------------------------------------------- trust


def service_trust(service: str, account_id: str) -> Document:
    """Trust for an AWS service, only on behalf of this account (confused-deputy protection)."""
    return document(
        {
            "Sid": "ServiceAssumesForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


def sso_role_patterns(account_id: str, permission_set: str) -> list[str]:
    """``aws:PrincipalArn`` patterns of an IAM Identity Center permission set's roles in ``account_id``.

    The role's suffix changes whenever the permission set is re-provisioned, and outside us-east-1 its path holds
    the region (``aws-reserved/sso.amazonaws.com/<region>/``), so both shapes are matched, any suffix.
    """
    base = f"arn:aws:iam::{account_id}:role/aws-reserved/sso.amazonaws.com"
    role = f"AWSReservedSSO_{permission_set}_*"
    return [f"{base}/{role}", f"{base}/*/{role}"]


ASSUME_WITH_SOURCE_IDENTITY = ["sts:AssumeRole", "sts:SetSourceIdentity"]
"""What a person's trust allows: dsctl sets ``sts:SourceIdentity`` (the caller) when it assumes the role itself, so
CloudTrail names the person behind every call of the session -- and of any role assumed from it, which keeps it."""


def operator_trust(
    principal_arns: Sequence[str],
    *,
    account_id: str,
    permission_set: str | None,
    sid: str = "OperatorPermissionSetAssumes",
) -> Document:
    """Trust for the configured operators: named roles or users, and the SSO permission set's roles by pattern.

    The pattern goes through the account root with an ``ArnLike aws:PrincipalArn`` condition, so the trust holds
    across re-provisioning (a trust naming one SSO role ARN breaks when its suffix changes). The promoter role's
    trust is the same shape for its own permission set (``sid`` tells them apart).
    """
    if not principal_arns and not permission_set:
        raise ValueError("the operator role needs operatorPrincipalArns or operatorPermissionSet")
    statements: list[Statement] = []
    if principal_arns:
        statements.append(
            {
                "Sid": "OperatorsAssume",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(principal_arns))},
                "Action": ASSUME_WITH_SOURCE_IDENTITY,
            }
        )
    if permission_set:
        statements.append(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": account_root(account_id)},
                "Action": ASSUME_WITH_SOURCE_IDENTITY,
                "Condition": {"ArnLike": {"aws:PrincipalArn": sso_role_patterns(account_id, permission_set)}},
            }
        )
    return document(*statements)


# ----------------------------------------------------------------------------- workload roles


def task_role_policy(
    *,
    region: str,
    account_id: str,
    parameter_prefix: str,
    input_bucket_arn: str,
    output_bucket_arn: str,
) -> Document:
    """What the job does in its own account: read input, write output, read its parameters, put metrics."""
    output_prefixes = (naming.PROCESSED_PREFIX, naming.STAGING_PREFIX)
    return document(
        statement("ReadInput", ["s3:GetObject"], [objects_arn(input_bucket_arn)]),
        statement("ListInput", ["s3:ListBucket"], [input_bucket_arn]),
        statement(
            "WriteOutput",
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [objects_arn(output_bucket_arn, prefix) for prefix in output_prefixes],
        ),
        statement(
            "ListOutput",
            ["s3:ListBucket"],
            [output_bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in output_prefixes]}},
        ),
        # The run's own record (job.run_record): written at start and end, never read or deleted by the job.
        statement("WriteRunRecords", ["s3:PutObject"], [objects_arn(output_bucket_arn, naming.RUNS_PREFIX)]),
        # One run per environment at a time (job.lease): conditional create/renew, read the holder, release.
        statement(
            "RunLease",
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [objects_arn(output_bucket_arn, naming.LEASES_PREFIX)],
        ),
        statement(
            "ReadParameters",
            ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
            AccountArns(account_id, region).parameter_path(parameter_prefix),
        ),
        statement(
            "PutPipelineMetrics",
            ["cloudwatch:PutMetricData"],
            "*",
            conditions={"StringEquals": {"cloudwatch:namespace": naming.METRIC_NAMESPACE}},
        ),
    )


def model_read_policy(
    *,
    region: str,
    artifact_bucket_arn: str,
    artifact_key_arn: str,
    replica: ReplicaArns | None = None,
) -> Document:
    """The identity side of reading models from the artifact store (own account or cross-account).

    With the store's ``replica``, the same grants on the replica and its own key, decrypting through S3 in the
    replica's region: granted in advance, so a failover needs no deploy.
    """
    return document(*model_read_statements(region, artifact_bucket_arn, artifact_key_arn, replica))


def model_read_statements(
    region: str, artifact_bucket_arn: str, artifact_key_arn: str, replica: ReplicaArns | None
) -> list[Statement]:
    """``model_read_policy``'s statements, for the roles that read models beside other work (operator, promoter)."""
    statements = _model_read_statements("", region, artifact_bucket_arn, artifact_key_arn)
    if replica:
        statements += _model_read_statements("Replica", replica.region, replica.bucket_arn, replica.key_arn)
    return statements


def _model_read_statements(which: str, region: str, bucket_arn: str, key_arn: str) -> list[Statement]:
    """Get and list ``models/`` in one bucket; decrypt with its key only through S3 in its region."""
    return [
        statement(f"Get{which}Models", ["s3:GetObject"], [objects_arn(bucket_arn, naming.MODELS_PREFIX)]),
        statement(
            f"List{which}Models",
            ["s3:ListBucket"],
            [bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{naming.MODELS_PREFIX}*"]}},
        ),
        statement(
            f"Decrypt{which}ModelsThroughS3",
            ["kms:Decrypt"],
            [key_arn],
            conditions={"StringEquals": {"kms:ViaService": s3_via_service(region)}},
        ),
    ]


def execution_role_policy(*, repository_arn: str, log_group_arn: str) -> Document:
    """What ECS needs to start the container: pull the image, write its logs."""
    return document(
        statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        statement(
            "PullJobImage",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [repository_arn],
        ),
        statement("WriteJobLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:log-stream:*"]),
    )


def registry_replication_policy(*, source_account_id: str, repository_arn: str) -> Document:
    """The pinned stack's registry policy: the building account may replicate into this one repository only.

    No ``ecr:CreateRepository``: the stack creates the repository itself (immutable tags, scanning, the
    protecting lifecycle), so replication can never create one with other settings.
    """
    return document(
        statement(
            "ReplicateJobImageFromBuilder",
            ["ecr:ReplicateImage"],
            [repository_arn],
            principal={"AWS": account_root(source_account_id)},
        )
    )


SFN_LOG_DELIVERY_ACTIONS = tuple(
    sorted(star.action for star in provider_actions.TYPES["aws:sfn/stateMachine:StateMachine"].role_star_only)
)
"""What Step Functions logging needs on the state machine's role (not the deploying caller), all on ``*``: the
state-machine entry of ``policy/provider_actions.py`` says why, from the provider source and AWS's documentation."""


def state_machine_policy(
    *,
    region: str,
    account_id: str,
    cluster_arn: str,
    task_role_arn: str,
    execution_role_arn: str,
    topic_arn: str,
    output_bucket: str,
) -> Document:
    """What ``ecs:runTask.sync`` needs (DESIGN.md section 4), the failure notification and logging, and what the
    scale-out path's Distributed Map needs (``pipeline_definition.scale_out_states``).

    The definition's RunTask sets ``PropagateTags: TASK_DEFINITION``, so RunTask also needs ``ecs:TagResource``
    on the new task with ``ecs:CreateAction = RunTask`` (ECS tag-on-create authorization). A Distributed Map runs
    its batches as child executions of this same state machine: StartExecution on it (its ARN from the naming
    module: the machine's own ARN would make the role's policy depend on the machine that depends on the role),
    Describe/StopExecution on those children only (``execution:<machine>/<map run>:<id>``), and its ItemReader
    reads the plan's ``items.json`` from the run's staging (GetObject on exactly that key pattern; ListBucket limited by
    ``s3:prefix`` to it, so a missing plan reads as "no such key", not "access denied").
    """
    account = AccountArns(account_id, region)
    on_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}
    items = f"{naming.STAGING_PREFIX}*/{naming.BATCHES_DIR}{naming.BATCH_ITEMS_FILE}"
    return document(
        statement("StartBatchExecutions", ["states:StartExecution"], [account.state_machine]),
        # DescribeExecution also describes EXPRESS executions: both kinds named for the linter, the Map's children only
        statement(
            "FollowBatchExecutions",
            ["states:DescribeExecution"],
            [account.state_machine_map_executions, account.state_machine_map_express_executions],
        ),
        statement("StopBatchExecutions", ["states:StopExecution"], [account.state_machine_map_executions]),
        statement("ReadBatchItems", ["s3:GetObject"], [f"{s3_bucket_arn(output_bucket)}/{items}"]),
        statement(
            "FindBatchItems",
            ["s3:ListBucket"],
            [s3_bucket_arn(output_bucket)],
            conditions={"StringLike": {"s3:prefix": [items]}},
        ),
        statement(
            "RunJobTask",
            ["ecs:RunTask"],
            [account.task_definitions],
            conditions=on_cluster,
        ),
        statement(
            "TrackJobTask",
            ["ecs:DescribeTasks", "ecs:StopTask"],
            [account.tasks],
            conditions=on_cluster,
        ),
        statement(
            # RunTask with PropagateTags tags the task it creates; ECS authorizes that tagging separately
            # (tag-on-create). Only as part of RunTask: the role cannot tag existing tasks.
            "TagJobTaskOnCreate",
            ["ecs:TagResource"],
            [account.tasks],
            conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
        ),
        statement(
            "PassJobRoles",
            ["iam:PassRole"],
            [task_role_arn, execution_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
        statement(
            "SyncTaskEvents",
            ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            [account.sync_task_events_rule],
        ),
        statement("NotifyFailure", ["sns:Publish"], [topic_arn]),
        statement("DeliverExecutionLogs", list(SFN_LOG_DELIVERY_ACTIONS), "*"),
    )


def schedule_role_policy(state_machine_arn: str) -> Document:
    """EventBridge may start this one state machine."""
    return document(statement("StartPipeline", ["states:StartExecution"], [state_machine_arn]))


# ----------------------------------------------------------------------------- operators


def operator_policy(
    *,
    arns: StackArns,
    parameter_prefix: str,
    artifact_bucket_arn: str,
    artifact_key_arn: str,
    owns_artifact_store: bool,
    promotes: bool = True,
    replica: ReplicaArns | None = None,
) -> Document:
    """What ``dsctl`` does as ``ds-preprocessing-operator`` in this account, and nothing more.

    - params/promote/rollback/doctor/status: read every parameter under the prefix and its history; write and
      label only ``model-key``, ``model-sha256`` and dsctl's promotion record (not the bucket parameters) -- unless
      ``promotes`` is false: in a stack with a promoter role only that role changes them (``promoter_policy``);
    - run/status: start, list and follow executions of the pipeline's state machine; read the run manifests
      (``processed/{run_id}/manifest.json``), whether a run published (``processed/{run_id}/_SUCCESS``: the gate of
      a promotion into the next stack) and list ``processed/``; the alarms' state;
    - following a run: its history (the task ARN), DescribeTasks in the project's cluster, GetLogEvents on the
      job's log group (``dsctl run --wait/--attach --logs``);
    - doctor: the state machine, the cluster and the task definition (DescribeTaskDefinition takes no resource);
    - image promote: tag a pinned digest ``keep-…`` in this account's repository (BatchGetImage + PutImage);
    - model validate: test data under ``validation/`` of the input bucket. Nothing else of the input: an operator
      (a production one included) never reads the raw data the job processes;
    - uploads (``make demo``, the README's workflow): PutObject of the month's input and of validation data under
      ``raw/`` and ``validation/`` of the input bucket only (boto3's ``upload_file`` switches to a multipart upload
      for large files: Create/UploadPart/Complete need ``s3:PutObject``, and its clean-up on failure
      ``s3:AbortMultipartUpload``); no deletes, nothing else in the input bucket, nothing in the output bucket;
    - the artifact store: in the owning account publish (conditional PutObject) and store validation reports under
      ``models/*``, with the key's GenerateDataKey/Decrypt through S3 only; ListBucket on the whole store, so that a
      missing ``models/…`` object answers 404 rather than 403 (publish and ``model list`` rely on it; the store
      holds only ``models/``). In a reading account exactly the task role's read of ``models/*`` (the identity
      side of the store's cross-account grant, which names this role).
    ``sts:GetCallerIdentity`` needs no permission.
    """
    output = arns.output_bucket
    common = [
        *_parameter_statements(
            "Operator", arns, parameter_prefix, promotes=promotes, fails_over=promotes and not owns_artifact_store
        ),
        statement("OperatorStartRuns", ["states:DescribeStateMachine", "states:StartExecution"], [arns.state_machine]),
        # ListExecutions also lists a Map state's child runs (mapRun), DescribeExecution also describes EXPRESS
        # executions; named here for the linter, both limited to this (STANDARD) state machine.
        statement(
            "OperatorListExecutions",
            ["states:ListExecutions"],
            [arns.state_machine, arns.state_machine_map_runs],
        ),
        statement(
            "OperatorFollowRuns",
            ["states:DescribeExecution"],
            [arns.state_machine_executions, arns.state_machine_express_executions],
        ),
        statement("OperatorStopRuns", ["states:StopExecution"], [arns.state_machine_executions]),  # dsctl runs stop
        # following a run (dsctl run --wait/--attach): the history's TaskSubmitted event names the ECS task, whose
        # state comes from DescribeTasks (this cluster's tasks only) and whose lines from its awslogs stream
        statement("OperatorFindRunTasks", ["states:GetExecutionHistory"], [arns.state_machine_executions]),
        statement(
            "OperatorFollowRunTasks",
            ["ecs:DescribeTasks"],
            [arns.tasks],
            conditions={"ArnEquals": {"ecs:cluster": arns.cluster}},
        ),
        statement("OperatorReadJobLogs", ["logs:GetLogEvents"], [f"{arns.job_log_group}:log-stream:*"]),
        statement(
            "OperatorReadRunManifests",
            ["s3:GetObject"],
            [
                f"{output}/{naming.PROCESSED_PREFIX}*/manifest.json",
                # published (the run's _SUCCESS): the evidence `model promote` / `image promote` downstream require
                f"{output}/{naming.PROCESSED_PREFIX}*/_SUCCESS",
                objects_arn(output, naming.RUNS_PREFIX),
            ],
        ),
        statement(
            "OperatorListRuns",
            ["s3:ListBucket"],
            [output],
            conditions={"StringLike": {"s3:prefix": [f"{naming.PROCESSED_PREFIX}*", f"{naming.RUNS_PREFIX}*"]}},
        ),
        statement("OperatorReadTestData", ["s3:GetObject"], [objects_arn(arns.input_bucket, naming.VALIDATION_PREFIX)]),
        statement(
            "OperatorUploadInputs",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [objects_arn(arns.input_bucket, prefix) for prefix in naming.INPUT_UPLOAD_PREFIXES],
        ),
        statement("OperatorAlarmStates", ["cloudwatch:DescribeAlarms"], arns.alarms),
        statement("OperatorInspectCluster", ["ecs:DescribeClusters"], [arns.cluster]),
        statement("OperatorInspectTaskDefinition", ["ecs:DescribeTaskDefinition"], "*"),
        # image promote: add the keep-<stack>-… tag that exempts a pinned digest from the lifecycle's count rule, by
        # re-putting the manifest of an image already in this repository (BatchGetImage, then PutImage with a new
        # tag). ECR has no condition key for the tag, so PutImage cannot be limited to keep- tags: the role can put
        # any new tag (tags are immutable: none can be moved) and any manifest whose layers and config are already
        # here; without the layer-upload actions it can push no new content.
        statement("OperatorProtectPinnedImages", ["ecr:BatchGetImage", "ecr:PutImage"], [arns.repository]),
    ]
    if not owns_artifact_store:
        return document(*common, *model_read_statements(arns.region, artifact_bucket_arn, artifact_key_arn, replica))
    return document(
        *common,
        statement(
            "OperatorPublishModels",
            ["s3:GetObject", "s3:PutObject"],
            [objects_arn(artifact_bucket_arn, naming.MODELS_PREFIX)],
        ),
        statement("OperatorListStore", ["s3:ListBucket"], [artifact_bucket_arn]),
        statement(
            "OperatorUseStoreKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [artifact_key_arn],
            conditions={"StringEquals": {"kms:ViaService": s3_via_service(arns.region)}},
        ),
    )


def model_parameter_arns(arns: StackArns, parameter_prefix: str) -> list[str]:
    """The parameters a promotion writes: ``model-key``, ``model-sha256`` and dsctl's promotion record."""
    return [
        arns.parameter(naming.parameter_name(parameter_prefix, key))
        for key in (*naming.PROMOTED_PARAMETER_KEYS, naming.PROMOTION_RECORD_KEY)
    ]


def _parameter_statements(
    who: str, arns: StackArns, parameter_prefix: str, *, promotes: bool, fails_over: bool = False
) -> list[Statement]:
    """Read every parameter under the prefix (and its history); with ``promotes``, write and label the model ones.

    ``fails_over`` (whoever promotes in a stack reading another's store): also write ``artifact-bucket``, which
    ``dsctl model failover`` points at the store's replica and back (never the input or output bucket parameters).
    """
    read = statement(
        f"{who}ReadParameters",
        ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath"],
        arns.parameter_path(parameter_prefix),
    )
    if not promotes:
        return [read]
    write = statement(
        f"{who}PromoteModels",
        ["ssm:LabelParameterVersion", "ssm:PutParameter"],
        model_parameter_arns(arns, parameter_prefix),
    )
    if not fails_over:
        return [read, write]
    store = arns.parameter(naming.parameter_name(parameter_prefix, naming.PARAM_ARTIFACT_BUCKET))
    return [read, write, statement(f"{who}FailOverStore", ["ssm:PutParameter"], [store])]


def promoter_policy(
    *,
    arns: StackArns,
    parameter_prefix: str,
    artifact_bucket_arn: str,
    artifact_key_arn: str,
    owns_artifact_store: bool,
    replica: ReplicaArns | None = None,
) -> Document:
    """What ``dsctl model promote/rollback/failover`` does as ``ds-preprocessing-promoter`` in a production stack.

    Read the parameters and their history, write and label the model parameters (which the operator role may not
    here), and read the model as the job will (promote's checks: the store's read grant names this role too). In
    the account that owns the store, the promotion record is appended with these credentials as well (under
    ``models/*/promotions/``; the store's bucket policy requires If-None-Match of every write there).
    """
    statements = _parameter_statements(
        "Promoter", arns, parameter_prefix, promotes=True, fails_over=not owns_artifact_store
    )
    if not owns_artifact_store:
        return document(
            *statements, *model_read_statements(arns.region, artifact_bucket_arn, artifact_key_arn, replica)
        )
    return document(
        *statements,
        statement("PromoterReadModels", ["s3:GetObject"], [objects_arn(artifact_bucket_arn, naming.MODELS_PREFIX)]),
        statement(
            "PromoterRecordPromotions",
            ["s3:PutObject"],
            [f"{artifact_bucket_arn}/{naming.MODELS_PREFIX}*/promotions/*"],
        ),
        statement("PromoterListStore", ["s3:ListBucket"], [artifact_bucket_arn]),
        statement(
            "PromoterUseStoreKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [artifact_key_arn],
            conditions={"StringEquals": {"kms:ViaService": s3_via_service(arns.region)}},
        ),
    )


# ----------------------------------------------------------------------------- deployment


def workload_boundary(
    *,
    arns: StackArns,
    parameter_prefix: str,
    artifact_bucket_arn: str,
    artifact_key_arn: str,
    replica: ReplicaArns | None = None,
) -> Document:
    """Permissions boundary of every workload role: exactly the union of the workload roles' own policies.

    It changes nothing for the roles as deployed; it caps what any inline policy can grant them, so a
    widened workload policy (a mistake in an admin deploy) still cannot make a workload role more than the
    pipeline needs, and the escalation analysis (``policy/escalation.py``) sees the cap. CI's deploy role
    changes neither the policies nor the boundary: roles and policies are admin-only (``policy/provider_actions.py``).
    """
    workload = (
        task_role_policy(
            region=arns.region,
            account_id=arns.account_id,
            parameter_prefix=parameter_prefix,
            input_bucket_arn=arns.input_bucket,
            output_bucket_arn=arns.output_bucket,
        ),
        model_read_policy(
            region=arns.region,
            artifact_bucket_arn=artifact_bucket_arn,
            artifact_key_arn=artifact_key_arn,
            replica=replica,
        ),
        execution_role_policy(repository_arn=arns.repository, log_group_arn=arns.job_log_group),
        state_machine_policy(
            region=arns.region,
            account_id=arns.account_id,
            cluster_arn=arns.cluster,
            task_role_arn=arns.task_role,
            execution_role_arn=arns.execution_role,
            topic_arn=arns.alarm_topic,
            output_bucket=naming.output_bucket(arns.environment, arns.account_id, arns.region),
        ),
        schedule_role_policy(arns.state_machine),
    )
    return document(*(statement for policy in workload for statement in policy["Statement"]))
