"""Data shapes for ``make bench``: the demo's month and the shapes of the team's other exports.

Each shape is a schema plus a generator writing a month of it (chunked, so 10M+ rows
need one chunk in memory), with a small share of bad cells so the reject path runs too.
Dev-only (numpy), kept out of the image like bench.py.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from job.schema import DEFAULT_SCHEMA, CategoricalFeature, NumericFeature, Schema
from job.synthetic import write_month

CHUNK_ROWS = 1_000_000
BAD_SHARE = 0.002  # cells that are not numbers, per shape (one numeric column)
NULL_SHARE = 0.01  # empty numeric cells (imputed)
FRACTIONAL_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"


@dataclass(frozen=True)
class Shape:
    """A benchmark shape: what the month looks like and how to write it."""

    name: str
    description: str
    schema: Schema
    write: Callable[[Path, int, int], Path]  # (base path without suffix, rows, seed) -> the input (file or dir)


def _numbers(rng: np.random.Generator, rows: int) -> pl.Series:
    """Normal values (4 decimals; Polars formats them when writing, far faster than numpy's str), some empty."""
    values = pl.Series("v", np.round(rng.normal(100.0, 25.0, rows), 4))
    return values.zip_with(pl.Series(rng.random(rows) >= NULL_SHARE), pl.Series([None] * rows, dtype=pl.Float64))


def _frame(
    schema: Schema, start: int, rows: int, seed: int, categories: int, text_ids: bool, offsets: bool
) -> pl.DataFrame:
    """Rows ``start .. start+rows`` of a month in ``schema``: ids, timestamps, numerics, categoricals, passthrough."""
    rng = np.random.default_rng(seed + start)
    base = pl.DataFrame(
        {
            "n": np.arange(start, start + rows),
            "us": rng.integers(0, 31 * 86400 * 1_000_000, rows),
            "zone": np.array(["Z", "+02:00", "-05:00", "+05:30"])[rng.integers(0, 4, rows)],
            "word": rng.integers(0, 2_000_000, rows),
        }
    )
    stamps = pl.lit(datetime(2026, 10, 1)) + pl.duration(microseconds=pl.col("us"))
    if offsets:
        stamp = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f") + pl.col("zone")
    else:
        stamp = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S")
    exprs = [
        pl.format("c{}x{}", pl.col("n"), pl.col("n") % 97).alias("id") if text_ids else pl.col("n").alias("id"),
        stamp.alias("timestamp"),
    ]
    exprs += [pl.lit(_numbers(rng, rows)).alias(f.name) for f in schema.numeric]
    for cat in schema.categorical:
        values = np.array([f"{cat.name[:3]}{i}" for i in range(categories)])
        exprs.append(pl.lit(pl.Series(values[rng.integers(0, categories, rows)])).alias(cat.name))
    exprs += [pl.format("sku-{} note {}", pl.col("word"), pl.col("word") % 1013).alias(n) for n in schema.passthrough]
    frame = base.select(exprs)
    first = schema.numeric[0].name
    hit = pl.lit(pl.Series(rng.random(rows) < BAD_SHARE))
    return frame.with_columns(pl.when(hit).then(pl.lit("n/a")).otherwise(pl.col(first).cast(pl.String)).alias(first))


def _writer(
    schema: Schema, categories: int, text_ids: bool = False, offsets: bool = False
) -> Callable[[Path, int, int], Path]:
    def write(base: Path, rows: int, seed: int) -> Path:
        path = base.with_suffix(".csv")
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
                part = _frame(schema, start, min(CHUNK_ROWS, rows - start), seed, categories, text_ids, offsets)
                part.write_csv(handle, include_header=index == 0)
        tmp.replace(path)
        return path

    return write


def _demo(base: Path, rows: int, seed: int) -> Path:
    return write_month(base.with_suffix(".csv"), rows, seed)


def _demo_month(directory: Path, rows: int, seed: int) -> Path:
    """The demo month the derived shapes start from, shared with the demo shape's cache (bench names it so)."""
    path = directory / f"demo-{rows}-{seed}.csv"
    return path if path.exists() else _demo(path.with_suffix(""), rows, seed)


def _gzip(base: Path, rows: int, seed: int) -> Path:
    plain = _demo_month(base.parent, rows, seed)
    path = base.with_suffix(".csv.gz")
    with plain.open("rb") as source, gzip.open(path.with_suffix(".tmp"), "wb", compresslevel=6) as target:
        shutil.copyfileobj(source, target, 1 << 20)
    path.with_suffix(".tmp").replace(path)
    return path


def _split(base: Path, rows: int, seed: int, files: int = 50) -> Path:
    """The demo month as ``files`` CSVs of equal row counts, each with its header, in one directory."""
    plain = _demo_month(base.parent, rows, seed)
    directory = base.with_suffix("")
    directory.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // files)
    with plain.open("rb") as source:
        header = source.readline()
        for index in range(files):
            with (directory / f"part-{index:03d}.csv").open("wb") as target:
                target.write(header)
                for _ in range(per_file):
                    line = source.readline()
                    if not line:
                        break
                    target.write(line)
    return directory


RAGGED_EVERY = 100_000  # one line in this many loses its last field, the next one gains a field


def _ragged(base: Path, rows: int, seed: int) -> Path:
    """The demo month with a short and a long line every RAGGED_EVERY lines (0.002 % malformed rows)."""
    plain = _demo_month(base.parent, rows, seed)
    path = base.with_suffix(".csv")
    with plain.open("rb") as source, path.with_suffix(".tmp").open("wb") as target:
        target.write(source.readline())
        for number, line in enumerate(source):
            if number % RAGGED_EVERY == 1:
                line = line[: line.rindex(b",")] + b"\n"
            elif number % RAGGED_EVERY == 2:
                line = line[:-1] + b",surplus\n"
            target.write(line)
    path.with_suffix(".tmp").replace(path)
    return path


def _numeric(names: list[str]) -> tuple[NumericFeature, ...]:
    return tuple(NumericFeature(name) for name in names)


def _categorical(names: list[str]) -> tuple[CategoricalFeature, ...]:
    return tuple(CategoricalFeature(name) for name in names)


_SCHEMAS = {
    "wide": Schema(
        "id",
        "timestamp",
        _numeric([f"m{i:02d}" for i in range(12)]),
        _categorical([f"c{i}" for i in range(5)]),  # 5 x 7 values: 35 one-hot columns
        id_type="integer",
    ),
    "text": Schema(
        "id",
        "timestamp",
        _numeric(["price", "qty", "weight", "discount"]),
        _categorical(["colour", "size", "store"]),  # 3 x 6 values: 18 one-hot columns
        passthrough=("note",),
    ),
    "timestamps": Schema(
        "id",
        "timestamp",
        _numeric(["amount", "score", "latency"]),
        _categorical(["kind", "tier", "zone"]),  # 3 x 5 values
        timestamp_format=FRACTIONAL_FORMAT,
        id_type="integer",
    ),
}

SHAPES = {
    "demo": Shape("demo", "the demo month: 3 numerics, 12 one-hot, integer ids", DEFAULT_SCHEMA, _demo),
    "wide": Shape("wide", "12 numerics, 35 one-hot columns", _SCHEMAS["wide"], _writer(_SCHEMAS["wide"], 7)),
    "text": Shape(
        "text",
        "text ids, a high-cardinality passthrough text column, 4 numerics, 18 one-hot",
        _SCHEMAS["text"],
        _writer(_SCHEMAS["text"], 6, text_ids=True),
    ),
    "timestamps": Shape(
        "timestamps",
        "timestamps with microseconds and UTC offsets (%.f%#z)",
        _SCHEMAS["timestamps"],
        _writer(_SCHEMAS["timestamps"], 5, offsets=True),
    ),
    "gzip": Shape("gzip", "the demo month gzip-compressed (level 6)", DEFAULT_SCHEMA, _gzip),
    "split": Shape("split", "the demo month as 50 files in a directory", DEFAULT_SCHEMA, _split),
    "ragged": Shape(
        "ragged", "the demo month with 0.002 % short and long rows (the field-count path)", DEFAULT_SCHEMA, _ragged
    ),
}
