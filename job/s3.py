"""S3 plumbing shared by inputs, outputs and model loading: URLs, clients, Polars options, errors.

Polars and boto3 must agree on endpoint and credentials (moto locally, the task role
in ECS), so both are configured from the same boto3 session here. AWS errors are
turned into JobErrors in one place, so every "access denied" names the bucket and,
for the artifact store in another account, the two policies that must grant access.
"""

from __future__ import annotations

import os
import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from job.errors import ExitCode, JobError

_BUCKET_ACCOUNT = re.compile(r"-(\d{12})-")  # ds-artifacts-{env}-{account}-{region}
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "403", "Forbidden", "AllAccessDisabled", "KMS.AccessDenied"}
MISSING_BUCKET_CODE = "NoSuchBucket"
MISSING_OBJECT_CODES = {"NoSuchKey", "404", "NotFound"}  # NoSuchKey to a GET, NotFound/404 to a HEAD
MISSING_CODES = {*MISSING_OBJECT_CODES, MISSING_BUCKET_CODE}


def is_s3(url: str) -> bool:
    """True for ``s3://bucket/key`` URLs."""
    return url.startswith("s3://")


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); the key may be empty."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise JobError(ExitCode.USAGE, f"{url!r} is not an S3 URL — write s3://bucket/key")
    return bucket, key


def s3_url(bucket: str, key: str) -> str:
    """The URL of an object."""
    return f"s3://{bucket}/{key}"


@cache
def session() -> boto3.Session:
    """One boto3 session per process (credentials from the environment, profile or task role).

    boto3 is imported here, on first use, not with this module: its imports cost ~0.5-0.8 s of CPU, a fixed
    start-up a run on local files never needs (and a third of a 1M-row run's budget). botocore.exceptions is cheap.
    """
    import boto3

    return boto3.Session()


# boto3 clients honour AWS_ENDPOINT_URL (moto) like every AWS SDK does; one per process.
@cache
def s3_client() -> S3Client:
    """The S3 client."""
    return session().client("s3")


@cache
def ssm_client() -> SSMClient:
    """The SSM client."""
    return session().client("ssm")


# Metrics come after publishing and must never fail the run, nor stall it into the state machine's timeout when
# CloudWatch is unreachable (no NAT/endpoint): botocore's defaults (60 s connect/read, retries) could wait minutes.
METRICS_TIMEOUT_S: float = 3.0
"""Connect and read timeout of each CloudWatch call (module-level so a test can shrink it, not wait on it)."""
METRICS_ATTEMPTS = 2
"""Attempts per CloudWatch call, the first included."""


def metrics_config() -> Config:
    """``METRICS_TIMEOUT_S`` connect/read timeouts, ``METRICS_ATTEMPTS`` attempts (botocore.config imported on use,
    like boto3: see ``session``)."""
    from botocore.config import Config

    return Config(
        connect_timeout=METRICS_TIMEOUT_S,
        read_timeout=METRICS_TIMEOUT_S,
        retries={"max_attempts": METRICS_ATTEMPTS, "mode": "standard"},
    )


@cache
def cloudwatch_client() -> CloudWatchClient:
    """The CloudWatch client (short timeouts: see ``metrics_config``)."""
    return session().client("cloudwatch", config=metrics_config())


def reset_clients() -> None:
    """Forget cached sessions and clients (tests switch endpoints and credentials)."""
    for cached in (session, s3_client, ssm_client, cloudwatch_client):
        cached.cache_clear()


def storage_options(url: str) -> dict[str, str] | None:
    """Polars/object_store options for ``url``: the boto3 session's credentials, region and endpoint."""
    if not is_s3(url):
        return None
    options: dict[str, str] = {"aws_region": session().region_name or os.environ.get("AWS_REGION", "us-east-1")}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["aws_endpoint_url"] = endpoint
        if endpoint.startswith("http://"):
            options["aws_allow_http"] = "true"
    credentials = session().get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        options["aws_access_key_id"] = str(frozen.access_key)
        options["aws_secret_access_key"] = str(frozen.secret_key)
        if frozen.token:
            options["aws_session_token"] = frozen.token
    return options


