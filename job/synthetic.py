"""Synthetic monthly data in the demo's schema (DEFAULT_SCHEMA), with bad rows mixed in.

Used by the benchmark, the tests and the local demo. Written in chunks, so a 20M-row
month needs only one chunk in memory. A fixed share of rows breaks each validity
rule, and some numeric cells are empty (to exercise imputation), so every path of the
job is taken on realistic volumes. Needs numpy (a dev dependency, not in the image).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

CATEGORIES = {
    "category": ["A", "B", "C", "D", "E"],
    "region": ["east", "north", "south", "west"],
    "channel": ["phone", "store", "web"],
}
BAD_SHARE = 0.002  # per rule
NULL_SHARE = 0.01  # per numeric column


def chunk(start: int, rows: int, seed: int, bad_rows: bool = True) -> pl.DataFrame:
    """Rows ``start .. start+rows`` of the month: ids, ISO timestamps, three numerics, three categoricals."""
    rng = np.random.default_rng(seed + start)
    month_start = datetime(2026, 10, 1)
    seconds = rng.integers(0, 31 * 86400, rows)
    amount = np.round(rng.lognormal(3.0, 1.0, rows), 2).astype(str)
    quantity = rng.integers(0, 500, rows).astype(str)
    score = np.round(rng.normal(0.0, 1.0, rows), 6).astype(str)
    frame = pl.DataFrame(
        {
            "id": np.arange(start, start + rows),
            "timestamp": pl.Series(seconds, dtype=pl.Int64) * 1_000_000,
            "amount": amount,
            "quantity": quantity,
            "score": score,
            **{name: np.array(values)[rng.integers(0, len(values), rows)] for name, values in CATEGORIES.items()},
        }
    ).with_columns(
        (pl.lit(month_start) + pl.duration(microseconds=pl.col("timestamp")))
        .dt.strftime("%Y-%m-%dT%H:%M:%S")
        .alias("timestamp")
    )
    for name in ("amount", "quantity", "score"):
        empty = pl.lit(rng.random(rows) < NULL_SHARE)
        frame = frame.with_columns(pl.when(empty).then(None).otherwise(pl.col(name)).alias(name))
    if bad_rows:
        damage = {
            "timestamp": "not-a-date",
            "amount": "-5.0",  # below the declared minimum 0
            "quantity": "many",  # not a number
        }
        for name, bad in damage.items():
            hit = pl.lit(rng.random(rows) < BAD_SHARE)
            frame = frame.with_columns(pl.when(hit).then(pl.lit(bad)).otherwise(pl.col(name)).alias(name))
    return frame


def write_month(path: Path, rows: int, seed: int = 7, chunk_rows: int = 1_000_000, bad_rows: bool = True) -> Path:
    """Write ``rows`` synthetic rows as one CSV (header once); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as handle:
        for index, start in enumerate(range(0, rows, chunk_rows)):
            part = chunk(start, min(chunk_rows, rows - start), seed, bad_rows)
            part.write_csv(handle, include_header=index == 0)
        if rows == 0:
            handle.write(b"id,timestamp,amount,quantity,score,category,region,channel\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    """``python -m job.synthetic OUT.csv --rows N``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    write_month(args.output, args.rows, args.seed)


if __name__ == "__main__":
    main()
