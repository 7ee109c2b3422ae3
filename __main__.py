"""ds-preprocessing: compose the stack from its validated settings and export the outputs contract.

Each stack is one environment in one AWS account. The owning stack creates the model artifact
store; the reading stack finds it (StackReference or explicit config) and gets
cross-account read access. Data flows one way, top to bottom: buckets -> store -> image ->
task -> orchestration -> operator. Config keys and outputs: docs/infrastructure.md.
"""

import pulumi

from components import naming
from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.audit import Audit, AuditArgs, AuditedStore
from components.ci_access import CiAccess, CiAccessArgs
from components.cross_account import CrossAccountAccess, CrossAccountAccessArgs
from components.job_image import JobImage, JobImageArgs
from components.job_task import JobTask, JobTaskArgs
from components.operator import OperatorRole, OperatorRoleArgs, PromoterRole, PromoterRoleArgs
from components.orchestration import Orchestration, OrchestrationArgs
from components.provider import aws_provider, with_provider
from components.secure_bucket import SecureBucket, SecureBucketArgs
from components.settings import SettingsError, read_pulumi_config, settings_from_config

try:
    s = settings_from_config(pulumi.get_stack(), read_pulumi_config(pulumi.Config()))
except SettingsError as err:
    raise pulumi.RunError(f"invalid stack config:\n{err}") from None

opts = with_provider(aws_provider(s))
env = s.environment

# The account's public access block and CI's OIDC roles: made by the first admin `pulumi up` (docs/infrastructure.md).
ci = CiAccess(
    "ci",
    CiAccessArgs(s.arns, s.parameter_prefix, s.owns_artifact_store, s.github_repository, s.github_oidc_provider_arn),
    opts,
)

# dataRetentionDays (non-production stacks only): the data expires; production keeps it.
input_bucket = SecureBucket(
    "input", SecureBucketArgs(bucket_name=s.input_bucket_name, expire_after_days=s.data_retention_days), opts
)
# The job stages work under _staging/{run_id}/ and removes it; expire leftovers of crashed runs.
output_bucket = SecureBucket(
    "output",
    SecureBucketArgs(
        s.output_bucket_name,
        expire_prefixes={naming.STAGING_PREFIX: 7},
        expire_after_days=s.data_retention_days,
    ),
    opts,
)

store: ArtifactStore | CrossAccountAccess
if s.owns_artifact_store:
    store = ArtifactStore(
        "artifacts",
        ArtifactStoreArgs(
            env,
            s.account_id,
            s.region,
            s.artifact_reader_accounts,
            s.artifact_reader_role_patterns,
            s.admin_principal_arns,
            s.artifact_replica_region,
        ),
        opts,
    )
else:
    assert s.artifact_source is not None  # guaranteed by the settings validator
    store = CrossAccountAccess("cross-account", CrossAccountAccessArgs(s.region, s.artifact_source), opts)

# One stack builds the image and replicates it to the accounts its store trusts; the others run their pinned digest.
image = JobImage(
    "image",
    JobImageArgs(
        s.account_id,
        s.region,
        pinned_digest=None if s.builds_image else s.image_digest,
        replicate_to=s.artifact_reader_accounts if s.builds_image else (),
        source_account_id=None if s.builds_image else store.location.account_id,
    ),
    opts,
)

task = JobTask(
    "task",
    JobTaskArgs(
        environment=env,
        account_id=s.account_id,
        region=s.region,
        parameter_prefix=s.parameter_prefix,
        log_retention_days=s.log_retention_days,
        cpu=s.task_cpu,
        memory=s.task_memory,
        subnet_ids=s.subnet_ids,
        assign_public_ip=s.assign_public_ip,
        image=image.digest,
        image_digest=image.image_digest,
        repository_arn=image.repository_arn,
        input_bucket_arn=input_bucket.arn,
        output_bucket_arn=output_bucket.arn,
        store=store.location,
        max_parallel_tasks=s.max_parallel_tasks,
    ),
    opts,
)
store.grant_read("task-read-models", task.task_role.name)

pipeline = Orchestration(
    "pipeline",
    OrchestrationArgs(
        environment=env,
        account_id=s.account_id,
        region=s.region,
        parameter_prefix=s.parameter_prefix,
        log_retention_days=s.log_retention_days,
        task_timeout_minutes=s.task_timeout_minutes,
        schedule_expression=s.schedule_expression if s.schedule_enabled else None,
        alarm_email=s.alarm_email,
        task=task.launch,
        role_boundary_arn=task.role_boundary.arn,
        input_bucket_name=input_bucket.bucket_name,
        output_bucket_name=output_bucket.bucket_name,
        artifact_bucket_name=store.location.bucket_name,
        input_key=s.input_key,
        max_parallel_tasks=s.max_parallel_tasks,
    ),
    opts,
)

