"""Following a run: elapsed time, the ECS task's state and ``--logs``, in AWS mode and locally; ``runs stop`` locally.

AWS mode: moto's Step Functions does not run ``ecs:runTask.sync`` (DESIGN.md section 4), so no execution here ever
submits a task. The tests play Step Functions' part only where it cannot run: they start the job's task with
ECS ``run_task`` directly (recorded by moto, so ``describe_tasks`` is real), record that task in the execution's
history the way Step Functions does (a ``TaskSubmitted`` event carrying RunTask's response), and write the job's
log lines into the task's stream with ``put_log_events``. Everything dsctl does from there (history → task ARN →
DescribeTasks → task state; task definition → awslogs stream → GetLogEvents) runs against moto.

Locally: a job process that records its run as the job does (``job.run_record``) and waits until stopped, started by
the real local runner, followed with ``run --attach`` and stopped with ``runs stop`` from the user's side.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.ecs.models import ecs_backends
from moto.moto_api import state_manager
from moto.stepfunctions.models import stepfunctions_backends

from components import naming
from dsctl import follow, runs
from dsctl.local import lifecycle, runner, state
from tests.conftest import DEV_ACCOUNT, REGION
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, two_accounts
from tests.dsctl.test_run_status import _finish

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below


def _submitted(event_id: int, task_arn: str) -> dict[str, Any]:
    """A TaskSubmitted history event as Step Functions records it for ecs:runTask.sync (output: a JSON string)."""
    response = {"Failures": [], "Tasks": [{"TaskArn": task_arn, "LastStatus": "PROVISIONING"}]}
    return {
        "id": event_id,
        "type": "TaskSubmitted",
        "timestamp": "2026-12-02T05:00:00Z",
        "taskSubmittedEventDetails": {
            "resourceType": "ecs",
            "resource": "runTask.sync",
            "output": json.dumps(response),
        },
    }


def test_the_task_arn_is_the_newest_task_submitted_in_the_history() -> None:
    first = "arn:aws:ecs:us-east-1:123456789012:task/ds-processing-cluster/aaa"
    retried = "arn:aws:ecs:us-east-1:123456789012:task/ds-processing-cluster/bbb"
    events = [
        {"id": 1, "type": "ExecutionStarted"},
        {"id": 3, "type": "TaskScheduled"},
        _submitted(5, first),
        {"id": 6, "type": "TaskFailed"},
        _submitted(9, retried),  # the task state's Retry submitted a new task: that one runs now
    ]
    assert follow.submitted_task_arn(events) == retried
    assert follow.submitted_task_arn(list(reversed(events))) == retried  # reverseOrder=True histories too
    assert follow.submitted_task_arn(events[:2]) is None  # not submitted yet
    broken = {**_submitted(4, first), "taskSubmittedEventDetails": {"output": "not json"}}
    assert follow.submitted_task_arn([broken]) is None


@pytest.mark.parametrize(
    ("last", "desired", "shown"),
    [
        ("PROVISIONING", "RUNNING", "PENDING"),
        ("PENDING", "RUNNING", "PENDING"),
        ("ACTIVATING", "RUNNING", "PENDING"),
        ("RUNNING", "RUNNING", "RUNNING"),
        ("RUNNING", "STOPPED", "STOPPING"),  # StopTask sent SIGTERM; the job is removing its staging
        ("DEACTIVATING", "STOPPED", "STOPPING"),
        ("DEPROVISIONING", "STOPPED", "STOPPING"),
        ("STOPPED", "STOPPED", "STOPPED"),
    ],
)
def test_ecs_task_states_fold_into_four(last: str, desired: str, shown: str) -> None:
    assert follow.task_state({"lastStatus": last, "desiredStatus": desired}) == shown


def test_the_log_stream_is_named_like_the_awslogs_driver_names_it() -> None:
    container = {
        "name": naming.CONTAINER_NAME,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/g", "awslogs-stream-prefix": "job"},
        },
    }
    assert follow.log_location(container, "abc") == ("/g", f"job/{naming.CONTAINER_NAME}/abc")
    without_prefix = {**container, "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/g"}}}
    assert follow.log_location(without_prefix, "abc") is None  # streams named by container id: not predictable


@pytest.fixture
def manual_ecs_tasks() -> Iterator[None]:
    """moto advances an ECS task's status on every DescribeTasks; here the test decides when a task moves on."""
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 1_000_000})
    yield
    state_manager.unset_transition("ecs::task")


