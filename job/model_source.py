"""Fetching a model for a run or a validation: local path or s3://, digest from the caller or the manifest.

The digest a model is checked against must come from somewhere other than the file
itself: the ``model-sha256`` parameter in the container, ``--model-sha256`` or the
``manifest.json`` written next to ``model.pkl`` by ``train`` locally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from job import s3
from job.artifact import MANIFEST_FILE, MODEL_FILE, load_model_bytes, read_manifest
from job.errors import ExitCode, JobError
from job.model import PreprocessingModel


@dataclass(frozen=True)
class LoadedModel:
    """A verified model and where it came from (for the run manifest)."""

    model: PreprocessingModel
    sha256: str
    url: str
    bucket: str | None
    key: str


def _s3_bytes(url: str, artifact_store: bool, missing_hint: str) -> bytes:
    bucket, key = s3.split_s3(url)
    try:
        return s3.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if s3.error_code(exc) in s3.MISSING_CODES:
            raise JobError(ExitCode.MODEL_MISSING, f"model object {url} not found — {missing_hint}") from None
        raise s3.translate(exc, bucket, key, "read model", artifact_store) from None
    except BotoCoreError as exc:
        raise s3.translate(exc, bucket, key, "read model", artifact_store) from None


def _manifest_sha256(model_url: str) -> str:
    """The sha256 recorded in the manifest.json beside a model."""
    if s3.is_s3(model_url):
        manifest_url = model_url.rsplit("/", 1)[0] + "/" + MANIFEST_FILE
        hint = "pass --model-sha256 or upload the manifest written by train"
        try:
            return str(json.loads(_s3_bytes(manifest_url, False, hint))["sha256"])
        except (ValueError, KeyError):
            raise JobError(ExitCode.INVALID_MODEL, f"{manifest_url} has no sha256 — pass --model-sha256") from None
    try:
        return str(read_manifest(Path(model_url).parent)["sha256"])
    except JobError as exc:
        if exc.code != ExitCode.MODEL_MISSING:
            raise
        raise JobError(
            ExitCode.MODEL_MISSING,
            f"no manifest.json beside {model_url} to take the expected sha256 from — pass --model-sha256 "
            "or keep the manifest written by train next to model.pkl",
        ) from None


def fetch_model(url: str, expected_sha256: str | None = None, artifact_store: bool = False) -> LoadedModel:
    """Load and verify the model at ``url`` (a model.pkl, or a directory/prefix holding one)."""
    if not url.endswith(".pkl"):
        url = url.rstrip("/") + "/" + MODEL_FILE
    if not s3.is_s3(url) and not Path(url).is_file():
        raise JobError(ExitCode.MODEL_MISSING, f"model file {url} not found — train with python -m job train")
    sha256 = expected_sha256 or _manifest_sha256(url)
    if s3.is_s3(url):
        hint = "promote an existing version (dsctl model promote) or fix the model-key parameter"
        data = _s3_bytes(url, artifact_store, hint)
        bucket, key = s3.split_s3(url)
    else:
        try:
            data = Path(url).read_bytes()
        except FileNotFoundError:
            raise JobError(
                ExitCode.MODEL_MISSING, f"model file {url} not found — train with python -m job train"
            ) from None
        bucket, key = None, url
    return LoadedModel(load_model_bytes(data, sha256, url), sha256, url, bucket, key)
