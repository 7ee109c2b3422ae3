"""The parameter store side of a promotion: set, label, look back and compare.

The job reads ``model-key`` and ``model-sha256`` from SSM at run time (CONTRACTS §3),
so a promotion is two parameter writes, not a redeploy. Both writes get the same SSM
label (``v1.2.3``), which makes the parameter history itself the record of what ran
when; a rollback walks that history instead of trusting anyone's memory. Each
promotion also writes a JSON audit record (who, when, forced and why) to a
dsctl-owned parameter outside the job's keys, whose own history keeps past records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from components import naming
from dsctl.envs import Environment, client
from dsctl.output import EXIT_FAILED, CommandError

NONE = naming.NO_MODEL_SENTINEL
PROMOTION_RECORD_KEY = naming.PROMOTION_RECORD_KEY
"""Audit record of the last promotion, under the prefix but not a job parameter (history = past records)."""

_MODEL_KEY = re.compile(r"^models/(?P<version>[^/]+)/model\.pkl$")


def model_key(version: str) -> str:
    """Object key of a version's model (DESIGN §1)."""
    return f"{naming.MODELS_PREFIX}{version}/model.pkl"


def version_of_key(key: str | None) -> str | None:
    """The version in a ``models/{version}/model.pkl`` key, None for the sentinel or anything else."""
    match = _MODEL_KEY.match(key or "")
    return match.group("version") if match else None


def version_label(version: str) -> str:
    """SSM label for a model version: labels may not start with a digit and allow only ``[A-Za-z0-9_.-]``."""
    return "v" + re.sub(r"[^A-Za-z0-9_.-]", "_", version)


def read_parameters(session: boto3.Session, env: Environment) -> dict[str, str]:
    """All parameters directly under the env's prefix, keyed by their name relative to it."""
    ssm = client(session, "ssm")
    prefix = env.parameter_prefix.rstrip("/")
    values: dict[str, str] = {}
    try:
        for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path=prefix, Recursive=False, WithDecryption=True
        ):
            for parameter in page["Parameters"]:
                values[parameter["Name"][len(prefix) + 1 :]] = parameter["Value"]
    except ClientError as err:
        raise CommandError(
            f"cannot read {prefix}/* in {env.name}: {err}; check ssm:GetParametersByPath on it", EXIT_FAILED
        ) from err
    return values


@dataclass(frozen=True)
class Promotion:
    """One entry of the promotion history: what ``model-key``/``model-sha256`` said from a point in time."""

    version: str | None
    model_key: str
    sha256: str | None
    parameter_version: int
    modified: datetime | None
    labels: tuple[str, ...] = field(default_factory=tuple)
    modified_by: str | None = None
    """Who wrote this parameter version (SSM's ``LastModifiedUser``): the only "who" of a change made outside dsctl."""