# The account's trail and access analyzer, the alert on model parameter changes outside dsctl; on the owning stack
# the store's data events, denied-access alarm and alerts.
audit = Audit(
    "audit",
    AuditArgs(
        environment=env,
        account_id=s.account_id,
        region=s.region,
        alarm_topic_arn=pipeline.topic.arn,
        log_retention_days=s.log_retention_days,
        own_trail=not s.organization_trail,
        store=AuditedStore(naming.artifact_bucket(env, s.account_id, s.region), store.key.arn)
        if isinstance(store, ArtifactStore)
        else None,
        admin_principal_arns=s.admin_principal_arns,
        model_parameter_names=[s.parameter_name(key) for key in naming.PROMOTED_PARAMETER_KEYS],
        promoting_role_arn=s.arns.role(s.promoting_role) if s.promoting_role else None,
    ),
    opts,
)

# dsctl's role, trusted only by the configured operators (none configured: no role).
operator = (
    OperatorRole(
        "operator",
        OperatorRoleArgs(
            env,
            s.account_id,
            s.region,
            s.parameter_prefix,
            s.operator_principal_arns,
            s.operator_permission_set,
            s.owns_artifact_store,
            store.location,
            promotes=not s.has_promoter,
        ),
        opts,
    )
    if s.has_operators
    else None
)

# Production stacks: the one role that may change the promoted model, for promoterPermissionSet (not the operators).
promoter = (
    PromoterRole(
        "promoter",
        PromoterRoleArgs(
            env,
            s.account_id,
            s.region,
            s.parameter_prefix,
            s.promoter_permission_set,
            s.owns_artifact_store,
            store.location,
        ),
        opts,
    )
    if s.has_promoter and s.promoter_permission_set
    else None
)

# The outputs contract (docs/infrastructure.md): names are stable; dsctl and the reading stack depend on them.
pulumi.export("environment", env)
pulumi.export("accountId", s.account_id)
pulumi.export("region", s.region)
pulumi.export("inputBucketName", input_bucket.bucket_name)
pulumi.export("inputBucketArn", input_bucket.arn)
pulumi.export("outputBucketName", output_bucket.bucket_name)
pulumi.export("outputBucketArn", output_bucket.arn)
pulumi.export("artifactBucketName", store.location.bucket_name)
pulumi.export("artifactBucketArn", store.location.bucket_arn)
pulumi.export("artifactKmsKeyArn", store.location.kms_key_arn)
pulumi.export("artifactAccountId", store.location.account_id)
pulumi.export("ecrRepositoryUrl", image.repository_url)
pulumi.export("imageDigest", image.digest)
pulumi.export("clusterArn", task.cluster.arn)
pulumi.export("clusterName", naming.CLUSTER)
pulumi.export("taskDefinitionArn", task.task_definition.arn)
pulumi.export("taskFamily", naming.TASK_FAMILY)
pulumi.export("containerName", naming.CONTAINER_NAME)
pulumi.export("stateMachineArn", pipeline.state_machine.arn)
pulumi.export("subnetIds", task.subnet_ids)
pulumi.export("securityGroupId", task.security_group.id)
pulumi.export("parameterNames", {key: p.name for key, p in pipeline.parameters.items()})
pulumi.export("logGroupName", task.log_group.name)
pulumi.export("stateMachineLogGroupName", pipeline.state_machine_log_group.name)
pulumi.export("alarmTopicArn", pipeline.topic.arn)
pulumi.export("taskRoleArn", task.task_role.arn)
pulumi.export("executionRoleArn", task.execution_role.arn)
pulumi.export("stateMachineRoleArn", pipeline.state_machine_role.arn)
pulumi.export("scheduleRuleName", pipeline.schedule_rule.name if pipeline.schedule_rule else None)
pulumi.export("operatorRoleArn", operator.role.arn if operator else None)
pulumi.export("promoterRoleArn", promoter.role.arn if promoter else None)
pulumi.export("previewRoleArn", ci.preview_role.arn if ci.preview_role else None)
pulumi.export("deployRoleArn", ci.deploy_role.arn if ci.deploy_role else None)
if isinstance(store, ArtifactStore):
    pulumi.export("artifactReaderPrincipalPatterns", store.reader_principal_patterns)
    if store.replica:
        pulumi.export("artifactReplicaBucketName", store.replica.bucket_name)
        pulumi.export("artifactReplicaKmsKeyArn", store.replica.kms_key_arn)
        pulumi.export("artifactReplicaRegion", store.replica.region)
