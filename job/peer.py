"""The peer: the same preprocessing written the way most teams would, with pandas + scikit-learn.

Only the benchmark (and a test) use it, to show what the Polars job is measured
against and that both compute the same numbers (to 1e-9). It implements the rules
independently from job.transform: pandas parsing, a ColumnTransformer with
SimpleImputer(median) + StandardScaler for numerics and OneHotEncoder for categories.
Not part of the container image (see .dockerignore).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from job.schema import Schema


def _read(path: str, schema: Schema) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], usecols=schema.required_columns)


def valid_rows(frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, pd.Series]:
    """Parse the schema's columns and keep rows that break no rule; returns (parsed valid rows, timestamps)."""
    ok = pd.Series(True, index=frame.index)
    parsed = frame.copy()
    if schema.id_column:
        ok &= frame[schema.id_column].notna()
        if schema.id_type == "integer":
            ids = frame[schema.id_column]
            ok &= ids.str.fullmatch(r"[+-]?\d+").fillna(False).astype(bool)
            parsed[schema.id_column] = pd.to_numeric(ids.where(ok), errors="coerce").astype("Int64")
    timestamps = pd.Series(pd.NaT, index=frame.index)
    if schema.timestamp_column:
        timestamps = pd.to_datetime(frame[schema.timestamp_column], format=schema.timestamp_format, errors="coerce")
        ok &= timestamps.notna()
    for feature in schema.numeric:
        raw = frame[feature.name]
        values = pd.to_numeric(raw, errors="coerce")
        ok &= ~(raw.notna() & values.isna()) & ~np.isinf(values)
        if feature.min is not None:
            ok &= ~(values < feature.min)
        if feature.max is not None:
            ok &= ~(values > feature.max)
        parsed[feature.name] = values
    return parsed[ok], timestamps[ok]


def fit_peer(train_csv: str, schema: Schema) -> ColumnTransformer:
    """Fit the ColumnTransformer on the valid training rows."""
    frame, _ = valid_rows(_read(train_csv, schema), schema)
    numeric = [f.name for f in schema.numeric]
    categorical = [c.name for c in schema.categorical]
    vocab = [sorted(frame[c].dropna().unique()) for c in categorical]
    transformer = ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            (
                "cat",
                OneHotEncoder(categories=vocab, handle_unknown="ignore", sparse_output=False, dtype=np.uint8),
                categorical,
            ),
        ]
    )
    transformer.fit(frame[numeric + categorical].fillna({c: "" for c in categorical}))
    return transformer


def run_peer(input_csv: str, output_parquet: str, schema: Schema, transformer: ColumnTransformer) -> dict[str, Any]:
    """Transform a month and write Parquet; returns row counts."""
    raw = _read(input_csv, schema)
    frame, timestamps = valid_rows(raw, schema)
    numeric = [f.name for f in schema.numeric]
    categorical = [c.name for c in schema.categorical]
    values = transformer.transform(frame[numeric + categorical].fillna({c: "" for c in categorical}))
    names = numeric + [
        f"{c}__{v}"
        for c, cats in zip(categorical, transformer.named_transformers_["cat"].categories_, strict=True)
        for v in cats
    ]
    out = pd.DataFrame(values, columns=names, index=frame.index)
    for name in names[len(numeric) :]:
        out[name] = out[name].astype(bool)
    if schema.timestamp_column:
        out.insert(0, schema.timestamp_column, timestamps)
    if schema.id_column:
        out.insert(0, schema.id_column, frame[schema.id_column])
    out.to_parquet(output_parquet, index=False)
    return {"rows_in": len(raw), "rows_out": len(out), "rows_rejected": len(raw) - len(out)}


def max_difference(job_parquet: str, peer_parquet: str) -> float:
    """Largest absolute difference between job and peer outputs; raises if rows or columns differ.

    Streams both files side by side (Polars lazy), so it also works on a full month.
    """
    job, peer = pl.scan_parquet(job_parquet), pl.scan_parquet(peer_parquet)
    columns = job.collect_schema().names()
    if columns != peer.collect_schema().names():
        raise AssertionError(f"columns differ: {columns} vs {peer.collect_schema().names()}")
    both = pl.concat([job, peer.rename({c: f"peer:{c}" for c in columns})], how="horizontal")
    checks = []
    for name, dtype in job.collect_schema().items():
        left, right = pl.col(name), pl.col(f"peer:{name}")
        if dtype.is_numeric():
            checks.append((left.cast(pl.Float64) - right.cast(pl.Float64)).abs().max().alias(name))
        else:  # ids and timestamps must be identical
            checks.append((left.cast(pl.String) != right.cast(pl.String)).sum().cast(pl.Float64).alias(name))
    counts = both.select(
        pl.len().alias("rows"),
        pl.col(columns[0]).count().alias("job"),
        pl.col(f"peer:{columns[0]}").count().alias("peer"),
    )
    sizes = counts.collect().row(0, named=True)
    if sizes["job"] != sizes["peer"]:
        raise AssertionError(f"row counts differ: job {sizes['job']}, peer {sizes['peer']}")
    diffs = both.select(checks).collect(engine="streaming").row(0, named=True)
    return max((float(v or 0.0) for v in diffs.values()), default=0.0)
