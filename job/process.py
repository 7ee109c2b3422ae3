"""The streaming pass: CSV -> (transformed Parquet, rejected Parquet, input row count) in one scan.

``pl.collect_all`` runs both sinks and the row count as one plan, so the CSV is read
and parsed once and memory stays bounded by Polars' streaming morsels, whatever the
input size. Row counts of the outputs are read back from the written Parquet footers,
so the accounting check compares what was *written* with what was *read*.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from botocore.exceptions import BotoCoreError, ClientError

from job import s3
from job.drift import has_baseline
from job.errors import ExitCode, JobError
from job.model import PreprocessingModel
from job.outputs import OutputRoot
from job.ragged import Malformed, find_malformed, first_undecodable_line
from job.transform import REJECT_REASON, build_plan, scan_input

log = logging.getLogger(__name__)

VALID_FILE = "part-00000.parquet"
REJECTED_FILE = "rejected/part-00000.parquet"
Compression = Literal["snappy", "zstd", "lz4", "uncompressed"]


@dataclass(frozen=True)
class Counts:
    """Rows read and where they went."""

    rows_in: int
    rows_out: int
    rejected_by_reason: dict[str, int]

    @property
    def rows_rejected(self) -> int:
        """All rejected rows."""
        return sum(self.rejected_by_reason.values())

    @property
    def balanced(self) -> bool:
        """The invariant every run must meet before it is published."""
        return self.rows_in == self.rows_out + self.rows_rejected


def read_header(source: str) -> list[str]:
    """The column names of one CSV; MALFORMED_CSV when the header repeats a name.

    Polars renames a repeated name to ``<name>_duplicated_<n>``; which of the copies holds
    the feature is anyone's guess, so such a header is refused instead of silently using
    the first copy.
    """
    header = pl.scan_csv(source, infer_schema=False, storage_options=s3.storage_options(source), glob=False)
    try:
        names = header.collect_schema().names()
    except pl.exceptions.NoDataError:
        return []  # no header at all (e.g. a gzip of nothing): an empty input, like a 0-byte file
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise classify_polars_error(exc, source) from None
    present = set(names)
    repeated = sorted({n.rsplit("_duplicated_", 1)[0] for n in names if "_duplicated_" in n} & present)
    if repeated:
        raise JobError(
            ExitCode.MALFORMED_CSV,
            f"input {source} is not valid CSV: its header repeats the column(s) {repeated} — give every column "
            "its own name and re-export the file",
        )
    return names


def check_headers(sources: Sequence[str]) -> list[str]:
    """The inputs that have a header (the others are empty); MALFORMED_CSV unless each names every column once."""
    return [source for source in sources if read_header(source)]


def check_columns(sources: Sequence[str], model: PreprocessingModel) -> dict[str, list[str]]:
    """The inputs with a header -> their column names; MISSING_COLUMNS (listing them) unless each has the schema's."""
    required = model.schema.required_columns
    usable: dict[str, list[str]] = {}
    for source in sources:
        names = read_header(source)
        if not names:
            continue
        usable[source] = names
        present = set(names)
        missing = [name for name in required if name not in present]
        if missing:
            raise JobError(
                ExitCode.MISSING_COLUMNS,
                f"input {source} lacks required columns {missing} (it has {sorted(present)}) — fix the export or "
                f"train model {model.version}'s successor on data with these columns",
            )
    return usable


def classify_polars_error(exc: Exception, source: str) -> JobError:
    """Turn a Polars failure while reading ``source`` into the matching JobError."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if s3.polars_denied(str(exc)):
        bucket, key = s3.split_s3(source) if s3.is_s3(source) else (source, "")
        return s3.access_denied(bucket, key, "read input")
    if s3.polars_not_found(str(exc)):
        return JobError(ExitCode.INPUT_NOT_FOUND, f"input {source} disappeared while reading it: {message}")
    if s3.polars_io_failure(str(exc)):
        return JobError(ExitCode.UNEXPECTED, f"reading input {source} failed: {message} — retry the run")
    fix = "fix or re-export the file"
    if "utf-8" in message.lower():
        message, fix = _undecodable(source, message), "re-export the file as UTF-8"
    return JobError(ExitCode.MALFORMED_CSV, f"input {source} is not valid CSV: {message} — {fix}")


def _undecodable(source: str, message: str) -> str:
    """Polars' encoding error with the number of the first line that is not UTF-8 (re-read on this error path)."""
    try:
        line = first_undecodable_line(source)
    except (OSError, ValueError, EOFError, BotoCoreError, ClientError):  # a label naming several inputs, no access
        return message
    return f"line {line} is not valid UTF-8 ({message})" if line else message


def read_failure(exc: Exception, sources: Sequence[str]) -> JobError:
    """The JobError for a failed read of ``sources``, naming the file that failed.

    A plan over several files fails without saying which one broke, so on this (error)
    path each file is parsed again on its own, in streaming mode, until one fails.
    """
    if len(sources) > 1:
        for source in sources:
            scan = pl.scan_csv(source, infer_schema=False, storage_options=s3.storage_options(source), glob=False)
            try:
                scan.select(pl.all().null_count()).collect(engine="streaming")
            except (pl.exceptions.PolarsError, OSError) as own:
                return classify_polars_error(own, source)
    label = sources[0] if len(sources) == 1 else f"{sources[0]} (or one of the {len(sources) - 1} other inputs)"
    return classify_polars_error(exc, label)


