"""Drift: this month's distribution of each feature against training's, as a population stability index (PSI).

Training stores, per numeric feature, quantile bin edges and the share of training rows
in each bin (plus the share of empty cells), and per categorical feature the share of
each vocabulary value (plus one "other" share: empty or outside the vocabulary). A run
counts the same buckets over its valid rows inside its one streaming pass (cumulative
``value <= edge`` counts: one comparison and one sum per edge), and

    PSI = sum over buckets of (actual - expected) * ln(actual / expected)

with each share floored at SHARE_FLOOR so an empty bucket stays finite. A feature whose
PSI reaches the schema's ``drift_threshold`` (default 0.2, the usual "significant
shift" mark) has drifted. Models trained before drift statistics existed have no
baseline: drift is then reported as unavailable, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from job.model import PreprocessingModel

BINS = 10  # quantile bins per numeric feature (deciles)
SHARE_FLOOR = 1e-4
DEFAULT_THRESHOLD = 0.2
_SEP = "|"


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` shares against ``expected`` ones (same buckets)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, SHARE_FLOOR), max(a, SHARE_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def quantile_exprs(column: str, feature: str) -> list[pl.Expr]:
    """The inner decile edges of a parsed numeric column (training)."""
    return [
        pl.col(column).quantile(i / BINS, interpolation="linear").alias(f"{feature}{_SEP}q{i}") for i in range(1, BINS)
    ]


def edges_from(row: Mapping[str, Any], feature: str) -> tuple[float, ...]:
    """Distinct, sorted edges from the quantile row (ties of a discrete feature collapse bins)."""
    values = [row[f"{feature}{_SEP}q{i}"] for i in range(1, BINS)]
    return tuple(sorted({float(v) for v in values if v is not None}))


def numeric_count_exprs(column: str, feature: str, edges: Sequence[float], mask: pl.Expr) -> list[pl.Expr]:
    """Cumulative counts ``value <= edge`` per edge, and the count of empty cells, of a parsed numeric column."""
    col = pl.col(column)
    exprs = [(mask & (col <= edge)).sum().alias(f"{feature}{_SEP}le{i}") for i, edge in enumerate(edges)]
    return [*exprs, (mask & col.is_null()).sum().alias(f"{feature}{_SEP}null")]


def numeric_shares(row: Mapping[str, Any], feature: str, edges: Sequence[float], rows: int) -> tuple[float, ...]:
    """Shares per bin (len(edges) + 1 of them) and of empty cells, from ``numeric_count_exprs``'s counts."""
    if rows == 0:
        return ()
    cumulative = [int(row[f"{feature}{_SEP}le{i}"]) for i in range(len(edges))]
    nulls = int(row[f"{feature}{_SEP}null"])
    present = rows - nulls
    bounds = [0, *cumulative, present]
    return (*((bounds[i + 1] - bounds[i]) / rows for i in range(len(bounds) - 1)), nulls / rows)


def categorical_count_exprs(column: str, feature: str, categories: Sequence[str], mask: pl.Expr) -> list[pl.Expr]:
    """Count per vocabulary value, and of non-empty values (the unseen ones are those minus the known)."""
    col = pl.col(column)
    exprs = [(mask & (col == value)).sum().alias(f"{feature}{_SEP}v{i}") for i, value in enumerate(categories)]
    return [*exprs, (mask & col.is_not_null()).sum().alias(f"{feature}{_SEP}present")]


def categorical_shares(row: Mapping[str, Any], feature: str, categories: Sequence[str], rows: int) -> tuple[float, ...]:
    """Share per vocabulary value and one "other" share (empty or unseen)."""
    if rows == 0:
        return ()
    known = [int(row[f"{feature}{_SEP}v{i}"]) for i in range(len(categories))]
    return (*(k / rows for k in known), (rows - sum(known)) / rows)


def has_baseline(model: PreprocessingModel) -> bool:
    """Whether the model stores training distributions (models trained before drift statistics do not)."""
    features = [*model.numeric, *model.categorical]
    return bool(features) and all(getattr(p, "shares", ()) for p in features)


def count_exprs(model: PreprocessingModel, numeric_column: str, mask: pl.Expr | None = None) -> list[pl.Expr]:
    """Every bucket count of the model's features over the rows where ``mask`` holds (all rows when None).

    Masked sums inside the run's one aggregation over the annotated scan, not a query of
    their own: a separate query over the valid rows re-parses and re-validates every row
    (measured: +70 % CPU on 2M demo rows), the masked sums add a few percent.
    """
    mask = pl.lit(True) if mask is None else mask
    exprs: list[pl.Expr] = [mask.sum().alias(f"{_SEP}rows")]
    for p in model.numeric:
        exprs += numeric_count_exprs(numeric_column.format(p.name), p.name, p.edges, mask)
    for c in model.categorical:
        exprs += categorical_count_exprs(c.name, c.name, c.categories, mask)
    return exprs


def measure(model: PreprocessingModel, counts: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drift of this run's valid rows (``counts`` from ``count_exprs``) against the model's training shares."""
    threshold = model.schema.drift_threshold
    if counts is None or not has_baseline(model):
        return {
            "available": False,
            "reason": f"model {model.version} has no training distributions (trained before drift statistics) — "
            "retrain it to measure drift",
        }
    rows = int(counts[f"{_SEP}rows"])
    features: dict[str, dict[str, Any]] = {}
    for p in model.numeric:
        actual = numeric_shares(counts, p.name, p.edges, rows)
        features[p.name] = {"kind": "numeric", "expected": list(p.shares), "actual": list(actual)}
    for c in model.categorical:
        actual = categorical_shares(counts, c.name, c.categories, rows)
        known = sum(int(counts[f"{c.name}{_SEP}v{i}"]) for i in range(len(c.categories)))
        unseen = (int(counts[f"{c.name}{_SEP}present"]) - known) / rows if rows else 0.0
        features[c.name] = {"kind": "categorical", "expected": list(c.shares), "actual": list(actual)}
        features[c.name]["unseen_share"] = unseen
    for feature in features.values():
        value = psi(feature["expected"], feature["actual"]) if rows else 0.0
        feature["psi"] = round(value, 6)
        feature["drifted"] = bool(rows) and value >= threshold
    drifted = [name for name, f in features.items() if f["drifted"]]
    return {
        "available": True,
        "rows": rows,
        "threshold": threshold,
        "max_psi": max((f["psi"] for f in features.values()), default=0.0),
        "drifted_features": drifted,
        "features": features,
    }


def summary_line(drift: Mapping[str, Any]) -> str:
    """One line for logs and reports."""
    if not drift.get("available"):
        return f"drift unavailable: {drift.get('reason')}"
    drifted = drift["drifted_features"]
    state = f"DRIFTED: {', '.join(drifted)}" if drifted else "no feature drifted"
    return f"{state} (max PSI {drift['max_psi']:.3f}, threshold {drift['threshold']}, {drift['rows']} valid rows)"
