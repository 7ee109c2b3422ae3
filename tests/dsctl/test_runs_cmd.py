"""dsctl runs list/show/stop and dsctl run --attach, from the user's side, on moto.

Runs are played two ways: the job itself (``python -m job run``'s entry point, in-process, against the dev
output bucket) for the run records every run writes, failed ones included; and, for executions, moto's Step
Functions, where the test ends the execution while dsctl waits between polls (as in test_run_status).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsctl import runs
from job import cli as job_cli
from job.synthetic import write_month
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, train_model, two_accounts
from tests.dsctl.test_run_status import _finish

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below


def _job_run(monkeypatch: pytest.MonkeyPatch, run_id: str, input_key: str = "") -> int:
    """The container's command in dev: everything from the parameters (an environment's run is recorded)."""
    monkeypatch.setenv("DS_PARAMETER_PREFIX", "/ds/preprocessing")
    monkeypatch.setenv("DS_ENVIRONMENT", "dev")
    monkeypatch.setenv("DS_RUN_ID", run_id)
    monkeypatch.setenv("DS_INPUT_KEY", input_key)
    return job_cli.main(["run", "--log-format", "json"])


def test_every_run_leaves_a_record_failed_ones_included(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = train_model(tmp_path, "1.0.0")
    assert dsctl("model", "publish", "--env", "dev", "1.0.0", str(model)).code == 0
    assert dsctl("model", "promote", "--env", "dev", "1.0.0", "--force", "--reason", "runs test").code == 0
    data = write_month(tmp_path / "month.csv", 300, seed=5)
    two_accounts.dev_session.client("s3").upload_file(str(data), two_accounts.dev.input_bucket, "raw/month.csv")
    assert _job_run(monkeypatch, "run-good", "raw/month.csv") == 0
    assert _job_run(monkeypatch, "run-bad", "raw/missing.csv") == 9  # INPUT_NOT_FOUND

    listed = dsctl("runs", "list", "--env", "dev", "--json")
    assert listed.code == 0, listed.err
    by_id = {run["run_id"]: run for run in listed.json()["runs"]}
    assert by_id["run-good"]["status"] == "SUCCEEDED" and by_id["run-good"]["rows_in"] == 300
    assert by_id["run-bad"]["status"] == "FAILED" and by_id["run-bad"]["exit_code"] == 9
    assert by_id["run-bad"]["error"] == "INPUT_NOT_FOUND"

    shown = dsctl("runs", "show", "run-bad", "--env", "dev", "--json")
    assert shown.code == 1  # a failed run's show exits 1, with its exit code outside any "cause" string
    bad = shown.json()
    assert bad["exit_code"] == 9 and "missing.csv" in bad["message"] and bad["finished"]
    good = dsctl("runs", "show", "run-good", "--env", "dev", "--json")
    assert good.code == 0
    report = good.json()
    assert report["rows_in"] == report["rows_out"] + report["rows_rejected"] == 300
    assert report["model"]["version"] == "1.0.0" and len(report["model"]["sha256"]) == 64
    assert report["output"] == f"s3://{two_accounts.dev.output_bucket}/processed/run-good/"
    text = dsctl("runs", "list", "--env", "dev")
    assert text.code == 0 and "run-bad" in text.out and "FAILED" in text.out

    # status shows the failed run (it is the newest) with the alarm linked to it, and exits 1
    alarm = "ds-preprocessing-failed-executions-dev"
    two_accounts.dev_session.client("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="1 failed execution"
    )
    result = dsctl("status", "--json")
    assert result.code == 1
    status = {r["env"]: r for r in result.json()["environments"]}["dev"]
    assert {"name": "run-bad", "status": "FAILED"}.items() <= status["executions"][0].items()
    [failed] = status["failed_runs"]  # since the last success (run-good): only run-bad
    assert {
        "run_id": "run-bad",
        "status": "FAILED",
        "exit_code": 9,
        "error": "INPUT_NOT_FOUND",
    }.items() <= failed.items()
    assert failed["alarm"]["name"] == alarm and failed["alarm"]["state"] == "ALARM" and failed["alarm"]["since"]
    said = dsctl("status").out
    assert "dev: run run-bad FAILED exit 9 INPUT_NOT_FOUND" in said
    assert f"alarm {alarm}: ALARM since" in said and "dsctl runs show run-bad --env dev --logs" in said
    no_stream = dsctl("runs", "show", "run-bad", "--env", "dev", "--logs", "--json").json()
    assert no_stream["log_tail"] == [
        "(no log stream known for this run: no task was submitted, or its job did not record one)"
    ]
    missing = dsctl("runs", "show", "run-never", "--env", "dev", "--json")
    assert missing.code == 1 and "dsctl runs list --env dev" in missing.json()["error"]["fix"]


def test_one_run_at_a_time_attach_and_stop(
    two_accounts: TwoAccounts, dsctl: Dsctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = dsctl("run", "--env", "prod")
    assert first.code == 0 and "--attach run-" in first.out
    started = dsctl("runs", "list", "--env", "prod", "--json").json()["runs"][0]
    assert started["status"] == "RUNNING"

    second = dsctl("run", "--env", "prod", "--wait", "--json")
    assert second.code == 2
    error = second.json()["error"]
    assert f"run {started['run_id']} is still running in prod" in error["message"]
    assert f"--attach {started['run_id']}" in error["fix"]
    assert len(dsctl("runs", "list", "--env", "prod", "--json").json()["runs"]) == 1  # nothing else started

    # Ctrl-C while following: the execution keeps running, and the message names it and how to come back
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "_sleep", interrupt)
    followed = dsctl("run", "--env", "prod", "--attach", started["run_id"])
    assert followed.code == 130
    assert "still running" in followed.err and f"--attach {started['run_id']}" in followed.err
    assert f"dsctl runs stop {started['run_id']} --env prod" in followed.err

    stopped = dsctl("runs", "stop", started["run_id"], "--env", "prod", "--json")
    assert stopped.code == 0, stopped.err
    shown = dsctl("runs", "show", started["run_id"], "--env", "prod", "--json")
    assert shown.code == 1 and shown.json()["status"] == "ABORTED"
    again = dsctl("runs", "stop", started["run_id"], "--env", "prod")
    assert again.code == 1 and "not running (it is ABORTED)" in again.err

    # a new run may start now, and --attach follows it to the end
    assert dsctl("run", "--env", "prod").code == 0
    newest = dsctl("runs", "list", "--env", "prod", "--json").json()["runs"][0]
    monkeypatch.setattr(runs, "_sleep", lambda seconds: _finish(two_accounts, "prod", "SUCCEEDED"))
    attached = dsctl("run", "--env", "prod", "--attach", newest["run_id"], "--json")
    assert attached.code == 0, attached.err
    assert attached.json()["status"] == "SUCCEEDED" and attached.json()["counts"]["rows_in"] == 1000
