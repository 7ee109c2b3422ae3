"""What the AWS provider calls for each resource type the program creates, and who may deploy each type.

Pure data, no Pulumi. One entry per Pulumi type token (``TYPES``) and per provider function the program invokes
(``INVOKES``): the IAM actions the Terraform AWS provider (which pulumi-aws 7 wraps, TF provider >= 5.67) calls on
create, read (after create, on refresh and on ``pulumi preview --refresh``), update and delete, the actions among them
that AWS authorizes only on ``"Resource": "*"`` with the reason, the provider source file each entry was read from, and
the entry's deployer class.

The classification rule follows the threat model in ``docs/infrastructure.md``: the CI deploy role runs only reviewed
code from the default branch, so it may deploy the job (and therefore run code as the task role): that is what
deploying means. What no CI credential may do is change *who can access what*. So a type is

- **admin-only** when creating, changing or deleting it changes access or can expose or destroy data: IAM roles
  (trust policies, creation, deletion, permissions boundaries), inline and managed policies, bucket and key policies,
  every bucket setting that can expose or destroy data (public access, ownership/ACLs, versioning, encryption,
  lifecycle expiration, replication), the buckets and keys themselves, ECR repository and registry policies and
  replication, the OIDC provider, the account-level public access block, the audit trail and the access analyzer, the
  alarm topic and its policy (the audit alerts' destination);
- **CI-deployable** otherwise (the job's image, task definition, cluster, state machine, schedule, log groups,
  parameters, alarms, security group). Some CI-deployable types still carry an access-relevant property
  (``iam:PassRole`` of a role the admin created, a log group's retention); ``why`` says so;
- **not applicable** for Pulumi's own types (stack, provider, stack reference) and our ComponentResources, which make
  no AWS call themselves.

IAM action names are the Service Authorization Reference names, not API names (``HeadBucket`` is ``s3:ListBucket``,
``DeleteBucketEncryption`` is ``s3:PutEncryptionConfiguration``); ``tests/policy/test_provider_actions.py`` checks
every name and every "only on *" claim against parliament's copy of the AWS IAM definitions. The roles are built
from this table elsewhere; this module only states what is needed and why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

_TF = "hashicorp/terraform-provider-aws: internal/service/"


class Deployer(enum.Enum):
    """Who may deploy a type: the CI deploy role, only an administrator, or nobody (no AWS call)."""

    CI = "CI-deployable"
    ADMIN = "admin-only"
    NONE = "not applicable"


@dataclass(frozen=True)
class StarOnly:
    """An action AWS authorizes only on ``"Resource": "*"`` (no resource-level permission), and why it is needed."""

    action: str
    reason: str


@dataclass(frozen=True)
class ProviderActions:
    """The IAM actions the provider calls for one Pulumi type, and its deployer class with the reason."""

    token: str
    deployer: Deployer
    why: str
    create: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    star_only: tuple[StarOnly, ...] = ()
    source: tuple[str, ...] = ()
    role_star_only: tuple[StarOnly, ...] = ()
    """Actions the resource's own *service role* must hold (on ``*``) because of how the program configures the
    resource: the provider calls none of them, AWS checks the role (e.g. a state machine's logging)."""

    @property
    def admin_only(self) -> bool:
        return self.deployer is Deployer.ADMIN

    def actions(self) -> frozenset[str]:
        """Every action of this entry (create, read, update, delete), star-only ones included."""
        return frozenset(self.create + self.read + self.update + self.delete)

    def writes(self) -> frozenset[str]:
        """Actions that change something: create, update and delete minus what read also calls."""
        return frozenset(self.create + self.update + self.delete) - frozenset(self.read)


_NO_RESOURCE = "the Service Authorization Reference lists no resource type for it"
_PASS_ROLE = "iam:PassRole"


def _star(action: str, why: str = _NO_RESOURCE) -> StarOnly:
    return StarOnly(action, why)


def _aws(
    token: str,
    deployer: Deployer,
    why: str,
    *,
    create: tuple[str, ...],
    read: tuple[str, ...],
    update: tuple[str, ...],
    delete: tuple[str, ...],
    source: str | tuple[str, ...],
    star_only: tuple[StarOnly, ...] = (),
    role_star_only: tuple[StarOnly, ...] = (),
) -> ProviderActions:
    sources = (source,) if isinstance(source, str) else source
    return ProviderActions(
        token, deployer, why, create, read, update, delete, star_only, tuple(_TF + s for s in sources), role_star_only
    )


def _none(token: str, why: str) -> ProviderActions:
    return ProviderActions(token, Deployer.NONE, why)


_CI, _ADMIN = Deployer.CI, Deployer.ADMIN

# --- S3 -----------------------------------------------------------------------------------------------------------
# aws_s3_bucket's Read calls one Get* per bucket sub-resource (read in s3/bucket.go), whether or not the program sets
# it; HeadBucket is authorized as s3:ListBucket. Every separate bucket-configuration resource deletes by "putting"
# its empty state: AWS authorizes Delete{PublicAccessBlock,BucketEncryption,BucketLifecycle,
# BucketOwnershipControls,BucketReplication} with the corresponding Put* action.
_BUCKET_READ = (
    "s3:ListBucket",
    "s3:GetBucketPolicy",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketWebsite",
    "s3:GetBucketVersioning",
    "s3:GetAccelerateConfiguration",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketLogging",
    "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketTagging",
)

_S3 = (
    _aws(
        "aws:s3/bucket:Bucket",
        _ADMIN,
        "creating or deleting a data store: a bucket made by CI would exist without its admin-only protections",
        create=("s3:CreateBucket", "s3:PutBucketTagging", *_BUCKET_READ),
        read=_BUCKET_READ,
        update=("s3:PutBucketTagging",),
        delete=("s3:DeleteBucket",),
        source="s3/bucket.go",
    ),
    _aws(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        _ADMIN,
        "public access: turning it off is the first step to a public bucket",
        create=("s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
        read=("s3:GetBucketPublicAccessBlock",),
        update=("s3:PutBucketPublicAccessBlock",),
        delete=("s3:PutBucketPublicAccessBlock",),
        source="s3/bucket_public_access_block.go",
    ),
    _aws(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        _ADMIN,
        "ACLs off (BucketOwnerEnforced): re-enabling ACLs lets object ACLs grant access outside the policies",
        create=("s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls"),
        read=("s3:GetBucketOwnershipControls",),
        update=("s3:PutBucketOwnershipControls",),
        delete=("s3:PutBucketOwnershipControls",),
        source="s3/bucket_ownership_controls.go",
    ),
    _aws(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        _ADMIN,
        "encryption: switching the key (or to SSE-S3) moves who can decrypt new objects",
        create=("s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"),
        read=("s3:GetEncryptionConfiguration",),
        update=("s3:PutEncryptionConfiguration",),
        delete=("s3:PutEncryptionConfiguration",),
        source="s3/bucket_server_side_encryption_configuration.go",
    ),
    _aws(
        "aws:s3/bucketVersioning:BucketVersioning",
        _ADMIN,
        "versioning: suspending it lets an overwrite or delete destroy data for good",
        create=("s3:PutBucketVersioning", "s3:GetBucketVersioning"),
        read=("s3:GetBucketVersioning",),
        update=("s3:PutBucketVersioning",),
        delete=("s3:PutBucketVersioning",),
        source="s3/bucket_versioning.go",
    ),
    _aws(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        _ADMIN,
        "lifecycle expiration: one rule can expire every object and noncurrent version",
        create=("s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
        read=("s3:GetLifecycleConfiguration",),
        update=("s3:PutLifecycleConfiguration",),
        delete=("s3:PutLifecycleConfiguration",),
        source="s3/bucket_lifecycle_configuration.go",
    ),
    _aws(
        "aws:s3/bucketPolicy:BucketPolicy",
        _ADMIN,
        "bucket policy: grants (the store's reader grant) and the TLS deny",
        create=("s3:PutBucketPolicy", "s3:GetBucketPolicy"),
        read=("s3:GetBucketPolicy",),
        update=("s3:PutBucketPolicy",),
        delete=("s3:DeleteBucketPolicy",),
        source="s3/bucket_policy.go",
    ),
    _aws(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        _ADMIN,
        "replication copies every object to another bucket, possibly in another account (and passes a role)",
        create=("s3:PutReplicationConfiguration", _PASS_ROLE, "s3:GetReplicationConfiguration"),
        read=("s3:GetReplicationConfiguration",),
        update=("s3:PutReplicationConfiguration", _PASS_ROLE),
        delete=("s3:PutReplicationConfiguration",),
        source="s3/bucket_replication_configuration.go",
    ),
    _aws(
        "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
        _ADMIN,
        "account-wide public access block: the backstop for every bucket in the account",
        create=("s3:PutAccountPublicAccessBlock", "s3:GetAccountPublicAccessBlock"),
        read=("s3:GetAccountPublicAccessBlock",),
        update=("s3:PutAccountPublicAccessBlock",),
        delete=("s3:PutAccountPublicAccessBlock",),
        source="s3control/account_public_access_block.go",
        star_only=(
            _star("s3:PutAccountPublicAccessBlock", "an account-level setting: there is no resource to name"),
            _star("s3:GetAccountPublicAccessBlock", "an account-level setting: there is no resource to name"),
        ),
    ),
)

# --- IAM ----------------------------------------------------------------------------------------------------------
# The role read lists and reads the role's inline policies (inline_policy) and its attachments (managed_policy_arns).
_ROLE_READ = ("iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies")
_POLICY_READ = ("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyTags")

_IAM = (
    _aws(
        "aws:iam/role:Role",
        _ADMIN,
        "trust policy, creation, deletion and permissions boundary decide who can act as the role",
        create=("iam:CreateRole", "iam:TagRole", "iam:PutRolePermissionsBoundary", *_ROLE_READ),
        read=_ROLE_READ,
        update=(
            "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary",
            "iam:TagRole",
            "iam:UntagRole",
        ),
        delete=(
            "iam:ListInstanceProfilesForRole",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:ListRolePolicies",
            "iam:DeleteRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:DetachRolePolicy",
            "iam:DeleteRole",
        ),
        source="iam/role.go",
    ),
    _aws(
        "aws:iam/rolePolicy:RolePolicy",
        _ADMIN,
        "inline policy: what the role may do (a change can widen access; IAM cannot tell widen from narrow)",
        create=("iam:PutRolePolicy", "iam:GetRolePolicy"),
        read=("iam:GetRolePolicy",),
        update=("iam:PutRolePolicy",),
        delete=("iam:DeleteRolePolicy",),
        source="iam/role_policy.go",
    ),
    _aws(
        "aws:iam/policy:Policy",
        _ADMIN,
        "managed policy (the permissions boundaries): a new version can widen every role it caps",
        create=("iam:CreatePolicy", "iam:TagPolicy", *_POLICY_READ),
        read=_POLICY_READ,
        update=(
            "iam:CreatePolicyVersion",
            "iam:ListPolicyVersions",
            "iam:DeletePolicyVersion",
            "iam:TagPolicy",
            "iam:UntagPolicy",
        ),
        delete=("iam:ListPolicyVersions", "iam:DeletePolicyVersion", "iam:DeletePolicy"),
        source="iam/policy.go",
    ),
    _aws(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        _ADMIN,
        "attaching a managed policy widens the role",
        create=("iam:AttachRolePolicy", "iam:ListAttachedRolePolicies"),
        read=("iam:ListAttachedRolePolicies",),
        update=(),
        delete=("iam:DetachRolePolicy",),
        source="iam/role_policy_attachment.go",
    ),
    _aws(
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        _ADMIN,
        "the GitHub OIDC provider every CI role's trust names: changing it changes who can be CI",
        create=("iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider", "iam:GetOpenIDConnectProvider"),
        read=("iam:GetOpenIDConnectProvider",),
        update=(
            "iam:UpdateOpenIDConnectProviderThumbprint",
            "iam:AddClientIDToOpenIDConnectProvider",
            "iam:RemoveClientIDFromOpenIDConnectProvider",
            "iam:TagOpenIDConnectProvider",
            "iam:UntagOpenIDConnectProvider",
        ),
        delete=("iam:DeleteOpenIDConnectProvider",),
        source="iam/openid_connect_provider.go",
    ),
)

# --- KMS ----------------------------------------------------------------------------------------------------------
_KEY_READ = ("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags")

_KMS = (
    _aws(
        "aws:kms/key:Key",
        _ADMIN,
        "the key policy decides who can decrypt the store; scheduling deletion destroys every object it encrypts",
        create=("kms:CreateKey", "kms:TagResource", "kms:EnableKeyRotation", *_KEY_READ),
        read=_KEY_READ,
        update=(
            "kms:PutKeyPolicy",
            "kms:UpdateKeyDescription",
            "kms:EnableKeyRotation",
            "kms:DisableKeyRotation",
            "kms:EnableKey",
            "kms:DisableKey",
            "kms:TagResource",
            "kms:UntagResource",
        ),
        delete=("kms:ScheduleKeyDeletion",),
        source="kms/key.go",
        star_only=(_star("kms:CreateKey", "the key does not exist yet, so there is no key ARN to name"),),
    ),
    _aws(
        "aws:kms/alias:Alias",
        _ADMIN,
        "names the store's key; repointing it would send new encryption to a key with another policy",
        create=("kms:CreateAlias", "kms:ListAliases"),
        read=("kms:ListAliases",),
        update=("kms:UpdateAlias",),
        delete=("kms:DeleteAlias",),
        source="kms/alias.go",
        star_only=(_star("kms:ListAliases", "a list of the account's aliases: no resource type"),),
    ),
)

# --- ECR ----------------------------------------------------------------------------------------------------------
_REPO_READ = ("ecr:DescribeRepositories", "ecr:ListTagsForResource")
_REGISTRY = "a registry-level setting: there is no resource type to name"

_ECR = (
    _aws(
        "aws:ecr/repository:Repository",
        _CI,
        "image settings (scan on push, immutable tags); its policy is a separate admin-only type; deleting a "
        "repository that holds images fails without force_delete, which the program never sets",
        create=("ecr:CreateRepository", "ecr:TagResource", *_REPO_READ),
        read=_REPO_READ,
        update=(
            "ecr:PutImageTagMutability",
            "ecr:PutImageScanningConfiguration",
            "ecr:TagResource",
            "ecr:UntagResource",
        ),
        delete=("ecr:DeleteRepository", "ecr:DescribeRepositories"),
        source="ecr/repository.go",
    ),
    _aws(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        _CI,
        "which old images expire (not who may pull them); the running digest is rebuilt and pushed by the same deploy",
        create=("ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy"),
        read=("ecr:GetLifecyclePolicy",),
        update=("ecr:PutLifecyclePolicy",),
        delete=("ecr:DeleteLifecyclePolicy",),
        source="ecr/lifecycle_policy.go",
    ),
    _aws(
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        _ADMIN,
        "repository policy: which accounts and roles may pull or push",
        create=("ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy"),
        read=("ecr:GetRepositoryPolicy",),
        update=("ecr:SetRepositoryPolicy",),
        delete=("ecr:DeleteRepositoryPolicy",),
        source="ecr/repository_policy.go",
    ),
    _aws(
        "aws:ecr/registryPolicy:RegistryPolicy",
        _ADMIN,
        "registry policy: which accounts may replicate into this registry",
        create=("ecr:PutRegistryPolicy", "ecr:GetRegistryPolicy"),
        read=("ecr:GetRegistryPolicy",),
        update=("ecr:PutRegistryPolicy",),
        delete=("ecr:DeleteRegistryPolicy",),
        source="ecr/registry_policy.go",
        star_only=(
            _star("ecr:PutRegistryPolicy", _REGISTRY),
            _star("ecr:GetRegistryPolicy", _REGISTRY),
            _star("ecr:DeleteRegistryPolicy", _REGISTRY),
        ),
    ),
    _aws(
        "aws:ecr/replicationConfiguration:ReplicationConfiguration",
        _ADMIN,
        "replication copies every image to another registry, possibly in another account",
        create=("ecr:PutReplicationConfiguration", "ecr:DescribeRegistry"),
        read=("ecr:DescribeRegistry",),
        update=("ecr:PutReplicationConfiguration",),
        delete=("ecr:PutReplicationConfiguration",),
        source="ecr/replication_configuration.go",
        star_only=(
            _star("ecr:PutReplicationConfiguration", _REGISTRY),
            _star("ecr:DescribeRegistry", _REGISTRY),
        ),
    ),
)

# --- ECS, Step Functions, EventBridge ---------------------------------------------------------------------------
_TASK_DEF_STAR = "task definitions are authorized on * for this action (no resource type), so scope by family elsewhere"
_SFN_READ = ("states:DescribeStateMachine", "states:ListStateMachineVersions", "states:ListTagsForResource")
_VALIDATE = _star(
    "states:ValidateStateMachineDefinition",
    "validates a definition before any machine is named (AWS reports the resource as stateMachine:*); the provider "
    "calls it in plan (CustomizeDiff) whenever the definition changes, so preview needs it too",
)

# Step Functions logging (loggingConfiguration): the provider only passes it to Create/UpdateStateMachine (read in
# sfn/state_machine.go: no logs:* call). Step Functions then checks the *state machine's role* ("The state machine
# IAM Role is not authorized to access the Log Destination") and sets up the vended log delivery with it; AWS's
# "IAM policies for logging to CloudWatch Logs" (step-functions/latest/dg/cw-logs.html) lists these actions for that
# role, on "*" because none has a resource type. The caller (CI's deploy role) needs none of them.
_SFN_LOGGING = (
    "Step Functions sets up the log delivery with the machine's role; vended log delivery has no resource type"
)
_SFN_LOG_DELIVERY = (
    *(
        _star(action, _SFN_LOGGING)
        for action in (
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
        )
    ),
    _star("logs:PutResourcePolicy", "the delivery adds the log group to the account's log resource policy"),
    _star("logs:DescribeResourcePolicies", "the delivery reads the account's log resource policies (account-wide)"),
    _star("logs:DescribeLogGroups", "the delivery looks the destination log group up: a list call, no resource type"),
)

_RUN = (
    _aws(
        "aws:ecs/cluster:Cluster",
        _CI,
        "where the job runs; no access is attached to a cluster",
        create=("ecs:CreateCluster", "ecs:TagResource", "ecs:DescribeClusters"),
        read=("ecs:DescribeClusters",),
        update=("ecs:UpdateCluster", "ecs:TagResource", "ecs:UntagResource"),
        delete=("ecs:DeleteCluster", "ecs:DescribeClusters"),
        source="ecs/cluster.go",
    ),
    _aws(
        "aws:ecs/taskDefinition:TaskDefinition",
        _CI,
        "the job itself (deploying it runs code as the task role: the documented deploy path); iam:PassRole of "
        "the admin-made task and execution roles only",
        create=("ecs:RegisterTaskDefinition", "ecs:TagResource", _PASS_ROLE, "ecs:DescribeTaskDefinition"),
        read=("ecs:DescribeTaskDefinition",),
        update=("ecs:TagResource", "ecs:UntagResource"),
        delete=("ecs:DeregisterTaskDefinition",),
        source="ecs/task_definition.go",
        star_only=(
            _star("ecs:DescribeTaskDefinition", _TASK_DEF_STAR),
            _star("ecs:DeregisterTaskDefinition", _TASK_DEF_STAR),
        ),
    ),
    _aws(
        "aws:sfn/stateMachine:StateMachine",
        _CI,
        "the pipeline's orchestration; iam:PassRole of the admin-made state-machine role only (whose admin-only "
        "inline policy also lets its Distributed Map start and stop child executions of this machine alone). Its "
        "logging needs log-delivery actions on the machine's own role, not the caller's (role_star_only)",
        create=(
            "states:ValidateStateMachineDefinition",
            "states:CreateStateMachine",
            "states:TagResource",
            _PASS_ROLE,
            *_SFN_READ,
        ),
        read=_SFN_READ,
        update=(
            "states:ValidateStateMachineDefinition",
            "states:UpdateStateMachine",
            _PASS_ROLE,
            "states:TagResource",
            "states:UntagResource",
        ),
        delete=("states:DeleteStateMachine", "states:DescribeStateMachine"),
        source="sfn/state_machine.go",
        star_only=(_VALIDATE,),
        role_star_only=_SFN_LOG_DELIVERY,
    ),
    _aws(
        "aws:cloudwatch/eventRule:EventRule",
        _CI,
        "the schedule: when the job runs",
        create=("events:PutRule", "events:TagResource", "events:DescribeRule", "events:ListTagsForResource"),
        read=("events:DescribeRule", "events:ListTagsForResource"),
        update=("events:PutRule", "events:TagResource", "events:UntagResource"),
        delete=("events:DeleteRule",),
        source="events/rule.go",
    ),
    _aws(
        "aws:cloudwatch/eventTarget:EventTarget",
        _CI,
        "what the schedule starts; iam:PassRole of the admin-made events role only",
        create=("events:PutTargets", _PASS_ROLE, "events:ListTargetsByRule"),
        read=("events:ListTargetsByRule",),
        update=("events:PutTargets", _PASS_ROLE),
        delete=("events:RemoveTargets",),
        source="events/target.go",
    ),
)

# --- Logs, alarms, notifications, parameters, network ---------------------------------------------------------
_LOG_GROUP_READ = ("logs:DescribeLogGroups", "logs:ListTagsForResource")

_OBSERVE = (
    _aws(
        "aws:cloudwatch/logGroup:LogGroup",
        _CI,
        "the job's and state machine's logs; retention decides how long they are kept (not who reads them)",
        create=("logs:CreateLogGroup", "logs:TagResource", "logs:PutRetentionPolicy", *_LOG_GROUP_READ),
        read=_LOG_GROUP_READ,
        update=("logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource"),
        delete=("logs:DeleteLogGroup",),
        source="logs/group.go",
        star_only=(_star("logs:DescribeLogGroups", "lists log groups by name prefix: no resource type"),),
    ),
    _aws(
        "aws:cloudwatch/logMetricFilter:LogMetricFilter",
        _CI,
        "turns log lines into metrics for alarms; it detects access, it does not grant it",
        create=("logs:PutMetricFilter", "logs:DescribeMetricFilters"),
        read=("logs:DescribeMetricFilters",),
        update=("logs:PutMetricFilter",),
        delete=("logs:DeleteMetricFilter",),
        source="logs/metric_filter.go",
    ),
    _aws(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        _CI,
        "alarms on failed runs, rejected rows and drift",
        create=("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:DescribeAlarms"),
        read=("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
        update=("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"),
        delete=("cloudwatch:DeleteAlarms",),
        source="cloudwatch/metric_alarm.go",
    ),
    _aws(
        "aws:sns/topic:Topic",
        _ADMIN,
        "the alarm topic carries the store's audit alerts: deleting it silences them, and sns:SetTopicAttributes "
        "(which AWS cannot limit to one attribute) also replaces the topic's policy",
        create=("sns:CreateTopic", "sns:TagResource", "sns:SetTopicAttributes", "sns:GetTopicAttributes"),
        read=("sns:GetTopicAttributes", "sns:ListTagsForResource"),
        update=("sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource"),
        delete=("sns:DeleteTopic",),
        source="sns/topic.go",
    ),
    _aws(
        "aws:sns/topicPolicy:TopicPolicy",
        _ADMIN,
        "who may publish to the alarm topic (EventBridge alert rules, CloudWatch alarms): a resource policy",
        create=("sns:SetTopicAttributes", "sns:GetTopicAttributes"),
        read=("sns:GetTopicAttributes",),
        update=("sns:SetTopicAttributes",),
        delete=("sns:SetTopicAttributes",),
        source="sns/topic_policy.go",
    ),
    _aws(
        "aws:sns/topicSubscription:TopicSubscription",
        _CI,
        "who is notified by e-mail (the address is config, reviewed like code)",
        create=("sns:Subscribe", "sns:GetSubscriptionAttributes"),
        read=("sns:GetSubscriptionAttributes",),
        update=("sns:SetSubscriptionAttributes",),
        delete=("sns:Unsubscribe",),
        source="sns/topic_subscription.go",
        star_only=(
            _star("sns:GetSubscriptionAttributes", "addressed by subscription ARN, which has no resource type"),
            _star("sns:SetSubscriptionAttributes", "addressed by subscription ARN, which has no resource type"),
            _star("sns:Unsubscribe", "addressed by subscription ARN, which has no resource type"),
        ),
    ),
    _aws(
        "aws:ssm/parameter:Parameter",
        _CI,
        "the job's run-time parameters; model-key/model-sha256 ignore value changes, so a deploy never reverts "
        "a promotion",
        create=("ssm:PutParameter", "ssm:AddTagsToResource", "ssm:GetParameter", "ssm:DescribeParameters"),
        read=("ssm:GetParameter", "ssm:DescribeParameters", "ssm:ListTagsForResource"),
        update=("ssm:PutParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"),
        delete=("ssm:DeleteParameter",),
        source="ssm/parameter.go",
        star_only=(_star("ssm:DescribeParameters", "lists parameters with a filter: no resource type"),),
    ),
    _aws(
        "aws:ec2/securityGroup:SecurityGroup",
        _CI,
        "the task's network egress (HTTPS only); network reach, not who may access data",
        create=(
            "ec2:CreateSecurityGroup",
            "ec2:CreateTags",
            "ec2:DescribeSecurityGroups",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupEgress",
        ),
        read=("ec2:DescribeSecurityGroups",),
        update=(
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:CreateTags",
            "ec2:DeleteTags",
        ),
        delete=("ec2:DescribeNetworkInterfaces", "ec2:DeleteSecurityGroup"),
        source="ec2/vpc_security_group.go",
        star_only=(
            _star("ec2:DescribeSecurityGroups", "EC2 Describe* calls have no resource-level permissions"),
            _star("ec2:DescribeNetworkInterfaces", "EC2 Describe* calls have no resource-level permissions"),
        ),
    ),
)

# --- Audit (issues 11-12) -----------------------------------------------------------------------------------------
_AUDIT = (
    _aws(
        "aws:cloudtrail/trail:Trail",
        _ADMIN,
        "the account's audit trail and the store's data events: stopping or narrowing it hides who did what; it "
        "passes its CloudWatch Logs delivery role",
        create=(
            _PASS_ROLE,
            "cloudtrail:CreateTrail",
            "cloudtrail:AddTags",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:StartLogging",
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:GetEventSelectors",
            "cloudtrail:GetInsightSelectors",
            "cloudtrail:ListTags",
        ),
        read=(
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:GetEventSelectors",
            "cloudtrail:GetInsightSelectors",
            "cloudtrail:ListTags",
        ),
        update=(
            _PASS_ROLE,
            "cloudtrail:UpdateTrail",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:StartLogging",
            "cloudtrail:StopLogging",
            "cloudtrail:AddTags",
            "cloudtrail:RemoveTags",
        ),
        delete=("cloudtrail:DeleteTrail",),
        source="cloudtrail/trail.go",
        star_only=(_star("cloudtrail:DescribeTrails", "lists the account's trails: no resource type"),),
    ),
    _aws(
        "aws:accessanalyzer/analyzer:Analyzer",
        _ADMIN,
        "reports external access; deleting it hides a widened grant",
        create=("access-analyzer:CreateAnalyzer", "access-analyzer:TagResource", "access-analyzer:GetAnalyzer"),
        read=("access-analyzer:GetAnalyzer",),
        update=("access-analyzer:TagResource", "access-analyzer:UntagResource"),
        delete=("access-analyzer:DeleteAnalyzer",),
        source="accessanalyzer/analyzer.go",
    ),
)

# --- Not AWS, or no AWS call of its own ---------------------------------------------------------------------------
_OTHER = (
    _none("pulumi:pulumi:Stack", "Pulumi's root resource; makes no AWS call"),
    _none("pulumi:pulumi:StackReference", "reads another stack's outputs from the Pulumi backend, not from AWS"),
    _none(
        "pulumi:providers:aws",
        "configures the AWS provider (sts:GetCallerIdentity for allowed_account_ids needs no permission)",
    ),
    _none("pulumi:providers:docker", "configures the Docker provider; makes no AWS call"),
    _none("ds:storage:SecureBucket", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:storage:ArtifactStore", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:access:CrossAccountAccess", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:access:OperatorRole", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:access:PromoterRole", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:runtime:JobImage", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:runtime:JobTask", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:runtime:Orchestration", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:access:CiAccess", "a ComponentResource: its children are classified, it makes no call"),
    _none("ds:audit:Audit", "a ComponentResource: its children are classified, it makes no call"),
    ProviderActions(
        "docker:index/image:Image",
        _CI,
        "the job image: built by the Docker provider and pushed to our repository with the token from "
        "ecr:GetAuthorizationToken (an invoke below), so the push is authorized as the deploying role",
        create=(
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ),
        update=(
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ),
        source=("pulumi/pulumi-docker: provider/image.go (pushes with the registry credentials it is given)",),
    ),
)

TYPES: dict[str, ProviderActions] = {
    entry.token: entry for entry in (*_S3, *_IAM, *_KMS, *_ECR, *_RUN, *_OBSERVE, *_AUDIT, *_OTHER)
}


def _invoke(
    token: str, why: str, source: str, read: tuple[str, ...], star_only: tuple[StarOnly, ...]
) -> ProviderActions:
    """A provider function (data source): it only reads, on preview and on every deploy."""
    return ProviderActions(token, _CI, why, read=read, star_only=star_only, source=(_TF + source,))


# Provider functions (data sources) the program invokes: they run on preview and on every deploy.
_DESCRIBE = "EC2 Describe* calls have no resource-level permissions"
INVOKES: dict[str, ProviderActions] = {
    entry.token: entry
    for entry in (
        _none(
            "aws:index/getCallerIdentity:getCallerIdentity",
            "sts:GetCallerIdentity, which AWS answers for every caller without any IAM permission",
        ),
        _none("aws:index/getRegion:getRegion", "answered from the provider's configuration, no AWS call"),
        _none("aws:index/getPartition:getPartition", "answered from the provider's configuration, no AWS call"),
        _invoke(
            "aws:ecr/getAuthorizationToken:getAuthorizationToken",
            "a registry login token for the image push",
            "ecr/authorization_token_data_source.go",
            ("ecr:GetAuthorizationToken",),
            (_star("ecr:GetAuthorizationToken", "a registry login token: no resource type"),),
        ),
        _invoke(
            "aws:ecr/getImages:getImages",
            "a pinned stack checks that its repository holds the pinned digest before the task definition uses it",
            "ecr/images_data_source.go",
            ("ecr:ListImages",),
            (),
        ),
        _invoke(
            "aws:ec2/getVpc:getVpc",
            "finds the default VPC for the task's network",
            "ec2/vpc_data_source.go",
            ("ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"),
            (_star("ec2:DescribeVpcs", _DESCRIBE),),
        ),
        _invoke(
            "aws:ec2/getSubnets:getSubnets",
            "finds the VPC's subnets for the task's network",
            "ec2/vpc_subnets_data_source.go",
            ("ec2:DescribeSubnets",),
            (_star("ec2:DescribeSubnets", _DESCRIBE),),
        ),
        _invoke(
            "aws:ec2/getSubnet:getSubnet",
            "reads one subnet's attributes",
            "ec2/vpc_subnet_data_source.go",
            ("ec2:DescribeSubnets",),
            (_star("ec2:DescribeSubnets", _DESCRIBE),),
        ),
    )
}

# Entries whose provider source was read line by line for this table (the others follow the provider's documented
# behaviour and its generated tagging code; confirm them against a real deploy's CloudTrail before trusting them).
SOURCE_READ = frozenset(
    {
        "aws:sfn/stateMachine:StateMachine",
        "aws:s3/bucket:Bucket",
        "aws:ecr/repository:Repository",
        "aws:ecs/taskDefinition:TaskDefinition",
        "aws:iam/role:Role",
        "aws:cloudwatch/logGroup:LogGroup",
    }
)

DOC_BEGIN = "<!-- provider-actions:begin (generated by policy.provider_actions.render_markdown; do not edit) -->"
DOC_END = "<!-- provider-actions:end -->"


def entry_for(token: str) -> ProviderActions:
    """The table entry of a synthesized type; KeyError naming the type and the file to edit when it has none."""
    if token in TYPES:
        return TYPES[token]
    raise KeyError(
        f"resource type {token} has no deployer class: add it to TYPES in policy/provider_actions.py with its "
        "provider actions and whether it is CI-deployable or admin-only"
    )


def _cell(actions: tuple[str, ...]) -> str:
    return "<br>".join(f"`{a}`" for a in actions) or "—"


def render_markdown() -> str:
    """The table for docs/infrastructure.md, between DOC_BEGIN and DOC_END (a test keeps them equal)."""
    header = (
        "| type | class | create | read | update | delete | only on `*` (why) | provider source |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for entry in (*TYPES.values(), *INVOKES.values()):
        star = "<br>".join(
            [f"`{s.action}`: {s.reason}" for s in entry.star_only]
            + [f"`{s.action}` (the resource's own role, not the caller): {s.reason}" for s in entry.role_star_only]
        )
        star = star or "—"
        read_mark = " (read line by line)" if entry.token in SOURCE_READ else ""
        source = "<br>".join(entry.source) + read_mark if entry.source else "—"
        rows.append(
            f"| `{entry.token}` | {entry.deployer.value}: {entry.why} | {_cell(entry.create)} | {_cell(entry.read)} "
            f"| {_cell(entry.update)} | {_cell(entry.delete)} | {star} | {source} |"
        )
    return "\n".join((DOC_BEGIN, header, *rows, DOC_END))
