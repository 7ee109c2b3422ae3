"""Finding the input CSVs: one file or object, a directory or prefix, or a glob; local or s3://.

Also records each object's identity (ETag, version id, size) for the run manifest, so
a run can always be traced to the exact bytes it read.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from job import s3
from job.errors import ExitCode, JobError

_GLOB_CHARS = "*?["
# What a directory or prefix contributes: CSV files, plain or gzip-compressed (Polars decompresses while streaming).
CSV_SUFFIXES = (".csv", ".csv.gz")


def is_csv_name(name: str) -> bool:
    """Whether a file in a directory or prefix is an input: ``*.csv`` or ``*.csv.gz`` (any case)."""
    return name.lower().endswith(CSV_SUFFIXES)


@dataclass(frozen=True)
class InputObject:
    """One input file: where it is and which version of it was read."""

    url: str
    size: int
    etag: str | None = None
    version_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the run manifest."""
        return asdict(self)


@dataclass(frozen=True)
class Inputs:
    """The resolved inputs, in a stable (sorted) order."""

    spec: str
    objects: tuple[InputObject, ...]

    @property
    def urls(self) -> list[str]:
        """All input locations, empty files included."""
        return [o.url for o in self.objects]

    @property
    def non_empty(self) -> list[str]:
        """Inputs with at least one byte (Polars refuses a zero-byte CSV; it has zero rows anyway)."""
        return [o.url for o in self.objects if o.size > 0]


def _not_found(spec: str) -> JobError:
    hint = "check the path, prefix or glob (and the input-key parameter)"
    return JobError(ExitCode.INPUT_NOT_FOUND, f"input {spec} not found — {hint}")


def _local(spec: str) -> Inputs:
    if os.path.isfile(spec):  # a file whose name has glob characters ("march[final].csv") is that file
        paths = [spec]
    elif any(ch in spec for ch in _GLOB_CHARS):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
    elif os.path.isdir(spec):
        paths = sorted(str(p) for p in Path(spec).rglob("*") if p.is_file() and is_csv_name(p.name))
    else:
        paths = []
    if not paths:
        raise _not_found(spec)
    return Inputs(spec, tuple(InputObject(p, os.path.getsize(p)) for p in paths))


def glob_match(key: str, pattern: str) -> bool:
    """Shell-glob matching of an S3 key, as for local paths: ``*``, ``?`` and ``[..]`` stay within one ``/`` level,
    ``**`` crosses levels (fnmatch alone would let ``raw/*.csv`` match ``raw/old/x.csv``)."""
    if "**" in pattern:
        return fnmatch.fnmatchcase(key, pattern)
    keys, patterns = key.split("/"), pattern.split("/")
    return len(keys) == len(patterns) and all(fnmatch.fnmatchcase(k, p) for k, p in zip(keys, patterns, strict=True))


def _s3_objects(bucket: str, prefix: str, pattern: str | None) -> list[InputObject]:
    paginator = s3.s3_client().get_paginator("list_objects_v2")
    found = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/") or (pattern is not None and not glob_match(key, pattern)):
                continue
            if pattern is None and not is_csv_name(key):
                continue
            found.append(InputObject(s3.s3_url(bucket, key), int(item["Size"]), item.get("ETag", "").strip('"')))
    return sorted(found, key=lambda o: o.url)


def _s3(spec: str) -> Inputs:
    bucket, key = s3.split_s3(spec)
    try:
        if any(ch in key for ch in _GLOB_CHARS):
            prefix = key[: min(key.find(ch) for ch in _GLOB_CHARS if ch in key)]
            objects = _s3_objects(bucket, prefix, key)
        elif key == "" or key.endswith("/"):
            objects = _s3_objects(bucket, key, None)
        else:
            try:
                head = s3.s3_client().head_object(Bucket=bucket, Key=key)
                etag = head.get("ETag", "").strip('"')
                objects = [InputObject(spec, int(head["ContentLength"]), etag, head.get("VersionId"))]
            except ClientError as exc:
                if s3.error_code(exc) not in s3.MISSING_CODES:
                    raise
                objects = _s3_objects(bucket, key.rstrip("/") + "/", None)  # a prefix written without "/"
    except (ClientError, BotoCoreError) as exc:
        raise s3.translate(exc, bucket, key, "read input") from None
    if not objects:
        raise _not_found(spec)
    return Inputs(spec, tuple(objects))


def resolve_inputs(spec: str) -> Inputs:
    """Expand an input argument to the list of CSVs it names; INPUT_NOT_FOUND when it names none."""
    return _s3(spec) if s3.is_s3(spec) else _local(spec)