def _current_account() -> str | None:
    try:
        return str(session().client("sts").get_caller_identity()["Account"])
    except (BotoCoreError, ClientError):
        return None


def access_denied(bucket: str, key: str, action: str, artifact_store: bool = False) -> JobError:
    """The ACCESS_DENIED error for ``bucket``, pointing at the policies that grant the access."""
    where = s3_url(bucket, key)
    if artifact_store:
        owner = _BUCKET_ACCOUNT.search(bucket)
        account = _current_account()
        cross = owner is not None and account is not None and owner.group(1) != account
        scope = f" (cross-account: bucket in {owner.group(1)}, running as {account})" if cross and owner else ""
        return JobError(
            ExitCode.ACCESS_DENIED,
            f"access denied to {action} {where}{scope} — the artifact bucket's bucket policy must grant this task "
            "role s3:GetObject on models/* and the artifact KMS key policy must grant it kms:Decrypt",
        )
    return JobError(
        ExitCode.ACCESS_DENIED,
        f"access denied to {action} {where} — grant the task role access to bucket {bucket} (and its KMS key)",
    )


def client_setup_problem(exc: Exception, action: str) -> JobError | None:
    """The JobError for a failure before any request reached AWS (credentials, region, network), else None.

    These are set-up problems with a known fix, not bugs, so they get their own message
    instead of UNEXPECTED with botocore's text.
    """
    if isinstance(exc, NoCredentialsError):
        return JobError(
            ExitCode.ACCESS_DENIED,
            f"no AWS credentials to {action} — in ECS the task role provides them; locally set AWS_PROFILE "
            "or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables",
        )
    if isinstance(exc, NoRegionError):
        return JobError(
            ExitCode.USAGE,
            f"no AWS region to {action} — set AWS_REGION (the task definition sets it; locally export it)",
        )
    if isinstance(exc, EndpointConnectionError):
        return JobError(
            ExitCode.UNEXPECTED,
            f"cannot reach AWS to {action} ({exc}) — the task needs outbound HTTPS (public IP or NAT, "
            "or VPC endpoints for S3, SSM, CloudWatch and ECR); locally check AWS_ENDPOINT_URL",
        )
    return None


def translate(exc: Exception, bucket: str, key: str, action: str, artifact_store: bool = False) -> JobError:
    """A JobError for an AWS failure on ``bucket/key``; unknown failures become UNEXPECTED."""
    if isinstance(exc, JobError):
        return exc
    setup = client_setup_problem(exc, f"{action} {s3_url(bucket, key)}")
    if setup is not None:
        return setup
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in DENIED_CODES or status == "403":
            return access_denied(bucket, key, action, artifact_store)
        if code == MISSING_BUCKET_CODE:
            return JobError(ExitCode.INPUT_NOT_FOUND, f"bucket {bucket} does not exist — check the bucket parameter")
    return JobError(ExitCode.UNEXPECTED, f"failed to {action} {s3_url(bucket, key)}: {exc}")


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (``NoSuchKey``, ``404``, ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def polars_denied(message: str) -> bool:
    """Whether a Polars/object_store error message means HTTP 403 (not merely contains "403", e.g. a line number)."""
    return any(token in message for token in ("AccessDenied", "403 Forbidden", "Forbidden"))


def polars_not_found(message: str) -> bool:
    """Whether a Polars/object_store error message means the object or file is gone."""
    return any(token in message for token in ("NoSuchKey", "404 Not Found", "No such file or directory"))


def polars_io_failure(message: str) -> bool:
    """Whether a Polars error came from storage or the network rather than from the CSV's content."""
    return any(
        token in message for token in ("Generic S3 error", "object_store", "error sending request", "Connection")
    )
