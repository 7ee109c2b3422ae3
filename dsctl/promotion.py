"""Promotion and rollback: the checks that make them safe, then the parameter change.

Every check runs with the *target* environment's own credentials against the store the
target's stack names, because that is exactly the read the job will make at run time:
if the operator can't read the model as prod, prod's task role (granted by the same
bucket and key policies) is the next to fail. What moto cannot model (bucket-policy and
KMS key-policy denials) is covered by the access-matrix tests over the synthesized policies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from components import naming
from dsctl import ssm_parameters
from dsctl.envs import Connection, client, store_owner
from dsctl.models import (
    MANIFEST_FILE,
    PROMOTIONS_DIR,
    ModelStore,
    StoredVersion,
    access_fix,
    check_version,
    error_code,
    interpret_failed_read,
    is_denied,
    record_stamp,
)
from dsctl.output import CommandError
from dsctl.runs import Evidence, find_published_run
from job import artifact


@dataclass(frozen=True)
class VerifiedModel:
    """A version that passed the integrity checks from the target's point of view."""

    version: str
    sha256: str
    validation: str  # passed | failed | not validated
    bucket: str


def _refuse(conn: Connection, problem: str, fix: str) -> CommandError:
    return CommandError(f"refused to change {conn.env.name}: {problem}; {fix}")


def check_store_parameter(conn: Connection) -> None:
    """The target's ``artifact-bucket`` parameter must name the store its stack names (what the job reads)."""
    values = ssm_parameters.read_parameters(conn.session, conn.env)
    actual = values.get(naming.PARAM_ARTIFACT_BUCKET)
    if actual != conn.env.artifact_bucket:
        raise _refuse(
            conn,
            f"its {conn.env.parameter_name(naming.PARAM_ARTIFACT_BUCKET)} is {actual!r} but "
            f"Pulumi.{conn.env.name}.yaml names the store {conn.env.artifact_bucket!r}",
            f"run pulumi up --refresh --stack {conn.env.name} (see dsctl params diff)",
        )


def verify_model(conn: Connection, version: str, expected_sha256: str | None = None) -> VerifiedModel:
    """Exists, readable by the target, stored bytes match the manifest (and ``expected_sha256`` if given)."""
    check_version(version)
    env, store = conn.env, ModelStore(conn.session, conn.env.artifact_bucket)
    who = f"{env.name} credentials ({conn.caller_arn})"
    try:
        manifest = store.manifest(version)
    except ClientError as err:
        code = error_code(err)
        if not is_denied(code):
            raise _refuse(
                conn,
                f"{who} cannot read {store.url(version, MANIFEST_FILE)} ({code})",
                access_fix(code, store.bucket, env.name, env.account_id),
            ) from err
        # 403 with the listing denied too: a reader sees a missing key as 403 (``is_denied``), so the model
        # itself decides. Readable: the grant works and only the manifest is missing (an interrupted publish).
        # Unreadable as well: a real denial, or no such version; the fix is the grant either way.
        try:
            store.read_first_byte(version)
        except ClientError:
            failed = interpret_failed_read(store, version, MANIFEST_FILE, code, env.name, env.account_id)
            raise _refuse(
                conn,
                f"{failed.problem} ({who} can read neither manifest.json nor model.pkl in "
                f"s3://{store.bucket}/models/{version}/; the {env.name} job would fail the same way)",
                failed.fix,
            ) from err
        manifest = None
    if manifest is None:
        raise _refuse(
            conn,
            f"version {version} is not published in s3://{store.bucket}/models/",
            "publish it first (dsctl model publish) or pick one from dsctl model list",
        )
    try:
        store.read_first_byte(version)
    except ClientError as err:
        code = error_code(err)
        raise _refuse(
            conn,
            f"{who} cannot read {store.url(version)} ({code}); the {env.name} job would fail the same way",
            access_fix(code, store.bucket, env.name, env.account_id),
        ) from err
    digest = str(manifest["sha256"])
    stored, _ = store.sha256_of(version)
    if stored != digest:
        raise _refuse(
            conn,
            f"{store.url(version)} has sha256 {stored} but its manifest says {digest}",
            "the object was replaced outside dsctl: publish the model again under a new version",
        )
    if expected_sha256 is not None and expected_sha256 != digest:
        raise _refuse(
            conn,
            f"the parameter history recorded sha256 {expected_sha256} for {version}, the store now has {digest}",
            "the store was altered: investigate, then promote a freshly published version",
        )
    report = store.validation(version)
    status = StoredVersion(version, manifest, report).validation_status
    return VerifiedModel(version, digest, status, store.bucket)