def empty_input(model: PreprocessingModel) -> pl.LazyFrame:
    return pl.LazyFrame(schema={name: pl.String for name in model.schema.required_columns})


@dataclass(frozen=True)
class Streamed:
    """What the streaming pass read, and whether the malformed-row check (job.ragged) had to run."""

    rows_in: int
    drift_counts: dict[str, Any] | None = None  # job.drift bucket counts over the valid rows (None: no baseline)
    malformed_rows: int = 0
    checked: bool = False  # the exact field-count pass ran (the fast pass signalled possible ragged rows)
    check_seconds: float = 0.0
    passes: int = 1  # streaming passes over the input (2 when malformed rows were found)


def _is_long_row(exc: BaseException) -> bool:
    return "more fields than defined" in str(exc)


def stream(
    headers: Mapping[str, Sequence[str]],
    model: PreprocessingModel,
    root: OutputRoot,
    staging: str,
    compression: Compression = "snappy",
) -> Streamed:
    """Write the valid and rejected Parquet for the inputs (source -> header) under ``staging``.

    The fast pass is Polars' strict scan. When it signals possible ragged rows (a row with
    more fields failed the scan, or some row's last cell is empty), ``find_malformed``
    locates them exactly; only if it finds any does a second pass write the outputs with
    those rows rejected as ``malformed_row:<n> fields, header has <m>``.
    """
    sources = list(headers)
    last_columns = sorted({names[-1] for names in headers.values()})
    try:
        rows_in, candidates, drift = _sink(sources, model, root, staging, compression, None, last_columns)
    except JobError as exc:
        if exc.__cause__ is None or not _is_long_row(exc.__cause__):
            raise
        candidates = -1  # a row has surplus fields: the scan stopped there
    if candidates == 0:
        return Streamed(rows_in, drift)
    started = time.perf_counter()
    try:
        malformed = find_malformed(sources)
    except OSError as exc:
        raise JobError(ExitCode.UNEXPECTED, f"re-reading the input to locate malformed rows failed: {exc}") from None
    seconds = time.perf_counter() - started
    log.info(
        "checked field counts in %.1f s (%s): %d malformed row(s)",
        seconds,
        "a row has surplus fields" if candidates < 0 else f"{candidates} row(s) with an empty last cell",
        len(malformed.rows),
        extra={"fields": {"malformed_rows": len(malformed.rows), "check_s": round(seconds, 3)}},
    )
    if not malformed:
        if candidates < 0:  # Polars and the check disagree: refuse rather than guess
            raise JobError(ExitCode.MALFORMED_CSV, f"input {sources[0]} is not valid CSV: rows could not be delimited")
        return Streamed(rows_in, drift, 0, True, seconds)
    rows_in, _, drift = _sink(sources, model, root, staging, compression, malformed, [])
    return Streamed(rows_in, drift, len(malformed.rows), True, seconds, passes=2)


def _sink(
    sources: Sequence[str],
    model: PreprocessingModel,
    root: OutputRoot,
    staging: str,
    compression: Compression,
    malformed: Malformed | None,
    last_columns: Sequence[str],
) -> tuple[int, int, dict[str, Any] | None]:
    """One streaming pass writing both outputs; returns (rows read, rows whose last cell is empty, drift counts)."""
    lf = scan_input(sources, s3.storage_options(sources[0]), malformed) if sources else empty_input(model)
    plan = build_plan(lf, model, last_columns)
    options = root.storage_options()
    sinks = [
        plan.valid.sink_parquet(
            root.target(staging + VALID_FILE), compression=compression, storage_options=options, lazy=True
        ),
        # small row groups: the rejected sink sees few rows, and big groups made it hold ~150 MB more (bench)
        plan.rejected.sink_parquet(
            root.target(staging + REJECTED_FILE), storage_options=options, row_group_size=10_000, lazy=True
        ),
        plan.rows_in,
    ]
    try:
        results = pl.collect_all(sinks, engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as exc:
        output_bucket = getattr(root, "bucket", None)
        if output_bucket and output_bucket in str(exc):
            if s3.polars_denied(str(exc)):
                raise s3.access_denied(output_bucket, staging, "write output") from None
            raise JobError(ExitCode.OUTPUT_FAILED, f"writing {root.url}{staging} failed: {exc}") from None
        if malformed is None and _is_long_row(exc):
            raise JobError(ExitCode.MALFORMED_CSV, str(exc)) from exc  # stream() takes the exact path
        raise read_failure(exc, sources) from None
    counts = results[2].row(0, named=True)
    drift = counts if has_baseline(model) else None
    return int(counts["rows"]), int(counts["short_candidates"]), drift


def count_outputs(root: OutputRoot, staging: str) -> tuple[int, dict[str, int]]:
    """Rows in the staged valid file (from its footer) and rejected rows per reason."""
    options = root.storage_options()
    valid = pl.scan_parquet(root.target(staging + VALID_FILE), storage_options=options)
    rows_out = int(valid.select(pl.len()).collect().item())
    rejected = pl.scan_parquet(root.target(staging + REJECTED_FILE), storage_options=options)
    by_reason = rejected.group_by(REJECT_REASON).agg(pl.len().alias("rows")).sort(REJECT_REASON).collect()
    return rows_out, {str(r[REJECT_REASON]): int(r["rows"]) for r in by_reason.iter_rows(named=True)}
