"""``python -m job train``: fit a model from a CSV and write model.pkl + manifest.json."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from job.artifact import check_version, save_model
from job.fit import fit
from job.schema import Schema, infer_schema, load_schema
from job.sources import resolve_inputs, storage_options
from job.transform import scan_input

log = logging.getLogger(__name__)


def schema_for(sources: list[str], schema_file: Path | None) -> Schema:
    """The declared schema, or one inferred from the first input's header and sample."""
    if schema_file is not None:
        return load_schema(schema_file)
    sample = pl.scan_csv(sources[0], storage_options=storage_options(sources[0]), try_parse_dates=True)
    dtypes = {name: str(dtype) for name, dtype in sample.collect_schema().items()}
    dates = [name for name, dtype in dtypes.items() if dtype.startswith(("Datetime", "Date"))]
    return infer_schema(dtypes, dates)


def train(input_path: str, version: str, output_dir: str | Path, schema_file: Path | None = None) -> dict[str, Any]:
    """Fit on ``input_path`` (file, glob, directory or s3:// prefix) and save; returns the manifest."""
    check_version(version)
    sources = resolve_inputs(input_path).urls
    schema = schema_for(sources, schema_file)
    model = fit(scan_input(sources, schema, storage_options(sources[0])), schema, version)
    manifest = save_model(model, output_dir)
    log.info(
        "trained model %s on %d rows -> %s (sha256 %s)",
        version,
        model.training_rows,
        output_dir,
        manifest["sha256"][:12],
    )
    return manifest
