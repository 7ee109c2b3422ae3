"""Output roots (a local directory or an S3 bucket/prefix) and the publish protocol over them.

Readers trust a run only when ``processed/{run_id}/_SUCCESS`` exists, so the protocol
is: each attempt writes everything under its own ``_staging/{run_id}/{attempt}/``; it
then claims the run by writing ``processed/{run_id}/manifest.json`` exclusively, moves
its files in, writes ``_SUCCESS`` last (exclusive too), and drops its staging area. Two
attempts at the same run id (started concurrently) never share a file: the exclusive
manifest write lets exactly one of them publish, and the other one removes only what it
wrote itself. Un-publishing goes the other way (``_SUCCESS`` first), so at no moment
does a half run look complete. The protocol is written once against the small
OutputRoot interface; local and S3 differ only there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from job import s3
from job.errors import ExitCode, JobError

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

SUCCESS = "_SUCCESS"
PROCESSED_PREFIX = "processed/"  # copy of components.naming.PROCESSED_PREFIX (tests/test_contract_constants.py)
STAGING_PREFIX = "_staging/"  # copy of components.naming.STAGING_PREFIX: the output bucket expires it
MANIFEST = "manifest.json"
# A claim (manifest.json without _SUCCESS) younger than this, while another attempt's staging area exists, belongs to
# a publish in progress; an older one, or one with no other attempt staged, is the remains of a crashed publish
# (moving the files in takes seconds to minutes), which a new attempt may clear.
STALE_CLAIM_SECONDS = 3600


class AlreadyExists(JobError):
    """An exclusive write found the object already there (another attempt wrote it)."""


def run_prefix(run_id: str) -> str:
    """Where a published run lives, relative to the output root."""
    return f"{PROCESSED_PREFIX}{run_id}/"


def staging_prefix(run_id: str) -> str:
    """Where the attempts at a run are written before one of them is published."""
    return f"{STAGING_PREFIX}{run_id}/"


def new_attempt_id() -> str:
    """A unique name for one attempt at a run (its staging directory)."""
    return f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"


class OutputRoot(ABC):
    """The few storage operations the publish protocol needs; paths are relative to the root."""

    url: str

    @abstractmethod
    def target(self, rel: str) -> str:
        """A location Polars can sink to (parent directories exist)."""

    @abstractmethod
    def exists(self, rel: str) -> bool:
        """Whether an object/file exists."""

    @abstractmethod
    def names(self, prefix: str) -> list[str]:
        """Relative names of all objects under ``prefix``, sorted."""

    @abstractmethod
    def size(self, rel: str) -> int:
        """Size in bytes of an object."""

    @abstractmethod
    def age(self, rel: str) -> float | None:
        """Seconds since an object was last written; None when it does not exist."""

    @abstractmethod
    def read(self, rel: str) -> bytes:
        """An object's bytes; JobError (INPUT_NOT_FOUND when missing) otherwise."""

    @abstractmethod
    def put(self, rel: str, data: bytes, exclusive: bool = False) -> None:
        """Write an object; with ``exclusive`` raise AlreadyExists (OUTPUT_FAILED) when it already exists."""

    @abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Move one object (copy + delete on S3, rename locally)."""

    @abstractmethod
    def delete(self, rels: list[str]) -> None:
        """Delete objects (missing ones are ignored)."""

    def storage_options(self) -> dict[str, str] | None:
        """Polars storage options for ``target`` locations."""
        return None


class LocalRoot(OutputRoot):
    """An output directory on this machine."""

    def __init__(self, path: str | Path) -> None:
        self.root = Path(path)
        self.url = str(self.root)

    def _path(self, rel: str) -> Path:
        return self.root / rel

    def _fail(self, exc: OSError, rel: str) -> JobError:
        return JobError(
            ExitCode.OUTPUT_FAILED,
            f"cannot write {self._path(rel)}: {exc.strerror or exc} — check --output (an existing, writable "
            "directory or a new path); nothing was published",
        )

    def target(self, rel: str) -> str:
        path = self._path(rel)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail(exc, rel) from None
        return str(path)

    def exists(self, rel: str) -> bool:
        return self._path(rel).exists()

    def names(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def size(self, rel: str) -> int:
        return self._path(rel).stat().st_size

    def age(self, rel: str) -> float | None:
        try:
            return time.time() - self._path(rel).stat().st_mtime
        except FileNotFoundError:
            return None

    def read(self, rel: str) -> bytes:
        try:
            return self._path(rel).read_bytes()
        except FileNotFoundError:
            raise JobError(ExitCode.INPUT_NOT_FOUND, f"{self._path(rel)} not found") from None

    def put(self, rel: str, data: bytes, exclusive: bool = False) -> None:
        path = Path(self.target(rel))
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        except OSError as exc:
            raise self._fail(exc, rel) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if exclusive:
                try:
                    os.link(tmp, path)  # atomic create-if-absent
                except FileExistsError:
                    raise AlreadyExists(
                        ExitCode.OUTPUT_FAILED, f"{path} already exists — another run wrote it"
                    ) from None
            else:
                os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def move(self, src: str, dst: str) -> None:
        target = self.target(dst)
        try:
            os.replace(self._path(src), target)
        except OSError as exc:
            raise self._fail(exc, dst) from None

    def delete(self, rels: list[str]) -> None:
        for rel in rels:
            self._path(rel).unlink(missing_ok=True)
        for rel in rels:  # prune directories the deletes emptied
            parent = self._path(rel).parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def remove_tree(self, prefix: str) -> None:
        """Remove a directory outright (staging cleanup), then the parents it leaves empty."""
        path = self._path(prefix)
        shutil.rmtree(path, ignore_errors=True)
        parent = path.parent
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


class S3Root(OutputRoot):
    """An output bucket (optionally a prefix in it)."""

    def __init__(self, url: str) -> None:
        self.bucket, prefix = s3.split_s3(url)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{self.bucket}/{self.prefix}"
        self.client = s3.s3_client()

    def _key(self, rel: str) -> str:
        return self.prefix + rel

    def _fail(self, exc: Exception, rel: str, action: str) -> JobError:
        error = s3.translate(exc, self.bucket, self._key(rel), action)
        if error.code in (ExitCode.UNEXPECTED, ExitCode.INPUT_NOT_FOUND):  # e.g. the output bucket does not exist
            return JobError(ExitCode.OUTPUT_FAILED, error.message + " — nothing was published")
        return error

    def target(self, rel: str) -> str:
        return s3.s3_url(self.bucket, self._key(rel))

    def storage_options(self) -> dict[str, str] | None:
        return s3.storage_options(self.url)

    def exists(self, rel: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(rel))
            return True
        except ClientError as exc:
            if s3.error_code(exc) in s3.MISSING_CODES:
                return False
            raise self._fail(exc, rel, "read") from None
        except BotoCoreError as exc:
            raise self._fail(exc, rel, "read") from None

    def names(self, prefix: str) -> list[str]:
        names = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            ):
                names += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, prefix, "list") from None
        return sorted(names)

    def size(self, rel: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(rel))["ContentLength"])
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, rel, "read") from None

    def age(self, rel: str) -> float | None:
        try:
            modified = self.client.head_object(Bucket=self.bucket, Key=self._key(rel))["LastModified"]
        except ClientError as exc:
            if s3.error_code(exc) in s3.MISSING_CODES:
                return None
            raise self._fail(exc, rel, "read") from None
        except BotoCoreError as exc:
            raise self._fail(exc, rel, "read") from None
        return time.time() - modified.timestamp()

    def read(self, rel: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"].read()
        except ClientError as exc:
            if s3.error_code(exc) in s3.MISSING_OBJECT_CODES:
                raise JobError(ExitCode.INPUT_NOT_FOUND, f"{self.target(rel)} not found") from None
            raise s3.translate(exc, self.bucket, self._key(rel), "read") from None
        except BotoCoreError as exc:
            raise s3.translate(exc, self.bucket, self._key(rel), "read") from None

    def put(self, rel: str, data: bytes, exclusive: bool = False) -> None:
        try:
            if exclusive:
                self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data, IfNoneMatch="*")
            else:
                self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data)
        except ClientError as exc:
            if s3.error_code(exc) in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                where = self.target(rel)
                raise AlreadyExists(ExitCode.OUTPUT_FAILED, f"{where} already exists — another run wrote it") from None
            raise self._fail(exc, rel, "write") from None
        except BotoCoreError as exc:
            raise self._fail(exc, rel, "write") from None

    def move(self, src: str, dst: str) -> None:
        try:
            # managed copy: multipart above 8 MB, so parts beyond 5 GB work too
            self.client.copy({"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst))
            self.client.delete_object(Bucket=self.bucket, Key=self._key(src))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, dst, "write") from None

    def delete(self, rels: list[str]) -> None:
        try:
            for start in range(0, len(rels), 1000):
                batch: list[ObjectIdentifierTypeDef] = [{"Key": self._key(rel)} for rel in rels[start : start + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, rels[0] if rels else "", "delete") from None


def open_root(url: str) -> OutputRoot:
    """The output root for a local path or an ``s3://bucket[/prefix]`` URL."""
    return S3Root(url) if s3.is_s3(url) else LocalRoot(url)


