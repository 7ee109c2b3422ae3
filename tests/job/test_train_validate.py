"""`python -m job train` and `python -m job validate`, and agreement with the pandas + scikit-learn peer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from job.artifact import load_model, read_manifest
from job.cli import main
from job.errors import ExitCode
from job.peer import fit_peer, max_difference, run_peer
from job.run import RunOptions, RunSpec, run_job
from job.schema import DEFAULT_SCHEMA
from job.synthetic import write_month
from job.validate import validate_model
from tests.job.conftest import write_csv


def test_train_cli_writes_a_loadable_model(tmp_path: Path, month_csv: Path) -> None:
    out = tmp_path / "m"
    assert main(["train", "--input", str(month_csv), "--version", "1.2.0", "--output", str(out)]) == 0
    manifest = read_manifest(out)
    assert manifest["version"] == "1.2.0" and manifest["training_rows"] < 20_000  # bad rows are not trained on
    assert load_model(out / "model.pkl", manifest["sha256"]).schema == DEFAULT_SCHEMA


def test_train_with_a_schema_file_and_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "t.csv", ["2026-10-01,1.5,x", "2026-10-02,2.5,y"], header="day,v,k")
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps({"timestamp_column": "day", "timestamp_format": "%Y-%m-%d", "numeric": ["v"], "categorical": ["k"]})
    )
    out = tmp_path / "m"
    assert (
        main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(out), "--schema", str(schema)]) == 0
    )
    assert read_manifest(out)["schema"]["timestamp_column"] == "day"
    assert main(["train", "--input", str(data), "--version", "1.0", "--output", str(out)]) == ExitCode.USAGE
    schema.write_text("{not json")
    assert (
        main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(out), "--schema", str(schema)])
        == 2  # refused before anything is read: out already holds a model
    )
    fresh = str(tmp_path / "fresh")
    assert main(["train", "--input", str(data), "--version", "0.1.0", "--output", fresh, "--schema", str(schema)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_train_infers_a_schema_for_other_data(tmp_path: Path) -> None:
    data = write_csv(
        tmp_path / "t.csv",
        ["1,2026-10-01 10:00:00,3.5,red", "2,2026-10-02 11:00:00,4.5,blue"],
        header="id,when,size,colour",
    )
    out = tmp_path / "m"
    assert main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(out)]) == 0
    schema = read_manifest(out)["schema"]
    assert (schema["id_column"], schema["timestamp_column"]) == ("id", "when")
    assert [f["name"] for f in schema["numeric"]] == ["size"] and [c["name"] for c in schema["categorical"]] == [
        "colour"
    ]


def test_validate_passes_and_writes_the_report(
    tmp_path: Path, month_csv: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "validation.json"
    code = main(["validate", "--model", str(model_dir), "--test-data", str(month_csv), "--report", str(report_path)])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["passed"] is True and report["rows_in"] == 20_000
    assert {c["name"] for c in report["checks"]} == {
        "digest",
        "schema",
        "transform",
        "finite_outputs",
        "rejected_share",
        "throughput",
    }
    assert "PASS  digest" in capsys.readouterr().out


def test_validate_fails_on_too_many_rejects_missing_columns_and_bad_digest(tmp_path: Path, model_dir: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", ["1,nope,1,1,1,A,north,web", "2,2026-10-01T00:00:00,1,1,1,A,north,web"])
    report = validate_model(str(model_dir), str(bad), max_rejected_share=0.1)
    assert not report["passed"] and report["rejected_share"] == 0.5
    assert [c["name"] for c in report["checks"] if not c["passed"]] == ["rejected_share"]
    narrow = write_csv(tmp_path / "narrow.csv", ["1,2"], header="id,amount")
    assert [c["name"] for c in validate_model(str(model_dir), str(narrow))["checks"] if not c["passed"]] == ["schema"]
    mismatch = validate_model(str(model_dir), str(bad), expected_sha256="0" * 64)
    assert not mismatch["passed"] and "digest mismatch" in mismatch["checks"][0]["detail"]
    assert main(["validate", "--model", str(model_dir), "--test-data", str(bad)]) == 1


def test_job_agrees_with_pandas_and_scikit_learn(tmp_path: Path, month_csv: Path) -> None:
    train = write_month(tmp_path / "train.csv", 5_000, seed=3)
    assert main(["train", "--input", str(train), "--version", "1.0.0", "--output", str(tmp_path / "m")]) == 0
    result = run_job(RunSpec(str(month_csv), str(tmp_path / "m"), str(tmp_path / "out")), RunOptions(run_id="a"))
    peer = run_peer(
        str(month_csv), str(tmp_path / "peer.parquet"), DEFAULT_SCHEMA, fit_peer(str(train), DEFAULT_SCHEMA)
    )
    assert result.manifest is not None
    assert peer == {k: result.manifest[k] for k in ("rows_in", "rows_out", "rows_rejected")}
    job_out = tmp_path / "out/processed/a/part-00000.parquet"
    assert max_difference(str(job_out), str(tmp_path / "peer.parquet")) <= 1e-9


@pytest.mark.parametrize(
    ("content", "failed", "words"),
    [
        (b"", "transform", "0 rows"),
        (b'id,timestamp,amount,quantity,score,category,region,channel\n1,"2026,A\n', "transform", "not valid CSV"),
        (
            b"id,timestamp,amount,quantity,score,category,region,channel\n1,2,3,4,5,6,7,8,9\n",
            "rejected_share",
            "100.0000% rejected",
        ),
    ],
    ids=["empty", "bad-quoting", "ragged"],
)
def test_validate_reports_unusable_test_data_as_a_failed_check(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str], content: bytes, failed: str, words: str
) -> None:
    data = tmp_path / "test.csv"
    data.write_bytes(content)
    report_path = tmp_path / "report.json"
    args = ["validate", "--model", str(model_dir), "--test-data", str(data), "--report", str(report_path)]
    assert main([*args, "--log-format", "json"]) == ExitCode.UNEXPECTED  # 1: the model did not pass
    assert "Traceback" not in capsys.readouterr().err
    report = json.loads(report_path.read_text())
    assert report["passed"] is False
    (check,) = [c for c in report["checks"] if c["name"] == failed]
    assert not check["passed"] and words in check["detail"]


def test_train_records_its_input_and_refuses_to_overwrite_a_model(
    tmp_path: Path, month_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from job.artifact import sha256_file

    out = tmp_path / "model"
    assert main(["train", "--input", str(month_csv), "--version", "1.2.0", "--output", str(out)]) == 0
    first = read_manifest(out)
    lineage = first["training_input"]
    assert lineage["location"] == str(month_csv) and lineage["rows"] == first["training_rows"]
    [source] = lineage["objects"]
    assert source["size"] == month_csv.stat().st_size and source["sha256"] == sha256_file(month_csv)

    capsys.readouterr()
    again = ["train", "--input", str(month_csv), "--version", "1.3.0", "--output", str(out)]
    assert main(again) == ExitCode.USAGE
    assert "already holds model.pkl — pass --overwrite" in capsys.readouterr().err
    assert read_manifest(out) == first  # untouched
    assert main([*again, "--overwrite"]) == 0
    assert read_manifest(out)["version"] == "1.3.0"
