"""The model artifact store: publish immutable versions, list them, read and check them.

Layout (DESIGN §1, CONTRACTS §5): ``models/{version}/model.pkl``, then
``models/{version}/manifest.json`` (a version exists once its manifest does), then the
version's history, appended and never overwritten: one report per validation under
``validations/`` and one record per promotion under ``promotions/{stack}/``. Immutability
is enforced by S3 itself with conditional writes (``If-None-Match: *``, which the store's
bucket policy requires of every write under ``models/``), not by a check-then-write that
two operators could race. Every object is uploaded with a SHA-256 checksum that S3
verifies and keeps, so the stored digest can be compared with the manifest later
without downloading the model. File digests and manifest parsing are ``job.artifact``'s.
"""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from components import naming
from dsctl.envs import client
from dsctl.output import EXIT_FAILED, CommandError
from job import artifact
from job.errors import JobError
from job.s3 import DENIED_CODES, MISSING_BUCKET_CODE, MISSING_OBJECT_CODES

MODEL_FILE = artifact.MODEL_FILE
MANIFEST_FILE = artifact.MANIFEST_FILE
VALIDATION_FILE = "validation.json"
"""The single report dsctl wrote before reports were appended; read when a version has no ``validations/``."""
VALIDATIONS_DIR = "validations"
"""``models/{version}/validations/{stamp}-{id}.json``: one report per validation, never replaced."""
PROMOTIONS_DIR = "promotions"
"""``models/{version}/promotions/{stack}/{stamp}.json``: one record per promotion or rollback into a stack."""


def record_stamp(when: datetime) -> str:
    """A record key's time part (``20261202T041500.123456Z``): UTC to the microsecond, so keys sort in the order the
    records were made even when two come in the same second."""
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def check_version(version: str) -> str:
    """``version`` if it is a valid model version (``job.artifact.VERSION_PATTERN``), else a usage error."""
    try:
        return artifact.check_version(version)
    except JobError as err:
        raise CommandError(err.message) from err


def object_key(version: str, name: str) -> str:
    """Key of one file of a version, e.g. ``models/1.2.0/manifest.json``."""
    return f"{naming.MODELS_PREFIX}{version}/{name}"


def hex_to_b64(digest: str) -> str:
    """S3 reports SHA-256 checksums base64-encoded; manifests carry hex."""
    return base64.b64encode(bytes.fromhex(digest)).decode()


def b64_to_hex(checksum: str) -> str:
    """Hex form of an S3 ``ChecksumSHA256`` (base64)."""
    return base64.b64decode(checksum).hex()


def parse_manifest(data: bytes, source: str) -> dict[str, Any]:
    """Parse a manifest fetched from S3 with ``job.artifact.read_manifest`` (one parser for both sides)."""
    with tempfile.TemporaryDirectory(prefix="dsctl-manifest-") as tmp:
        path = Path(tmp) / MANIFEST_FILE
        path.write_bytes(data)
        try:
            return artifact.read_manifest(path)
        except JobError as err:
            problem = err.message.replace(str(path), source).split(" — ")[0]
            raise CommandError(
                f"{problem}; the stored version is unusable (versions are immutable): publish the model again "
                "under a new version",
                EXIT_FAILED,
            ) from err


def error_code(err: ClientError) -> str:
    """The S3/SSM error code of a ClientError (``NoSuchKey``, ``AccessDenied``, ``PreconditionFailed``…)."""
    return str(err.response.get("Error", {}).get("Code", "")) or str(
        err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    )


def is_not_found(code: str) -> bool:
    """S3's answer for a missing key (``NoSuchKey`` to a GET, ``NotFound``/404 to a HEAD); see ``is_denied`` for
    the 403 a reader gets instead."""
    return code in MISSING_OBJECT_CODES


def is_denied(code: str) -> bool:
    """An S3 access denial (``AccessDenied``/403). On real S3 that is also what a GET/HEAD of a MISSING key answers
    when the request is not covered by the caller's ``s3:ListBucket``: a reader whose ListBucket is limited by an
    ``s3:prefix`` condition (prod's task and operator roles: ``models/*``) never has it for a GET/HEAD, which
    carries no prefix. So a 403 under ``models/`` means "missing or denied" until a listing tells them apart."""
    return code in DENIED_CODES


