"""``python -m job train``: fit a model from a CSV and write model.pkl + manifest.json."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from job.artifact import check_version, save_model
from job.fit import fit
from job.s3 import reset_clients, storage_options
from job.schema import Schema, infer_schema, load_schema
from job.sources import resolve_inputs
from job.transform import scan_input

log = logging.getLogger(__name__)


# Formats tried, in order, for an inferred timestamp column (the first that parses every sampled value wins).
TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
SAMPLE_ROWS = 1000


def timestamp_format(values: pl.Series) -> str | None:
    """The first of TIMESTAMP_FORMATS that parses all non-empty ``values``."""
    values = values.drop_nulls()
    for fmt in TIMESTAMP_FORMATS:
        parsed = values.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)
        if parsed.null_count() == 0:
            return fmt
    return None


def schema_for(sources: list[str], schema_file: Path | None) -> Schema:
    """The declared schema, or one inferred from the first input's header and a sample of rows."""
    if schema_file is not None:
        return load_schema(schema_file)
    options = storage_options(sources[0])
    sample = pl.scan_csv(sources[0], storage_options=options, try_parse_dates=True, infer_schema_length=SAMPLE_ROWS)
    dtypes = {name: str(dtype) for name, dtype in sample.collect_schema().items()}
    dates = [name for name, dtype in dtypes.items() if dtype.startswith(("Datetime", "Date"))]
    text = pl.scan_csv(sources[0], storage_options=options, infer_schema=False, n_rows=SAMPLE_ROWS).collect()
    formats = {name: fmt for name in dates if (fmt := timestamp_format(text[name])) is not None}
    return infer_schema(dtypes, [name for name in dates if name in formats], formats)


def train(input_path: str, version: str, output_dir: str | Path, schema_file: Path | None = None) -> dict[str, Any]:
    """Fit on ``input_path`` (file, glob, directory or s3:// prefix) and save; returns the manifest."""
    check_version(version)
    reset_clients()
    sources = resolve_inputs(input_path).urls
    schema = schema_for(sources, schema_file)
    model = fit(scan_input(sources, storage_options(sources[0])), schema, version)
    manifest = save_model(model, output_dir)
    log.info(
        "trained model %s on %d rows -> %s (sha256 %s)",
        version,
        model.training_rows,
        output_dir,
        manifest["sha256"][:12],
    )
    return manifest
