"""The preprocessing model: plain data, defined here so loading it needs no scikit-learn.

A pickled scikit-learn pipeline costs ~1.7 s of imports to load and ties the
container to sklearn's version; this frozen dataclass of floats and strings loads in
milliseconds and is applied as Polars expressions (job.transform). Fitting lives in
job.fit; this module only describes what was learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from job.schema import Schema

# Bumped when the pickled layout changes incompatibly; load_model refuses other values.
MODEL_FORMAT = 1


@dataclass(frozen=True)
class NumericParams:
    """What fit learned for one numeric feature: fill value, then (x - mean) / scale."""

    name: str
    median: float
    mean: float
    scale: float  # population standard deviation of the imputed column; 1.0 when it is 0
    # Training distribution for drift (job.drift): inner decile edges of the present values, and the share of
    # training rows per bin (len(edges) + 1) plus the share of empty cells. Empty in models trained before drift
    # statistics (their pickles lack the fields; the class defaults apply).
    edges: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()


@dataclass(frozen=True)
class CategoricalParams:
    """The vocabulary of one categorical feature, in output column order."""

    name: str
    categories: tuple[str, ...]
    # Training share per category, then one share for "other" (empty or outside the vocabulary); see NumericParams.
    shares: tuple[float, ...] = ()

    def column_names(self) -> list[str]:
        """Names of the one-hot output columns, ``<feature>__<value>``."""
        return [one_hot_name(self.name, value) for value in self.categories]


def one_hot_name(feature: str, value: str) -> str:
    """The output column for ``feature == value`` (scikit-learn writes ``feature_value``)."""
    return f"{feature}__{value}"


@dataclass(frozen=True)
class PreprocessingModel:
    """Everything the job needs to validate and transform a month of data."""

    version: str
    schema: Schema
    numeric: tuple[NumericParams, ...]
    categorical: tuple[CategoricalParams, ...]
    training_rows: int
    format: int = MODEL_FORMAT

    @property
    def output_columns(self) -> list[str]:
        """Columns of the processed Parquet, in order."""
        s = self.schema
        names = [c for c in (s.id_column, s.timestamp_column) if c is not None]
        names += [p.name for p in self.numeric]
        for params in self.categorical:
            names += params.column_names()
        return names + list(s.passthrough)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (manifests, validation reports, `dsctl model show`)."""
        return {
            "version": self.version,
            "format": self.format,
            "training_rows": self.training_rows,
            "numeric": {p.name: {"median": p.median, "mean": p.mean, "scale": p.scale} for p in self.numeric},
            "categorical": {p.name: list(p.categories) for p in self.categorical},
            # training distributions for drift (job.drift); absent from models trained before drift statistics
            "drift_baseline": {
                **{p.name: {"edges": list(p.edges), "shares": list(p.shares)} for p in self.numeric if p.shares},
                **{p.name: {"shares": list(p.shares)} for p in self.categorical if p.shares},
            },
        }
