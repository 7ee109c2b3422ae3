"""Every physical name of ds-preprocessing, in one place.

Names are fixed (not Pulumi auto-names) because other things depend on them: the
artifact store's bucket policy matches reader roles by name (``aws:PrincipalArn``),
operators' runbooks and dashboards use the guide's names, and ``dsctl`` finds
resources without reading stack state. Nothing outside this module formats them.
"""

from __future__ import annotations

PROJECT = "ds-preprocessing"
"""Pulumi project name, also the prefix of role and resource names."""

CLUSTER = "ds-processing-cluster"
TASK_FAMILY = "ds-preprocessing"
CONTAINER_NAME = "ds-preprocessing"
STATE_MACHINE = "ds-preprocessing-pipeline"
ECR_REPOSITORY = "ds-preprocessing"
IMAGE_DIGEST_ENV = "DS_IMAGE_DIGEST"
IMAGE_PLATFORM = "linux/amd64"
"""The job image's platform (Fargate x86_64): the build and the verify workflow's docker build use it."""
"""The task tells the job its image digest through this variable; every run manifest records it."""
METRIC_NAMESPACE = "DS/Pipeline"
METRIC_DIMENSION = "Environment"
"""The dimension every aggregate job metric carries (its value: the stack's environment)."""
DRIFTED_FEATURES_METRIC = "DriftedFeatures"
"""The job's per-run count of features whose PSI reached the model's drift threshold (job/metrics.py)."""
DEFAULT_PARAMETER_PREFIX = "/ds/preprocessing"

# Keys under the parameter prefix (CONTRACTS.md section 3).
PARAM_INPUT_BUCKET = "input-bucket"
PARAM_OUTPUT_BUCKET = "output-bucket"
PARAM_ARTIFACT_BUCKET = "artifact-bucket"
PARAM_INPUT_KEY = "input-key"
PARAM_MODEL_KEY = "model-key"
PARAM_MODEL_SHA256 = "model-sha256"
PARAMETER_KEYS = (
    PARAM_INPUT_BUCKET,
    PARAM_OUTPUT_BUCKET,
    PARAM_ARTIFACT_BUCKET,
    PARAM_INPUT_KEY,
    PARAM_MODEL_KEY,
    PARAM_MODEL_SHA256,
)
PROMOTED_PARAMETER_KEYS = (PARAM_MODEL_KEY, PARAM_MODEL_SHA256)
"""Changed by ``dsctl model promote`` after deployment; Pulumi must never revert them."""
OPERATOR_SET_PARAMETER_KEYS = (*PROMOTED_PARAMETER_KEYS, PARAM_ARTIFACT_BUCKET)
"""Created by Pulumi, then changed by dsctl (promote; ``model failover`` points artifact-bucket at the store's
replica): Pulumi ignores their value after creation, so ``pulumi up --refresh`` never undoes a failover."""
PROMOTION_RECORD_KEY = "dsctl/promotion"
"""dsctl's audit record of the last promotion, under the prefix but not a job parameter (CONTRACTS.md section 3)."""
NO_MODEL_SENTINEL = "NONE"
"""Initial value of the promoted parameters: no model promoted yet."""

PROCESSED_PREFIX = "processed/"
"""Output bucket: published runs, ``processed/{run_id}/…`` (CONTRACTS.md section 4)."""
LEASES_PREFIX = "leases/"
"""Output bucket: ``leases/{environment}.json``, the one-run-at-a-time lease the job takes (``job.lease``)."""
RUNS_PREFIX = "runs/"
"""Output bucket: one small record per run, ``runs/{run_id}.json``, failed runs included (``job.run_record``)."""
STAGING_PREFIX = "_staging/"
"""Output bucket: a run's work in progress, ``_staging/{run_id}/{attempt}/…``, removed or expired (7 days)."""
BATCHES_DIR = "batches/"
"""A scaled-out run's staging, ``_staging/{run_id}/batches/``: its plan and each batch's output (``job.plan``)."""
BATCH_ITEMS_FILE = "items.json"
"""In ``BATCHES_DIR``: the JSON array of batches the state machine's Distributed Map reads (its ``ItemReader``)."""
MAX_PARALLEL_ENV = "DS_MAX_PARALLEL_TASKS"
"""The task environment variable carrying ``maxParallelTasks``: how many batches the job's plan makes."""

