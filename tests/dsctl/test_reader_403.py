"""A reader's 403 for a missing key under ``models/`` is read as "missing", not as "access denied".

On real S3 a GET/HEAD of a MISSING key answers 403 AccessDenied, not 404, unless the request is covered by the
caller's ``s3:ListBucket``. prod's grant (task and operator roles, identity side and the store's bucket policy)
limits ListBucket with an ``s3:prefix`` condition (``models/*``), which a GetObject/HeadObject request does not carry,
so prod gets 403 for a missing ``validation.json`` or for a version that was never published; a ListObjectsV2 with
``Prefix=models/…`` is allowed. moto cannot reproduce this (it answers 404 whatever the policies), so these tests
wrap prod's S3 client as dsctl's artifact store sees it (``dsctl.models.client``) and turn moto's 404 for a
GET/HEAD into the ClientError real S3 sends (``AccessDenied``, HTTP 403). Optionally the listing is denied too, or
every read of a version is denied, to show that real denials are still reported as denials with the grants to fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dsctl import models
from job.synthetic import write_month
from tests.conftest import PROD_ACCOUNT
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, publish_run, train_model, two_accounts

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below

_ACCESS_DENIED = {
    "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
    "ResponseMetadata": {"HTTPStatusCode": 403},
}


def _denied(operation: str) -> ClientError:
    return ClientError(_ACCESS_DENIED, operation)  # type: ignore[arg-type]


class ReaderS3:
    """prod's S3 client as real S3 answers it: a missing key's GET/HEAD is 403 (no ListBucket for that request).

    ``deny_listing`` also denies ListObjectsV2; ``deny_prefix`` denies every GET/HEAD under that key prefix
    (a real denial: the bucket policy or KMS key policy lacks prod's grant).
    """

    def __init__(self, real: Any, deny_listing: bool, deny_prefix: str | None) -> None:
        self._real, self._deny_listing, self._deny_prefix = real, deny_listing, deny_prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _read(self, operation: str, call: Callable[..., Any], **kwargs: Any) -> Any:
        if self._deny_prefix and str(kwargs.get("Key", "")).startswith(self._deny_prefix):
            raise _denied(operation)
        try:
            return call(**kwargs)
        except ClientError as err:
            if models.is_not_found(models.error_code(err)):
                raise _denied(operation) from err
            raise

    def get_object(self, **kwargs: Any) -> Any:
        return self._read("GetObject", self._real.get_object, **kwargs)

    def head_object(self, **kwargs: Any) -> Any:
        return self._read("HeadObject", self._real.head_object, **kwargs)

    def list_objects_v2(self, **kwargs: Any) -> Any:
        if self._deny_listing:
            raise _denied("ListObjectsV2")
        return self._real.list_objects_v2(**kwargs)


def _acts_in_prod(session: boto3.Session) -> bool:
    """prod's sessions: profile ``prod``, and the promoter role dsctl assumes from it for promotions."""
    if session.profile_name == "prod":
        return True
    return bool(session.profile_name in (None, "default") and session.get_credentials()) and (
        models.client(session, "sts").get_caller_identity()["Account"] == PROD_ACCOUNT
    )


@pytest.fixture
def reader_403(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Install the 403 behaviour for prod's sessions (profile ``prod``) in dsctl's artifact store."""

    real_client = models.client

    def install(deny_listing: bool = False, deny_prefix: str | None = None) -> None:
        def client(session: boto3.Session, service: str) -> Any:
            real = real_client(session, service)
            if service == "s3" and _acts_in_prod(session):
                return ReaderS3(real, deny_listing, deny_prefix)
            return real

        monkeypatch.setattr(models, "client", client)

    return install


def _publish(dsctl: Dsctl, tmp_path: Path, version: str, validate: bool, accounts: TwoAccounts | None = None) -> None:
    """Publish (and validate) ``version``; with ``accounts``, also promote it in dev and play a published dev run
    with it, so prod's promotion gate passes."""
    directory = train_model(tmp_path, version)
    assert dsctl("model", "publish", "--env", "dev", version, str(directory)).code == 0
    if validate:
        data = write_month(tmp_path / "test.csv", 200, seed=3)
        assert dsctl("model", "validate", "--env", "dev", version, "--test-data", str(data)).code == 0
    if accounts is not None:
        assert dsctl("model", "promote", "--env", "dev", version).code == 0
        sha256 = json.loads((directory / "manifest.json").read_text())["sha256"]
        publish_run(accounts.dev_session, accounts.dev, version, sha256, f"run-{version.replace('.', '')}")


def test_a_missing_validation_report_is_absent_not_denied(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, reader_403: Callable[..., None]
) -> None:
    """Even with the listing denied: the manifest next to it was readable, so the 403 means "no report"."""
    _publish(dsctl, tmp_path, "6.0.0", validate=False)
    _publish(dsctl, tmp_path, "6.1.0", validate=True, accounts=two_accounts)
    reader_403(deny_listing=True)

    unvalidated = dsctl("model", "promote", "--env", "prod", "6.0.0")
    assert unvalidated.code == 2 and "is not validated" in unvalidated.err
    assert "AccessDenied" not in unvalidated.err and "cannot read" not in unvalidated.err
    forced = dsctl("model", "promote", "--env", "prod", "6.0.0", "--force", "--reason", "INC-7")
    assert forced.code == 0, forced.err
    assert dsctl("model", "promote", "--env", "prod", "6.1.0").code == 0


def test_model_list_as_prod_shows_unvalidated_versions(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, reader_403: Callable[..., None]
) -> None:
    _publish(dsctl, tmp_path, "6.2.0", validate=False)
    # An interrupted publish: model.pkl without manifest.json (prod's GET of the manifest answers 403).
    two_accounts.dev_session.client("s3").put_object(
        Bucket=two_accounts.dev.artifact_bucket, Key="models/6.3.0/model.pkl", Body=b"partial"
    )
    reader_403()
    result = dsctl("model", "list", "--env", "prod", "--json")
    assert result.code == 0, result.err
    assert [(v["version"], v["validation"]) for v in result.json()["versions"]] == [("6.2.0", "not validated")]


def test_an_unknown_version_is_not_published_when_the_listing_says_so(
    two_accounts: TwoAccounts, dsctl: Dsctl, reader_403: Callable[..., None]
) -> None:
    reader_403()
    result = dsctl("model", "promote", "--env", "prod", "9.9.9")
    assert result.code == 2 and "version 9.9.9 is not published" in result.err


def test_an_unknown_version_with_the_listing_denied_is_not_found_or_not_readable(
    two_accounts: TwoAccounts, dsctl: Dsctl, reader_403: Callable[..., None]
) -> None:
    reader_403(deny_listing=True)
    result = dsctl("model", "promote", "--env", "prod", "9.9.9")
    assert result.code == 2
    assert "version 9.9.9 not found, or not readable from prod" in result.err
    assert "check the bucket policy/KMS grant" in result.err


def test_a_real_denial_is_still_reported_with_the_grants_to_fix(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, reader_403: Callable[..., None]
) -> None:
    """Manifest AND model unreadable (e.g. the store's bucket policy lacks prod's grant)."""
    _publish(dsctl, tmp_path, "6.4.0", validate=True)
    reader_403(deny_listing=True, deny_prefix="models/6.4.0/")
    result = dsctl("model", "promote", "--env", "prod", "6.4.0")
    assert result.code == 2
    assert "not readable from prod" in result.err and "can read neither manifest.json nor model.pkl" in result.err
    assert "bucket policy" in result.err and "KMS key policy" in result.err
    assert dsctl("model", "promote", "--env", "prod", "6.4.0", "--json").code == 2


def test_doctor_and_status_call_a_403_for_a_deleted_model_missing(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, reader_403: Callable[..., None]
) -> None:
    _publish(dsctl, tmp_path, "6.5.0", validate=True, accounts=two_accounts)
    assert dsctl("model", "promote", "--env", "prod", "6.5.0").code == 0
    two_accounts.dev_session.client("s3").delete_object(
        Bucket=two_accounts.dev.artifact_bucket, Key="models/6.5.0/model.pkl"
    )
    reader_403()
    doctor = dsctl("doctor", "--env", "prod", "--json")
    check = {c["name"]: c for c in doctor.json()["checks"]}["promoted model readable"]
    assert doctor.code == 1 and check["ok"] is False
    assert "does not exist" in check["detail"] and "publish" in check["fix"]
    status = dsctl("status", "--json")
    prod = {r["env"]: r for r in status.json()["environments"]}["prod"]
    assert prod["model"]["digest"] == "MISSING from the store"

    reader_403(deny_listing=True)
    prod = {r["env"]: r for r in dsctl("status", "--json").json()["environments"]}["prod"]
    assert "not found, or not readable from prod" in prod["model"]["error"]
