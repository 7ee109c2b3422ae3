"""The guide's "Troubleshooting Multi-Account Issues" as checks, each with its fix.

Each check answers one question an on-call engineer would otherwise answer by hand
with ``aws s3api get-bucket-policy`` / ``aws ssm get-parameter`` / ``aws sts ...``, in
the order the job itself needs things at run time, so the first failure is the
broken piece. A check whose prerequisite failed is reported as skipped, not as a
second failure with the same cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from components import naming
from dsctl import ssm_parameters
from dsctl.envs import Connection, Environment, client, session_for, store_owner, store_replica, verify_account
from dsctl.models import MODEL_FILE, ModelStore, access_fix, error_code, interpret_failed_read, object_key
from dsctl.output import CommandError
from dsctl.registry import bypass_problem


@dataclass(frozen=True)
class Check:
    """One diagnosis: ``ok`` is None when skipped because a prerequisite failed."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Context:
    env: Environment
    conn: Connection | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    store_ok: bool = False
    model_version: str | None = None

    @property
    def store_bucket(self) -> str:
        """The store the job will read: the ``artifact-bucket`` parameter, else (missing) the stack's bucket."""
        return self.parameters.get(naming.PARAM_ARTIFACT_BUCKET) or self.env.artifact_bucket


Outcome = tuple[bool, str, str]
"""(passed, what was found, how to fix it)."""


def _passed(detail: str) -> Outcome:
    return True, detail, ""


def _failed(detail: str, fix: str) -> Outcome:
    return False, detail, fix


def _aws_error(err: Exception) -> str:
    return error_code(err) if isinstance(err, ClientError) else type(err).__name__


def _problem_and_fix(message: str) -> tuple[str, str]:
    """Split a one-line error ("problem; fix: how" or "problem; how") into the two columns."""
    problem, marker, fix = message.partition("; fix: ")
    if not marker:
        problem, marker, fix = message.rpartition("; ")
    return (problem, fix) if marker else (message, "see the message")


def check_credentials(ctx: _Context, profile: str | None, role_arn: str | None) -> Outcome:
    try:
        session = session_for(ctx.env, profile, role_arn)
        arn = verify_account(session, ctx.env)
    except CommandError as err:
        return _failed(*_problem_and_fix(err.message))
    ctx.conn = Connection(ctx.env, session, arn)
    return _passed(f"{arn} in {ctx.env.account_id}")


def check_parameters(ctx: _Context) -> Outcome:
    assert ctx.conn is not None
    ctx.parameters, missing = ssm_parameters.get_parameters(ctx.conn.session, ctx.env, naming.PARAMETER_KEYS)
    if missing:
        return _failed(f"missing {', '.join(missing)}", f"deploy the stack: pulumi up --refresh --stack {ctx.env.name}")
    return _passed(f"all {len(naming.PARAMETER_KEYS)} under {ctx.env.parameter_prefix}")


def check_parameter_values(ctx: _Context) -> Outcome:
    wrong = [
        f"{key} is {'missing' if key not in ctx.parameters else repr(ctx.parameters[key])}, expected {want!r}"
        for key in ssm_parameters.STACK_DERIVED_KEYS
        if ctx.parameters.get(key) != (want := ssm_parameters.expected_value(ctx.env, key))
    ]
    if wrong:
        return _failed("; ".join(wrong), f"pulumi up --refresh --stack {ctx.env.name} (compare: dsctl params diff)")
    return _passed("bucket parameters are the stack's")


def check_store(ctx: _Context) -> Outcome:
    """List ``models/`` in the store the job reads (the parameter's bucket, which may not be the stack's)."""
    assert ctx.conn is not None
    bucket = ctx.store_bucket
    foreign = bucket != ctx.env.artifact_bucket
    source = f" (the artifact-bucket parameter; Pulumi.{ctx.env.name}.yaml names {ctx.env.artifact_bucket})"
    try:
        client(ctx.conn.session, "s3").list_objects_v2(Bucket=bucket, Prefix=naming.MODELS_PREFIX, MaxKeys=1)
    except (ClientError, BotoCoreError) as err:
        code = _aws_error(err)
        fix = (
            f"set the parameter back to the stack's store: pulumi up --refresh --stack {ctx.env.name}"
            if foreign
            else access_fix(code, bucket, ctx.env.name, ctx.env.account_id)
        )
        return _failed(f"listing s3://{bucket}/models/ failed ({code})" + (source if foreign else ""), fix)
    ctx.store_ok = True
    if foreign:
        return _passed(f"s3://{bucket}/models/{source}")
    return _passed(f"s3://{bucket}/models/ (account {ctx.env.artifact_account_id})")


