"""The model as Polars expressions: row validation and the feature transform.

One lazy plan reads the CSV once; every row gets a ``reject_reason`` (null when it is
valid), valid rows are transformed and rejected rows keep their raw text. Feature
columns are read as strings so a bad value becomes a rejected row instead of a failed
scan, and so "empty" (impute) stays distinguishable from "garbage" (reject).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from job.drift import count_exprs, has_baseline
from job.model import PreprocessingModel, one_hot_name
from job.ragged import Malformed
from job.schema import Schema

REJECT_REASON = "reject_reason"  # the column rejected rows are written with
# The same inside the plan: private, so an input column called reject_reason (say, last month's rejected rows fed
# back in) is neither overwritten by the annotation nor a duplicate column in the rejected output.
ANNOTATION = "__reject_reason__"
INPUT_REJECT_REASON = "input_reject_reason"  # an input reject_reason column, as written with rejected rows
RAW_RECORD = "raw_record"  # rejected rows' column holding a malformed row's raw text (null for other reasons)
# Input columns that would collide with the columns rejected rows are written with, and what they are renamed to.
RESERVED = {REJECT_REASON: INPUT_REJECT_REASON, RAW_RECORD: "input_raw_record"}
MALFORMED = "__malformed__"  # internal: the malformed_row reason of a row (job.ragged), null for a well-formed row
_RAW = "__raw__"  # internal: the raw text of a malformed row
_ROW = "__row__"  # internal: the row's index in the scan
# Version of the processed and rejected Parquet schemas (docs/CONTRACTS.md §11); bump it with every change readers see.
# 1: ids as text; 2: integer ids (schema id_type) as Int64, rejected rows gain raw_record.
OUTPUT_SCHEMA_VERSION = 2
NUM_PREFIX = "__num__"  # prefix of the internal parsed-number columns (fit reads them)
_TS = "__ts__"  # internal parsed timestamp column
_ID = "__id__"  # internal parsed integer id column


def scan_input(
    sources: Sequence[str], storage_options: dict[str, str] | None = None, malformed: Malformed | None = None
) -> pl.LazyFrame:
    """Lazily scan one or many CSVs with every column as text (no type inference; the plan parses what it needs).

    Several files are concatenated diagonally, so files whose headers differ in order
    or in extra columns still combine (a missing extra column reads as empty). With
    ``malformed`` (job.ragged found rows whose field count is wrong), rows with surplus
    fields are truncated instead of failing the scan, and every row found carries its
    reason and raw text (internal columns MALFORMED and _RAW) so the plan rejects it. An
    empty ``Malformed`` only truncates (schema inference reads a sample that way).
    """
    ragged = malformed is not None
    scans = [
        pl.scan_csv(
            source, infer_schema=False, storage_options=storage_options, glob=False, truncate_ragged_lines=ragged
        )
        for source in sources
    ]
    lf = scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal")
    if not malformed:  # None, or none found: nothing to mark (surplus fields are still truncated for an empty one)
        return lf
    indexed = lf.with_row_index(_ROW)
    found = pl.LazyFrame(
        {
            _ROW: list(malformed.rows),
            MALFORMED: [reason for reason, _ in malformed.rows.values()],
            _RAW: [raw for _, raw in malformed.rows.values()],
        },
        schema={_ROW: indexed.collect_schema()[_ROW], MALFORMED: pl.String, _RAW: pl.String},
    )
    # a left join streams the scan against the small table of found rows (replace_strict held the whole scan: 5x RSS)
    return indexed.join(found, on=_ROW, how="left", maintain_order="left").drop(_ROW)


def parse_number(column: str) -> pl.Expr:
    """Text to Float64; null where the text is not a number (strict=False; surrounding spaces are not a number)."""
    return pl.col(column).cast(pl.Float64, strict=False)


def parse_timestamp(schema: Schema) -> pl.Expr:
    """Text to Datetime with the schema's format; null where it does not parse."""
    assert schema.timestamp_column is not None
    # cache=False: a month's timestamps are nearly all distinct, so the parse cache only costs (measured ~8%).
    column = pl.col(schema.timestamp_column)
    return column.str.strptime(pl.Datetime("us"), schema.timestamp_format, strict=False, exact=True, cache=False)


