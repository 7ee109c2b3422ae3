"""dsctl run and dsctl status against the deployed environments on moto.

moto's Step Functions does not run ECS tasks, so where a run must finish, the test plays
the job: while dsctl waits between polls, it marks the execution finished in moto's
backend (the server runs in this process) and writes the run manifest the job would write.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.models import stepfunctions_backends

from dsctl import runs
from dsctl.envs import Connection
from tests.conftest import REGION
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, train_model, two_accounts

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below

MANIFEST = {"rows_in": 1000, "rows_out": 990, "rows_rejected": 10, "rejected_by_reason": {"amount_below_min": 10}}


def _finish(accounts: TwoAccounts, env: str, status: str, **extra: Any) -> None:
    """Play the job: end the newest execution with ``status`` (and, on success, write its run manifest)."""
    environment = accounts.prod if env == "prod" else accounts.dev
    backend = stepfunctions_backends[environment.account_id][REGION]
    machine = backend.describe_state_machine(environment.state_machine_arn)
    execution = machine.executions[-1]
    execution.status = status
    execution.stop_date = datetime.now(UTC)
    for key, value in extra.items():
        setattr(execution, key, value)
    if status == "SUCCEEDED":
        session = accounts.prod_session if env == "prod" else accounts.dev_session
        session.client("s3").put_object(
            Bucket=environment.output_bucket,
            Key=f"processed/{execution.name}/manifest.json",
            Body=json.dumps({"run_id": execution.name, **MANIFEST}).encode(),
        )


def test_run_starts_a_readably_named_execution(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    result = dsctl("run", "--env", "prod", "--json")
    assert result.code == 0, result.err
    started = result.json()
    assert started["mode"] == "aws"
    assert re.fullmatch(r"run-\d{8}-\d{6}-[0-9a-f]{4}", started["name"])
    sfn = two_accounts.prod_session.client("stepfunctions")
    described = sfn.describe_execution(executionArn=started["execution_arn"])
    assert json.loads(described["input"]) == {"inputKey": ""}  # empty: the job reads the input-key parameter
    _finish(two_accounts, "prod", "SUCCEEDED")  # one run per environment at a time: the next starts after it
    keyed = dsctl("run", "--env", "prod", "--input-key", "raw/2026-10.csv", "--json").json()
    assert json.loads(sfn.describe_execution(executionArn=keyed["execution_arn"])["input"]) == {
        "inputKey": "raw/2026-10.csv"
    }


def test_run_wait_follows_the_execution_and_prints_counts(
    two_accounts: TwoAccounts, dsctl: Dsctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "_sleep", lambda seconds: _finish(two_accounts, "dev", "SUCCEEDED"))
    result = dsctl("run", "--env", "dev", "--wait", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["status"] == "SUCCEEDED"
    assert report["output"] == f"s3://{two_accounts.dev.output_bucket}/processed/{report['name']}/"
    assert report["counts"] == {"run_id": report["name"], "rows_in": 1000, "rows_out": 990, "rows_rejected": 10}
    assert report["duration_seconds"] >= 0

    monkeypatch.setattr(
        runs,
        "_sleep",
        lambda seconds: _finish(two_accounts, "dev", "FAILED", error="States.TaskFailed", cause="exit 5"),
    )
    failed = dsctl("run", "--env", "dev", "--wait")
    assert failed.code == 1
    assert "FAILED" in failed.out and "States.TaskFailed" in failed.out


def test_a_bad_poll_interval_is_refused_before_anything_starts(
    two_accounts: TwoAccounts, dsctl: Dsctl, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as usage:  # time.sleep(-1) would raise ValueError after the execution started
        dsctl("run", "--env", "dev", "--wait", "--poll-seconds", "-1")
    assert usage.value.code == 2 and "not a number of seconds" in capsys.readouterr().err
    sfn = two_accounts.dev_session.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=two_accounts.dev.state_machine_arn)["executions"] == []


def test_run_uses_the_local_runner_when_the_local_environment_is_up(
    two_accounts: TwoAccounts, dsctl: Dsctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seam of CONTRACTS §10; the real local runner is exercised by the e2e tests."""
    import dsctl.commands.run as run_command
    import dsctl.local.runner as runner

    calls: list[dict[str, Any]] = []

    def fake_runner(env: Any, *, run_id: str, input_key: str | None, session: Any, **_: Any) -> dict[str, Any]:
        calls.append({"env": env.name, "run_id": run_id, "input_key": input_key, "session": session})
        return {"run_id": run_id, **MANIFEST}

    monkeypatch.setattr(run_command, "local_mode", lambda: SimpleNamespace(endpoint=two_accounts.endpoint))
    monkeypatch.setattr(runner, "run_job_locally", fake_runner)
    result = dsctl("run", "--env", "prod", "--input-key", "raw/x.csv", "--json")
    assert result.code == 0, result.err
    assert result.json()["mode"] == "local" and result.json()["counts"]["rows_out"] == 990
    assert calls[0]["env"] == "prod" and calls[0]["input_key"] == "raw/x.csv"
    assert calls[0]["session"].client("sts").get_caller_identity()["Account"] == two_accounts.prod.account_id