def _history(ssm: Any, name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for page in ssm.get_paginator("get_parameter_history").paginate(Name=name, WithDecryption=True):
        entries.extend(page["Parameters"])
    return sorted(entries, key=lambda entry: entry["Version"])


def promotion_history(session: boto3.Session, env: Environment) -> list[Promotion]:
    """``model-key`` versions, oldest first, each with the digest labelled with the same version.

    The digest comes from the ``model-sha256`` version carrying the same label (both are
    labelled together at promotion); unlabelled entries (the initial sentinel, writes made
    outside dsctl) pair with the digest that was current when they were written.
    """
    ssm = client(session, "ssm")
    try:
        keys = _history(ssm, env.parameter_name(naming.PARAM_MODEL_KEY))
        digests = _history(ssm, env.parameter_name(naming.PARAM_MODEL_SHA256))
    except ClientError as err:
        raise CommandError(
            f"cannot read the promotion history in {env.name}: {err}; deploy the stack "
            f"(pulumi up --refresh --stack {env.name}) or check ssm:GetParameterHistory",
            EXIT_FAILED,
        ) from err
    by_label = {label: entry["Value"] for entry in digests for label in entry.get("Labels", [])}
    history: list[Promotion] = []
    for entry in keys:
        labels = tuple(entry.get("Labels", []))
        version = version_of_key(entry["Value"])
        digest = by_label.get(version_label(version)) if version else None
        if digest is None:
            when = entry.get("LastModifiedDate")
            earlier = [d for d in digests if when is None or d.get("LastModifiedDate", when) <= when]
            digest = earlier[-1]["Value"] if earlier else None
        history.append(
            Promotion(
                version,
                entry["Value"],
                digest,
                entry["Version"],
                entry.get("LastModifiedDate"),
                labels,
                entry.get("LastModifiedUser"),
            )
        )
    return history


def get_parameters(session: boto3.Session, env: Environment, keys: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """One ``GetParameters`` of the env's ``keys``: the values found, keyed by their name relative to the env's
    prefix, and the full names of those that do not exist (SSM's ``InvalidParameters``)."""
    response = client(session, "ssm").get_parameters(
        Names=[env.parameter_name(key) for key in keys], WithDecryption=True
    )
    prefix_len = len(env.parameter_prefix.rstrip("/")) + 1
    values = {p["Name"][prefix_len:]: p["Value"] for p in response["Parameters"]}
    return values, list(response.get("InvalidParameters", []))


def current_model(session: boto3.Session, env: Environment) -> tuple[str, str]:
    """The env's current ``(model-key, model-sha256)`` values."""
    values, missing = get_parameters(session, env, naming.PROMOTED_PARAMETER_KEYS)
    if missing:
        raise CommandError(
            f"{env.name} is missing {', '.join(missing)}; deploy the stack (pulumi up --refresh --stack {env.name})"
        )
    return values[naming.PARAM_MODEL_KEY], values[naming.PARAM_MODEL_SHA256]


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion changed, for the command's output and the audit record."""

    env: str
    version: str
    model_key: str
    sha256: str
    previous_key: str
    previous_sha256: str
    parameter_versions: dict[str, int]
    label: str


def put_parameter(ssm: Any, name: str, value: str) -> int:
    """Overwrite one String parameter; its new version (a full history names the label to move)."""
    try:
        return int(ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)["Version"])
    except ssm.exceptions.ParameterMaxVersionLimitExceeded as err:
        raise CommandError(
            f"{name} has 100 versions and its oldest is labelled; move or remove that label "
            f"(aws ssm unlabel-parameter-version --name {name} ...) and promote again"
        ) from err


def set_promoted_model(
    session: boto3.Session,
    env: Environment,
    version: str,
    sha256: str,
    record: Mapping[str, Any],
    previous: tuple[str, str] | None = None,
) -> PromotionResult:
    """Point ``model-key``/``model-sha256`` at ``version``, label both, and write the audit ``record``.

    The key is written first and the digest second: a run starting in between sees a key
    and digest that disagree and refuses to load the model (the job verifies the digest),
    which is safe; if the second write fails, the first is put back. ``previous`` is the
    current ``(model-key, model-sha256)`` when the caller has just read it.
    """
    ssm = client(session, "ssm")
    previous_key, previous_sha = previous or current_model(session, env)
    key_name, sha_name = env.parameter_name(naming.PARAM_MODEL_KEY), env.parameter_name(naming.PARAM_MODEL_SHA256)
    key = model_key(version)
    key_version = put_parameter(ssm, key_name, key)
    try:
        sha_version = put_parameter(ssm, sha_name, sha256)
    except (ClientError, CommandError):
        put_parameter(ssm, key_name, previous_key)
        raise
    label = version_label(version)
    for name, parameter_version in ((key_name, key_version), (sha_name, sha_version)):
        response = ssm.label_parameter_version(Name=name, ParameterVersion=parameter_version, Labels=[label])
        if response.get("InvalidLabels"):
            raise CommandError(f"SSM refused label {label!r} on {name}; the promotion is in place but unlabelled")
    result = PromotionResult(
        env=env.name,
        version=version,
        model_key=key,
        sha256=sha256,
        previous_key=previous_key,
        previous_sha256=previous_sha,
        parameter_versions={naming.PARAM_MODEL_KEY: key_version, naming.PARAM_MODEL_SHA256: sha_version},
        label=label,
    )
    document = {**record, "version": version, "sha256": sha256, "previous_key": previous_key, "label": label}
    ssm.put_parameter(
        Name=env.parameter_name(PROMOTION_RECORD_KEY),
        Value=json.dumps(document, sort_keys=True, default=str),
        Type="String",
        Overwrite=True,
        Description="Last dsctl model promotion (its history holds earlier ones). Written by dsctl, not Pulumi.",
    )
    return result


def promotion_records(session: boto3.Session, env: Environment) -> list[dict[str, Any]]:
    """Audit records of past promotions in ``env``, oldest first (empty when none was made)."""
    ssm = client(session, "ssm")
    try:
        entries = _history(ssm, env.parameter_name(PROMOTION_RECORD_KEY))
    except ssm.exceptions.ParameterNotFound:
        return []
    return [json.loads(entry["Value"]) for entry in entries]


# --------------------------------------------------------------------------- diff

EXPECTED_DIFFERENT = (naming.PARAM_INPUT_BUCKET, naming.PARAM_OUTPUT_BUCKET)
"""Per-environment bucket names: these must differ, each being its own environment's bucket."""


@dataclass(frozen=True)
class DiffRow:
    """One parameter compared across two environments."""

    key: str
    left: str | None
    right: str | None
    status: str  # same | expected | unexpected
    note: str


STACK_DERIVED_KEYS = (naming.PARAM_INPUT_BUCKET, naming.PARAM_OUTPUT_BUCKET, naming.PARAM_ARTIFACT_BUCKET)
"""Parameters whose value the stack file determines (params diff and doctor compare them with it)."""


def expected_value(env: Environment, key: str) -> str | None:
    """What ``env``'s stack sets ``key`` to, for the ``STACK_DERIVED_KEYS`` (None for any other key)."""
    return {
        naming.PARAM_INPUT_BUCKET: env.input_bucket,
        naming.PARAM_OUTPUT_BUCKET: env.output_bucket,
        naming.PARAM_ARTIFACT_BUCKET: env.artifact_bucket,
    }.get(key)


def diff_parameters(
    left_env: Environment,
    left: Mapping[str, str],
    right_env: Environment,
    right: Mapping[str, str],
    along_chain: bool = False,
) -> list[DiffRow]:
    """Compare two parameter stores key by key, classifying each difference.

    Expected: the per-environment bucket names, when each is its own stack's name.
    Pending: a different model between two environments of one promotion chain (dev runs a
    newer model than prod until someone promotes it: the normal lag, ``along_chain``).
    Unexpected: a missing parameter, a different model off the chain, a different artifact
    store, or a value that is not what the stack file says.
    """
    rows: list[DiffRow] = []
    keys = list(naming.PARAMETER_KEYS) + sorted((set(left) | set(right)) - set(naming.PARAMETER_KEYS))
    for key in keys:
        a, b = left.get(key), right.get(key)
        if a is None or b is None:
            where = left_env.name if a is None else right_env.name
            fix = (
                f"deploy {where} (pulumi up --refresh --stack {where})" if key in naming.PARAMETER_KEYS else "remove it"
            )
            rows.append(DiffRow(key, a, b, "unexpected", f"missing in {where}; {fix}"))
            continue
        wrong = [
            (env.name, f"{env.name} has {value!r}, its stack says {expected!r}")
            for env, value in ((left_env, a), (right_env, b))
            if (expected := expected_value(env, key)) is not None and value != expected
        ]
        if wrong:
            fixes = " and ".join(f"pulumi up --refresh --stack {name}" for name, _ in wrong)
            problems = "; ".join(problem for _, problem in wrong)
            rows.append(DiffRow(key, a, b, "unexpected", f"{problems}; run {fixes}"))
        elif a == b:
            rows.append(DiffRow(key, a, b, "same", ""))
        elif key in EXPECTED_DIFFERENT:
            rows.append(DiffRow(key, a, b, "expected", "per-environment bucket"))
        elif key in naming.PROMOTED_PARAMETER_KEYS:
            left_version, right_version = (
                version_of_key(side.get(naming.PARAM_MODEL_KEY)) or "no model promoted" for side in (left, right)
            )
            versions = f"{left_version} vs {right_version}"
            if along_chain:
                rows.append(DiffRow(key, a, b, "pending", f"promotion pending ({versions}): dsctl model promote"))
            else:
                rows.append(
                    DiffRow(key, a, b, "unexpected", f"different model ({versions}); dsctl model promote to align them")
                )
        else:
            rows.append(
                DiffRow(
                    key,
                    a,
                    b,
                    "unexpected",
                    f"values differ; run pulumi up --refresh --stack {left_env.name} or --stack {right_env.name}, "
                    "whichever is wrong",
                )
            )
    return rows
