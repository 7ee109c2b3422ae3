"""Fitting the model with lazy Polars aggregations (training data may exceed memory).

The statistics match scikit-learn's SimpleImputer(strategy="median") followed by
StandardScaler: the scaler sees the *imputed* column, so its mean and population
variance are derived from the non-null statistics plus the imputed rows, in one pass
and without materialising the column. Rows the schema rejects are not trained on.
"""

from __future__ import annotations

import math
from dataclasses import replace

import polars as pl

from job.drift import categorical_shares, count_exprs, edges_from, numeric_shares, quantile_exprs
from job.errors import ExitCode, JobError
from job.model import CategoricalParams, NumericParams, PreprocessingModel, one_hot_name
from job.schema import Schema
from job.transform import ANNOTATION, NUM_PREFIX, annotate


def imputed_moments(n: int, nulls: int, median: float, mean: float, var: float) -> tuple[float, float]:
    """Mean and population variance of a column after its nulls are replaced by ``median``.

    ``mean``/``var`` are over the ``n - nulls`` present values (population variance).
    Uses the exact decomposition of the variance of a union, not sum-of-squares, so it
    stays accurate for large values.
    """
    present = n - nulls
    mean_all = (present * mean + nulls * median) / n
    spread = present * var + present * (mean - mean_all) ** 2 + nulls * (median - mean_all) ** 2
    return mean_all, spread / n


def _numeric_aggs(schema: Schema) -> list[pl.Expr]:
    aggs: list[pl.Expr] = [pl.len().alias("__rows")]
    for f in schema.numeric:
        col = pl.col(NUM_PREFIX + f.name)
        aggs += [
            col.median().alias(f"{f.name}|median"),
            col.mean().alias(f"{f.name}|mean"),
            col.var(ddof=0).alias(f"{f.name}|var"),
            col.null_count().alias(f"{f.name}|nulls"),
            *quantile_exprs(NUM_PREFIX + f.name, f.name),
        ]
    return aggs


def fit(lf: pl.LazyFrame, schema: Schema, version: str) -> PreprocessingModel:
    """Learn medians, scaling and vocabularies from the valid rows of a raw (all-text) scan."""
    valid = annotate(lf, schema).filter(pl.col(ANNOTATION).is_null())
    queries = [valid.select(_numeric_aggs(schema))]
    for cat in schema.categorical:
        counts = valid.group_by(pl.col(cat.name)).agg(pl.len().alias("n")).drop_nulls(cat.name)
        queries.append(counts.sort(["n", cat.name], descending=[True, False]).head(cat.max_categories))
    stats, *vocab_frames = pl.collect_all(queries, engine="streaming")
    row = stats.row(0, named=True)
    rows = int(row["__rows"])
    if rows == 0:
        raise JobError(ExitCode.USAGE, "training data has no valid rows — check the file and the schema's bounds")
    numeric = []
    for f in schema.numeric:
        median = row[f"{f.name}|median"]
        if median is None:
            raise JobError(ExitCode.USAGE, f"numeric feature {f.name!r} has no values in the training data — drop it")
        nulls = int(row[f"{f.name}|nulls"])
        mean, var = imputed_moments(rows, nulls, median, row[f"{f.name}|mean"], row[f"{f.name}|var"])
        std = math.sqrt(var)
        edges = edges_from(row, f.name)
        numeric.append(NumericParams(f.name, float(median), float(mean), std if std > 0 else 1.0, edges))
    categorical = []
    taken = set(schema.required_columns)
    for cat, frame in zip(schema.categorical, vocab_frames, strict=True):
        values = tuple(sorted(str(v) for v in frame[cat.name].to_list()))
        clashes = {one_hot_name(cat.name, v) for v in values} & taken
        if clashes:
            raise JobError(ExitCode.USAGE, f"one-hot columns {sorted(clashes)} clash with input columns — rename them")
        categorical.append(CategoricalParams(cat.name, values))
    model = PreprocessingModel(version, schema, tuple(numeric), tuple(categorical), rows)
    return with_baseline(model, valid)


def with_baseline(model: PreprocessingModel, valid: pl.LazyFrame) -> PreprocessingModel:
    """The model with its training distribution per feature (job.drift), from a second pass over the valid rows."""
    counts = valid.select(count_exprs(model, NUM_PREFIX + "{}")).collect(engine="streaming").row(0, named=True)
    rows = model.training_rows
    numeric = tuple(replace(p, shares=numeric_shares(counts, p.name, p.edges, rows)) for p in model.numeric)
    categorical = tuple(
        replace(c, shares=categorical_shares(counts, c.name, c.categories, rows)) for c in model.categorical
    )
    return replace(model, numeric=numeric, categorical=categorical)
