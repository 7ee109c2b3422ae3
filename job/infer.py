"""Schema inference for ``train`` without ``--schema``: roles from a sample of rows, robust to bad cells.

Every rule looks at the first SAMPLE_ROWS rows of the input as text, exactly as the run
reads them, and asks the run's own questions: does the cell parse as a finite number
(``parse_number``), as a timestamp in one of TIMESTAMP_FORMATS (exact, like
``parse_timestamp``)? A column is numeric or a timestamp when a *large majority* of its
non-empty sampled values parse; the rest become ``not_a_number:<col>`` or
``unparseable_timestamp`` rejections at run time instead of turning the column into text.
The rules, in order (docs/job.md, "Schema inference"):

1. the demo's columns -> the demo schema (``DEFAULT_SCHEMA``, with its bounds);
2. a column empty in every sampled row -> passthrough;
3. id: a column named ``id``; else the first column with an id-like name (``*_id``,
   ``* id``, ``*-id``, camelCase ``*Id``/``*ID``) whose values are all distinct, else the
   first id-like name; other id-like columns are passthrough (an identifier is no feature);
   an id whose sampled values are all canonical integers is typed ``integer`` (Int64);
4. timestamp: among columns where a large majority parses with one format, the first
   whose name contains ``time``/``date`` or the word ``ts``, else the first; the other
   timestamp-like columns are passthrough;
5. numeric: a large majority of the values are finite numbers;
6. text: with no id yet, the first text column whose values are all distinct keys (at least
   MIN_UNIQUE_VALUES of them, no whitespace, at most MAX_ID_LENGTH characters, non-empty
   in >= 90 % of rows) is the id; a text column with
   more than MAX_CATEGORIES distinct values, or nearly unique (>= 90 % distinct, at least
   MIN_UNIQUE_VALUES values) -> passthrough; the rest categorical.

"Large majority": at least 90 % of the non-empty sampled values, or all but one of at
least four (so one bad cell cannot decide a small file either).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from job.errors import ExitCode, JobError
from job.ragged import Malformed
from job.schema import DEFAULT_SCHEMA, CategoricalFeature, Schema, schema_from_dict
from job.transform import parse_integer, parse_number, scan_input

# Formats tried for a timestamp column; the one that parses the most sampled values wins (ties: this order, so the
# fast ISO format beats its ``%.f`` twin when there are no fractions).
TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%#z",  # offset or "Z" (ISO 8601 / RFC 3339): parsed to UTC
    "%Y-%m-%dT%H:%M:%S%.f%#z",  # the same with fractions, e.g. JavaScript's toISOString() "…T10:00:00.000Z"
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
SAMPLE_ROWS = 10_000  # text rows read for inference (~20 ms for a 10-column file)
MAJORITY_PERCENT = 90  # share of non-empty sampled values that must parse
MIN_UNIQUE_VALUES = 10  # values needed before "all distinct" means id / "nearly unique" means passthrough
MAX_ID_LENGTH = 64  # an id found by uniqueness is a key: no whitespace, at most this long (free text is not)
MAX_CATEGORIES = CategoricalFeature.max_categories  # more distinct sampled values than this: passthrough


@dataclass(frozen=True)
class ColumnProfile:
    """What the sample says about one column."""

    name: str
    rows: int  # sampled rows
    values: int  # non-empty cells
    distinct: int  # distinct non-empty values
    numbers: int  # cells that are finite numbers
    integers: int  # cells that are integers written canonically ("12", "-3"; not "012", "1.0", "+4")
    tokens: int  # cells that look like a key: no whitespace, at most MAX_ID_LENGTH characters
    timestamp_format: str | None  # the format parsing the most cells (None when none parses any)
    timestamps: int  # cells parsing with timestamp_format


@dataclass(frozen=True)
class Inference:
    """The inferred schema, what the sample looked like and why each notable column got its role."""

    schema: Schema
    sample_rows: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    demo: bool = False

    def summary(self) -> str:
        """One line: every role."""
        s = self.schema
        ts = f"{s.timestamp_column} ({s.timestamp_format})" if s.timestamp_column else None

        def names(items: Sequence[str]) -> str:
            return ", ".join(items) if items else "-"

        return (
            f"id={s.id_column or '-'}; timestamp={ts or '-'}; numeric={names([f.name for f in s.numeric])}; "
            f"categorical={names([f.name for f in s.categorical])}; passthrough={names(s.passthrough)}"
        )


def read_sample(sources: Sequence[str], storage_options: dict[str, str] | None = None) -> pl.DataFrame:
    """The first SAMPLE_ROWS rows of the inputs, every column as text (what the run sees; surplus fields dropped)."""
    return scan_input(sources, storage_options, Malformed()).head(SAMPLE_ROWS).collect()


def looks_like_id(name: str) -> bool:
    """``id``, ``*_id``, ``* id``, ``*-id``, ``*.id`` (any case) or camelCase ``customerId``/``customerID``."""
    lower = name.strip().lower()
    if lower == "id" or lower.endswith(("_id", " id", "-id", ".id")):
        return True
    return len(name) > 2 and name.endswith(("Id", "ID")) and (name[-3].islower() or name[-3].isdigit())


def time_named(name: str) -> bool:
    """The name says time: contains ``time`` or ``date``, or has the word ``ts`` (``event_ts``, ``eventTs``)."""
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return "time" in name.lower() or "date" in name.lower() or "ts" in words


def large_majority(good: int, values: int) -> bool:
    """At least MAJORITY_PERCENT of ``values`` are good, or all but one of at least four."""
    return good > 0 and (100 * good >= MAJORITY_PERCENT * values or (good == values - 1 and good >= 3))


def profile(sample: pl.DataFrame) -> list[ColumnProfile]:
    """One aggregation over the sample: counts, distinct values, numbers and timestamp parses per column."""
    sample = sample.select(pl.all().cast(pl.String))
    exprs: list[pl.Expr] = []
    for i, name in enumerate(sample.columns):
        col = pl.col(name)
        exprs += [
            col.count().alias(f"{i}|values"),
            col.drop_nulls().n_unique().alias(f"{i}|distinct"),
            parse_number(name).is_finite().sum().alias(f"{i}|numbers"),
            (parse_integer(name).cast(pl.String) == col).sum().alias(f"{i}|integers"),
            col.str.contains(rf"^\S{{1,{MAX_ID_LENGTH}}}$").sum().alias(f"{i}|tokens"),
        ]
        for j, fmt in enumerate(TIMESTAMP_FORMATS):
            parsed = col.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)
            exprs.append(parsed.count().alias(f"{i}|ts{j}"))
    row = sample.select(exprs).row(0, named=True) if exprs else {}
    profiles = []
    for i, name in enumerate(sample.columns):
        counts = [int(row[f"{i}|ts{j}"]) for j in range(len(TIMESTAMP_FORMATS))]
        best = max(range(len(counts)), key=lambda j: (counts[j], -j))
        profiles.append(
            ColumnProfile(
                name=name,
                rows=sample.height,
                values=int(row[f"{i}|values"]),
                distinct=int(row[f"{i}|distinct"]),
                numbers=int(row[f"{i}|numbers"]),
                integers=int(row[f"{i}|integers"]),
                tokens=int(row[f"{i}|tokens"]),
                timestamp_format=TIMESTAMP_FORMATS[best] if counts[best] else None,
                timestamps=counts[best],
            )
        )
    return profiles


def _choose_id(present: list[ColumnProfile]) -> ColumnProfile | None:
    named = [p for p in present if looks_like_id(p.name)]
    exact = [p for p in named if p.name.strip().lower() == "id"]
    unique = [p for p in named if p.distinct == p.values]
    chosen = exact or unique or named
    return chosen[0] if chosen else None


def _unique_enough(p: ColumnProfile) -> bool:
    """All values distinct keys (no whitespace), enough of them to mean it, (nearly) always present: an id."""
    distinct_keys = p.distinct == p.values == p.tokens >= MIN_UNIQUE_VALUES
    return distinct_keys and 100 * p.values >= MAJORITY_PERCENT * p.rows


def infer_schema(sample: pl.DataFrame) -> Inference:
    """Infer a schema from sampled text rows (see the module docstring for the rules)."""
    if set(DEFAULT_SCHEMA.required_columns) <= set(sample.columns):
        return Inference(DEFAULT_SCHEMA, sample.height, ("the input has the demo columns: the demo schema",), True)
    if sample.height == 0:
        raise JobError(
            ExitCode.USAGE,
            f"training input has a header ({', '.join(sample.columns)}) but no rows to infer a schema from — "
            "train on data with rows, or pass --schema",
        )
    profiles = profile(sample)
    notes: list[str] = []
    passthrough: set[str] = set()
    for p in profiles:
        if p.values == 0:
            passthrough.add(p.name)
            notes.append(f"{p.name}: empty in all {p.rows} sampled rows -> passthrough")
    present = [p for p in profiles if p.name not in passthrough]

    id_profile = _choose_id(present)
    for p in present:
        if p is not id_profile and looks_like_id(p.name):
            passthrough.add(p.name)
            notes.append(f"{p.name}: an identifier-like name but not the id column -> passthrough")

    def is_timestamp(p: ColumnProfile) -> bool:
        return p.timestamp_format is not None and large_majority(p.timestamps, p.values)

    free = [p for p in present if p is not id_profile and p.name not in passthrough]
    candidates = [p for p in free if is_timestamp(p)]
    ts_profile = min(candidates, key=lambda p: not time_named(p.name)) if candidates else None  # min: first of ties
    for p in candidates:
        if p is not ts_profile:
            passthrough.add(p.name)
            assert ts_profile is not None
            notes.append(f"{p.name}: also timestamps ({p.timestamp_format}), {ts_profile.name} chosen -> passthrough")
    if ts_profile is not None and ts_profile.timestamps < ts_profile.values:
        notes.append(
            f"{ts_profile.name}: {ts_profile.values - ts_profile.timestamps} of {ts_profile.values} sampled values "
            f"are not {ts_profile.timestamp_format}; such rows are rejected as unparseable_timestamp"
        )

    numeric: list[str] = []
    categorical: list[str] = []
    for p in free:
        if p is ts_profile or p.name in passthrough:
            continue
        if large_majority(p.numbers, p.values):
            numeric.append(p.name)
            if p.numbers < p.values:
                notes.append(
                    f"{p.name}: {p.values - p.numbers} of {p.values} sampled values are not finite numbers; "
                    f"such rows are rejected as not_a_number:{p.name} / not_finite:{p.name}"
                )
        elif id_profile is None and _unique_enough(p):
            id_profile = p
            notes.append(f"{p.name}: all {p.values} sampled values distinct -> id")
        elif p.distinct > MAX_CATEGORIES or (p.values >= MIN_UNIQUE_VALUES and 10 * p.distinct >= 9 * p.values):
            passthrough.add(p.name)
            notes.append(f"{p.name}: {p.distinct} distinct of {p.values} sampled values -> passthrough, not one-hot")
        else:
            categorical.append(p.name)

    spec: dict[str, Any] = {
        "id_column": id_profile.name if id_profile else None,
        "timestamp_column": ts_profile.name if ts_profile else None,
        "numeric": numeric,
        "categorical": categorical,
        "passthrough": [p.name for p in profiles if p.name in passthrough],
    }
    if ts_profile is not None:
        spec["timestamp_format"] = ts_profile.timestamp_format
    if id_profile is not None and id_profile.integers == id_profile.values:
        # every sampled id is an integer: written as Int64. "All", not a large majority: a column mixing forms is a
        # text id, and guessing integer would reject its other rows; zero-padded ids ("007") stay text to keep them.
        spec["id_type"] = "integer"
        notes.append(f"{id_profile.name}: all {id_profile.values} sampled ids are integers -> written as Int64")
    if not numeric and not categorical:
        roles = ", ".join(f"{k}={v}" for k, v in spec.items())
        raise JobError(
            ExitCode.USAGE,
            f"could not infer any numeric or categorical feature from {sample.height} sampled rows ({roles}) — "
            "pass --schema FILE (format in docs/job.md)",
        )
    return Inference(schema_from_dict(spec), sample.height, tuple(notes))