def test_a_failed_local_run_is_a_result_with_its_cause_also_in_json(
    two_accounts: TwoAccounts, dsctl: Dsctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like a failed execution with --wait: exit 1 and, with --json, one document naming the run and the cause."""
    import dsctl.commands.run as run_command
    import dsctl.local.runner as runner
    from dsctl.output import EXIT_FAILED, CommandError

    def failing_runner(env: Any, **_: Any) -> dict[str, Any]:
        raise CommandError("local runner: the job failed in dev with exit code 9 (INPUT_NOT_FOUND): no", EXIT_FAILED)

    monkeypatch.setattr(run_command, "local_mode", lambda: SimpleNamespace(endpoint=two_accounts.endpoint))
    monkeypatch.setattr(runner, "run_job_locally", failing_runner)
    result = dsctl("run", "--env", "dev", "--input-key", "missing.csv", "--wait", "--json")
    assert result.code == 1
    document = result.json()
    assert document["status"] == "FAILED" and "INPUT_NOT_FOUND" in document["cause"]
    assert document["name"].startswith("run-") and document["output"].endswith(f"/processed/{document['name']}/")
    table = dsctl("run", "--env", "dev", "--input-key", "missing.csv")
    assert table.code == 1 and "FAILED" in table.out and "INPUT_NOT_FOUND" in table.out


def test_status_shows_every_environment(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = train_model(tmp_path, "1.0.0")
    assert dsctl("model", "publish", "--env", "dev", "1.0.0", str(directory)).code == 0
    assert dsctl("model", "promote", "--env", "prod", "1.0.0", "--force", "--reason", "status test").code == 0
    monkeypatch.setattr(runs, "_sleep", lambda seconds: _finish(two_accounts, "prod", "SUCCEEDED"))
    run = dsctl("run", "--env", "prod", "--wait", "--json").json()

    result = dsctl("status", "--json")
    assert result.code == 1, result.err  # dev has no model promoted: a run there would fail
    envs = {report["env"]: report for report in result.json()["environments"]}
    assert envs["dev"]["model"] == {"version": None, "model_key": "NONE", "digest": "no model promoted"}
    assert envs["dev"]["healthy"] is False and envs["prod"]["healthy"] is True
    prod = envs["prod"]
    assert prod["model"]["version"] == "1.0.0" and prod["model"]["digest"] == "verified"
    # The image column: the builder builds; prod shows its pin, not yet deployed (moto's task runs a tag), and that
    # the shipped pin has no recorded upstream run.
    assert envs["dev"]["image"]["upstream"] == "builds"
    assert prod["image"]["pinned"] == two_accounts.prod.image_digest and prod["image"]["running"] is None
    assert prod["image"]["upstream"] == "no recorded run in dev"
    assert prod["executions"][0]["name"] == run["name"] and prod["executions"][0]["status"] == "SUCCEEDED"
    assert prod["last_run"] == {"run_id": run["name"], "rows_in": 1000, "rows_out": 990, "rows_rejected": 10}
    assert prod["alarms"] == {
        "ds-preprocessing-failed-executions-prod": "OK",
        "ds-preprocessing-rows-rejected-prod": "OK",
    }
    two_accounts.prod_session.client("cloudwatch").set_alarm_state(
        AlarmName="ds-preprocessing-failed-executions-prod", StateValue="ALARM", StateReason="test"
    )
    assert "ds-preprocessing status" in dsctl("status").out

    # The promoted object replaced in the store (with a checksum S3 keeps): status says the digest no longer matches.
    two_accounts.dev_session.client("s3").put_object(
        Bucket=two_accounts.dev.artifact_bucket, Key="models/1.0.0/model.pkl", Body=b"other", ChecksumAlgorithm="SHA256"
    )
    prod = {r["env"]: r for r in dsctl("status", "--json").json()["environments"]}["prod"]
    assert prod["model"]["digest"] == "MISMATCH"
    assert prod["alarms"]["ds-preprocessing-failed-executions-prod"] == "ALARM"


def _promoted_everywhere(dsctl: Dsctl, tmp_path: Path, version: str) -> Path:
    """Publish ``version`` and promote it in both environments; return the trained model's directory."""
    directory = train_model(tmp_path, version)
    assert dsctl("model", "publish", "--env", "dev", version, str(directory)).code == 0
    for env in ("dev", "prod"):
        assert dsctl("model", "promote", "--env", env, version, "--force", "--reason", "status test").code == 0
    return directory


def test_status_computes_the_digest_checks_the_parameters_and_fails_when_unhealthy(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _promoted_everywhere(dsctl, tmp_path, "2.1.0")
    result = dsctl("status", "--json")
    assert result.code == 0, result.out
    assert all(r["healthy"] for r in result.json()["environments"])

    # `aws s3 cp` over the model, one byte changed, no checksum kept by S3: status computes the digest itself.
    original = (directory / "model.pkl").read_bytes()
    two_accounts.dev_session.client("s3").put_object(
        Bucket=two_accounts.dev.artifact_bucket,
        Key="models/2.1.0/model.pkl",
        Body=original[:-1] + bytes([original[-1] ^ 1]),
    )
    # prod's artifact-bucket parameter names a bucket that does not exist: what the job reads, not the stack file.
    two_accounts.prod_session.client("ssm").put_parameter(
        Name="/ds/preprocessing/artifact-bucket", Value="ds-artifacts-gone", Type="String", Overwrite=True
    )
    result = dsctl("status", "--json")
    assert result.code == 1
    envs = {r["env"]: r for r in result.json()["environments"]}
    assert envs["dev"]["model"]["digest"] == "MISMATCH" and "(computed)" in envs["dev"]["model"]["detail"]
    assert envs["prod"]["model"]["digest"] == "STORE MISSING" and envs["prod"]["model"]["bucket"] == "ds-artifacts-gone"
    assert not any(r["healthy"] for r in envs.values())
    assert dsctl("status").code == 1


def test_status_shows_a_failed_run_and_fails(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _promoted_everywhere(dsctl, tmp_path, "1.0.0")
    monkeypatch.setattr(
        runs, "_sleep", lambda seconds: _finish(two_accounts, "prod", "FAILED", error="States.TaskFailed")
    )
    failed = dsctl("run", "--env", "prod", "--wait", "--json").json()
    result = dsctl("status", "--json")
    assert result.code == 1
    prod = {r["env"]: r for r in result.json()["environments"]}["prod"]
    assert prod["executions"][0] == {**prod["executions"][0], "name": failed["name"], "status": "FAILED"}
    assert prod["healthy"] is False


def test_status_marks_environments_without_credentials(
    two_accounts: TwoAccounts, dsctl: Dsctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")  # only the dev keys in AWS_* remain
    result = dsctl("status", "--json")
    assert result.code == 1  # an environment that could not be checked is not known to be healthy
    envs = {report["env"]: report for report in result.json()["environments"]}
    assert envs["dev"]["available"] is True
    assert envs["prod"]["available"] is False and "belong to account 123456789012" in envs["prod"]["reason"]
    text = " ".join(dsctl("status").out.split())  # rich wraps to the (captured) terminal width
    assert "prod: credentials from the default credential chain (environment variables) belong to account" in text
    from rich.console import Console

    import dsctl.commands.status as status_command

    monkeypatch.setattr(status_command, "console", Console(width=300))  # one line per row: the cell reads as printed
    wide = dsctl("status").out
    prod_row = next(line for line in wide.splitlines() if "│ prod" in line)
    assert "no credentials" not in prod_row  # there were credentials, for the wrong account: the cell must not guess


def test_a_run_without_a_manifest_has_none(two_accounts: TwoAccounts) -> None:
    """A run that wrote no manifest (S3 answers NoSuchKey) reads as None; other errors (NoSuchBucket) propagate."""
    conn = Connection(two_accounts.prod, two_accounts.prod_session, "arn:aws:iam::987654321098:role/test")
    assert runs.run_manifest(conn, "run-that-never-wrote-one") is None
    gone = dataclasses.replace(two_accounts.prod, stack="gone", environment="gone")
    elsewhere = Connection(gone, two_accounts.prod_session, conn.caller_arn)
    with pytest.raises(ClientError) as raised:
        runs.run_manifest(elsewhere, "run-that-never-wrote-one")
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


def test_run_follows_the_endpoint_targeted_not_a_local_environment_that_happens_to_be_up(
    two_accounts: TwoAccounts, dsctl: Dsctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forgotten `dsctl local up` elsewhere must not turn a run with other credentials into a laptop run."""
    import dsctl.commands.run as run_command
    import dsctl.local.runner as runner

    def never(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the local runner must not run")

    monkeypatch.setattr(run_command, "local_mode", lambda: SimpleNamespace(endpoint="http://127.0.0.1:1"))
    monkeypatch.setattr(runner, "run_job_locally", never)
    result = dsctl("run", "--env", "prod")
    assert result.code == 0, result.err
    said = " ".join(result.out.split())
    assert f"running in prod (987654321098) at {two_accounts.endpoint}" in said
    assert "the local environment is up but not targeted by these credentials" in said
