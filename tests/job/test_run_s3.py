"""The container's run against moto's server: SSM locations, S3 in and out, metrics, and AWS-side errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
from botocore.stub import Stubber

from job import s3
from job.artifact import read_manifest
from job.cli import main
from job.errors import ExitCode, JobError
from job.model_source import fetch_model
from job.params import read_locations
from tests.conftest import AwsCredentials

PREFIX = "/ds/preprocessing"
INPUT, OUTPUT, ARTIFACTS = (f"ds-{kind}-dev-123456789012-us-east-1" for kind in ("input", "output", "artifacts"))
MODEL_KEY = "models/1.0.0/model.pkl"


@pytest.fixture
def env(aws: str, month_csv: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A deployed dev environment on moto: buckets, the month's input, a promoted model, parameters."""
    s3.reset_clients()
    client = boto3.client("s3")
    for bucket in (INPUT, OUTPUT, ARTIFACTS):
        client.create_bucket(Bucket=bucket)
    client.upload_file(str(month_csv), INPUT, "raw/monthly_data.csv")
    client.upload_file(str(model_dir / "model.pkl"), ARTIFACTS, MODEL_KEY)
    client.upload_file(str(model_dir / "manifest.json"), ARTIFACTS, "models/1.0.0/manifest.json")
    params = {
        "input-bucket": INPUT,
        "input-key": "raw/monthly_data.csv",
        "output-bucket": OUTPUT,
        "artifact-bucket": ARTIFACTS,
        "model-key": MODEL_KEY,
        "model-sha256": read_manifest(model_dir)["sha256"],
    }
    ssm = boto3.client("ssm")
    for name, value in params.items():
        ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String")
    monkeypatch.setenv("DS_PARAMETER_PREFIX", PREFIX)
    monkeypatch.setenv("DS_ENVIRONMENT", "dev")
    monkeypatch.setenv("DS_RUN_ID", "exec-1")
    monkeypatch.setenv("DS_INPUT_KEY", "")
    return {"s3": client, "ssm": ssm, "params": params}


def container_run(*extra: str) -> int:
    """What the task runs: ``python -m job run`` with everything from the environment."""
    return main(["run", "--log-format", "json", *extra])


def keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    """The run's output and staging keys; the run's own record (runs/{run_id}.json, job.run_record) is history,
    not output, and is checked by the tests that are about it."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed if not o["Key"].startswith("runs/"))


def test_whole_run_in_one_account(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    client = env["s3"]
    assert container_run() == 0
    assert keys(client, OUTPUT) == [
        "processed/exec-1/_SUCCESS",
        "processed/exec-1/manifest.json",
        "processed/exec-1/part-00000.parquet",
        "processed/exec-1/rejected/part-00000.parquet",
        "processed/exec-1/report.html",
    ]
    manifest = json.loads(client.get_object(Bucket=OUTPUT, Key="processed/exec-1/manifest.json")["Body"].read())
    assert manifest["rows_in"] == 20_000 == manifest["rows_out"] + manifest["rows_rejected"]
    assert manifest["model"] == {
        "version": "1.0.0",
        "sha256": env["params"]["model-sha256"],
        "bucket": ARTIFACTS,
        "key": MODEL_KEY,
    }
    head = client.head_object(Bucket=INPUT, Key="raw/monthly_data.csv")
    assert (manifest["input"]["bucket"], manifest["input"]["key"]) == (INPUT, "raw/monthly_data.csv")
    assert manifest["input"]["etag"] == head["ETag"].strip('"')
    body = client.get_object(Bucket=OUTPUT, Key="processed/exec-1/part-00000.parquet")["Body"].read()
    assert pl.read_parquet(io.BytesIO(body)).height == manifest["rows_out"]
    # metrics recorded in DS/Pipeline with the Environment dimension
    listed = boto3.client("cloudwatch").list_metrics(Namespace="DS/Pipeline")["Metrics"]
    run_metrics = {"ProcessingTime", "RowsIn", "RowsOut", "RowsRejected", "MaxPSI", "DriftedFeatures"}
    assert {m["MetricName"] for m in listed} == run_metrics | {"PSI", "UnseenCategoryShare"}
    env = [{"Name": "Environment", "Value": "dev"}]
    assert all(m["Dimensions"] == env for m in listed if m["MetricName"] in run_metrics)
    per_feature = {m["Dimensions"][1]["Value"] for m in listed if m["MetricName"] == "PSI"}
    assert per_feature == {"amount", "quantity", "score", "category", "region", "channel"}
    assert manifest["drift"]["available"] and manifest["drift"]["max_psi"] > 0
    # logs are JSON lines
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[-1]["rows_in"] == 20_000


def test_rerun_of_a_finished_run_does_nothing(env: dict[str, Any]) -> None:
    client = env["s3"]
    assert container_run() == 0
    first = client.head_object(Bucket=OUTPUT, Key="processed/exec-1/manifest.json")["LastModified"]
    client.delete_object(Bucket=INPUT, Key="raw/monthly_data.csv")  # would fail if it were read again
    assert container_run() == 0
    assert client.head_object(Bucket=OUTPUT, Key="processed/exec-1/manifest.json")["LastModified"] == first


def test_overwrite_and_input_key_override(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = env["s3"]
    assert container_run() == 0
    client.put_object(
        Bucket=INPUT, Key="raw/other.csv", Body=b"id,timestamp,amount,quantity,score,category,region,channel\n"
    )
    monkeypatch.setenv("DS_INPUT_KEY", "raw/other.csv")
    assert container_run("--overwrite") == 0
    manifest = json.loads(client.get_object(Bucket=OUTPUT, Key="processed/exec-1/manifest.json")["Body"].read())
    assert (manifest["input"]["key"], manifest["rows_in"]) == ("raw/other.csv", 0)
    assert not keys(client, OUTPUT, "_staging/")


def test_missing_parameters_are_named(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    env["ssm"].delete_parameter(Name=f"{PREFIX}/output-bucket")
    env["ssm"].delete_parameter(Name=f"{PREFIX}/model-sha256")
    assert container_run() == ExitCode.PARAMETER_MISSING
    message = capsys.readouterr().err
    assert f"{PREFIX}/output-bucket" in message and f"{PREFIX}/model-sha256" in message


def test_no_model_promoted(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("model-key", "model-sha256"):
        env["ssm"].put_parameter(Name=f"{PREFIX}/{name}", Value="NONE", Type="String", Overwrite=True)
    assert container_run() == ExitCode.MODEL_MISSING
    assert "dsctl model promote" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("model-sha256", "0" * 64, ExitCode.DIGEST_MISMATCH),
        ("model-key", "models/9.9.9/model.pkl", ExitCode.MODEL_MISSING),
        ("input-key", "raw/missing.csv", ExitCode.INPUT_NOT_FOUND),
        ("output-bucket", "no-such-output-bucket", ExitCode.OUTPUT_FAILED),
    ],
)
def test_parameter_problems_have_their_exit_code(env: dict[str, Any], name: str, value: str, code: ExitCode) -> None:
    env["ssm"].put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String", Overwrite=True)
    assert container_run() == code
    assert not keys(env["s3"], OUTPUT, "processed/")


def test_metrics_failure_only_warns(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = boto3.client("cloudwatch", endpoint_url="http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(s3, "cloudwatch_client", lambda: broken)
    monkeypatch.setattr(s3, "reset_clients", lambda: None)
    assert container_run() == 0
    assert "could not send metrics" in capsys.readouterr().err
    assert "processed/exec-1/_SUCCESS" in keys(env["s3"], OUTPUT)


def failing_client(monkeypatch: pytest.MonkeyPatch, service: str, operation: str, code: str, status: int) -> None:
    """Make the job's ``service`` client answer ``operation`` with an AWS error (moto never denies access)."""
    s3.reset_clients()
    client = boto3.client(service)
    stub = Stubber(client)
    stub.add_client_error(operation, service_error_code=code, http_status_code=status)
    stub.activate()
    monkeypatch.setattr(s3, f"{service}_client", lambda: client)