def not_found_or_denied(version: str, env_name: str, code: str) -> str:
    """The problem to report when neither a read nor a listing could tell a missing version from a denied one."""
    return (
        f"version {version} not found, or not readable from {env_name} ({code}: S3 answers 403, not 404, for a "
        f"missing key to a caller without s3:ListBucket for the request): check the bucket policy/KMS grant"
    )


MISSING_OBJECT_FIX = "the object is missing: publish the version again under a new version number"


def access_fix(code: str, bucket: str, env_name: str, account_id: str) -> str:
    """The fix to print for a failed read of the store, by error kind."""
    if is_not_found(code):
        return MISSING_OBJECT_FIX
    if code == MISSING_BUCKET_CODE:
        return f"bucket {bucket} does not exist: deploy the stack that owns the artifact store"
    return (
        f"grant account {account_id} ({env_name}) read on models/* in the store's bucket policy and kms:Decrypt "
        "via S3 in its KMS key policy (artifactReaderAccounts / artifactReaderRolePatterns in the owning stack), "
        "and check this role's own policy"
    )


@dataclass(frozen=True)
class FailedRead:
    """A failed read of one object of the store, interpreted once for every command (promote, doctor, status).

    On real S3 a reader's GET/HEAD of a MISSING key answers 403 (see ``is_denied``), so a 403 alone does not say
    whether the object is absent; a listing of the exact key decides (``ModelStore.key_missing``).
    """

    url: str
    code: str
    missing: bool | None
    """True: the object does not exist; None: missing or denied (the listing is denied too); False: not missing."""
    problem: str
    fix: str


def interpret_failed_read(
    store: ModelStore, version: str, name: str, code: str, env_name: str, account_id: str
) -> FailedRead:
    """What a read of ``models/{version}/{name}`` that failed with ``code`` means, and the fix to print."""
    url = store.url(version, name)
    missing = store.key_missing(version, name, code)
    fix = access_fix(code, store.bucket, env_name, account_id)
    if missing is True:
        how = f"{code}; a listing shows no such key" if is_denied(code) else code
        return FailedRead(url, code, True, f"{url} does not exist ({how})", MISSING_OBJECT_FIX)
    if missing is None:
        return FailedRead(url, code, None, f"{not_found_or_denied(version, env_name, code)} ({url})", fix)
    return FailedRead(url, code, False, f"{url} is not readable from {env_name} ({code})", fix)


@dataclass(frozen=True)
class StoredVersion:
    """One published version as the store holds it."""

    version: str
    manifest: dict[str, Any]
    validation: dict[str, Any] | None

    problem: str | None = None
    """Why the version cannot be used (e.g. an unreadable manifest); its manifest is then empty."""

    @property
    def sha256(self) -> str:
        return str(self.manifest.get("sha256", ""))

    @property
    def created(self) -> str:
        return str(self.manifest.get("created", ""))

    @property
    def validation_status(self) -> str:
        """``passed``, ``failed`` or ``not validated``; a report for another digest counts as not validated."""
        if self.problem:
            return "unusable"
        if not self.validation or self.validation.get("model_sha256") not in (None, self.sha256):
            return "not validated"
        return "passed" if self.validation.get("passed") is True else "failed"


def _version_sort_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")) if artifact.VERSION_PATTERN.fullmatch(version) else (-1,)


