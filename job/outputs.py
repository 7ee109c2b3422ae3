"""Output roots (a local directory or an S3 bucket/prefix) and the publish protocol over them.

Readers trust a run only when ``processed/{run_id}/_SUCCESS`` exists, so the protocol
is: write everything under ``_staging/{run_id}/``, move it to ``processed/{run_id}/``,
write ``manifest.json``, write ``_SUCCESS`` last (both exclusive: an existing object is
never silently replaced), then drop the staging area. Un-publishing goes the other way
(``_SUCCESS`` first), so at no moment does a half run look complete. The protocol is
written once against the small OutputRoot interface; local and S3 differ only there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from job import s3
from job.errors import ExitCode, JobError

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"


def run_prefix(run_id: str) -> str:
    """Where a published run lives, relative to the output root."""
    return f"processed/{run_id}/"


def staging_prefix(run_id: str) -> str:
    """Where a run is written before it is published."""
    return f"_staging/{run_id}/"


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
    def put(self, rel: str, data: bytes, exclusive: bool = False) -> None:
        """Write an object; with ``exclusive`` fail (OUTPUT_FAILED) when it already exists."""

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

    def target(self, rel: str) -> str:
        path = self._path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
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

    def put(self, rel: str, data: bytes, exclusive: bool = False) -> None:
        path = self._path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if exclusive:
                try:
                    os.link(tmp, path)  # atomic create-if-absent
                except FileExistsError:
                    raise JobError(
                        ExitCode.OUTPUT_FAILED, f"{path} already exists — another run published it"
                    ) from None
            else:
                os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def move(self, src: str, dst: str) -> None:
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(src), target)

    def delete(self, rels: list[str]) -> None:
        for rel in rels:
            self._path(rel).unlink(missing_ok=True)
        for rel in rels:  # prune directories the deletes emptied
            parent = self._path(rel).parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def remove_tree(self, prefix: str) -> None:
        """Remove a directory outright (staging cleanup)."""
        path = self._path(prefix)
        shutil.rmtree(path, ignore_errors=True)
        if path.parent != self.root and path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()


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

    def put(self, rel: str, data: bytes, exclusive: bool = False) -> None:
        try:
            if exclusive:
                self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data, IfNoneMatch="*")
            else:
                self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data)
        except ClientError as exc:
            if s3.error_code(exc) in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                where = self.target(rel)
                raise JobError(ExitCode.OUTPUT_FAILED, f"{where} already exists — another run published it") from None
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


def clear_staging(root: OutputRoot, run_id: str) -> None:
    """Drop a run's staging area (best effort is not enough here: leftovers would be published)."""
    names = root.names(staging_prefix(run_id))
    if names:
        root.delete(names)
    if isinstance(root, LocalRoot):
        root.remove_tree(staging_prefix(run_id))


def publish(root: OutputRoot, run_id: str, staged: list[str], manifest: bytes) -> list[str]:
    """Move staged files into ``processed/{run_id}/``, then write the manifest, then ``_SUCCESS``.

    ``staged`` are names relative to the staging prefix; returns their published names.
    """
    source, target = staging_prefix(run_id), run_prefix(run_id)
    published = []
    for name in staged:
        root.move(source + name, target + name)
        published.append(target + name)
    root.put(target + MANIFEST, manifest, exclusive=True)
    root.put(target + SUCCESS, b"", exclusive=True)
    return published
