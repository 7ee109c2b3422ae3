"""A month as many objects, processed in batches (plan → run --batch N → commit) against moto, as ECS runs them.

The proof of the scale-out issue: the batched run publishes exactly the rows, values,
rejections and drift of a single-task run over the same 16 objects; its one manifest
lists every batch; a batch that fails publishes nothing and leaves no staging behind;
a rerun of the same run id neither duplicates nor loses rows.
"""

from __future__ import annotations

import gzip
import json
import signal
from typing import Any

import polars as pl
import pytest

from job.cli import main
from job.errors import ExitCode, JobError
from job.plan import balance
from job.sources import InputObject
from job.synthetic import chunk
from job.transform import REJECT_REASON
from tests.job.test_run_s3 import OUTPUT, env, keys

__all__ = ["env"]  # fixture used below

INPUT = "ds-input-dev-123456789012-us-east-1"
PREFIX = "raw/2026-10/"
FILES = 16
"""Enough for every kind of object below (gzipped: 4 and 13, ragged: 7, empty: 13) and 4 batches of several."""
TASKS = 4
RAGGED = b"999999,2026-10-02T00:00:00,1.0\n"  # 3 fields under an 8-column header: a rejected (malformed) row


@pytest.fixture
def month(env: dict[str, Any], request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """16 small objects under raw/2026-10/ (a few gzipped, one empty, one with a ragged row; fewer when a test
    parametrizes it); the run reads the prefix and may use 4 tasks at once."""
    start = 0
    for i in range(getattr(request, "param", FILES)):
        rows = 40 + 7 * i
        data = chunk(start, rows, seed=11).write_csv().encode()
        start += rows
        if i == 7:
            data += RAGGED
        if i == 13:
            data = b""  # an empty object: listed in the manifest, zero rows
        name = f"{PREFIX}part-{i:02d}.csv" + (".gz" if i % 9 == 4 else "")
        env["s3"].put_object(Bucket=INPUT, Key=name, Body=gzip.compress(data) if name.endswith(".gz") else data)
    monkeypatch.setenv("DS_INPUT_KEY", PREFIX)
    monkeypatch.setenv("DS_MAX_PARALLEL_TASKS", str(TASKS))
    return env


def step(run_id: str, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """One container of the run, as the state machine starts it (DS_RUN_ID set, the rest from SSM)."""
    monkeypatch.setenv("DS_RUN_ID", run_id)
    return main([*argv[:1], "--log-format", "json", *argv[1:]])


def scaled_out(run_id: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """plan, every batch, commit: the exit codes."""
    codes = [step(run_id, monkeypatch, "plan")]
    codes += [step(run_id, monkeypatch, "run", "--batch", str(i)) for i in range(TASKS)]
    return [*codes, step(run_id, monkeypatch, "commit")]


def read(client: Any, key: str) -> Any:
    return client.get_object(Bucket=OUTPUT, Key=key)["Body"].read()


def rows(run_id: str, kind: str = "") -> pl.DataFrame:
    """Every published row of a run (all its part files), in id order."""
    frame = pl.read_parquet(f"s3://{OUTPUT}/processed/{run_id}/{kind}part-*.parquet")
    return frame.sort([c for c in ("id", REJECT_REASON, "raw_record") if c in frame.columns])


def test_batched_run_publishes_what_one_task_publishes(month: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = month["s3"]
    assert step("single", monkeypatch, "run") == 0
    assert scaled_out("multi", monkeypatch) == [0] * (TASKS + 2)

    assert rows("multi").equals(rows("single")) and rows("multi").height > 1000
    assert rows("multi", "rejected/").equals(rows("single", "rejected/"))
    single = json.loads(read(client, "processed/single/manifest.json"))
    multi = json.loads(read(client, "processed/multi/manifest.json"))
    for key in ("rows_in", "rows_out", "rows_rejected", "rejected_by_reason", "drift", "columns", "output_schema"):
        assert multi[key] == single[key], key
    assert any(reason.startswith("malformed_row") for reason in multi["rejected_by_reason"])
    assert multi["input"]["objects"] == single["input"]["objects"] and len(multi["input"]["objects"]) == FILES

    # one manifest lists every batch: its objects (with ETags) and its rows, which add up to the totals
    batches = multi["batches"]
    assert [b["batch"] for b in batches] == list(range(TASKS))
    listed = sorted(o["url"] for b in batches for o in b["objects"])
    assert listed == sorted(o["url"] for o in single["input"]["objects"]) and all(
        o["etag"] for b in batches for o in b["objects"]
    )
    for b in batches:
        assert b["rows_in"] == b["rows_out"] + b["rows_rejected"] > 0
    assert sum(b["rows_in"] for b in batches) == multi["rows_in"]
    sizes = [sum(o["size"] for o in b["objects"]) for b in batches]
    assert max(sizes) - min(sizes) <= max(o["size"] for o in single["input"]["objects"])  # balanced by bytes

    published = keys(client, OUTPUT, "processed/multi/")
    assert published[-1] == "processed/multi/report.html" and "processed/multi/_SUCCESS" in published
    assert [k for k in published if k.endswith(".parquet")] == [
        *(f"processed/multi/part-{i:05d}.parquet" for i in range(TASKS)),
        *(f"processed/multi/rejected/part-{i:05d}.parquet" for i in range(TASKS)),
    ]
    assert keys(client, OUTPUT, "_staging/") == [] and keys(client, OUTPUT, "leases/") == []
    record = json.loads(read(client, "runs/multi.json"))
    assert record["status"] == "SUCCEEDED" and record["rows_in"] == multi["rows_in"]

    # a rerun of the same run id changes nothing: every step sees the published run and skips
    assert [step("multi", monkeypatch, *argv) for argv in (["plan"], ["run", "--batch", "1"], ["commit"])] == [0] * 3
    assert keys(client, OUTPUT, "processed/multi/") == published
    assert json.loads(read(client, "processed/multi/manifest.json")) == multi


@pytest.mark.parametrize("month", [8], indirect=True)  # fewer objects: the proof above covers 16
def test_a_failed_batch_publishes_nothing_and_a_rerun_publishes_everything(
    month: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = month["s3"]
    import job.batches

    real = job.batches.stage_and_count

    def third_fails(attempt: Any, *args: Any) -> Any:
        if attempt.staging.endswith("/00002/"):
            raise JobError(ExitCode.OUTPUT_FAILED, "S3 went away")
        return real(attempt, *args)

    monkeypatch.setattr(job.batches, "stage_and_count", third_fails)
    codes = [step("run-1", monkeypatch, "plan")]
    codes += [step("run-1", monkeypatch, "run", "--batch", str(i)) for i in range(TASKS - 1)]  # the last never ran
    codes.append(step("run-1", monkeypatch, "commit"))
    assert codes == [0, 0, 0, ExitCode.OUTPUT_FAILED, ExitCode.BATCH_FAILED]
    assert keys(client, OUTPUT, "processed/") == []
    assert keys(client, OUTPUT, "_staging/") == [] and keys(client, OUTPUT, "leases/") == []
    record = json.loads(read(client, "runs/run-1.json"))
    assert record["status"] == "FAILED" and record["error"] == "BATCH_FAILED" and "batch 2, 3" in record["message"]

    # the same run id again, with the fault gone: every row, once
    monkeypatch.setattr(job.batches, "stage_and_count", real)
    assert scaled_out("run-1", monkeypatch) == [0] * (TASKS + 2)
    manifest = json.loads(read(client, "processed/run-1/manifest.json"))
    assert manifest["rows_in"] == rows("run-1").height + rows("run-1", "rejected/").height > 0
    assert rows("run-1")["id"].is_unique().all()


@pytest.mark.parametrize("month", [5], indirect=True)
def test_abandon_and_refusals(month: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = month["s3"]
    monkeypatch.delenv("DS_RUN_ID")
    assert main(["commit"]) == ExitCode.USAGE  # a commit needs its plan's run id
    assert main(["run", "--batch", "x", "--run-id", "run-2"]) == ExitCode.USAGE
    assert step("never-planned", monkeypatch, "run", "--batch", "0") == ExitCode.USAGE
    assert keys(client, OUTPUT, "leases/") == []  # no lease kept for a run that has no plan

    assert step("run-2", monkeypatch, "plan") == 0
    assert step("run-2", monkeypatch, "run", "--batch", str(TASKS)) == ExitCode.USAGE
    assert step("run-2", monkeypatch, "run", "--batch", "0") == 0
    assert keys(client, OUTPUT, "leases/") == ["leases/dev.json"]  # kept for the siblings and the commit
    # the state machine's path when a batch failed for good: clean up, record, publish nothing
    assert step("run-2", monkeypatch, "commit", "--abandon") == ExitCode.BATCH_FAILED
    assert keys(client, OUTPUT, "_staging/") == [] and keys(client, OUTPUT, "leases/") == []
    assert keys(client, OUTPUT, "processed/") == []
    record = json.loads(read(client, "runs/run-2.json"))
    assert record["status"] == "FAILED" and record["error"] == "BATCH_FAILED"

    # a local run stopped with `dsctl runs stop`: cleaned up the same way, and recorded as stopped, not failed
    assert step("run-3", monkeypatch, "plan") == 0
    assert step("run-3", monkeypatch, "run", "--batch", "0") == 0
    assert step("run-3", monkeypatch, "commit", "--abandon", "--stopped") == 128 + signal.SIGTERM
    assert keys(client, OUTPUT, "_staging/") == [] and keys(client, OUTPUT, "leases/") == []
    assert keys(client, OUTPUT, "processed/") == []
    record = json.loads(read(client, "runs/run-3.json"))
    assert record["status"] == "STOPPED" and record["exit_code"] == 128 + signal.SIGTERM


def obj(name: str, size: int) -> InputObject:
    return InputObject(f"s3://b/{name}", size)


def test_balance_splits_by_bytes_not_by_count() -> None:
    objects = [obj("a", 100), obj("b", 10), obj("c", 10), obj("d", 10), obj("e", 10), obj("f", 60), obj("g", 0)]
    batches = balance(objects, 3)
    assert sorted(b.bytes for b in batches) == [40, 60, 100]
    assert sorted(o.url for b in batches for o in b.objects) == sorted(o.url for o in objects)  # each once
    assert [o.url for o in batches[0].objects] == sorted(o.url for o in batches[0].objects)  # listing order kept
    assert len(balance(objects, 50)) == 6  # no more batches than non-empty objects
    assert len(balance([obj("empty", 0)], 10)) == 1 and balance([], 3)[0].objects == ()