def test_cross_account_access_denied_points_at_both_policies(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_client(monkeypatch, "s3", "get_object", "AccessDenied", 403)
    bucket = "ds-artifacts-dev-987654321098-us-east-1"  # another account than moto's 123456789012
    with pytest.raises(JobError) as err:
        fetch_model(f"s3://{bucket}/{MODEL_KEY}", "0" * 64, artifact_store=True)
    message = err.value.message
    assert err.value.code == ExitCode.ACCESS_DENIED
    assert bucket in message and "cross-account" in message
    assert "bucket policy" in message and "KMS key policy" in message


def test_access_denied_on_input_names_the_bucket(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_client(monkeypatch, "s3", "head_object", "403", 403)
    from job.sources import resolve_inputs

    with pytest.raises(JobError) as err:
        resolve_inputs(f"s3://{INPUT}/raw/monthly_data.csv")
    assert err.value.code == ExitCode.ACCESS_DENIED and INPUT in err.value.message


def test_access_denied_on_parameters(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_client(monkeypatch, "ssm", "get_parameters_by_path", "AccessDeniedException", 400)
    with pytest.raises(JobError) as err:
        read_locations(PREFIX)
    assert err.value.code == ExitCode.ACCESS_DENIED and "ssm:GetParametersByPath" in err.value.message


def test_local_cli_reads_and_writes_s3_urls(env: dict[str, Any], model_dir: Path) -> None:
    sha = env["params"]["model-sha256"]
    args = [
        "--input",
        f"s3://{INPUT}/raw/",
        "--model",
        f"s3://{ARTIFACTS}/models/1.0.0/",
        "--output",
        f"s3://{OUTPUT}/lab",
    ]
    assert main(["run", "--run-id", "lab1", *args]) == 0  # digest from the manifest beside the model
    assert "lab/processed/lab1/_SUCCESS" in keys(env["s3"], OUTPUT)
    assert main(["run", "--run-id", "lab2", "--model-sha256", sha, *args]) == 0
    env["s3"].put_object(Bucket=INPUT, Key="raw/notes.txt", Body=b"not a csv")
    glob_args = ["--input", f"s3://{INPUT}/raw/*.csv", *args[2:]]
    assert main(["run", "--run-id", "lab3", *glob_args]) == 0  # the glob skips notes.txt
    manifest = json.loads(env["s3"].get_object(Bucket=OUTPUT, Key="lab/processed/lab3/manifest.json")["Body"].read())
    assert [o["url"] for o in manifest["input"]["objects"]] == [f"s3://{INPUT}/raw/monthly_data.csv"]


def test_interrupted_publish_leaves_nothing_that_looks_published(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from job.outputs import S3Root

    real_put = S3Root.put

    def put(self: S3Root, rel: str, data: bytes, exclusive: bool = False) -> None:
        if rel.endswith("_SUCCESS"):
            raise KeyboardInterrupt  # the task is stopped just before the last write
        real_put(self, rel, data, exclusive)

    monkeypatch.setattr(S3Root, "put", put)
    assert container_run() == 130
    assert keys(env["s3"], OUTPUT) == []  # no data files, no manifest, no staging left behind
    record = json.loads(env["s3"].get_object(Bucket=OUTPUT, Key="runs/exec-1.json")["Body"].read())
    assert record["status"] == "STOPPED" and record["exit_code"] == 130  # but the interrupted run left its record
    assert record["error"] == "STOPPED"  # stopped by a signal, not failed: `runs list`/`status` show it as such
    monkeypatch.setattr(S3Root, "put", real_put)
    assert container_run() == 0  # and the same run id can simply run again
    assert "processed/exec-1/_SUCCESS" in keys(env["s3"], OUTPUT)


def test_prod_run_reads_the_model_from_the_dev_artifact_store(
    aws: str, month_csv: Path, model_dir: Path, prod_credentials: AwsCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data path across accounts: prod's task reads dev's store (what policies allow is checked elsewhere)."""
    dev_s3 = boto3.client("s3")
    dev_s3.create_bucket(Bucket=ARTIFACTS)
    dev_s3.upload_file(str(model_dir / "model.pkl"), ARTIFACTS, MODEL_KEY)
    for name, value in prod_credentials.env().items():
        monkeypatch.setenv(name, value)
    s3.reset_clients()
    prod = prod_credentials.session(aws)  # boto3.client() would reuse the default session's dev credentials
    prod_s3 = prod.client("s3")
    prod_in, prod_out = "ds-input-prod-987654321098-us-east-1", "ds-output-prod-987654321098-us-east-1"
    for bucket in (prod_in, prod_out):
        prod_s3.create_bucket(Bucket=bucket)
    prod_s3.upload_file(str(month_csv), prod_in, "raw/monthly_data.csv")
    params = {
        "input-bucket": prod_in,
        "input-key": "raw/monthly_data.csv",
        "output-bucket": prod_out,
        "artifact-bucket": ARTIFACTS,
        "model-key": MODEL_KEY,
        "model-sha256": read_manifest(model_dir)["sha256"],
    }
    for name, value in params.items():
        prod.client("ssm").put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String")
    monkeypatch.setenv("DS_PARAMETER_PREFIX", PREFIX)
    monkeypatch.setenv("DS_ENVIRONMENT", "prod")
    assert main(["run", "--run-id", "prod-1"]) == 0
    manifest = json.loads(prod_s3.get_object(Bucket=prod_out, Key="processed/prod-1/manifest.json")["Body"].read())
    assert manifest["model"]["bucket"] == ARTIFACTS and manifest["rows_in"] == 20_000
    listed = prod.client("cloudwatch").list_metrics(Namespace="DS/Pipeline")["Metrics"]
    assert {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "Environment"} == {"prod"}
    assert "_staging/prod-1/" not in str(prod_s3.list_objects_v2(Bucket=prod_out))


def test_concurrent_attempts_on_s3_one_wins_the_other_loses_cleanly(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import job.run
    from job.run import RunOptions, run_job, spec_from_ssm

    real = job.run.stage_and_count
    second: dict[str, Any] = {}

    def stage(*args: Any, **kwargs: Any) -> Any:
        counts = real(*args, **kwargs)
        if not second:  # a second attempt at exec-1 runs to completion while the first is in its pass
            monkeypatch.setattr(job.run, "stage_and_count", real)
            second["result"] = run_job(spec_from_ssm(PREFIX), RunOptions(run_id="exec-1", environment="dev"))
        return counts

    monkeypatch.setattr(job.run, "stage_and_count", stage)
    monkeypatch.setattr(s3, "reset_clients", lambda: None)
    assert container_run() == ExitCode.OUTPUT_FAILED
    assert "another run published it" in capsys.readouterr().err
    client = env["s3"]
    assert keys(client, OUTPUT) == [
        "processed/exec-1/_SUCCESS",
        "processed/exec-1/manifest.json",
        "processed/exec-1/part-00000.parquet",
        "processed/exec-1/rejected/part-00000.parquet",
        "processed/exec-1/report.html",
    ]
    manifest = json.loads(client.get_object(Bucket=OUTPUT, Key="processed/exec-1/manifest.json")["Body"].read())
    assert manifest == second["result"].manifest
    body = client.get_object(Bucket=OUTPUT, Key="processed/exec-1/part-00000.parquet")["Body"].read()
    assert pl.read_parquet(io.BytesIO(body)).height == manifest["rows_out"]


def test_output_prefix_that_is_a_published_run_is_refused(env: dict[str, Any]) -> None:
    assert container_run() == 0
    before = keys(env["s3"], OUTPUT)
    args = ["--input", f"s3://{INPUT}/raw/", "--model", f"s3://{ARTIFACTS}/models/1.0.0/"]
    assert main(["run", "--run-id", "x", *args, "--output", f"s3://{OUTPUT}/processed/exec-1/"]) == ExitCode.USAGE
    assert keys(env["s3"], OUTPUT) == before


def test_an_s3_prefix_of_gzip_csvs(env: dict[str, Any], month_csv: Path) -> None:
    import gzip

    env["s3"].put_object(Bucket=INPUT, Key="gz/month.csv.gz", Body=gzip.compress(month_csv.read_bytes()))
    args = ["--input", f"s3://{INPUT}/gz/", "--model", f"s3://{ARTIFACTS}/models/1.0.0/", "--output", f"s3://{OUTPUT}"]
    assert main(["run", "--run-id", "gz", *args]) == 0
    manifest = json.loads(env["s3"].get_object(Bucket=OUTPUT, Key="processed/gz/manifest.json")["Body"].read())
    assert manifest["rows_in"] == 20_000 == manifest["rows_out"] + manifest["rows_rejected"]


def test_metrics_to_an_unresponsive_endpoint_give_up_quickly(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CloudWatch that accepts connections and never answers must not hold a published run for minutes: the
    job's CloudWatch client times out (here after a shrunk ``METRICS_TIMEOUT_S``, so the test does not sit out the
    production 3 s twice; the next test bounds the production default), warns and the run stays published."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # connections complete in the backlog; nothing ever answers
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(s3, "METRICS_TIMEOUT_S", 0.2)
    s3.reset_clients()
    monkeypatch.setattr(s3, "reset_clients", lambda: None)
    started = time.monotonic()
    try:
        assert container_run() == 0
    finally:
        listener.close()
    assert time.monotonic() - started < 30
    assert "could not send metrics" in capsys.readouterr().err
    assert "processed/exec-1/_SUCCESS" in keys(env["s3"], OUTPUT)
    used = s3.cloudwatch_client().meta.config  # the client the run gave up with: the setting is what bounded it
    assert (used.connect_timeout, used.read_timeout) == (0.2, 0.2)


def test_metrics_give_up_within_a_bounded_time_by_default() -> None:
    """The production default bounds a CloudWatch call that never answers, retries and backoff included, well
    under 30 s (botocore's own defaults, 60 s per read and more attempts, could hold a published run for minutes)."""
    config = s3.metrics_config()
    assert config.retries["mode"] == "standard" and config.retries["max_attempts"] == s3.METRICS_ATTEMPTS
    attempts = config.retries["max_attempts"]
    # botocore's standard mode waits at most min(2 ** (n - 1), 20) s before attempt n + 1 (its largest base, 1 s)
    backoff = sum(min(2 ** (n - 1), 20) for n in range(1, attempts))
    worst = attempts * (config.connect_timeout + config.read_timeout) + backoff
    assert worst < 30, worst
    assert (config.connect_timeout, config.read_timeout) == (s3.METRICS_TIMEOUT_S,) * 2 == (3.0, 3.0)


@pytest.mark.parametrize("failure", ["sigterm-during-metrics", "staging-cleanup-denied"])
def test_nothing_after_publishing_fails_a_published_run(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failure: str
) -> None:
    import os
    import signal

    import job.run

    if failure == "sigterm-during-metrics":

        def metrics(*args: object) -> bool:
            os.kill(os.getpid(), signal.SIGTERM)  # ECS stops the task while the metrics are being sent
            return True

        monkeypatch.setattr(job.run, "put_run_metrics", metrics)
    else:

        def clear(root: Any, staging: str) -> None:
            raise JobError(ExitCode.ACCESS_DENIED, f"access denied to delete {staging}")

        monkeypatch.setattr(job.run, "clear_staging", clear)
    assert container_run() == 0
    assert "is published; what followed was cut short" in capsys.readouterr().err
    assert "processed/exec-1/_SUCCESS" in keys(env["s3"], OUTPUT)


def test_an_s3_glob_stays_within_its_level_like_a_local_one(env: dict[str, Any], month_csv: Path) -> None:
    from job.sources import resolve_inputs

    for key in ("raw/old/2025.csv", "raw/archive/deep/x.csv"):
        env["s3"].put_object(Bucket=INPUT, Key=key, Body=b"id\n1\n")
    level = resolve_inputs(f"s3://{INPUT}/raw/*.csv")
    assert level.urls == [f"s3://{INPUT}/raw/monthly_data.csv"]
    deep = resolve_inputs(f"s3://{INPUT}/raw/**/*.csv")
    assert f"s3://{INPUT}/raw/archive/deep/x.csv" in deep.urls and f"s3://{INPUT}/raw/old/2025.csv" in deep.urls
    with pytest.raises(JobError) as err:
        resolve_inputs(f"s3://{INPUT}/*.csv")
    assert err.value.code == ExitCode.INPUT_NOT_FOUND