@dataclass(frozen=True)
class Gate:
    """What the ``promotesFrom`` stack holds about a version: the gate a promotion into the next stack must pass.

    A version reaches a stack only if it was promoted in the stack it promotes from and ran there successfully with
    the same digest (DESIGN §3, "promotions follow the stack chain"): what reaches prod is what dev promoted and ran.
    """

    source: str
    runs_searched: str
    """The ``processed/`` prefix of ``source``'s output bucket, where its published runs are."""
    promoted: str | None
    """Where the promotion in ``source`` is recorded: a store record's URL, else a ``model-key`` parameter version."""
    run: Evidence | None
    """A published run in ``source`` whose manifest recorded the version's digest."""

    @property
    def passed(self) -> bool:
        return self.promoted is not None and self.run is not None

    def record(self) -> dict[str, Any]:
        """The gate as the promotion record keeps it (CONTRACTS §5)."""
        return {
            "source": self.source,
            "promoted_in_source": self.promoted,
            "run_in_source": self.run.run_id if self.run else None,
            "run_manifest": self.run.url if self.run else None,
            "passed": self.passed,
        }


def _promoted_in(source: Connection, verified: VerifiedModel) -> str | None:
    """Where ``source`` recorded promoting ``verified`` (same digest): its records in the store, which dsctl keeps for
    good, else its ``model-key`` history (promotions made before the store kept records; SSM keeps 100 versions)."""
    store = ModelStore(source.session, verified.bucket)
    try:
        records = store.records(verified.version, f"{PROMOTIONS_DIR}/{source.env.name}")
    except ClientError as err:
        if not is_denied(error_code(err)):
            raise
        records = []
    for record in records:
        if record.get("sha256") == verified.sha256 and "stored_at" in record:
            return str(record["stored_at"])
    for entry in ssm_parameters.promotion_history(source.session, source.env):
        if entry.version == verified.version and entry.sha256 == verified.sha256:
            name = source.env.parameter_name(naming.PARAM_MODEL_KEY)
            return f"{name} version {entry.parameter_version}"
    return None


def check_gate(source: Connection, verified: VerifiedModel) -> Gate:
    """The gate of ``verified`` as the ``promotesFrom`` stack ``source`` holds it, read with ``source``'s credentials
    (its parameters and its output bucket are its own)."""
    run = find_published_run(
        client(source.session, "s3"),
        source.env.output_bucket,
        lambda manifest: isinstance(manifest.get("model"), dict) and manifest["model"].get("sha256") == verified.sha256,
    )
    searched = f"s3://{source.env.output_bucket}/{naming.PROCESSED_PREFIX}"
    return Gate(source.env.name, searched, _promoted_in(source, verified), run)


def _gate_problem(conn: Connection, gate: Gate, verified: VerifiedModel) -> tuple[str, str]:
    """The refusal for a gate that did not pass: the problem and the steps that pass it."""
    source, version = gate.source, verified.version
    what = f"{version} (sha256 {verified.sha256[:12]})"
    steps = (
        f"run it there (dsctl run --env {source} --wait), then promote again"
        if gate.promoted is not None
        else f"promote it there first (dsctl model promote --env {source} {version}), run it (dsctl run --env "
        f"{source} --wait), then promote again"
    )
    if gate.promoted is None:
        problem = f"{what} was never promoted in {source}, the stack {conn.env.name} promotes from"
    else:
        problem = (
            f"{what} has no successful run in {source} (no published run under {gate.runs_searched} recorded "
            "that digest)"
        )
    return problem, f"{steps}; or pass --force --reason TEXT (recorded)"


def _record(conn: Connection, action: str, verified: VerifiedModel, reason: str | None) -> dict[str, Any]:
    return {
        "action": action,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by": conn.caller_arn,
        "validation": verified.validation,
        "forced": reason is not None,
        "reason": reason,
        "bucket": verified.bucket,
    }


def record_in_store(
    store_conn: Connection,
    conn: Connection,
    verified: VerifiedModel,
    record: dict[str, Any],
    previous: tuple[str, str],
) -> str:
    """Append the promotion (or rollback) of ``verified`` into ``conn.env`` to the version's history in the store.

    Written before the parameters change, with the store owner's credentials (readers cannot write the store), so
    every change dsctl makes has its record even if the parameter write then fails (the parameter history says
    which records took effect); a record that cannot be written stops the promotion. SSM's own history keeps only
    the last 100 versions of a parameter; the store keeps these for good.
    """
    previous_key, previous_sha = previous
    document = {
        **record,
        "stack": conn.env.name,
        "account_id": conn.env.account_id,
        "version": verified.version,
        "sha256": verified.sha256,
        "from_version": ssm_parameters.version_of_key(previous_key),
        "from_key": previous_key,
        "from_sha256": previous_sha,
        "recorded_by": store_conn.caller_arn,
    }
    store = ModelStore(store_conn.session, store_conn.env.artifact_bucket)
    stamp = record_stamp(datetime.now(UTC))
    return store.append_record(verified.version, f"{PROMOTIONS_DIR}/{conn.env.name}/{stamp}.json", document)