def _start_job_task(accounts: TwoAccounts) -> str:
    """Start the job's task in dev the way Step Functions' RunTask would (FARGATE, awsvpc); return its ARN."""
    ec2 = accounts.dev_session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="job", Description="job", VpcId=vpc)["GroupId"]
    started = accounts.dev_session.client("ecs").run_task(
        cluster=naming.CLUSTER,
        taskDefinition=naming.TASK_FAMILY,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
    )
    return str(started["tasks"][0]["taskArn"])


def _job_lines(accounts: TwoAccounts, stream: str, *messages: str) -> None:
    """The job's JSON log lines, as the awslogs driver delivers them to the task's stream."""
    logs = accounts.dev_session.client("logs")
    group = naming.log_group("dev")
    if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    events = [
        {"timestamp": now + i, "message": json.dumps({"level": "INFO", "message": m})} for i, m in enumerate(messages)
    ]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def test_run_wait_shows_elapsed_time_task_state_and_the_jobs_log_lines(
    two_accounts: TwoAccounts, dsctl: Dsctl, monkeypatch: pytest.MonkeyPatch, manual_ecs_tasks: None
) -> None:
    backend = stepfunctions_backends[DEV_ACCOUNT][REGION]
    tasks = ecs_backends[DEV_ACCOUNT][REGION].tasks
    played: dict[str, str] = {}

    def step_functions_meanwhile(seconds: float) -> None:
        """Each pause between dsctl's polls, the run moves on: task submitted (PENDING), running and logging,
        stopped and the execution succeeded."""
        execution = backend.describe_state_machine(two_accounts.dev.state_machine_arn).executions[-1]
        if "task" not in played:
            played["task"] = arn = _start_job_task(two_accounts)
            tasks[naming.CLUSTER][arn].status = "PROVISIONING"
            execution.get_execution_history = lambda role: [{"id": 1, "type": "ExecutionStarted"}, _submitted(5, arn)]
        elif "running" not in played:
            played["running"] = task_id = played["task"].rsplit("/", 1)[-1]
            tasks[naming.CLUSTER][played["task"]].status = "RUNNING"
            _job_lines(two_accounts, f"job/{naming.CONTAINER_NAME}/{task_id}", "reading s3://in/raw/x.csv", "rows 1000")
        else:
            _job_lines(two_accounts, f"job/{naming.CONTAINER_NAME}/{played['running']}", "published run")
            two_accounts.dev_session.client("ecs").stop_task(cluster=naming.CLUSTER, task=played["task"])
            _finish(two_accounts, "dev", "SUCCEEDED")

    monkeypatch.setattr(runs, "_sleep", step_functions_meanwhile)
    result = dsctl("run", "--env", "dev", "--wait", "--logs", "--progress", "--json")
    assert result.code == 0, result.err
    report = result.json()  # stdout is the one JSON document; progress and logs went to stderr
    task_id = played["task"].rsplit("/", 1)[-1]
    assert report["status"] == "SUCCEEDED" and report["task_arn"] == played["task"]
    assert report["log_stream"] == f"job/{naming.CONTAINER_NAME}/{task_id}"
    progress = [line for line in result.err.splitlines() if line.startswith(f"{report['name']}: ")]
    assert [line.split(", ")[1] for line in progress] == [
        "task -",
        "task PENDING",
        "task RUNNING",
        "task STOPPED",
    ], result.err
    assert progress[0].startswith(f"{report['name']}: RUNNING, task -, ") and progress[0].endswith("s")
    assert progress[-1].startswith(f"{report['name']}: SUCCEEDED, task STOPPED, ")
    job = [line for line in result.err.splitlines() if line.startswith("  job | ")]
    assert job == [  # each line once, in order, readable (level and message of the job's JSON records)
        "  job | info    reading s3://in/raw/x.csv",
        "  job | info    rows 1000",
        "  job | info    published run",
    ]

    # runs show finds the task and its stream from the history (the job in ECS cannot record its task id)
    shown = dsctl("runs", "show", report["name"], "--env", "dev", "--logs", "--tail", "2", "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["task_arn"] == played["task"] and shown.json()["log_stream"] == report["log_stream"]
    assert shown.json()["log_tail"] == ["info    rows 1000", "info    published run"]

    # Not a terminal and not asked: no progress, no log lines, stdout still the one document
    monkeypatch.setattr(runs, "_sleep", lambda seconds: _finish(two_accounts, "dev", "SUCCEEDED"))
    quiet = dsctl("run", "--env", "dev", "--wait", "--json")
    assert quiet.code == 0 and quiet.err == "" and quiet.json()["status"] == "SUCCEEDED"


def test_log_tail_returns_only_new_lines_and_nothing_before_the_stream_exists(two_accounts: TwoAccounts) -> None:
    logs = two_accounts.dev_session.client("logs")
    tail = follow.LogTail(logs, naming.log_group("dev"), "job/ds-preprocessing/t1")
    assert tail.fetch() == []  # the task has not created its stream yet
    _job_lines(two_accounts, "job/ds-preprocessing/t1", "one", "two")
    assert [json.loads(line)["message"] for line in tail.fetch()] == ["one", "two"]
    assert tail.fetch() == []
    _job_lines(two_accounts, "job/ds-preprocessing/t1", "three")
    assert [json.loads(line)["message"] for line in tail.fetch()] == ["three"]


# --------------------------------------------------------------------------- local runs

JOB = """
import logging, os, signal, sys, time
from job.cli import _on_sigterm
from job.errors import Stopped
from job.logs import setup_logging
from job.run import RunOptions, RunSpec
from job.run_record import recorded

setup_logging(True)
log = logging.getLogger("job")
signal.signal(signal.SIGTERM, _on_sigterm)

def month(spec, options):
    log.info("reading the month")
    log.info("ready")
    while True:
        time.sleep(0.05)

try:
    recorded(
        RunSpec(input="s3://in/raw/x.csv", model="s3://store/models/1.0.0/model.pkl", output=sys.argv[1]),
        RunOptions(run_id=os.environ["DS_RUN_ID"], environment="dev"),
        month,
    )
except Stopped:
    log.error("stopped (SIGTERM) - nothing was published")
    sys.exit(143)
"""
"""A job that records its run as ``python -m job run`` does and works until it is stopped (the real job would
finish a small month before a test could stop it)."""


def test_a_local_run_is_followed_with_its_logs_and_stopped_cleanly(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dsctl.commands.run as run_command

    directory = tmp_path / "local"
    directory.mkdir()
    shutil.copy(two_accounts.config_file, directory / state.AWS_CONFIG_FILE)
    local = state.LocalState(two_accounts.endpoint, 0, str(directory), "", REGION, ready=True)
    monkeypatch.setattr(run_command, "local_mode", lambda: local)
    monkeypatch.setattr(
        runner, "container_command", lambda c: [sys.executable, "-c", JOB, f"s3://{two_accounts.dev.output_bucket}"]
    )
    run_id = "run-20261202-050000-abcd"
    ready = threading.Event()
    outcome: dict[str, Any] = {}
    states: list[str] = []

    def dsctl_run() -> None:  # the `dsctl run --env dev` of another terminal: the local runner
        def job_line(line: str) -> None:
            if "ready" in line:
                ready.set()

        try:
            runner.run_job_locally(
                two_accounts.dev,
                run_id=run_id,
                session=two_accounts.dev_session,
                local=local,
                log=_ignore,
                job_log=job_line,
                on_state=states.append,
            )
        except Exception as err:  # the outcome is asserted below
            outcome["error"] = err
        ready.set()

    started = threading.Thread(target=dsctl_run)
    started.start()
    try:
        assert ready.wait(60) and "error" not in outcome, outcome
        listed = dsctl("runs", "list", "--env", "dev", "--json").json()["runs"]
        assert listed[0]["run_id"] == run_id and listed[0]["status"] == "RUNNING"
        assert listed[0]["log_stream"] == f"job/{naming.CONTAINER_NAME}/{run_id}"  # filled by the runner
        refused = dsctl("run", "--env", "dev", "--json")
        assert refused.code == 2 and f"--attach {run_id}" in refused.json()["error"]["fix"]

        # attach from a second terminal: the job's lines so far, the process state; Ctrl-C leaves the run running
        def ctrl_c(seconds: float) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(runs, "_sleep", ctrl_c)
        attached = dsctl("run", "--env", "dev", "--attach", run_id, "--logs", "--progress")
        assert attached.code == 130
        assert f"{run_id}: RUNNING, task RUNNING, " in attached.err
        assert "  job | info    reading the month" in attached.err
        assert f"dsctl runs stop {run_id} --env dev" in attached.err

        stopped = dsctl("runs", "stop", run_id, "--env", "dev", "--json")
        assert stopped.code == 0, stopped.err
        assert stopped.json() | {"cause": None} == {
            "run_id": run_id,
            "mode": "local",
            "status": "STOPPED",
            "exit_code": 128 + signal.SIGTERM,
            "cause": None,
        }
    finally:
        started.join(60)
    assert type(outcome["error"]) is runner.JobStopped  # the runner reports a stopped run, not a failed one
    assert states == ["PENDING", "RUNNING", "STOPPED"]  # what `dsctl run` shows as the task's state locally
    assert not runner.process_file(local, run_id).exists()

    shown = dsctl("runs", "show", run_id, "--env", "dev", "--json")
    assert shown.code == 1 and shown.json()["status"] == "STOPPED" and shown.json()["error"] == "STOPPED"
    text = dsctl("runs", "show", run_id, "--env", "dev", "--logs")
    assert f"job/{naming.CONTAINER_NAME}/{run_id}" in text.out and "  job | info    reading the month" in text.out
    again = dsctl("runs", "stop", run_id, "--env", "dev")
    assert again.code == 1 and "not running (it is STOPPED)" in again.err
    after = dsctl("run", "--env", "dev", "--attach", run_id, "--json")
    assert after.code == 1 and after.json()["status"] == "STOPPED" and after.json()["exit_code"] == 143

    # a local run killed with SIGKILL stays RUNNING in its record, with no process: it blocks nothing
    killed = {"run_id": "run-killed", "status": "RUNNING", "started": "2026-12-02T05:00:00+00:00"}
    two_accounts.dev_session.client("s3").put_object(
        Bucket=two_accounts.dev.output_bucket, Key="runs/run-killed.json", Body=json.dumps(killed).encode()
    )
    gone = dsctl("runs", "stop", "run-killed", "--env", "dev")
    assert gone.code == 1 and "no job process of it runs on this machine" in gone.err
    monkeypatch.setattr(runner, "container_command", lambda c: [sys.executable, "-c", "pass"])
    another = dsctl("run", "--env", "dev", "--json")
    assert another.code == 1 and another.json()["status"] == "FAILED"  # it ran (and wrote no manifest): not refused

    logs = two_accounts.dev_session.client("logs")  # shipped while the job ran, as the awslogs driver does
    messages = [
        json.loads(event["message"])["message"]
        for event in logs.get_log_events(
            logGroupName=naming.log_group("dev"), logStreamName=f"job/{naming.CONTAINER_NAME}/{run_id}"
        )["events"]
    ]
    assert messages[:2] == ["reading the month", "ready"] and "nothing was published" in messages[-1]
    monkeypatch.setenv(state.ENV_DIR, str(directory))
    assert lifecycle.down().removed  # `dsctl local down` removes the (empty) directory of local runs too


STEPS = """
import json, os, signal, sys, time
import boto3
bucket, trace, command = sys.argv[1], sys.argv[2], sys.argv[3:]
run_id, batch = os.environ["DS_RUN_ID"], os.environ.get("DS_BATCH")
name = f"batch {batch}" if batch else " ".join(command)
staging = f"_staging/{run_id}/batches/"

def note(what):
    with open(trace, "a") as out:
        out.write(f"{name}: {what}\\n")

def stop(signum, frame):
    note("stopped")
    sys.exit(143)

signal.signal(signal.SIGTERM, stop)
s3 = boto3.client("s3", region_name="us-east-1")
if command == ["plan"]:
    items = [{"batch": str(i)} for i in range(3)]
    s3.put_object(Bucket=bucket, Key=staging + "items.json", Body=json.dumps(items).encode())
elif batch is not None:
    s3.put_object(Bucket=bucket, Key=f"{staging}{batch}/part-00000.parquet", Body=b"staged")
    note("started")
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
elif command == ["commit", "--abandon", "--stopped"]:
    for listed in s3.list_objects_v2(Bucket=bucket, Prefix=staging).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=listed["Key"])
else:
    s3.put_object(Bucket=bucket, Key=f"processed/{run_id}/_SUCCESS", Body=b"")
note("exited")
"""
"""The steps of a scaled-out run as the runner starts them: the plan plans 3 batches, each batch stages a file and
works until it is stopped, ``commit --abandon --stopped`` removes the staging, ``commit`` would publish. Each notes in
a trace file what it did."""


def test_a_scaled_out_local_run_is_stopped_whole_abandoned_and_reported_stopped(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``runs stop`` of a run on the scale-out path stops its live batches, as StopExecution stops the Map's: no
    batch is retried or started after it, the staging is abandoned, nothing is published, and the run is stopped."""
    import dsctl.commands.run as run_command

    directory = tmp_path / "local"
    directory.mkdir()
    shutil.copy(two_accounts.config_file, directory / state.AWS_CONFIG_FILE)
    local = state.LocalState(two_accounts.endpoint, 0, str(directory), "", REGION, ready=True)
    monkeypatch.setattr(run_command, "local_mode", lambda: local)
    bucket, trace = two_accounts.dev.output_bucket, tmp_path / "trace"
    monkeypatch.setattr(
        runner,
        "container_command",
        lambda c: [sys.executable, "-c", STEPS, bucket, str(trace), *(c.get("command") or [])],
    )
    monkeypatch.setattr(runner.LocalTask, "variable", lambda self, name: "2")  # 2 batches at once: the 3rd waits
    run_id = "run-20261202-060000-abcd"
    ready = threading.Semaphore(0)
    outcome: dict[str, Any] = {}

    def note(line: str) -> None:
        if line.endswith("job | ready"):
            ready.release()

    def dsctl_run() -> None:
        try:
            runner.run_job_locally(
                two_accounts.dev,
                run_id=run_id,
                input_key="raw/2026-10/",
                session=two_accounts.dev_session,
                local=local,
                log=note,
            )
        except Exception as err:  # the outcome is asserted below
            outcome["error"] = err
        ready.release()
        ready.release()

    started = threading.Thread(target=dsctl_run)
    started.start()
    try:
        assert ready.acquire(timeout=60) and ready.acquire(timeout=60) and "error" not in outcome, outcome
        assert len(runner.local_process(local, run_id)["steps"]) == 2  # type: ignore[index]  # both batches: findable
        stopped = dsctl("runs", "stop", run_id, "--env", "dev", "--json")
        assert stopped.code == 0, stopped.err
        assert stopped.json()["status"] == "STOPPED"
    finally:
        started.join(60)
    error = outcome["error"]
    assert type(error) is runner.JobStopped and "was stopped (exit code 143)" in error.message, error
    assert not runner.process_file(local, run_id).exists()
    steps = trace.read_text().splitlines()
    assert steps[0] == "plan: exited" and steps[-1] == "commit --abandon --stopped: exited"
    assert sorted(steps[1:-1]) == ["batch 0: started", "batch 0: stopped", "batch 1: started", "batch 1: stopped"]
    s3 = two_accounts.dev_session.client("s3")
    for prefix in (f"_staging/{run_id}/", f"processed/{run_id}/"):  # nothing left staged, nothing published
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount") == 0, prefix


def _ignore(line: str) -> None:
    return None