MODELS_PREFIX = "models/"
"""The only prefix of the artifact store that reader accounts may read."""
VALIDATION_PREFIX = "validation/"
"""Input bucket: validation test data, the only input the owning stack's operator reads (``dsctl model validate``)."""
INPUT_UPLOAD_PREFIXES = ("raw/", VALIDATION_PREFIX)
"""Prefixes of the input bucket the operator uploads to: the month's input (``raw/monthly_data.csv``, the default
``inputKey``) and validation test data (``validation/…``, read by ``dsctl model validate``)."""


def _regional(kind: str, env: str, account_id: str, region: str) -> str:
    return f"ds-{kind}-{env}-{account_id}-{region}"


def input_bucket(env: str, account_id: str, region: str) -> str:
    """Input data bucket, e.g. ``ds-input-dev-123456789012-us-east-1``."""
    return _regional("input", env, account_id, region)


def output_bucket(env: str, account_id: str, region: str) -> str:
    """Output data bucket, e.g. ``ds-output-prod-987654321098-us-east-1``."""
    return _regional("output", env, account_id, region)


def artifact_bucket(env: str, account_id: str, region: str) -> str:
    """Artifact store bucket of the owning stack, e.g. ``ds-artifacts-dev-123456789012-us-east-1``."""
    return _regional("artifacts", env, account_id, region)


def artifact_replica_bucket(env: str, account_id: str, replica_region: str) -> str:
    """The store's replica in ``artifactReplicaRegion``: the store's name with the replica's region."""
    return artifact_bucket(env, account_id, replica_region)


def store_replication_role(env: str) -> str:
    """Role S3 assumes to replicate the store's ``models/`` into the replica."""
    return f"{PROJECT}-store-replication-{env}"


def audit_log_bucket(env: str, account_id: str, region: str) -> str:
    """The audit trail's log bucket, e.g. ``ds-audit-dev-123456789012-us-east-1``."""
    return _regional("audit", env, account_id, region)


def task_role(env: str) -> str:
    """Role the job's container runs as (matches the store's ``ds-preprocessing-task-*`` pattern)."""
    return f"{PROJECT}-task-{env}"


def execution_role(env: str) -> str:
    """Role ECS uses to pull the image and write logs."""
    return f"{PROJECT}-exec-{env}"


def state_machine_role(env: str) -> str:
    """Role the Step Functions state machine runs as."""
    return f"{PROJECT}-sfn-{env}"


def schedule_role(env: str) -> str:
    """Role EventBridge uses to start the state machine on schedule."""
    return f"{PROJECT}-events-{env}"


def deploy_role(env: str) -> str:
    """Role CI assumes by GitHub OIDC, from the stack's GitHub environment, to deploy the stack into this account."""
    return f"{PROJECT}-deploy-{env}"


def preview_role(env: str) -> str:
    """Read-only role CI assumes by GitHub OIDC from pull requests, for ``pulumi preview --refresh``."""
    return f"{PROJECT}-preview-{env}"


GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
"""Issuer of GitHub Actions' OIDC tokens; the IAM provider's ARN ends with it minus the scheme."""
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
"""Audience (``aud``) that aws-actions/configure-aws-credentials requests and the CI roles' trust requires."""


def operator_role() -> str:
    """Role humans use to operate the pipeline (a default reader pattern of the artifact store)."""
    return f"{PROJECT}-operator"


def promoter_role() -> str:
    """Role that alone may change a production stack's promoted model (``promoterPermissionSet``), distinct from the
    operator role that publishes; also a default reader pattern of the store (promote reads the model as the job)."""
    return f"{PROJECT}-promoter"