class ModelStore:
    """The artifact store's bucket as boto3 sees it with one session's credentials (the Pulumi component that
    creates the store is ``components.artifact_store.ArtifactStore``).

    The same class serves the owner (publish, validate) and readers (promote's checks use
    the *target* environment's session, so a read that succeeds is a real cross-account read).
    """

    def __init__(self, session: boto3.Session, bucket: str) -> None:
        self.bucket = bucket
        self.s3 = client(session, "s3")

    def url(self, version: str, name: str = MODEL_FILE) -> str:
        return f"s3://{self.bucket}/{object_key(version, name)}"

    # ----------------------------------------------------------------- reading

    def key_listed(self, version: str, name: str) -> bool | None:
        """Whether a listing shows the object, or None when the listing is denied too.

        A reader's ListBucket grant is limited to ``s3:prefix`` ``models/*``: a ListObjectsV2 with
        ``Prefix=models/…`` carries that key and is allowed, a GET/HEAD does not, so for a reader a
        missing object answers 403 and only this listing tells "missing" from "denied".
        """
        key = object_key(version, name)
        try:
            response = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        except ClientError as err:
            if is_denied(error_code(err)):
                return None
            raise
        return any(item.get("Key") == key for item in response.get("Contents", []))

    def key_missing(self, version: str, name: str, code: str) -> bool | None:
        """Whether a read of the object that failed with error ``code`` failed because the object does not exist.

        True for S3's 404, and for a 403 when a listing of the exact key shows it absent: a reader's GET/HEAD of a
        missing key answers 403, not 404 (see ``is_denied``), and only the listing tells them apart. None for a 403
        when the listing is denied too (missing or denied: ``not_found_or_denied``). False for a 403 for a key the
        listing shows (a real denial) and for any other error.
        """
        if is_not_found(code):
            return True
        if not is_denied(code):
            return False
        listed = self.key_listed(version, name)
        return None if listed is None else not listed

    def bucket_missing(self) -> bool:
        """Whether the bucket itself does not exist (a failed read of a key inside it says only "not found")."""
        try:
            self.s3.list_objects_v2(Bucket=self.bucket, Prefix=naming.MODELS_PREFIX, MaxKeys=1)
        except ClientError as err:
            return error_code(err) == MISSING_BUCKET_CODE
        return False

    def get_bytes(self, version: str, name: str, *, denied_means_absent: bool = False) -> bytes | None:
        """The object's body, or None when it does not exist (other errors propagate).

        A 403 counts as "does not exist" when ``denied_means_absent`` (the caller knows the grant covers the key),
        or when a listing of the exact key shows it absent (``key_missing``); otherwise it propagates.
        """
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=object_key(version, name))
        except ClientError as err:
            code = error_code(err)
            if denied_means_absent and is_denied(code):
                return None
            if self.key_missing(version, name, code) is True:
                return None
            raise
        return bytes(response["Body"].read())

    def manifest(self, version: str) -> dict[str, Any] | None:
        """The version's manifest, or None if the version was never published."""
        data = self.get_bytes(version, MANIFEST_FILE)
        return None if data is None else parse_manifest(data, self.url(version, MANIFEST_FILE))

    def records(self, version: str, directory: str) -> list[dict[str, Any]]:
        """Every JSON record under ``models/{version}/{directory}/``, oldest first (keys start with a UTC stamp).

        A record that is not a JSON object is returned as ``{"error": ...}`` with its URL, not dropped: history
        must show everything that was written.
        """
        prefix = object_key(version, directory.rstrip("/") + "/")
        keys = [
            item["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if item["Key"].endswith(".json")
        ]
        found = []
        for key in sorted(keys, key=lambda k: k.rsplit("/", 1)[-1]):
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            try:
                record = json.loads(body)
            except ValueError:
                record = None
            url = f"s3://{self.bucket}/{key}"
            found.append({**record, "stored_at": url} if isinstance(record, dict) else {"error": f"{url} is not JSON"})
        return found

    def validations(self, version: str) -> list[dict[str, Any]]:
        """Every validation report of ``version``, oldest first (the pre-history single report if there are none).

        A denied listing (a reader whose grant lacks the ``models/*`` listing) reads as "no reports": the version
        then counts as not validated, which fails safe (promote refuses it)."""
        try:
            reports = self.records(version, VALIDATIONS_DIR)
        except ClientError as err:
            if not is_denied(error_code(err)):
                raise
            reports = []
        if reports:
            return reports
        legacy = self._legacy_validation(version)
        return [legacy] if legacy is not None else []

    def validation(self, version: str) -> dict[str, Any] | None:
        """The latest validation report, or None. Earlier reports stay in the store (``validations``).

        A report that is not JSON counts as a failed validation (``passed`` false), so it can never promote."""
        reports = self.validations(version)
        if not reports:
            return None
        latest = reports[-1]
        return latest if "error" not in latest or "passed" in latest else {"passed": False, **latest}

    def _legacy_validation(self, version: str) -> dict[str, Any] | None:
        """``validation.json``, the single report written before reports were appended. Call it only after reading
        the same version's manifest.

        validation.json is optional. An AccessDenied for it counts as absent: the caller has just read
        ``models/{version}/manifest.json`` with these credentials, and every grant on the store (bucket policy,
        identity policies, KMS key policy) is on ``models/*`` as a whole, so a key next to a readable manifest is
        not denied but missing — S3 answers 403 instead of 404 to a reader whose ListBucket is limited by an
        ``s3:prefix`` condition, which a GetObject request does not carry (prod's task and operator roles).
        Treating it as absent fails safe: the version counts as "not validated", and promote refuses it.
        """
        data = self.get_bytes(version, VALIDATION_FILE, denied_means_absent=True)
        if data is None:
            return None
        try:
            return dict(json.loads(data))
        except (ValueError, TypeError):
            return {"passed": False, "error": f"{self.url(version, VALIDATION_FILE)} is not a JSON report"}

    def stored_sha256(self, version: str) -> str | None:
        """Hex SHA-256 of model.pkl as a whole that S3 recorded at upload, or None if it kept none.

        Only a full-object SHA-256 counts: an object uploaded without a checksum, with another algorithm (the AWS
        CLI stores CRC64NVME by default) or in parts with a composite checksum (``ChecksumType`` ``COMPOSITE``,
        a ``-N`` suffix) has no digest of the file stored, and ``sha256_of`` must compute it.
        """
        head = self.s3.head_object(Bucket=self.bucket, Key=object_key(version, MODEL_FILE), ChecksumMode="ENABLED")
        checksum = head.get("ChecksumSHA256")
        if not checksum or "-" in checksum or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
            return None
        try:
            return b64_to_hex(checksum)
        except (binascii.Error, ValueError):
            return None

    def replication_status(self, version: str) -> str | None:
        """S3's ``ReplicationStatus`` of model.pkl: ``COMPLETED``/``PENDING``/``FAILED`` in a replicated store,
        ``REPLICA`` on a replica, None where the store does not replicate (a lost region then loses the version)."""
        head = self.s3.head_object(Bucket=self.bucket, Key=object_key(version, MODEL_FILE))
        status = head.get("ReplicationStatus")
        return str(status) if status else None

    def computed_sha256(self, version: str) -> str:
        """Hex SHA-256 of model.pkl computed from its bytes, streamed in 1 MiB chunks (bounded memory)."""
        body = self.s3.get_object(Bucket=self.bucket, Key=object_key(version, MODEL_FILE))["Body"]
        return artifact.sha256_chunks(body.iter_chunks(chunk_size=1 << 20))

    def sha256_of(self, version: str) -> tuple[str, str]:
        """The model's actual SHA-256 and how it was learnt: ``"stored by S3"`` or ``"computed"`` (streamed).

        Diagnostics must never call a model healthy on trust: when S3 kept no full-object SHA-256 (see
        ``stored_sha256``), the digest is computed from the object itself.
        """
        stored = self.stored_sha256(version)
        if stored is not None:
            return stored, "stored by S3"
        return self.computed_sha256(version), "computed"

    def digest_verdict(self, version: str, expected: str) -> tuple[str, str]:
        """(``verified`` or ``MISMATCH``, a detail naming both digests and how the actual one was learnt)."""
        actual, how = self.sha256_of(version)
        if actual == expected:
            return "verified", f"digest verified ({how}): sha256 {actual}"
        return "MISMATCH", f"{self.url(version)} has sha256 {actual} ({how}), expected {expected}"

    def read_first_byte(self, version: str) -> None:
        """A real read of model.pkl (one byte): needs s3:GetObject and, with SSE-KMS, kms:Decrypt."""
        self.s3.get_object(Bucket=self.bucket, Key=object_key(version, MODEL_FILE), Range="bytes=0-0")["Body"].read()

    def download_model(self, version: str, destination: Path) -> Path:
        """Download model.pkl to ``destination`` (a file path)."""
        self.s3.download_file(self.bucket, object_key(version, MODEL_FILE), str(destination))
        return destination

    def versions(self) -> list[str]:
        """Published version prefixes under ``models/``, oldest semantic version first."""
        found: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=naming.MODELS_PREFIX, Delimiter="/"
        ):
            for prefix in page.get("CommonPrefixes", []):
                found.append(prefix["Prefix"][len(naming.MODELS_PREFIX) :].rstrip("/"))
        return sorted(found, key=_version_sort_key)

    def stored_versions(self) -> Iterator[StoredVersion]:
        """Every version that has a manifest, with its validation report; an unreadable manifest is reported on its
        version (``problem``) instead of hiding every other version."""
        for version in self.versions():
            try:
                manifest = self.manifest(version)
            except CommandError as err:
                yield StoredVersion(version, {}, None, problem=err.message)
                continue
            if manifest is not None:
                yield StoredVersion(version, manifest, self.validation(version))

    # ----------------------------------------------------------------- writing

    def _put_once(self, version: str, name: str, body: bytes, content_type: str) -> str:
        """Create an object only if absent (``If-None-Match: *``); return the hex SHA-256 S3 verified."""
        response = self.s3.put_object(
            Bucket=self.bucket,
            Key=object_key(version, name),
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            IfNoneMatch="*",
        )
        return b64_to_hex(response["ChecksumSHA256"]) if response.get("ChecksumSHA256") else ""

    def publish(self, version: str, directory: Path) -> dict[str, Any]:
        """Upload ``model.pkl`` then ``manifest.json`` of ``directory`` as ``version``; refuse anything unsafe.

        Refused: a bad version string, a manifest for another version, a manifest whose
        digest is not the file's, and any version that already exists (S3 answers the
        conditional write with PreconditionFailed, so two concurrent publishes cannot both win).
        A previous publish interrupted between the two uploads is completed when the same
        model.pkl is published again.
        """
        check_version(version)
        model_path, manifest_path = directory / MODEL_FILE, directory / MANIFEST_FILE
        if not model_path.is_file():
            raise CommandError(f"{model_path} not found; train with: python -m job train --version {version} ...")
        try:
            manifest = artifact.read_manifest(manifest_path)
        except JobError as err:
            raise CommandError(err.message) from err
        if manifest["version"] != version:
            raise CommandError(
                f"{manifest_path} is for version {manifest['version']}, not {version}; "
                "publish it as that version or retrain with --version"
            )
        actual = artifact.sha256_file(model_path)
        if actual != manifest["sha256"]:
            raise CommandError(
                f"{model_path} has sha256 {actual} but its manifest says {manifest['sha256']}; "
                "the file changed after training: retrain, or restore the trained file"
            )
        if self.get_bytes(version, MANIFEST_FILE) is not None:
            raise self._exists(version)
        try:
            stored = self._put_once(version, MODEL_FILE, model_path.read_bytes(), "application/octet-stream")
        except ClientError as err:
            if error_code(err) != "PreconditionFailed":
                raise
            stored = self.stored_sha256(version) or ""
            if stored != actual:
                raise CommandError(
                    f"{self.url(version)} already exists with another content (an interrupted or foreign upload); "
                    "versions are immutable: publish under a new version"
                ) from err
        if stored and stored != actual:
            raise CommandError(f"S3 stored sha256 {stored} for {self.url(version)}, expected {actual}; publish again")
        try:
            self._put_once(version, MANIFEST_FILE, manifest_path.read_bytes(), "application/json")
        except ClientError as err:
            if error_code(err) == "PreconditionFailed":
                raise self._exists(version) from err
            raise
        return manifest

    def _exists(self, version: str) -> CommandError:
        return CommandError(
            f"version {version} already exists in s3://{self.bucket}/models/ and versions are immutable; "
            "publish under a new version (e.g. bump the patch number)"
        )

    def append_record(self, version: str, name: str, record: dict[str, Any]) -> str:
        """Add one history record (``validations/…``, ``promotions/…``) to ``version``; return its URL.

        Written with ``If-None-Match: *`` like everything under ``models/``: a record is never replaced, and a
        name that is already taken (two writers in the same second with the same id) is an error, not an overwrite.
        """
        body = (json.dumps(record, indent=2, sort_keys=True, default=str) + "\n").encode()
        try:
            self._put_once(version, name, body, "application/json")
        except ClientError as err:
            if error_code(err) == "PreconditionFailed":
                raise CommandError(
                    f"{self.url(version, name)} already exists and history is never overwritten; run the command again",
                    EXIT_FAILED,
                ) from err
            raise
        return self.url(version, name)
