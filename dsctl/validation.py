"""``dsctl model validate``: run the job's own validation on the *stored* artifact.

Validating the bytes in the store (digest-checked on load by ``job.artifact``) rather
than a local copy means the report is about exactly what a promotion would ship. Each
validation appends its own report under ``models/{version}/validations/`` (never replacing
an earlier one) with the digest it was made for, the test data it ran on (location, digest,
and for S3 its ETag and version id) and who ran it, so a later promotion can tell a stale
report from a current one and a re-validation on other data never erases the first verdict.
"""

from __future__ import annotations

import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from dsctl.envs import Connection, client
from dsctl.models import VALIDATIONS_DIR, ModelStore, error_code, is_not_found, record_stamp
from dsctl.output import EXIT_FAILED, EXIT_USAGE, CommandError
from job import artifact
from job.errors import JobError
from job.s3 import MISSING_BUCKET_CODE


def fetch_test_data(conn: Connection, test_data: str, directory: Path) -> tuple[Path, dict[str, Any]]:
    """A local path for ``test_data`` (the path itself, or an ``s3://bucket/key`` downloaded with ``conn``) and what
    identifies those bytes for the report: their SHA-256, and for S3 the object's ETag and version id."""
    if not test_data.startswith("s3://"):
        path = Path(test_data)
        if not path.is_file():
            raise CommandError(f"test data {test_data} not found; pass a CSV file or an s3://bucket/key URL")
        return path, {"location": test_data, "sha256": artifact.sha256_file(path)}
    url = urlparse(test_data)
    bucket, key = url.netloc, url.path.lstrip("/")
    if not bucket or not key:
        raise CommandError(f"{test_data} is not an s3://bucket/key URL; pass e.g. s3://<input-bucket>/validation/x.csv")
    destination = directory / Path(key).name
    s3 = client(conn.session, "s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        # No VersionId on the GET (that needs s3:GetObjectVersion, which the operator has not): the digest below is
        # of the bytes actually read, so the report is exact even if the object changed after the HEAD.
        s3.download_file(bucket, key, str(destination))
    except ClientError as err:
        code = error_code(err)
        raise CommandError(
            f"cannot read {test_data} as {conn.caller_arn} ({code}); {_test_data_fix(code, bucket)}",
            EXIT_USAGE if _absent(code) else EXIT_FAILED,
        ) from err
    identity = {
        "location": test_data,
        "sha256": artifact.sha256_file(destination),
        "etag": str(head.get("ETag", "")).strip('"'),
        "version_id": head.get("VersionId"),
    }
    return destination, identity


def _absent(code: str) -> bool:
    """No such object or no such bucket: the operator's URL is wrong (a usage error), not a denial."""
    return is_not_found(code) or code == MISSING_BUCKET_CODE


def _test_data_fix(code: str, bucket: str) -> str:
    """What to do when the test data cannot be downloaded (it is the operator's file, not a model version)."""
    if code == MISSING_BUCKET_CODE:
        return f"bucket {bucket} does not exist: check the URL (dev's input bucket holds validation/ data)"
    if _absent(code):
        return "no such object: upload the test data first (aws s3 cp FILE s3://...) or pass a local CSV"
    return f"these credentials need s3:GetObject on it (and kms:Decrypt if {bucket} uses SSE-KMS)"


def _run_job_validation(model_path: Path, sha256: str, test_data: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The job's validation (CONTRACTS §5: a report dict with ``passed``); it loads the model digest-checked."""
    from job.validate import validate_model  # the job package owns what "valid" means (imported on use: Polars)

    return dict(validate_model(str(model_path), str(test_data), expected_sha256=sha256, **options))


def validate_version(
    conn: Connection, version: str, test_data: str, max_rejected_share: float | None = None
) -> dict[str, Any]:
    """Validate stored ``version`` on ``test_data``, append the report to the version's history, and return it
    (with ``stored_at``).

    Test data on S3 is downloaded with the same verified session, so ``--profile``/``--role-arn``
    apply to it as to everything else.
    """
    options = {} if max_rejected_share is None else {"max_rejected_share": max_rejected_share}
    store = ModelStore(conn.session, conn.env.artifact_bucket)
    manifest = store.manifest(version)
    if manifest is None:
        raise CommandError(f"version {version} is not published in s3://{store.bucket}/models/; dsctl model publish it")
    with tempfile.TemporaryDirectory(prefix="dsctl-validate-") as tmp:
        directory = Path(tmp)
        data, data_identity = fetch_test_data(conn, test_data, directory)
        model_path = store.download_model(version, directory / "model.pkl")
        try:
            report = _run_job_validation(model_path, manifest["sha256"], data, options)
        except JobError as err:
            raise CommandError(f"validation of {version} could not run: {err.message}", EXIT_FAILED) from err
    if isinstance(report.get("model"), dict):  # the job names the scratch copy it loaded; record the stored one
        report["model"] = {**report["model"], "url": store.url(version)}
    now = datetime.now(UTC)
    report_id = secrets.token_hex(4)
    document = {
        **report,
        "passed": bool(report.get("passed")),
        "id": report_id,
        "version": version,
        "model_sha256": manifest["sha256"],
        "test_data": test_data,
        "test_data_sha256": data_identity["sha256"],
        "test_data_etag": data_identity.get("etag"),
        "test_data_version_id": data_identity.get("version_id"),
        "validated_at": now.isoformat(timespec="seconds"),
        "validated_by": conn.caller_arn,
    }
    stored_at = store.append_record(version, f"{VALIDATIONS_DIR}/{record_stamp(now)}-{report_id}.json", document)
    return {**document, "stored_at": stored_at}
