"""The job's locations from SSM Parameter Store (CONTRACTS §3).

Reading them at run time is what makes a model promotion a parameter change instead
of a redeploy. All missing parameters are named at once, with the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from job import s3
from job.errors import ExitCode, JobError

# Copies of components.naming.PARAMETER_KEYS and NO_MODEL_SENTINEL (job/ is its own build context and imports
# nothing from components/); tests/test_contract_constants.py fails when they drift.
INPUT_KEY = "input-key"
PARAMETERS = ("input-bucket", INPUT_KEY, "output-bucket", "artifact-bucket", "model-key", "model-sha256")
NOT_PROMOTED = "NONE"  # value of model-key / model-sha256 before the first `dsctl model promote`


@dataclass(frozen=True)
class Locations:
    """Where this environment's run reads and writes."""

    input_bucket: str
    input_key: str
    output_bucket: str
    artifact_bucket: str
    model_key: str
    model_sha256: str

    @property
    def model_promoted(self) -> bool:
        """False while model-key/model-sha256 still hold the NONE sentinel."""
        return NOT_PROMOTED not in (self.model_key.strip(), self.model_sha256.strip())


def read_locations(prefix: str) -> Locations:
    """Read every parameter under ``prefix``; ``DS_INPUT_KEY`` (when non-empty) overrides input-key."""
    prefix = "/" + prefix.strip("/")
    values: dict[str, str] = {}
    try:
        pages = s3.ssm_client().get_paginator("get_parameters_by_path")
        for page in pages.paginate(Path=prefix, Recursive=False, WithDecryption=True):
            for parameter in page.get("Parameters", []):
                values[parameter["Name"].rsplit("/", 1)[-1]] = parameter.get("Value", "")
    except ClientError as exc:
        if s3.error_code(exc) in s3.DENIED_CODES:
            raise JobError(
                ExitCode.ACCESS_DENIED,
                f"access denied reading SSM parameters under {prefix} — grant the task role "
                f"ssm:GetParametersByPath on parameter{prefix}/*",
            ) from None
        raise JobError(ExitCode.UNEXPECTED, f"reading SSM parameters under {prefix} failed: {exc}") from None
    except BotoCoreError as exc:
        action = f"read SSM parameters under {prefix}"
        problem = s3.client_setup_problem(exc, action)
        raise problem or JobError(ExitCode.UNEXPECTED, f"failed to {action}: {exc}") from None
    override = os.environ.get("DS_INPUT_KEY", "").strip()
    if override:
        values[INPUT_KEY] = override
    missing = [f"{prefix}/{name}" for name in PARAMETERS if not values.get(name, "").strip()]
    if missing:
        raise JobError(
            ExitCode.PARAMETER_MISSING,
            f"SSM parameters missing: {', '.join(missing)} — deploy the stack "
            f"(pulumi up --refresh --stack {os.environ.get('DS_ENVIRONMENT') or 'ENV'}) or fix DS_PARAMETER_PREFIX",
        )
    return Locations(*(values[name].strip() for name in PARAMETERS))