def parse_integer(column: str) -> pl.Expr:
    """Text to Int64; null where the text is not an integer in Int64's range ("1.0", "1e3", " 1" are not)."""
    return pl.col(column).cast(pl.Int64, strict=False)


def _parsed_columns(schema: Schema) -> list[pl.Expr]:
    exprs = [parse_number(f.name).alias(NUM_PREFIX + f.name) for f in schema.numeric]
    if schema.id_column is not None and schema.id_type == "integer":
        exprs.append(parse_integer(schema.id_column).alias(_ID))
    if schema.timestamp_column is not None:
        exprs.append(parse_timestamp(schema).alias(_TS))
    return exprs


def reject_reason(
    schema: Schema, vocabularies: dict[str, tuple[str, ...]] | None = None, malformed: bool = False
) -> pl.Expr:
    """The first rule a row breaks, as text, or null for a valid row.

    Rules in order: a malformed row (wrong field count; only when the scan carries the
    MALFORMED column, see ``scan_input``), an empty row (every column the schema reads is
    empty: a blank line, or only separators), missing id, an id that is not an integer
    (``id_type`` integer), missing/unparseable timestamp, then per numeric feature
    not a number / not finite / out of bounds, then per categorical feature with
    ``unknown="reject"`` a value outside the vocabulary. Must run after the parsed
    columns exist (see ``annotate``).
    """
    # without this rule a blank line would become an output row of imputed medians in a schema with no id/timestamp
    rules: list[tuple[pl.Expr, str]] = [(pl.all_horizontal(pl.col(schema.required_columns).is_null()), "empty_row")]
    if schema.id_column is not None:
        rules.append((pl.col(schema.id_column).is_null(), "missing_id"))
        if schema.id_type == "integer":
            rules.append((pl.col(_ID).is_null(), f"not_an_integer:{schema.id_column}"))
    if schema.timestamp_column is not None:
        rules.append((pl.col(schema.timestamp_column).is_null(), "missing_timestamp"))
        rules.append((pl.col(_TS).is_null(), "unparseable_timestamp"))
    for feature in schema.numeric:
        num = pl.col(NUM_PREFIX + feature.name)
        rules.append((pl.col(feature.name).is_not_null() & num.is_null(), f"not_a_number:{feature.name}"))
        rules.append((num.is_infinite() | num.is_nan(), f"not_finite:{feature.name}"))
        if feature.min is not None:
            rules.append((num < feature.min, f"out_of_bounds:{feature.name}"))
        if feature.max is not None:
            rules.append((num > feature.max, f"out_of_bounds:{feature.name}"))
    for cat in schema.categorical:
        if cat.unknown == "reject" and vocabularies is not None:
            known = pl.col(cat.name).is_in(list(vocabularies[cat.name]))
            rules.append((~known.fill_null(False), f"unknown_category:{cat.name}"))
    # first broken rule wins; null conditions (comparisons on null numbers) count as "not broken"
    reasons = [pl.when(condition.fill_null(False)).then(pl.lit(reason)) for condition, reason in rules]
    first = [pl.col(MALFORMED)] if malformed else []
    return pl.coalesce([*first, *reasons]).alias(ANNOTATION)


def annotate(lf: pl.LazyFrame, schema: Schema, vocabularies: dict[str, tuple[str, ...]] | None = None) -> pl.LazyFrame:
    """Add the parsed columns and the reject reason (column ``ANNOTATION``) to the raw scan."""
    malformed = MALFORMED in lf.collect_schema().names()
    return lf.with_columns(_parsed_columns(schema)).with_columns(reject_reason(schema, vocabularies, malformed))