def log_group(env: str) -> str:
    """Log group of the job's containers."""
    return f"/ecs/{PROJECT}-{env}"


def state_machine_log_group(env: str) -> str:
    """Log group of the state machine (the ``/aws/vendedlogs/`` prefix avoids the resource-policy size limit)."""
    return f"/aws/vendedlogs/states/{STATE_MACHINE}-{env}"


def alarm_topic(env: str) -> str:
    """SNS topic for failed runs and alarms."""
    return f"{PROJECT}-alarms-{env}"


def failed_executions_alarm(env: str) -> str:
    """CloudWatch alarm on failed state machine executions."""
    return f"{PROJECT}-failed-executions-{env}"


def rejected_rows_alarm(env: str) -> str:
    """CloudWatch alarm on rows the job rejected."""
    return f"{PROJECT}-rows-rejected-{env}"


def drifted_features_alarm(env: str) -> str:
    """CloudWatch alarm on a run whose input drifted from the model's training data."""
    return f"{PROJECT}-drifted-features-{env}"


def schedule_rule(env: str) -> str:
    """EventBridge rule that starts the pipeline on schedule."""
    return f"{PROJECT}-schedule-{env}"


AUDIT_METRIC_NAMESPACE = "DS/Audit"
"""Metrics the audit trail's log group yields; apart from ``METRIC_NAMESPACE`` so the job's role (which may put
metrics there) cannot write a number into an audit alarm."""
STORE_ACCESS_DENIED_METRIC = "StoreAccessDenied"
AUDIT_TRAIL_LOG_PREFIX = "AWSLogs/"
"""Where CloudTrail writes in its bucket (``AWSLogs/<account>/CloudTrail/...``): the lifecycle expires it."""


def audit_trail(env: str) -> str:
    """The stack's CloudTrail trail (the CI roles' scope matches ``ds-preprocessing-*`` trails)."""
    return f"{PROJECT}-audit-{env}"


def audit_trail_log_group(env: str) -> str:
    """CloudWatch Logs group the trail delivers to, for the metric filter on denied store access."""
    return f"/aws/cloudtrail/{PROJECT}-audit-{env}"


def audit_trail_role(env: str) -> str:
    """Role CloudTrail assumes to deliver events to ``audit_trail_log_group``."""
    return f"{PROJECT}-audit-trail-{env}"


def access_analyzer(env: str) -> str:
    """The account's IAM Access Analyzer (external access findings)."""
    return f"{PROJECT}-access-{env}"


ALERT_RULE_PREFIX = f"{PROJECT}-alert-"
"""EventBridge rules on the store's protections are named with this prefix; the alarm topic's policy lets exactly
the rules of ``ALERTS`` and ``model_parameter_rule`` publish (``aws:SourceArn``)."""


ALERT_STORE_BUCKET = "store-bucket"
"""Changes to the store's bucket policy, replication, versioning, lifecycle or encryption."""
ALERT_STORE_KEY = "store-key"
"""Changes to the store's KMS key: its policy, disabling it, scheduling its deletion."""
ALERTS = (ALERT_STORE_BUCKET, ALERT_STORE_KEY)


def alert_rule(env: str, what: str) -> str:
    """EventBridge rule that forwards ``what`` (e.g. ``store-bucket``) to the alarm topic."""
    return f"{ALERT_RULE_PREFIX}{what}-{env}"


def store_access_denied_alarm(env: str) -> str:
    """CloudWatch alarm on requests to the artifact store that AWS denied."""
    return f"{PROJECT}-store-access-denied-{env}"


def security_group(env: str) -> str:
    """Security group of the job's tasks."""
    return f"{PROJECT}-task-{env}"


def artifact_key_alias(env: str) -> str:
    """Alias of the artifact store's KMS key."""
    return f"alias/ds-artifacts-{env}"


def parameter_name(prefix: str, key: str) -> str:
    """Full SSM parameter name, e.g. ``/ds/preprocessing/model-key``."""
    return f"{prefix.rstrip('/')}/{key}"


