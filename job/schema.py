"""The input schema: which CSV columns the job needs and what each one means.

The schema is data (it travels inside the model and its manifest), not code, so a
model trained on another dataset brings its own columns, bounds and timestamp format
and the same job handles it. ``schema_from_dict`` reports every problem of a schema
file at once, because a data scientist editing one wants the whole list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from job.errors import ExitCode, JobError

UnknownPolicy = Literal["ignore", "reject"]
UNKNOWN_POLICIES: tuple[str, ...] = ("ignore", "reject")
IdType = Literal["string", "integer"]
ID_TYPES: tuple[str, ...] = ("string", "integer")

# ISO 8601 without zone, what the demo's monthly export writes.
DEFAULT_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class NumericFeature:
    """A numeric feature: median-imputed, standard-scaled; values outside [min, max] reject the row."""

    name: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class CategoricalFeature:
    """A categorical feature, one-hot encoded over the vocabulary learned at fit time.

    ``unknown`` says what happens to a value outside the vocabulary (or missing):
    ``ignore`` encodes it as all zeros (scikit-learn's ``handle_unknown="ignore"``),
    ``reject`` sends the row to ``rejected/`` with reason ``unknown_category:<name>``.
    ``max_categories`` keeps the most frequent values so a free-text column cannot
    explode the output width.
    """

    name: str
    unknown: UnknownPolicy = "ignore"
    max_categories: int = 100


@dataclass(frozen=True)
class Schema:
    """Columns the job requires and how each is validated and transformed."""

    id_column: str | None
    timestamp_column: str | None
    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]
    timestamp_format: str = DEFAULT_TIMESTAMP_FORMAT
    passthrough: tuple[str, ...] = field(default_factory=tuple)
    # "integer": ids are written as Int64 (half the bytes of text, and they sort and join as numbers); a value that
    # is not an integer rejects its row (not_an_integer:<id column>). Models pickled before this field existed read
    # the class default, "string", which is what they wrote.
    id_type: IdType = "string"
    # PSI at or above this marks a feature as drifted (job.drift); 0.2 is the usual "significant shift" mark.
    drift_threshold: float = 0.2

    @property
    def required_columns(self) -> list[str]:
        """Every column the CSV must have, in output order."""
        names = [self.id_column, self.timestamp_column]
        names += [f.name for f in self.numeric] + [f.name for f in self.categorical] + list(self.passthrough)
        return [n for n in names if n is not None]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (used in manifests and schema files)."""
        return asdict(self)


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _numeric_feature(raw: Any, errors: list[str]) -> NumericFeature | None:
    if isinstance(raw, str):
        return NumericFeature(raw)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        errors.append(f"numeric: {raw!r} — each entry needs a string 'name'; write {{'name': 'amount', 'min': 0}}")
        return None
    unknown = set(raw) - {"name", "min", "max"}
    if unknown:
        errors.append(f"numeric {raw['name']}: unknown keys {sorted(unknown)} — allowed: name, min, max")
    lo, hi = raw.get("min"), raw.get("max")
    if not (_number_or_none(lo) and _number_or_none(hi)):
        errors.append(f"numeric {raw['name']}: min/max must be numbers or null")
        return None
    if lo is not None and hi is not None and lo > hi:
        errors.append(f"numeric {raw['name']}: min {lo} > max {hi} — swap them")
    return NumericFeature(raw["name"], None if lo is None else float(lo), None if hi is None else float(hi))


def _categorical_feature(raw: Any, errors: list[str]) -> CategoricalFeature | None:
    if isinstance(raw, str):
        return CategoricalFeature(raw)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        errors.append(f"categorical: {raw!r} — each entry needs a string 'name'; write {{'name': 'region'}}")
        return None
    unknown = set(raw) - {"name", "unknown", "max_categories"}
    if unknown:
        allowed = "name, unknown, max_categories"
        errors.append(f"categorical {raw['name']}: unknown keys {sorted(unknown)} — allowed: {allowed}")
    policy = raw.get("unknown", "ignore")
    if policy not in UNKNOWN_POLICIES:
        errors.append(f"categorical {raw['name']}: unknown={policy!r} — use one of {list(UNKNOWN_POLICIES)}")
        return None
    limit = raw.get("max_categories", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        errors.append(f"categorical {raw['name']}: max_categories={limit!r} — use a positive integer")
        return None
    return CategoricalFeature(raw["name"], policy, limit)


def schema_from_dict(raw: Mapping[str, Any]) -> Schema:
    """Build a Schema from its JSON form, reporting all problems at once (exit code USAGE)."""
    errors: list[str] = []
    allowed = {"id_column", "id_type", "timestamp_column", "timestamp_format", "numeric", "categorical", "passthrough"}
    allowed.add("drift_threshold")
    extra = set(raw) - allowed
    if extra:
        errors.append(f"schema: unknown keys {sorted(extra)} — allowed: {sorted(allowed)}")
    id_column, ts_column = raw.get("id_column"), raw.get("timestamp_column")
    for key, value in (("id_column", id_column), ("timestamp_column", ts_column)):
        if value is not None and not isinstance(value, str):
            errors.append(f"schema {key}: {value!r} — must be a column name or null")
    id_type = raw.get("id_type", "string")
    if id_type not in ID_TYPES:
        errors.append(f"schema id_type: {id_type!r} — use one of {list(ID_TYPES)}")
    elif id_type == "integer" and not isinstance(id_column, str):
        errors.append("schema id_type: 'integer' needs an id_column — name it, or drop id_type")
    threshold = raw.get("drift_threshold", 0.2)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold <= 0:
        errors.append(f"schema drift_threshold: {threshold!r} — use a positive PSI, e.g. 0.2")
        threshold = 0.2
    ts_format = raw.get("timestamp_format", DEFAULT_TIMESTAMP_FORMAT)
    if not isinstance(ts_format, str) or "%" not in ts_format:
        errors.append(f"schema timestamp_format: {ts_format!r} — use a strftime pattern such as '%Y-%m-%d %H:%M:%S'")
    numeric_raw, categorical_raw = raw.get("numeric", []), raw.get("categorical", [])
    passthrough = raw.get("passthrough", [])
    if not isinstance(numeric_raw, list) or not isinstance(categorical_raw, list):
        errors.append("schema: 'numeric' and 'categorical' must be lists")
        numeric_raw, categorical_raw = [], []
    if not _str_list(passthrough):
        errors.append("schema passthrough: must be a list of column names")
        passthrough = []
    numeric = [f for f in (_numeric_feature(r, errors) for r in numeric_raw) if f is not None]
    categorical = [f for f in (_categorical_feature(r, errors) for r in categorical_raw) if f is not None]
    if not numeric and not categorical:
        errors.append("schema: no features — declare at least one numeric or categorical column")
    schema = Schema(
        id_column=id_column if isinstance(id_column, str) else None,
        timestamp_column=ts_column if isinstance(ts_column, str) else None,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        timestamp_format=ts_format if isinstance(ts_format, str) else DEFAULT_TIMESTAMP_FORMAT,
        passthrough=tuple(passthrough),
        id_type="integer" if id_type == "integer" and isinstance(id_column, str) else "string",
        drift_threshold=float(threshold),
    )
    names = schema.required_columns
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.append(f"schema: columns {duplicates} are declared more than once — each column has one role")
    if errors:
        raise JobError(ExitCode.USAGE, "invalid schema: " + "; ".join(errors))
    return schema


def load_schema(path: Path) -> Schema:
    """Read a schema JSON file (see docs/job.md for the format)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise JobError(ExitCode.USAGE, f"schema file {path} not found — pass an existing --schema file") from None
    except json.JSONDecodeError as exc:
        raise JobError(ExitCode.USAGE, f"schema file {path} is not valid JSON ({exc}) — fix the file") from None
    if not isinstance(raw, dict):
        raise JobError(ExitCode.USAGE, f"schema file {path} must hold a JSON object")
    return schema_from_dict(raw)


# The demo's synthetic monthly data (job.synthetic writes it).
DEFAULT_SCHEMA = Schema(
    id_column="id",
    timestamp_column="timestamp",
    numeric=(
        NumericFeature("amount", min=0.0, max=1_000_000.0),
        NumericFeature("quantity", min=0.0, max=10_000.0),
        NumericFeature("score"),
    ),
    categorical=(CategoricalFeature("category"), CategoricalFeature("region"), CategoricalFeature("channel")),
    id_type="integer",
)