def feature_exprs(model: PreprocessingModel) -> list[pl.Expr]:
    """The output columns of a valid row, computed from an annotated frame."""
    s = model.schema
    exprs: list[pl.Expr] = []
    if s.id_column is not None:
        exprs.append(pl.col(_ID).alias(s.id_column) if s.id_type == "integer" else pl.col(s.id_column))
    if s.timestamp_column is not None:
        exprs.append(pl.col(_TS).alias(s.timestamp_column))
    for p in model.numeric:
        exprs.append(((pl.col(NUM_PREFIX + p.name).fill_null(p.median) - p.mean) / p.scale).alias(p.name))
    for c in model.categorical:
        column = pl.col(c.name)
        for value in c.categories:
            # Boolean (1 bit in Parquet) measured ~13% less CPU than UInt8 for the same one-hot data
            exprs.append((column == value).fill_null(False).alias(one_hot_name(c.name, value)))
    exprs += [pl.col(name) for name in s.passthrough]
    return exprs


@dataclass(frozen=True)
class Plan:
    """The two halves of one run's lazy plan over a single scan."""

    valid: pl.LazyFrame  # transformed rows, model.output_columns
    rejected: pl.LazyFrame  # raw input columns + reject_reason
    # every row the scan produced, counted independently of the two filters; counting the annotated frame (not the
    # bare scan) keeps it on the shared streaming scan instead of Polars' separate fast line count, which maps the file.
    # Also "short_candidates": rows whose last cell (in their file's header) is empty, the signal that rows with too
    # few fields may exist (job.ragged), and (when the model has a training baseline) the job.drift bucket counts of
    # the valid rows.
    rows_in: pl.LazyFrame


def vocabularies(model: PreprocessingModel) -> dict[str, tuple[str, ...]]:
    """Vocabulary per categorical feature (for the reject rule)."""
    return {c.name: c.categories for c in model.categorical}


def _detached(column: str) -> pl.Expr:
    """A text column's values copied out of the scan's buffers (nulls stay null, "" stays "").

    Filtering keeps each surviving string as a view into the buffer of the morsel it was
    read from, so the rejected sink, waiting for a row group of a few rejected rows from
    thousands of morsels, kept all those morsels' text alive: +130-170 MB peak RSS on the
    wide shape at 10M rows (bench). Copying the few rejected values lets the buffers go.
    """
    return pl.concat_str([pl.col(column), pl.lit("")])


def build_plan(lf: pl.LazyFrame, model: PreprocessingModel, last_columns: Sequence[str] = ()) -> Plan:
    """Split an input scan into transformed valid rows and raw rejected rows.

    ``last_columns``: the last column of each input's header, for the short-row signal.
    """
    names = lf.collect_schema().names()
    input_columns = [c for c in names if c not in (MALFORMED, _RAW)]
    annotated = annotate(lf, model.schema, vocabularies(model))
    valid = annotated.filter(pl.col(ANNOTATION).is_null()).select(feature_exprs(model))
    raw = [_detached(c).alias(RESERVED.get(c, c)) for c in input_columns]
    raw_record = _detached(_RAW) if _RAW in names else pl.lit(None, dtype=pl.String)
    rejected = annotated.filter(pl.col(ANNOTATION).is_not_null()).select(
        [*raw, pl.col(ANNOTATION).alias(REJECT_REASON), raw_record.alias(RAW_RECORD)]
    )
    short = pl.any_horizontal([pl.col(c).is_null() for c in last_columns]) if last_columns else pl.lit(False)
    drift = count_exprs(model, NUM_PREFIX + "{}", pl.col(ANNOTATION).is_null()) if has_baseline(model) else []
    counts = annotated.select(pl.len().alias("rows"), short.sum().alias("short_candidates"), *drift)
    return Plan(valid=valid, rejected=rejected, rows_in=counts)


def output_schema(model: PreprocessingModel) -> dict[str, object]:
    """The processed Parquet's columns and Polars types for ``model``, with the schema version (run manifests)."""
    empty = pl.LazyFrame(schema=dict.fromkeys(model.schema.required_columns, pl.String))
    columns = build_plan(empty, model).valid.collect_schema()
    return {"version": OUTPUT_SCHEMA_VERSION, "columns": {name: str(dtype) for name, dtype in columns.items()}}
