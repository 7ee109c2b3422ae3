"""``python -m job run`` on local files: accounting, publishing, idempotency and every error's exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from job.cli import main
from job.errors import ExitCode
from job.run import RunOptions, RunSpec, run_job
from tests.job.conftest import HEADER, TRAIN_ROWS, write_csv


def run(*args: object) -> int:
    return main(["run", "--log-format", "text", *[str(a) for a in args]])


def published(out: Path, run_id: str) -> dict[str, Any]:
    return json.loads((out / "processed" / run_id / "manifest.json").read_text())


def test_a_month_is_accounted_for_and_published(tmp_path: Path, month_csv: Path, model_dir: Path) -> None:
    out = tmp_path / "out"
    assert run("--input", month_csv, "--model", model_dir, "--output", out, "--run-id", "m1") == 0
    manifest = published(out, "m1")
    assert manifest["rows_in"] == 20_000
    assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_rejected"]
    assert set(manifest["rejected_by_reason"]) == {
        "unparseable_timestamp",
        "out_of_bounds:amount",
        "not_a_number:quantity",
    }
    assert manifest["model"]["version"] == "1.0.0"
    run_dir = out / "processed" / "m1"
    assert pl.read_parquet(run_dir / "part-00000.parquet").height == manifest["rows_out"]
    rejected = pl.read_parquet(run_dir / "rejected" / "part-00000.parquet")
    assert rejected.height == manifest["rows_rejected"] and rejected["reject_reason"].null_count() == 0
    assert (run_dir / "_SUCCESS").exists() and not (out / "_staging").exists()
    assert manifest["image_digest"] is None  # not run from the image: nothing to record


def test_the_manifest_records_the_image_digest_the_task_passes(
    tmp_path: Path, month_csv: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = "sha256:" + "ab" * 32
    monkeypatch.setenv("DS_IMAGE_DIGEST", digest)
    out = tmp_path / "out"
    assert run("--input", month_csv, "--model", model_dir, "--output", out, "--run-id", "img1") == 0
    assert published(out, "img1")["image_digest"] == digest


def test_rerun_does_nothing_unless_overwrite(tmp_path: Path, train_csv: Path, model_dir: Path) -> None:
    out = tmp_path / "out"
    args = ["--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "r"]
    assert run(*args) == 0
    before = (out / "processed/r/manifest.json").read_text()
    write_csv(train_csv, TRAIN_ROWS[:2])  # the input changes, but the run id is already published
    assert run(*args) == 0
    assert (out / "processed/r/manifest.json").read_text() == before
    assert run(*args, "--overwrite") == 0
    assert published(out, "r")["rows_in"] == 2


@pytest.mark.parametrize("where", ["manifest", "stream"])
def test_interrupted_run_leaves_nothing_published(
    tmp_path: Path, train_csv: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    if where == "manifest":  # after the data files were moved into processed/
        monkeypatch.setattr("job.outputs.LocalRoot.put", lambda self, rel, data, exclusive=False: crash())
        monkeypatch.setattr("job.run.stage_and_count", _stage_without_marker)
    else:
        monkeypatch.setattr("job.run.stream", crash)
    out = tmp_path / "out"
    assert run("--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "x") == 130
    assert not (out / "processed" / "x" / "_SUCCESS").exists()
    assert not list(out.rglob("*.parquet")) and not list(out.rglob("manifest.json"))


def _stage_without_marker(attempt, sources, loaded, options):  # type: ignore[no-untyped-def]
    """stage_and_count minus the _STARTED marker (whose put is what the test breaks)."""
    from job.process import Counts, count_outputs, stream

    streamed = stream(sources, loaded.model, attempt.root, attempt.staging, options.compression)
    return Counts(streamed.rows_in, *count_outputs(attempt.root, attempt.staging)), streamed


@pytest.mark.parametrize("content", ["", HEADER + "\n"], ids=["empty", "header-only"])
def test_empty_input_is_a_successful_run_with_zero_rows(tmp_path: Path, model_dir: Path, content: str) -> None:
    data = tmp_path / "in.csv"
    data.write_text(content)
    out = tmp_path / "out"
    assert run("--input", data, "--model", model_dir, "--output", out, "--run-id", "e") == 0
    manifest = published(out, "e")
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (0, 0, 0)
    assert pl.read_parquet(out / "processed/e/part-00000.parquet").columns == manifest["columns"]


def test_many_inputs_by_glob(tmp_path: Path, model_dir: Path) -> None:
    for index in range(3):
        write_csv(tmp_path / "in" / f"part{index}.csv", TRAIN_ROWS)
    out = tmp_path / "out"
    assert run("--input", f"{tmp_path}/in/*.csv", "--model", model_dir, "--output", out, "--run-id", "g") == 0
    manifest = published(out, "g")
    assert manifest["rows_in"] == 12 and len(manifest["input"]["objects"]) == 3


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (
            "id,timestamp,amount\n1,2026-10-01T00:00:00,1\n",
            ExitCode.MISSING_COLUMNS,
            "['quantity', 'score', 'category'",
        ),
        (HEADER + '\n1,"2026-10-01T00:00:00,1,1,1,A,north,web\n', ExitCode.MALFORMED_CSV, "not valid CSV"),
        (
            HEADER + "\n1,2026-10-01T00:00:00,1,1,1,A,north,web\n2,2026-10-01T00:00:00,1,1,1,A,\xff\xfe,web\n",
            ExitCode.MALFORMED_CSV,
            "line 3 is not valid UTF-8 (invalid utf-8 sequence) — re-export the file as UTF-8",
        ),
    ],
    ids=["missing-columns", "unterminated-quote", "encoding"],
)
def test_bad_input_files(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str], content: str, code: ExitCode, words: str
) -> None:
    data = tmp_path / "in.csv"
    data.write_bytes(content.encode("latin-1") if "\xff" in content else content.encode())
    out = tmp_path / "out"
    assert run("--input", data, "--model", model_dir, "--output", out, "--run-id", "b") == code
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1] and str(data) in err[-1]
    assert not (out / "processed").exists() and not (out / "_staging").exists()


def test_error_exit_codes(tmp_path: Path, train_csv: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    cases = [
        (
            ["--input", tmp_path / "nope.csv", "--model", model_dir, "--output", out],
            ExitCode.INPUT_NOT_FOUND,
            "not found",
        ),
        (["--input", train_csv, "--model", tmp_path / "none", "--output", out], ExitCode.MODEL_MISSING, "not found"),
        (
            ["--input", train_csv, "--model", model_dir, "--output", out, "--model-sha256", "ab" * 32],
            ExitCode.DIGEST_MISMATCH,
            "digest mismatch",
        ),
        (["--input", train_csv, "--model", model_dir], ExitCode.USAGE, "--output"),
        (["--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "../x"], ExitCode.USAGE, "run id"),
        (["--input", train_csv, "--model", model_dir, "--output", out, "--run-id", ".."], ExitCode.USAGE, "run id"),
    ]
    for args, code, words in cases:
        assert run(*args) == code, args
        assert words in capsys.readouterr().err
    assert not out.exists() or not any(out.rglob("_SUCCESS"))


def test_no_locations_at_all_is_a_parameter_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DS_PARAMETER_PREFIX", raising=False)
    assert main(["run", "--parameter-prefix", ""]) == ExitCode.PARAMETER_MISSING
    assert "DS_PARAMETER_PREFIX" in capsys.readouterr().err


GOOD = {
    "id": ["1", "42"],
    "timestamp": ["2026-10-01T00:00:00"],
    "amount": ["0", "12.5", ""],
    "quantity": ["3", ""],
    "score": ["-1.5", "0", ""],
    "category": ["A", "Z", ""],
    "region": ["north"],
    "channel": ["web"],
}
BAD = {
    "id": [""],
    "timestamp": ["", "2026-02-30T00:00:00", "x"],
    "amount": ["-1", "1e9", "abc"],
    "quantity": ["1.5.2", "-3"],
    "score": ["inf", "nan"],
    "category": [],
    "region": [],
    "channel": [],
}
COLUMNS = HEADER.split(",")


@st.composite
def rows(draw: st.DrawFn) -> list[str]:
    """Rows whose cells are drawn from good and bad values, bad ones mixed in at any column."""
    count = draw(st.integers(0, 30))
    out = []
    for _ in range(count):
        cells = [draw(st.sampled_from(GOOD[c] + (BAD[c] if draw(st.booleans()) else []))) for c in COLUMNS]
        out.append(",".join(cells))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows())
def test_every_row_is_output_or_rejected(tmp_path: Path, model_dir: Path, generated: list[str]) -> None:
    data = write_csv(tmp_path / "prop" / "in.csv", generated)
    out = tmp_path / "prop" / "out"
    result = run_job(RunSpec(str(data), str(model_dir), str(out)), RunOptions(run_id="p", overwrite=True))
    assert result.manifest is not None
    manifest = result.manifest
    assert manifest["rows_in"] == len(generated)
    assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_rejected"]
    valid = pl.read_parquet(out / "processed/p/part-00000.parquet")
    assert valid.height == manifest["rows_out"]
    assert all(valid[c].null_count() == 0 for c in valid.columns)  # imputation leaves no gaps


def test_inputs_with_differently_ordered_headers_combine(tmp_path: Path, model_dir: Path) -> None:
    write_csv(tmp_path / "in" / "a.csv", TRAIN_ROWS[:1])
    reordered = ",".join(reversed(HEADER.split(",")))
    row = ",".join(reversed(TRAIN_ROWS[1].split(","))) + ",x"
    write_csv(tmp_path / "in" / "b.csv", [row], header=reordered + ",extra")
    out = tmp_path / "out"
    assert run("--input", tmp_path / "in", "--model", model_dir, "--output", out, "--run-id", "h") == 0
    valid = pl.read_parquet(out / "processed/h/part-00000.parquet")
    assert valid["id"].to_list() == [1, 2] and published(out, "h")["rows_rejected"] == 0


def test_a_model_without_manifest_needs_an_explicit_digest(
    tmp_path: Path, train_csv: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = json.loads((model_dir / "manifest.json").read_text())["sha256"]
    (model_dir / "manifest.json").unlink()
    out = tmp_path / "out"
    assert run("--input", train_csv, "--model", model_dir, "--output", out) == ExitCode.MODEL_MISSING
    assert "--model-sha256" in capsys.readouterr().err
    assert run("--input", train_csv, "--model", model_dir / "model.pkl", "--output", out, "--model-sha256", sha) == 0


def test_python_m_job_exits_with_the_code_and_logs_one_json_error_line(tmp_path: Path, model_dir: Path) -> None:
    import subprocess
    import sys

    data = write_csv(tmp_path / "in.csv", ["1,2"], header="id,amount")
    args = ["run", "--input", str(data), "--model", str(model_dir), "--output", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-m", "job", *args], capture_output=True, text=True, check=False)
    assert done.returncode == ExitCode.MISSING_COLUMNS
    record = json.loads(done.stderr.strip().splitlines()[-1])  # stderr is not a TTY here: JSON lines
    assert record["error"] == "MISSING_COLUMNS" and record["level"] == "ERROR"
    assert "'timestamp', 'quantity', 'score', 'category', 'region', 'channel'" in record["message"]


def test_sigterm_during_the_pass_cleans_up(
    tmp_path: Path, train_csv: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    def stopped(*args: object, **kwargs: object) -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # what ECS sends when the task is stopped
        return 0

    monkeypatch.setattr("job.run.stream", stopped)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "out"
    assert run("--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "t") == 128 + signal.SIGTERM
    assert not (out / "_staging").exists() and not (out / "processed").exists()
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored


def _concurrent_attempt_publishes_during_the_pass(
    monkeypatch: pytest.MonkeyPatch, spec: RunSpec, run_id: str
) -> dict[str, Any]:
    """Make a second attempt at ``run_id`` run to completion while the first one is in its streaming pass."""
    import job.run

    real = job.run.stage_and_count
    second: dict[str, Any] = {}

    def stage(*args: Any, **kwargs: Any) -> Any:
        counts = real(*args, **kwargs)
        if not second:
            monkeypatch.setattr(job.run, "stage_and_count", real)
            second["result"] = run_job(spec, RunOptions(run_id=run_id))
        return counts

    monkeypatch.setattr(job.run, "stage_and_count", stage)
    return second


def test_concurrent_attempts_at_one_run_id_one_wins_the_other_loses_cleanly(
    tmp_path: Path,
    train_csv: Path,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    second = _concurrent_attempt_publishes_during_the_pass(
        monkeypatch, RunSpec(str(train_csv), str(model_dir), str(out)), "c"
    )
    assert run("--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "c") == ExitCode.OUTPUT_FAILED
    assert "another run published it" in capsys.readouterr().err.strip().splitlines()[-1]
    assert second["result"].status == "published"
    run_dir = out / "processed" / "c"
    manifest = published(out, "c")
    assert manifest == second["result"].manifest  # the winner's run, untouched by the loser
    assert sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()) == [
        "_SUCCESS",
        "manifest.json",
        "part-00000.parquet",
        "rejected/part-00000.parquet",
        "report.html",
    ]
    assert pl.read_parquet(run_dir / "part-00000.parquet").height == manifest["rows_out"] == 4
    assert not (out / "_staging").exists()


def test_a_fresh_claim_is_left_alone_and_a_stale_one_cleared(
    tmp_path: Path, train_csv: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import time

    from job.outputs import STALE_CLAIM_SECONDS

    out = tmp_path / "out"
    claim = out / "processed" / "k" / "manifest.json"
    claim.parent.mkdir(parents=True)
    claim.write_text("{}")  # another attempt is publishing run k right now (no _SUCCESS yet) ...
    live = out / "_staging" / "k" / "other-attempt" / "_STARTED"
    live.parent.mkdir(parents=True)
    live.write_text("")  # ... and still has its staging area
    args = ["--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "k"]
    assert run(*args) == ExitCode.OUTPUT_FAILED
    assert "another run is publishing it" in capsys.readouterr().err
    assert claim.read_text() == "{}" and sorted(p.name for p in (out / "_staging").rglob("*")) == [
        "_STARTED",
        "k",
        "other-attempt",
    ]
    old = time.time() - STALE_CLAIM_SECONDS - 60
    os.utime(claim, (old, old))  # the remains of a publish that crashed long ago
    assert run(*args) == 0
    assert published(out, "k")["rows_in"] == 4 and (claim.parent / "_SUCCESS").exists()


def test_one_bad_file_among_good_ones_is_named(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a.csv", "c.csv"):
        write_csv(tmp_path / "in" / name, TRAIN_ROWS)
    bad = tmp_path / "in" / "b.csv"
    bad.write_bytes((HEADER + "\n" + TRAIN_ROWS[0] + "\n").encode() + b"5,2026-10-01T00:00:00,1,1,1,A,\xff,web\n")
    out = tmp_path / "out"
    assert (
        run("--input", tmp_path / "in", "--model", model_dir, "--output", out, "--run-id", "d")
        == ExitCode.MALFORMED_CSV
    )
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"input {bad} is not valid CSV: line 3 is not valid UTF-8" in last and "a.csv" not in last
    assert not (out / "processed").exists() and not (out / "_staging").exists()


@pytest.mark.parametrize("command", ["run", "train"])
def test_a_header_that_repeats_a_column_is_refused(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    data = write_csv(tmp_path / "in.csv", [TRAIN_ROWS[0] + ",99"], header=HEADER + ",amount")
    out = tmp_path / "out"
    if command == "run":
        args = ["run", "--input", data, "--model", model_dir, "--output", out, "--run-id", "dup"]
    else:
        args = ["train", "--input", data, "--version", "1.0.0", "--output", out]
    assert main([*map(str, args), "--log-format", "text"]) == ExitCode.MALFORMED_CSV
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(data) in last and "repeats the column(s) ['amount']" in last
    assert not out.exists() or not any(out.rglob("*"))


def test_output_pointing_at_a_published_run_is_refused(
    tmp_path: Path, train_csv: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run("--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "first") == 0
    run_dir = out / "processed" / "first"
    before = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))
    assert run("--input", train_csv, "--model", model_dir, "--output", run_dir, "--run-id", "second") == ExitCode.USAGE
    assert "it is a run, not an output root" in capsys.readouterr().err
    assert (
        sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")) == before
    )  # the published run is intact


def test_gzip_inputs_in_a_directory_and_an_empty_gzip(tmp_path: Path, model_dir: Path) -> None:
    import gzip

    body = "\n".join([HEADER, *TRAIN_ROWS]) + "\n"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv.gz").write_bytes(gzip.compress(body.encode()))
    (tmp_path / "in" / "b.CSV").write_text(body)
    (tmp_path / "in" / "c.csv.gz").write_bytes(gzip.compress(b""))  # compressed nothing: an empty input
    (tmp_path / "in" / "notes.txt").write_text("not an input")
    out = tmp_path / "out"
    assert run("--input", tmp_path / "in", "--model", model_dir, "--output", out, "--run-id", "z") == 0
    manifest = published(out, "z")
    assert [Path(o["url"]).name for o in manifest["input"]["objects"]] == ["a.csv.gz", "b.CSV", "c.csv.gz"]
    assert (manifest["rows_in"], manifest["rows_out"]) == (8, 8)
    assert run("--input", tmp_path / "in" / "c.csv.gz", "--model", model_dir, "--output", out, "--run-id", "e") == 0
    assert published(out, "e")["rows_in"] == 0


def test_blank_and_separator_only_lines_are_rejected_not_invented(tmp_path: Path) -> None:
    """With no id or timestamp to miss, an empty line must not become a row of imputed medians."""
    train = write_csv(tmp_path / "train.csv", ["1,red", "2,blue", "3,red", "4,red"], header="price,color")
    assert main(["train", "--input", str(train), "--version", "1.0.0", "--output", str(tmp_path / "m")]) == 0
    data = tmp_path / "in.csv"
    data.write_text("price,color\n1,red\n\n,\n2,\n\n")
    out = tmp_path / "out"
    assert run("--input", data, "--model", tmp_path / "m", "--output", out, "--run-id", "b") == 0
    manifest = published(out, "b")
    assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_rejected"]
    assert manifest["rows_out"] == 2 and set(manifest["rejected_by_reason"]) == {"empty_row"}
    valid = pl.read_parquet(out / "processed/b/part-00000.parquet")
    assert valid["color__red"].to_list() == [True, False]


def test_an_unwritable_output_is_an_output_error(
    tmp_path: Path, train_csv: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = train_csv / "out"  # under a regular file: no directory can be made there
    assert run("--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "w") == ExitCode.OUTPUT_FAILED
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"cannot write {out}" in last and "nothing was published" in last


def test_an_input_column_named_reject_reason_is_kept_apart(tmp_path: Path) -> None:
    """Last month's rejected rows, fixed and fed back in, carry a reject_reason column (here a feature, too)."""
    header = "id,amount,reject_reason"
    train = write_csv(tmp_path / "train.csv", ["1,5,x", "2,6,y", "3,7,x", "4,8,x"], header=header)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"id_column": "id", "numeric": ["amount"], "categorical": ["reject_reason"]}))
    model = tmp_path / "m"
    args = ["train", "--input", train, "--version", "1.0.0", "--output", model, "--schema", schema]
    assert main([str(a) for a in args]) == 0
    assert json.loads((model / "manifest.json").read_text())["model"]["categorical"] == {"reject_reason": ["x", "y"]}
    data = write_csv(tmp_path / "in.csv", ["1,5,x", "2,abc,y", ",3,y"], header=header)
    out = tmp_path / "out"
    assert run("--input", data, "--model", model, "--output", out, "--run-id", "rr") == 0
    manifest = published(out, "rr")
    assert (manifest["rows_out"], manifest["rejected_by_reason"]) == (1, {"missing_id": 1, "not_a_number:amount": 1})
    rejected = pl.read_parquet(out / "processed/rr/rejected/part-00000.parquet")
    assert rejected.columns == ["id", "amount", "input_reject_reason", "reject_reason", "raw_record"]
    assert rejected["input_reject_reason"].to_list() == ["y", "y"]
    valid = pl.read_parquet(out / "processed/rr/part-00000.parquet")
    assert valid["reject_reason__x"].to_list() == [True]