def check_promoted_model(ctx: _Context) -> Outcome:
    assert ctx.conn is not None
    key, sha = ctx.parameters.get(naming.PARAM_MODEL_KEY), ctx.parameters.get(naming.PARAM_MODEL_SHA256)
    version = ssm_parameters.version_of_key(key)
    if version is None:
        if key == ssm_parameters.NONE:
            return _failed(
                "no model promoted yet (model-key is NONE)", f"dsctl model promote --env {ctx.env.name} VERSION"
            )
        return _failed(
            f"model-key {key!r} is not models/VERSION/model.pkl", f"dsctl model promote --env {ctx.env.name} VERSION"
        )
    store = ModelStore(ctx.conn.session, ctx.store_bucket)
    try:
        verdict, detail = store.digest_verdict(version, sha or "")
    except ClientError as err:
        failed = interpret_failed_read(store, version, MODEL_FILE, error_code(err), ctx.env.name, ctx.env.account_id)
        return _failed(failed.problem, failed.fix)
    except BotoCoreError as err:
        code = _aws_error(err)
        return _failed(
            f"cannot read {store.url(version)} ({code})",
            access_fix(code, store.bucket, ctx.env.name, ctx.env.account_id),
        )
    if verdict != "verified":
        return _failed(
            f"{verdict}: {detail} (model-sha256); the job would refuse it (DIGEST_MISMATCH)",
            f"the object was replaced outside dsctl: roll back (dsctl model rollback --env {ctx.env.name}) or promote "
            "a freshly published version",
        )
    ctx.model_version = version
    return _passed(f"{version} at {store.url(version)}, {detail}")


def check_promotion_recorded(ctx: _Context) -> Outcome:
    """The promoted model got there through dsctl: a promotion record explains the current ``model-key`` (a direct
    ``ssm:PutParameter`` skips the gate and leaves none; the EventBridge rule alerts on it as it happens)."""
    assert ctx.conn is not None
    problem = bypass_problem(ctx.conn)
    if problem:
        return _failed(*_problem_and_fix(problem))
    return _passed(f"{ctx.model_version}: promoted by dsctl (dsctl model history --env {ctx.env.name})")


def check_kms_decrypt(ctx: _Context) -> Outcome:
    """A one-byte GET of the model: with SSE-KMS, only this (not HEAD) needs kms:Decrypt on the store's key."""
    assert ctx.conn is not None and ctx.model_version is not None
    store = ModelStore(ctx.conn.session, ctx.store_bucket)
    try:
        head = store.s3.head_object(Bucket=store.bucket, Key=object_key(ctx.model_version, MODEL_FILE))
        store.read_first_byte(ctx.model_version)
    except (ClientError, BotoCoreError) as err:
        return _failed(
            f"reading {store.url(ctx.model_version)} failed ({_aws_error(err)})",
            f"allow kms:Decrypt via s3.{ctx.env.region}.amazonaws.com for account {ctx.env.account_id} in the store's "
            "KMS key policy (owning stack: artifactReaderAccounts), and kms:Decrypt on that key in this role's policy",
        )
    if head.get("ServerSideEncryption") != "aws:kms":
        return _failed(
            f"the model is encrypted with {head.get('ServerSideEncryption') or 'nothing'}, not the store's KMS key",
            f"restore the store's default encryption (pulumi up --refresh --stack {store_owner(ctx.env)}) and publish "
            "a new version",
        )
    return _passed(f"decrypted with {head.get('SSEKMSKeyId', 'the store key')}")