def role_boundary(env: str) -> str:
    """Managed policy used as permissions boundary of every workload role (caps what the deployer can grant)."""
    return f"{PROJECT}-boundary-{env}"


def operator_boundary(env: str) -> str:
    """Managed policy used as permissions boundary of the operator role: exactly its own policy."""
    return f"{PROJECT}-operator-boundary-{env}"


def promoter_boundary(env: str) -> str:
    """Managed policy used as permissions boundary of the promoter role: exactly its own policy."""
    return f"{PROJECT}-promoter-boundary-{env}"


def model_parameter_rule(env: str) -> str:
    """EventBridge rule that alerts on a change of the model parameters by anyone but the promoting role."""
    return f"{PROJECT}-model-parameter-changes-{env}"


def stack_label(env: str) -> str:
    """How descriptions and comments name the deployment, e.g. ``ds-preprocessing (dev)``."""
    return f"{PROJECT} ({env})"


def run_label(env: str) -> str:
    """How failure notifications name a run's pipeline, e.g. ``ds-preprocessing dev run``."""
    return f"{PROJECT} {env} run"


def aws_provider(env: str) -> str:
    """Logical name of the stack's AWS provider."""
    return f"aws-{env}"


# --------------------------------------------------------------------------- every name of one environment

MAX_BUCKET_NAME = 63
MAX_ROLE_NAME = 64
MAX_POLICY_NAME = 128


def regional_names(env: str, account_id: str, region: str) -> tuple[str, ...]:
    """The names that hold the environment, account and region (the data buckets and the store)."""
    return (
        input_bucket(env, account_id, region),
        output_bucket(env, account_id, region),
        artifact_bucket(env, account_id, region),
        audit_log_bucket(env, account_id, region),
    )


def _environment_roles(env: str) -> tuple[str, ...]:
    """The roles whose names hold the environment: the workload roles and CI's two."""
    return (
        task_role(env),
        execution_role(env),
        state_machine_role(env),
        schedule_role(env),
        audit_trail_role(env),
        store_replication_role(env),
        deploy_role(env),
        preview_role(env),
    )


def environment_names(env: str) -> tuple[str, ...]:
    """Every physical name that holds the environment alone, longest first.

    ``dsctl diff`` replaces exactly these values (never the bare word, which also occurs in other text such as
    the job's ``_staging/`` prefix for a stack called ``staging``) to compare two stacks.
    """
    names = (
        *_environment_roles(env),
        log_group(env),
        state_machine_log_group(env),
        alarm_topic(env),
        failed_executions_alarm(env),
        rejected_rows_alarm(env),
        drifted_features_alarm(env),
        schedule_rule(env),
        audit_trail(env),
        audit_trail_log_group(env),
        access_analyzer(env),
        store_access_denied_alarm(env),
        *(alert_rule(env, what) for what in ALERTS),
        security_group(env),
        artifact_key_alias(env),
        role_boundary(env),
        operator_boundary(env),
        promoter_boundary(env),
        model_parameter_rule(env),
    )
    return tuple(sorted(set(names), key=len, reverse=True))


def environment_labels(env: str) -> tuple[str, ...]:
    """Texts other than physical names that hold the environment: labels in descriptions and notifications, the
    provider's logical name. ``dsctl diff`` replaces these exact values too."""
    return (stack_label(env), run_label(env), aws_provider(env))


def too_long_names(env: str, account_id: str, region: str) -> list[str]:
    """Names of ``env`` that exceed an AWS length limit (bucket 63, role 64, managed policy 128 characters)."""
    roles = _environment_roles(env)
    limits = [
        *((name, MAX_BUCKET_NAME) for name in regional_names(env, account_id, region)),
        *((name, MAX_ROLE_NAME) for name in roles),
        *((name, MAX_POLICY_NAME) for name in (role_boundary(env), operator_boundary(env), promoter_boundary(env))),
    ]
    return [name for name, limit in limits if len(name) > limit]