def test_a_file_whose_name_has_glob_characters_is_that_file(tmp_path: Path, model_dir: Path) -> None:
    data = write_csv(tmp_path / "october[final].csv", TRAIN_ROWS)
    write_csv(tmp_path / "octoberf.csv", TRAIN_ROWS[:1])  # what the name means as a glob
    out = tmp_path / "out"
    assert run("--input", data, "--model", model_dir, "--output", out, "--run-id", "f") == 0
    assert [o["url"] for o in published(out, "f")["input"]["objects"]] == [str(data)]


def test_remains_of_a_crashed_publish_with_no_attempt_left_are_cleared(
    tmp_path: Path, train_csv: Path, model_dir: Path
) -> None:
    out = tmp_path / "out"
    remains = out / "processed" / "k"
    (remains / "rejected").mkdir(parents=True)
    (remains / "manifest.json").write_text("{}")  # claimed, part of the data moved in, then the task was killed
    (remains / "part-00000.parquet").write_bytes(b"half")
    assert run("--input", train_csv, "--model", model_dir, "--output", out, "--run-id", "k") == 0
    assert published(out, "k")["rows_in"] == 4
    assert pl.read_parquet(remains / "part-00000.parquet").height == 4


def test_rejected_rows_keep_their_cells_exactly(tmp_path: Path, model_dir: Path) -> None:
    """Rejected values are copied out of the scan's buffers (job.transform._detached): text, "" and null unchanged."""
    long_text = "a value longer than twelve bytes, so Polars keeps it in a shared buffer"
    rows = [
        f'7,2026-10-01T00:00:00,abc,"",2.0,"{long_text}",north,web',  # not a number; quoted empty quantity
        ",2026-10-01T00:00:00,1,,2.0,A,,web",  # missing id; empty quantity and region
        "8,2026-10-01T00:00:00,1,1,2.0,A,north,web",
    ]
    data = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out"
    assert run("--input", data, "--model", model_dir, "--output", out, "--run-id", "x") == 0
    rejected = pl.read_parquet(out / "processed/x/rejected/part-00000.parquet").sort("reject_reason")
    assert rejected["reject_reason"].to_list() == ["missing_id", "not_a_number:amount"]
    assert rejected["id"].to_list() == [None, "7"]
    assert rejected["amount"].to_list() == ["1", "abc"]
    assert rejected["quantity"].to_list() == [None, ""]
    assert rejected["category"].to_list() == ["A", long_text]
    assert rejected["region"].to_list() == [None, "north"]