def check_model_replicated(ctx: _Context) -> Outcome:
    """S3's replication status of the promoted model: is there a second copy to fail over to?

    It does not decide whether tonight's run works, so only a FAILED replication fails the check; a model without a
    status (no replica configured, or written before replication was switched on) is reported as such.
    """
    assert ctx.conn is not None and ctx.model_version is not None
    store = ModelStore(ctx.conn.session, ctx.store_bucket)
    replica = store_replica(ctx.env)
    try:
        head = store.s3.head_object(Bucket=store.bucket, Key=object_key(ctx.model_version, MODEL_FILE))
    except (ClientError, BotoCoreError) as err:
        return _failed(f"{store.url(ctx.model_version)}: {_aws_error(err)}", "see the checks above")
    status = head.get("ReplicationStatus")
    owner = store_owner(ctx.env)
    if status == "FAILED":
        return _failed(
            f"replication of {ctx.model_version} to {replica[0] if replica else 'the replica'} FAILED",
            "check the replication role's KMS grants (kms:Encrypt on the replica key via S3) and re-copy the object "
            f"with S3 Batch Replication (admin of {owner})",
        )
    if status == "REPLICA":
        return _passed(f"reading the replica's copy in {store.bucket} (failed over)")
    if status in ("COMPLETED", "PENDING"):
        return _passed(f"{ctx.model_version}: replication {status} to {replica[0] if replica else 'the replica'}")
    if replica is None:
        return _passed(f"no replica: a region or bucket loss has no second copy (artifactReplicaRegion on {owner})")
    return _passed(
        f"{ctx.model_version} has no replication status: written before replication to {replica[0]} was on (an "
        f"admin of {owner} copies it with S3 Batch Replication)"
    )


def check_state_machine(ctx: _Context) -> Outcome:
    assert ctx.conn is not None
    try:
        status = (
            client(ctx.conn.session, "stepfunctions")
            .describe_state_machine(stateMachineArn=ctx.env.state_machine_arn)
            .get("status", "ACTIVE")
        )
    except (ClientError, BotoCoreError) as err:
        return _failed(f"{ctx.env.state_machine_arn}: {_aws_error(err)}", f"pulumi up --refresh --stack {ctx.env.name}")
    if status != "ACTIVE":
        return _failed(f"{naming.STATE_MACHINE} is {status}", f"pulumi up --refresh --stack {ctx.env.name}")
    return _passed(ctx.env.state_machine_arn)


def check_task_definition(ctx: _Context) -> Outcome:
    assert ctx.conn is not None
    ecs = client(ctx.conn.session, "ecs")
    try:
        definition = ecs.describe_task_definition(taskDefinition=naming.TASK_FAMILY)["taskDefinition"]
        clusters = ecs.describe_clusters(clusters=[naming.CLUSTER])["clusters"]
    except (ClientError, BotoCoreError) as err:
        return _failed(f"{naming.TASK_FAMILY}: {_aws_error(err)}", f"pulumi up --refresh --stack {ctx.env.name}")
    if not any(c.get("status") == "ACTIVE" for c in clusters):
        return _failed(f"cluster {naming.CLUSTER} not found", f"pulumi up --refresh --stack {ctx.env.name}")
    containers = [c["name"] for c in definition.get("containerDefinitions", [])]
    if naming.CONTAINER_NAME not in containers:
        return _failed(
            f"{naming.TASK_FAMILY} has no container {naming.CONTAINER_NAME}",
            f"pulumi up --refresh --stack {ctx.env.name}",
        )
    return _passed(f"{naming.TASK_FAMILY}:{definition['revision']} on {naming.CLUSTER}")


# (name, check, what must have passed before it can run), in the order the job needs things.
_CHECKS: list[tuple[str, Callable[[_Context], Outcome], Callable[[_Context], bool]]] = [
    ("parameters present", check_parameters, lambda ctx: True),
    ("parameters match the stack", check_parameter_values, lambda ctx: bool(ctx.parameters)),
    ("artifact store reachable", check_store, lambda ctx: True),
    (
        "promoted model readable",
        check_promoted_model,
        lambda ctx: ctx.store_ok and naming.PARAM_MODEL_KEY in ctx.parameters,
    ),
    ("promotion recorded", check_promotion_recorded, lambda ctx: ctx.model_version is not None),
    ("KMS decrypt", check_kms_decrypt, lambda ctx: ctx.model_version is not None),
    ("promoted model replicated", check_model_replicated, lambda ctx: ctx.model_version is not None),
    ("state machine present", check_state_machine, lambda ctx: True),
    ("task definition present", check_task_definition, lambda ctx: True),
]


def diagnose(env: Environment, profile: str | None = None, role_arn: str | None = None) -> list[Check]:
    """Run every check for ``env`` in dependency order."""
    ctx = _Context(env)
    results = [Check("credentials and account", *check_credentials(ctx, profile, role_arn))]
    for name, check, ready in _CHECKS:
        if ctx.conn is None or not ready(ctx):
            results.append(Check(name, None, "skipped: an earlier check failed"))
        else:
            results.append(Check(name, *check(ctx)))
    return results