def promote(
    conn: Connection,
    version: str,
    force_reason: str | None = None,
    store_conn: Connection | None = None,
    source_conn: Connection | None = None,
) -> dict[str, Any]:
    """Promote ``version`` into ``conn.env`` after every check; ``force_reason`` overrides validation and the gate.

    Into a stack with ``promotesFrom``, the version must pass the gate (``check_gate``) read with ``source_conn``
    (that stack's credentials). The promotion is recorded in the store with ``store_conn`` (the store owner's
    credentials; ``conn`` itself when ``conn.env`` owns the store), the gate's evidence or its bypass included."""
    check_store_parameter(conn)
    verified = verify_model(conn, version)
    refusals: list[tuple[str, str]] = []
    if verified.validation != "passed":
        problem = (
            f"validation of {version} failed" if verified.validation == "failed" else f"{version} is not validated"
        )
        fix = f"run dsctl model validate --env {store_owner(conn.env)} {version} --test-data ..., "
        refusals.append((problem, fix + "or pass --force --reason TEXT (recorded)"))
    gate: Gate | None = None
    if conn.env.promotes_from:  # checked even with --force: the record says what was bypassed
        if source_conn is None or source_conn.env.name != conn.env.promotes_from:
            raise ValueError(f"promoting into {conn.env.name} needs a connection to {conn.env.promotes_from}")
        gate = check_gate(source_conn, verified)
        if not gate.passed:
            refusals.append(_gate_problem(conn, gate, verified))
    if refusals and force_reason is None:
        raise _refuse(conn, *refusals[0])
    current_key, current_sha = ssm_parameters.current_model(conn.session, conn.env)
    if current_key == ssm_parameters.model_key(version) and current_sha == verified.sha256:
        return {"env": conn.env.name, "version": version, "sha256": verified.sha256, "changed": False}
    record = {**_record(conn, "promote", verified, force_reason), "gate": gate.record() if gate else None}
    stored_at = record_in_store(store_conn or conn, conn, verified, record, (current_key, current_sha))
    result = ssm_parameters.set_promoted_model(
        conn.session, conn.env, version, verified.sha256, record, previous=(current_key, current_sha)
    )
    return {
        **asdict(result),
        "changed": True,
        "validation": verified.validation,
        "gate": record["gate"],
        "forced": force_reason is not None,
        "record": stored_at,
    }


def rollback_target(conn: Connection, to_version: str | None) -> ssm_parameters.Promotion:
    """The history entry to return to: ``to_version`` if it was promoted before, else the previous distinct one."""
    history = ssm_parameters.promotion_history(conn.session, conn.env)
    if not history:
        raise _refuse(
            conn, "model-key has no history", f"deploy the stack (pulumi up --refresh --stack {conn.env.name})"
        )
    current = history[-1]
    # Entries not written by dsctl (the guide's models/preprocessing_model.pkl, v-prefixed keys) are not targets.
    earlier = [
        entry
        for entry in reversed(history[:-1])
        if entry.version and entry.sha256 and artifact.VERSION_PATTERN.fullmatch(entry.version)
    ]
    if to_version is not None:
        check_version(to_version)
        matches = [entry for entry in earlier if entry.version == to_version]
        if to_version == current.version:
            raise _refuse(conn, f"{to_version} is already the promoted version", "nothing to do")
        if not matches:
            raise _refuse(
                conn,
                f"{to_version} was never promoted in {conn.env.name} (rollback only returns to promoted versions)",
                f"use dsctl model promote --env {conn.env.name} {to_version}",
            )
        return matches[0]
    for entry in earlier:
        if entry.version != current.version:
            return entry
    raise _refuse(conn, "there is no earlier promoted version to return to", "promote a version instead")


def rollback(conn: Connection, to_version: str | None = None, store_conn: Connection | None = None) -> dict[str, Any]:
    """Return ``conn.env`` to an earlier promoted version, re-checking it as promote would (but not its validation:
    it already ran in this environment). Recorded in the store like a promotion (``action: rollback``)."""
    check_store_parameter(conn)
    target = rollback_target(conn, to_version)
    assert target.version is not None and target.sha256 is not None  # rollback_target only returns complete entries
    current = ssm_parameters.current_model(conn.session, conn.env)
    verified = verify_model(conn, target.version, expected_sha256=target.sha256)
    record = _record(conn, "rollback", verified, None)
    stored_at = record_in_store(store_conn or conn, conn, verified, record, current)
    result = ssm_parameters.set_promoted_model(conn.session, conn.env, target.version, verified.sha256, record, current)
    return {
        **asdict(result),
        "changed": True,
        "record": stored_at,
        "from_version": ssm_parameters.version_of_key(current[0]),
        "restored_parameter_version": target.parameter_version,
    }
