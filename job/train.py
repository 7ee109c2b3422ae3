"""``python -m job train``: fit a model from a CSV and write model.pkl + manifest.json."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from job.artifact import MANIFEST_FILE, MODEL_FILE, check_version, save_model, sha256_file
from job.errors import ExitCode, JobError
from job.fit import fit
from job.infer import infer_schema, read_sample
from job.process import check_headers, read_failure
from job.ragged import find_malformed
from job.s3 import is_s3, reset_clients, storage_options
from job.schema import Schema, load_schema
from job.sources import Inputs, resolve_inputs
from job.transform import scan_input

log = logging.getLogger(__name__)


def _source_label(sources: list[str]) -> str:
    return sources[0] if len(sources) == 1 else f"{sources[0]} (and {len(sources) - 1} more)"


def schema_for(sources: list[str], schema_file: Path | None, output_dir: str | Path = "DIR") -> Schema:
    """The declared schema (authoritative), or one inferred from a sample of the inputs' rows (job.infer)."""
    if schema_file is not None:
        return load_schema(schema_file)
    try:
        inference = infer_schema(read_sample(sources, storage_options(sources[0])))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise read_failure(exc, sources) from None
    for note in inference.notes:
        log.info("schema inference: %s", note)
    if not inference.demo:
        schema = inference.schema
        log.info(
            'inferred schema from %d sampled rows: %s — to override, copy "schema" from %s into a file, edit it '
            "and train with --schema FILE",
            inference.sample_rows,
            inference.summary(),
            Path(output_dir) / MANIFEST_FILE,
            extra={
                "fields": {
                    "id_column": schema.id_column,
                    "timestamp_column": schema.timestamp_column,
                    "timestamp_format": schema.timestamp_format if schema.timestamp_column else None,
                    "numeric": [f.name for f in schema.numeric],
                    "categorical": [f.name for f in schema.categorical],
                    "passthrough": list(schema.passthrough),
                }
            },
        )
    return inference.schema


def _refuse_to_overwrite(output_dir: Path) -> None:
    """A directory that already holds a model is someone's trained (maybe published) version: keep it."""
    for name in (MODEL_FILE, MANIFEST_FILE):
        if (output_dir / name).exists():
            raise JobError(
                ExitCode.USAGE,
                f"{output_dir} already holds {name} — pass --overwrite to replace it, or choose another --output",
            )


def training_lineage(input_path: str, inputs: Inputs, rows: int) -> dict[str, Any]:
    """What the model was trained on, for its manifest: the location, each object with its size and identity (the
    file's sha256 locally; S3's ETag and version id), and the rows used."""
    objects = []
    for item in inputs.objects:
        entry = item.to_dict()
        if not is_s3(item.url):
            entry["sha256"] = sha256_file(item.url)
        objects.append(entry)
    return {"location": input_path, "objects": objects, "rows": rows}


def train(
    input_path: str, version: str, output_dir: str | Path, schema_file: Path | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Fit on ``input_path`` (file, glob, directory or s3:// prefix) and save; returns the manifest.

    Refuses an ``output_dir`` that already holds a model unless ``overwrite``: a silent overwrite would replace a
    version someone may have published or validated."""
    check_version(version)
    if not overwrite:
        _refuse_to_overwrite(Path(output_dir))
    reset_clients()
    inputs = resolve_inputs(input_path)
    sources = check_headers(inputs.non_empty)  # without empty ones
    if not sources:
        raise JobError(
            ExitCode.USAGE, f"training input {input_path} is empty (no header, no rows) — train on data with rows"
        )
    schema = schema_for(sources, schema_file, output_dir)
    try:
        # malformed rows are not trained on (an exact field-count pass: training is not on the monthly clock)
        lf = scan_input(sources, storage_options(sources[0]), find_malformed(sources) or None)
        present = lf.collect_schema().names()
        missing = [name for name in schema.required_columns if name not in present]
        if missing:
            raise JobError(
                ExitCode.MISSING_COLUMNS,
                f"training input {_source_label(sources)} lacks the schema's columns {missing} (it has {present}) — "
                "fix the schema file or the input",
            )
        model = fit(lf, schema, version)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise read_failure(exc, sources) from None
    manifest = save_model(model, output_dir, training_lineage(input_path, inputs, model.training_rows))
    log.info(
        "trained model %s on %d rows -> %s (sha256 %s)",
        version,
        model.training_rows,
        output_dir,
        manifest["sha256"][:12],
    )
    return manifest