def is_published(root: OutputRoot, run_id: str) -> bool:
    """Whether a run finished: its ``_SUCCESS`` exists."""
    return root.exists(run_prefix(run_id) + SUCCESS)


def unpublish(root: OutputRoot, run_id: str) -> None:
    """Remove a run (published or a leftover), ``_SUCCESS`` first, so it stops looking complete at once."""
    prefix = run_prefix(run_id)
    names = root.names(prefix)
    first = [n for n in (prefix + SUCCESS, prefix + MANIFEST) if n in names]
    for name in first:
        root.delete([name])
    rest = [n for n in names if n not in first]
    if rest:
        root.delete(rest)


def clear_staging(root: OutputRoot, staging: str) -> None:
    """Drop a staging area (an attempt's ``_staging/{run_id}/{attempt}/``)."""
    names = root.names(staging)
    if names:
        root.delete(names)
    if isinstance(root, LocalRoot):
        root.remove_tree(staging)


@dataclass
class Attempt:
    """One attempt at publishing a run: its own staging area, and what it has written under ``processed/``.

    Everything an attempt writes is recorded, so that after a failure it removes exactly
    that (``abandon``) and never another attempt's claim or a published run.
    """

    root: OutputRoot
    run_id: str
    id: str = field(default_factory=new_attempt_id)
    claimed: bool = False  # this attempt wrote processed/{run_id}/manifest.json
    moved: list[str] = field(default_factory=list)
    published: bool = False

    @property
    def staging(self) -> str:
        """This attempt's staging prefix."""
        return f"{staging_prefix(self.run_id)}{self.id}/"

    def _lost(self, why: str) -> JobError:
        return JobError(
            ExitCode.OUTPUT_FAILED,
            f"run {self.run_id} at {self.root.url.rstrip('/')}/{run_prefix(self.run_id)}: this attempt published "
            f"nothing — {why}",
        )

    def clear_the_way(self, overwrite: bool) -> None:
        """Before claiming: remove a previous run (``overwrite``) or the remains of a crashed publish.

        A run that another attempt published while this one was processing, or a fresh
        claim (another attempt is publishing right now), is left alone: this attempt loses.
        """
        target = run_prefix(self.run_id)
        names = self.root.names(target)
        if not names:
            return
        if target + SUCCESS in names and not overwrite:
            raise self._lost("another run published it while this one was processing (use --overwrite to replace it)")
        if target + SUCCESS not in names and target + MANIFEST in names and not overwrite:
            age = self.root.age(target + MANIFEST)
            # a live claimer keeps its staging area (at least its _STARTED marker) until after _SUCCESS
            others = [n for n in self.root.names(staging_prefix(self.run_id)) if not n.startswith(self.staging)]
            if age is not None and age < STALE_CLAIM_SECONDS and others:
                raise self._lost(
                    f"another run is publishing it (claimed {age:.0f} s ago); if no other run is active, "
                    "rerun with --overwrite"
                )
        unpublish(self.root, self.run_id)

    def publish(self, staged: list[str], manifest: bytes, renamed: Mapping[str, str] | None = None) -> list[str]:
        """Claim the run (exclusive manifest), move the staged files in, then write ``_SUCCESS`` (exclusive) last.

        ``staged`` are names relative to the staging prefix, published under the same name unless ``renamed``
        gives another (a scaled-out run's ``00003/part-00000.parquet`` becomes ``part-00003.parquet``); returns
        their published names.
        """
        target = run_prefix(self.run_id)
        try:
            self.root.put(target + MANIFEST, manifest, exclusive=True)
        except AlreadyExists:
            raise self._lost("another run claimed it first") from None
        self.claimed = True
        for name in staged:
            published = target + (renamed or {}).get(name, name)
            self.root.move(self.staging + name, published)
            self.moved.append(published)
        try:
            self.root.put(target + SUCCESS, b"", exclusive=True)
        except AlreadyExists:
            raise self._lost("another run wrote _SUCCESS first") from None
        self.published = True
        return list(self.moved)

    def abandon(self) -> None:
        """After a failure: remove this attempt's staging and, unless it published, what it moved and its claim."""
        clear_staging(self.root, self.staging)
        if self.claimed and not self.published and not self.root.exists(run_prefix(self.run_id) + SUCCESS):
            if self.moved:
                self.root.delete(self.moved)
            self.root.delete([run_prefix(self.run_id) + MANIFEST])
