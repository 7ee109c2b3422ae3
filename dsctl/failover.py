"""``dsctl model failover``: point a reading stack's ``artifact-bucket`` at the store's replica, or back.

The reading stack's roles are granted the replica in advance (``components.model_access``), so failing over is one
parameter write and no deploy; the parameter has ``ignore_changes`` on its value, so ``pulumi up --refresh`` keeps
it. Before switching, the promoted model must be in the target bucket with the digest prod runs on, read with the
target environment's own credentials (what the job will do); otherwise the switch is refused with the fix. The job
reads the model with boto3, which follows S3's redirect to the bucket's region: no region parameter is needed.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from components import naming
from dsctl import ssm_parameters
from dsctl.envs import Connection, client, store_owner, store_replica
from dsctl.models import MODEL_FILE, ModelStore, access_fix, error_code
from dsctl.output import CommandError

TARGETS = ("replica", "primary")


def _refuse(conn: Connection, problem: str, fix: str) -> CommandError:
    return CommandError(f"refused to fail {conn.env.name} over: {problem}; {fix}")


def target_bucket(conn: Connection, to: str) -> str:
    """The bucket ``to`` names for ``conn``'s environment: its stack's store, or that store's replica."""
    env = conn.env
    if env.owns_artifact_store:
        raise _refuse(conn, f"{env.name} owns the store", "fail over a stack that reads it (its job reads the replica)")
    if to == "primary":
        return env.artifact_bucket
    replica = store_replica(env)
    if replica is None:
        raise _refuse(
            conn,
            f"the store's owning stack ({store_owner(env)}) declares no replica",
            "set artifactReplicaRegion there and deploy it (pulumi up --refresh) before a region is lost",
        )
    return replica[0]


def _verify(conn: Connection, bucket: str, version: str, sha256: str) -> str:
    """The promoted model is in ``bucket`` with ``sha256``, read with the target's credentials; else refuse."""
    store = ModelStore(conn.session, bucket)
    try:
        verdict, detail = store.digest_verdict(version, sha256)
    except ClientError as err:
        code = error_code(err)
        if store.key_missing(version, MODEL_FILE, code):  # a reader's HEAD of a missing key answers 403
            raise _refuse(
                conn,
                f"{store.url(version)} does not exist (not replicated yet, or written before replication was on)",
                "copy it with S3 Batch Replication (an admin of the owning stack) and try again, or stay where you are",
            ) from err
        raise _refuse(
            conn, f"{conn.env.name} cannot read {store.url(version)} ({code})", access_fix(code, bucket, *_who(conn))
        ) from err
    if verdict != "verified":
        raise _refuse(conn, detail, f"restore the version in {bucket} or promote a version that is there")
    return detail


def _who(conn: Connection) -> tuple[str, str]:
    return conn.env.name, conn.env.account_id


def failover(conn: Connection, to: str) -> dict[str, Any]:
    """Point ``artifact-bucket`` of ``conn``'s environment at ``to`` (``replica`` or ``primary``) once verified."""
    bucket = target_bucket(conn, to)
    env = conn.env
    previous = ssm_parameters.read_parameters(conn.session, env).get(naming.PARAM_ARTIFACT_BUCKET)
    if previous is None:
        raise _refuse(conn, f"{env.parameter_name(naming.PARAM_ARTIFACT_BUCKET)} is missing", _deploy(env.name))
    key, sha256 = ssm_parameters.current_model(conn.session, env)
    version = ssm_parameters.version_of_key(key)
    checked = _verify(conn, bucket, version, sha256) if version else "no model promoted: nothing to verify"
    changed = previous != bucket
    parameter_version = None
    if changed:
        ssm = client(conn.session, "ssm")
        name = env.parameter_name(naming.PARAM_ARTIFACT_BUCKET)
        parameter_version = ssm_parameters.put_parameter(ssm, name, bucket)
    return {
        "env": env.name,
        "to": to,
        "artifact_bucket": bucket,
        "previous_bucket": previous,
        "changed": changed,
        "parameter_version": parameter_version,
        "version": version,
        "sha256": sha256 if version else None,
        "check": checked,
    }


def _deploy(env_name: str) -> str:
    return f"deploy the stack (pulumi up --refresh --stack {env_name})"
