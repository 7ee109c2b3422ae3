"""The model artifact: ``model.pkl`` (joblib) + ``manifest.json``, and safe loading.

Loading checks the sha256 *before* unpickling, because unpickling runs code: a file
that is not byte-for-byte the promoted one is never deserialised. The unpickler then
only resolves the model's own classes, so a pickle of anything else (a scikit-learn
pipeline, an exploit) is refused with a clear error instead of being executed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import platform
import re
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from job.errors import ExitCode, JobError
from job.model import MODEL_FORMAT, PreprocessingModel

MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"
# Semantic version core, as used in models/{version}/ (dsctl checks the same pattern).
VERSION_PATTERN = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")

# The only globals a model pickle may reference.
_ALLOWED_CLASSES = {
    ("job.model", "PreprocessingModel"),
    ("job.model", "NumericParams"),
    ("job.model", "CategoricalParams"),
    ("job.schema", "Schema"),
    ("job.schema", "NumericFeature"),
    ("job.schema", "CategoricalFeature"),
}


def check_version(version: str) -> str:
    """Return ``version`` if it is a semantic version ``X.Y.Z``, else raise a usage error."""
    if not VERSION_PATTERN.fullmatch(version):
        raise JobError(
            ExitCode.USAGE, f"version {version!r} is not a semantic version — use MAJOR.MINOR.PATCH, e.g. 1.2.0"
        )
    return version


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    """Hex sha256 of a stream of chunks (a file or an S3 body), in bounded memory."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, streamed in 1 MiB blocks."""
    with open(path, "rb") as handle:
        return sha256_chunks(iter(lambda: handle.read(1 << 20), b""))


class _ModelUnpickler(pickle.Unpickler):
    """Resolves only the model's own classes; anything else is refused before it is built."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_CLASSES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name}")


def load_model_bytes(data: bytes, expected_sha256: str, source: str = "model.pkl") -> PreprocessingModel:
    """Verify ``data`` against ``expected_sha256``, then unpickle it as a PreprocessingModel."""
    actual = sha256_bytes(data)
    if actual != expected_sha256.strip().lower():
        raise JobError(
            ExitCode.DIGEST_MISMATCH,
            f"model digest mismatch for {source}: sha256 is {actual}, expected {expected_sha256} — the object changed "
            "after promotion; promote it again (dsctl model promote) or restore the promoted object",
        )
    try:
        model = _ModelUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        raise JobError(
            ExitCode.INVALID_MODEL,
            f"{source} is not a job.model.PreprocessingModel pickle (refused to load {exc}) — "
            "train it with `python -m job train`",
        ) from None
    except Exception as exc:  # truncated or corrupt stream
        raise JobError(ExitCode.INVALID_MODEL, f"{source} is not a readable model pickle ({exc}) — retrain") from None
    if not isinstance(model, PreprocessingModel):
        raise JobError(
            ExitCode.INVALID_MODEL,
            f"{source} holds a {type(model).__name__}, not a PreprocessingModel — train it with `python -m job train`",
        )
    if model.format != MODEL_FORMAT:
        raise JobError(
            ExitCode.INVALID_MODEL,
            f"{source} has model format {model.format}, this job reads format {MODEL_FORMAT} — retrain with this job",
        )
    return model


def load_model(path: str | Path, expected_sha256: str) -> PreprocessingModel:
    """Load ``model.pkl`` (or a directory holding it) after checking its sha256."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise JobError(
            ExitCode.MODEL_MISSING, f"model file {path} not found — train with `python -m job train`"
        ) from None
    return load_model_bytes(data, expected_sha256, str(path))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a model manifest (``manifest.json`` or a directory holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise JobError(
            ExitCode.MODEL_MISSING, f"model manifest {path} not found — train with python -m job train"
        ) from None
    except json.JSONDecodeError as exc:
        raise JobError(ExitCode.INVALID_MODEL, f"model manifest {path} is not valid JSON ({exc}) — retrain") from None
    missing = [key for key in ("version", "sha256") if key not in manifest]
    if not isinstance(manifest, dict) or missing:
        raise JobError(
            ExitCode.INVALID_MODEL, f"model manifest {path} lacks {missing} — retrain with python -m job train"
        )
    return manifest


def library_versions() -> dict[str, str]:
    """Versions recorded in a manifest, so a model can be traced to what built it."""
    import joblib  # training only: joblib imports numpy (~0.5 s), which loading a model (plain pickle) never needs

    return {"python": platform.python_version(), "polars": pl.__version__, "joblib": joblib.__version__}


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename, so no half file is ever visible."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(
    model: PreprocessingModel, output_dir: str | Path, training_input: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``model.pkl`` and then ``manifest.json`` into ``output_dir``; return the manifest.

    ``training_input`` (``job.train.training_lineage``) records what the model was trained on."""
    check_version(model.version)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    import joblib  # see library_versions

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    _atomic_write(out / MODEL_FILE, data)
    manifest = {
        "version": model.version,
        "sha256": sha256_bytes(data),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema": model.schema.to_dict(),
        "training_rows": model.training_rows,
        "libraries": library_versions(),
        "format": model.format,
        "model": model.summary(),
        **({"training_input": training_input} if training_input is not None else {}),
    }
    _atomic_write(out / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest
