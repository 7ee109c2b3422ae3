"""The local environment's lifecycle, generated AWS config, provisioning and runner plumbing.

These start real ``moto_server`` processes (each ~0.5 s) in a temporary state
directory, because what matters is the detached server and the profile-based
cross-account sessions, not an in-process fake.
"""

from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import botocore.credentials
import pytest

from components import naming
from components.arns import StackArns
from components.settings import load_stack_settings
from dsctl.cli import main
from dsctl.envs import load_environment, session_for, verify_account
from dsctl.local import awsconfig, lifecycle, provision, runner, server, state
from dsctl.output import EXIT_FAILED, CommandError
from tests.local import fake_synth

DEV, PROD, QA = "123456789012", "987654321098", "111111111111"


@pytest.fixture
def local_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state directory, and no AWS settings leaking in from the outside."""
    directory = tmp_path / "local"
    monkeypatch.setenv(state.ENV_DIR, str(directory))
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return directory


@pytest.fixture
def running(local_dir: Path) -> Iterator[state.LocalState]:
    """A started (unprovisioned) local environment, always taken down."""
    result = lifecycle.up(provision=False)
    try:
        yield result.state
    finally:
        lifecycle.down()


def test_up_down_lifecycle_and_reuse(local_dir: Path) -> None:
    first = lifecycle.up(provision=False)
    try:
        assert first.state.endpoint.startswith("http://127.0.0.1:")
        assert state.current() == first.state
        assert json.loads((local_dir / state.STATE_FILE).read_text())["pid"] == first.state.pid
        again = lifecycle.up(provision=False)
        assert again.reused and again.state.pid == first.state.pid
    finally:
        result = lifecycle.down()
    assert result.stopped_pid == first.state.pid and result.removed
    assert not local_dir.exists()
    assert state.current() is None
    assert not state.server_answers(first.state.endpoint)
    assert not lifecycle.down().was_running


def test_stale_state_is_not_local_mode_and_is_replaced(local_dir: Path) -> None:
    local_dir.mkdir(parents=True)
    stale = state.LocalState("http://127.0.0.1:9", 999_999_999, str(local_dir), "then", "us-east-1", {"dev": DEV})
    state.save(stale)
    assert state.load() == stale and state.current() is None
    fresh = lifecycle.up(provision=False)
    try:
        assert not fresh.reused and fresh.state.pid != stale.pid
    finally:
        lifecycle.down()


def test_down_leaves_files_it_did_not_create(running: state.LocalState) -> None:
    (running.path / "notes.txt").write_text("mine")
    result = lifecycle.down()
    assert result.stopped_pid == running.pid and not result.removed
    assert (running.path / "notes.txt").exists() and not (running.path / state.STATE_FILE).exists()


def test_a_server_that_exited_but_is_not_reaped_yet_counts_as_stopped() -> None:
    """`dsctl local down` after the `dsctl local up` that started the server exited: the server is init's child, and
    init may reap it seconds later; stop() must not wait out its exit as if it still ran."""
    import subprocess
    import time

    child = subprocess.Popen([sys.executable, "-c", "pass"])  # exits at once; not reaped until wait() below
    try:
        deadline = time.monotonic() + 30
        while not server._exited_unreaped(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server._exited_unreaped(child.pid)
        assert not server._exited_unreaped(os.getpid())  # running
    finally:
        child.wait()
    assert not server._exited_unreaped(child.pid)  # reaped: no such process at all


def test_server_stop_refuses_a_pid_that_is_not_moto() -> None:
    import os

    assert server.stop(os.getpid()) is False  # this pytest process: alive, but not a moto server
    assert server.looks_like_server(server.server_command(5000))
    assert server.looks_like_server(["/usr/bin/python3", "-m", "moto.server", "--port", "1"])
    assert not server.looks_like_server(["/venv/bin/python", "-m", "pytest", "tests/test_moto_env.py"])


def test_generated_profiles_give_each_environment_its_own_account(running: state.LocalState) -> None:
    config = running.aws_config_file.read_text()
    assert f"role_arn = arn:aws:iam::{PROD}:role/{naming.operator_role()}" in config
    assert "source_profile = dev" in config
    with lifecycle.pointed_at(running):
        arns = {}
        for name in ("dev", "prod"):
            env = load_environment(name)
            arns[name] = verify_account(session_for(env), env)
    assert arns["dev"].startswith(f"arn:aws:sts::{DEV}:")
    assert arns["prod"].startswith(f"arn:aws:sts::{PROD}:assumed-role/{naming.operator_role()}/")


def _cli_cache_key(config_text: str, profile: str) -> str:
    """The key under which the AWS CLI caches ``profile``'s assumed-role credentials (~/.aws/cli/cache)."""
    parser = configparser.ConfigParser()
    parser.read_string(config_text)
    section = parser[f"profile {profile}"]
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=None,
        source_credentials=None,
        role_arn=section["role_arn"],
        extra_args={"RoleSessionName": section["role_session_name"]},
    )
    return str(fetcher._create_cache_key())


def test_each_local_environment_gets_its_own_aws_cli_credential_cache_key() -> None:
    # A fresh `local up` must not inherit the AWS CLI's cached prod keys of a previous one: moto does not know
    # them and answers them in its default account (dev's), so `aws ... --profile prod` would act in dev.
    profiles = [
        awsconfig.AccountProfile(name, account, "us-east-1", StackArns(name, account, "us-east-1").operator_role)
        for name, account in (("dev", DEV), ("prod", PROD))
    ]
    first = awsconfig.generate(profiles, "http://127.0.0.1:5000").config
    second = awsconfig.generate(profiles, "http://127.0.0.1:5000").config
    assert _cli_cache_key(first, "prod") != _cli_cache_key(second, "prod")


def test_generate_without_an_environment_in_motos_default_account_uses_a_root_profile() -> None:
    files = awsconfig.generate(
        [awsconfig.AccountProfile("qa", QA, "eu-west-1", StackArns("qa", QA, "eu-west-1").operator_role)],
        "http://127.0.0.1:1",
    )
    assert "[profile qa]" in files.config and f"source_profile = {awsconfig.ROOT_PROFILE}" in files.config
    assert f"[{awsconfig.ROOT_PROFILE}]" in files.credentials


def test_provision_creates_each_stack_in_its_own_account(running: state.LocalState) -> None:
    report = provision.ProvisionReport()
    sessions = {}
    with lifecycle.pointed_at(running):
        for name in ("dev", "prod"):
            sessions[name] = session_for(load_environment(name))
            synthesized = fake_synth.stack(load_stack_settings(name))
            provision.provision_stack(synthesized, sessions[name], running.endpoint, report)
        dev_s3 = sessions["dev"].client("s3", endpoint_url=running.endpoint)
        prod_ssm = sessions["prod"].client("ssm", endpoint_url=running.endpoint)
        artifact = naming.artifact_bucket("dev", DEV, "us-east-1")
        assert dev_s3.get_bucket_versioning(Bucket=artifact)["Status"] == "Enabled"
        parameter = prod_ssm.get_parameter(Name="/ds/preprocessing/artifact-bucket")["Parameter"]
        assert parameter["Value"] == artifact and f":{PROD}:" in parameter["ARN"]
        assert prod_ssm.get_parameter(Name="/ds/preprocessing/model-key")["Parameter"]["Value"] == "NONE"
        _, container = runner.task_container(sessions["prod"], running.endpoint)
    assert {e["name"]: e["value"] for e in container["environment"]}["DS_ENVIRONMENT"] == "prod"
    assert "unknownWireKey" not in container  # wire-only keys are fitted to the ECS API shape
    assert report.skipped["aws:iam/role:Role"] == 2
    assert {c["stack"] for c in report.created} == {"dev", "prod"}
    assert report.summary("prod").startswith(
        f"{sum(1 for c in report.created if c['stack'] == 'prod')} resources (2 Bucket"
    )


def test_provision_failure_names_the_resource(running: state.LocalState) -> None:
    broken = {"stack": "dev", "resources": [fake_synth._resource("aws:ssm/parameter:Parameter", "p", {"value": "x"})]}
    with lifecycle.pointed_at(running), pytest.raises(Exception, match="Parameter 'p' of stack dev"):
        provision.provision_stack(
            broken, session_for(load_environment("dev")), running.endpoint, provision.ProvisionReport()
        )


def test_container_command_and_environment_are_the_task_definitions() -> None:
    container = {
        "entryPoint": ["python", "-m", "job"],
        "command": ["run"],
        "environment": [
            {"name": "DS_ENVIRONMENT", "value": "prod"},
            {"name": "DS_IMAGE_DIGEST", "value": "sha256:" + "0" * 64},
        ],
    }
    assert runner.container_command(container) == [sys.executable, "-m", "job", "run"]
    assert runner.container_command({"command": ["run"]}) == [sys.executable, "-m", "job", "run"]
    creds = SimpleNamespace(access_key="AK", secret_key="SK", token="TOKEN")
    environment = runner.container_environment(container, {"DS_RUN_ID": "r1"}, creds, "http://127.0.0.1:1")
    assert environment["DS_ENVIRONMENT"] == "prod" and environment["DS_RUN_ID"] == "r1"
    assert environment["AWS_SESSION_TOKEN"] == "TOKEN" and environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert "AWS_PROFILE" not in environment
    assert "DS_IMAGE_DIGEST" not in environment  # the working tree runs, not the image: no digest to record


def test_readable_shows_the_message_of_json_log_lines() -> None:
    assert runner.readable('{"level": "INFO", "message": "hello"}') == "info    hello"
    assert runner.readable("plain text") == "plain text"
    assert runner.message_of('{"level": "ERROR", "message": "input not found"}') == "input not found"


def test_run_job_locally_without_a_local_environment_says_how_to_start_one(local_dir: Path) -> None:
    with pytest.raises(Exception, match="dsctl local up"):
        runner.run_job_locally("dev", run_id="r1")


def test_local_commands(local_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(lifecycle, "provision_all", lambda local, progress, detail: provision.ProvisionReport())
    assert main(["local", "status"]) == 1
    assert main(["local", "env"]) == 2
    assert "dsctl local up" in capsys.readouterr().err
    try:
        assert main(["local", "up"]) == 0
        captured = capsys.readouterr()
        exports = dict(line.removeprefix("export ").split("=", 1) for line in captured.out.splitlines())
        assert exports[state.ENV_DIR] == str(local_dir) and exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert "eval" in captured.err
        assert main(["local", "up", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["reused"] is True
        assert main(["local", "status", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["running"] is True
    finally:
        assert main(["local", "down"]) == 0
    assert not local_dir.exists()


def test_a_failing_job_is_reported_with_its_exit_kind_and_message(running: state.LocalState) -> None:
    with lifecycle.pointed_at(running):
        session = session_for(load_environment("dev"))
        provision.provision_stack(
            fake_synth.stack(load_stack_settings("dev")), session, running.endpoint, provision.ProvisionReport()
        )
    lines: list[str] = []
    with pytest.raises(CommandError) as failure:
        runner.run_job_locally("dev", run_id="run-no-model", local=running, log=lines.append)
    assert failure.value.exit_code == EXIT_FAILED
    assert "MODEL_MISSING" in failure.value.message and "dsctl model promote" in failure.value.message
    assert "): error " not in failure.value.message  # the job's message, without its log level
    assert lines[0].startswith("local runner: no ECS here") and "python -m job run" in lines[0]
    with lifecycle.pointed_at(running):
        logs = session.client("logs", endpoint_url=running.endpoint)
        streams = logs.describe_log_streams(logGroupName=naming.log_group("dev"))["logStreams"]
    assert [stream["logStreamName"] for stream in streams] == [f"job/{naming.CONTAINER_NAME}/run-no-model"]


def test_an_interrupted_local_run_stops_the_job_with_sigterm_so_it_cleans_up(tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) to a local `dsctl run`: the job gets SIGTERM, as from ECS, and removes its staging area;
    it is neither left running nor killed mid-cleanup."""
    marker = tmp_path / "cleaned"
    child = (
        "import signal, sys, time\n"
        "def stop(signum, frame):\n"
        f"    open({str(marker)!r}, 'w').write('staging removed')\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
    )

    def interrupt_when_ready(line: str) -> None:
        if "ready" in line:
            raise KeyboardInterrupt  # what Ctrl-C does to dsctl while it streams the job's output

    with pytest.raises(KeyboardInterrupt):
        runner._stream([sys.executable, "-c", child], dict(os.environ), interrupt_when_ready)
    assert marker.read_text() == "staging removed"


def _child(steps: runner.StepProcesses) -> subprocess.Popen[bytes]:
    """A step process that waits until it is stopped (SIGTERM: exit 143, as the job does), registered in ``steps``
    once it has set its SIGTERM handler."""
    code = (
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))\n"
        "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    steps.started(process.pid)
    return process


def _reaped(process: subprocess.Popen[bytes]) -> threading.Thread:
    """Reap ``process`` when it exits (a step's runner does: until then it is a zombie, alive to ``kill(pid, 0)``)."""
    reaper = threading.Thread(target=process.wait, daemon=True)
    reaper.start()
    return reaper


def test_the_process_file_keeps_the_live_steps_of_a_run_and_runs_stop_stops_every_one(tmp_path: Path) -> None:
    """The bookkeeping behind ``dsctl runs stop`` of a scaled-out local run: steps come and go (from several
    threads), the file names the live ones and the runner; a stop signals each live step once, and any step that
    starts while it waits, until the runner is done; a file whose processes are all gone (an older dsctl's one-``pid``
    file too) is removed, not reported."""
    local = state.LocalState("http://127.0.0.1:1", 0, str(tmp_path), "", "us-east-1", ready=True)
    steps = runner.StepProcesses(runner.process_file(local, "run-a"), "dev", "run-a")
    assert runner.local_process(local, "run-a") == {"env": "dev", "run_id": "run-a", "runner": os.getpid(), "steps": []}
    threads = [threading.Thread(target=steps.started, args=(pid,)) for pid in range(10_000_000, 10_000_050)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(json.loads(steps.path.read_text())["steps"]) == 50  # no update lost to another thread's
    for pid in range(10_000_000, 10_000_050):
        steps.ended(pid)
    first, second = _child(steps), _child(steps)
    assert sorted(runner.local_process(local, "run-a")["steps"]) == sorted([first.pid, second.pid])  # type: ignore[index]
    steps.ended(first.pid)  # a step that ended is not stopped: its pid may name another process by now
    first.kill()
    first.wait()
    assert runner.local_process(local, "run-a")["steps"] == [second.pid]  # type: ignore[index]

    # `dsctl runs stop` from another terminal: the live step, then one started while it waits (the runner's next)
    stopper = threading.Thread(target=runner.stop_local_run, args=(local, "run-a", 5, 0.02))
    stopper.start()
    assert second.wait(5) == 143  # SIGTERM once: the job's handler ran
    steps.ended(second.pid)
    late = _child(steps)
    assert late.wait(5) == 143 and stopper.is_alive()  # the runner is not done: the stop waits for it
    steps.ended(late.pid)
    steps.close()
    stopper.join(5)
    assert not stopper.is_alive() and runner.local_process(local, "run-a") is None

    orphans = runner.StepProcesses(runner.process_file(local, "run-b"), "dev", "run-b")
    batches = [_child(orphans) for _ in range(2)]
    gone = dict(json.loads(orphans.path.read_text()), runner=batches[0].pid + 1_000_000)  # its runner was killed
    orphans.path.write_text(json.dumps(gone))
    reapers = [_reaped(batch) for batch in batches]  # as init reaps the orphans of a killed runner
    assert runner.stop_local_run(local, "run-b", wait_seconds=5, poll_seconds=0.02)
    for reaper in reapers:
        reaper.join(1)
    assert [batch.returncode for batch in batches] == [143, 143]
    assert runner.local_process(local, "run-b") is None and not orphans.path.exists()
    assert not runner.stop_local_run(local, "run-b")

    old = runner.process_file(local, "run-c")  # written by an older dsctl: one job pid, no runner
    still = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    old.write_text(json.dumps({"pid": still.pid, "env": "dev", "run_id": "run-c"}))
    assert runner.local_process(local, "run-c")["steps"] == [still.pid]  # type: ignore[index]
    reaper = _reaped(still)
    assert runner.stop_local_run(local, "run-c", wait_seconds=5, poll_seconds=0.02)
    reaper.join(1)
    assert still.returncode == -signal.SIGTERM and runner.local_process(local, "run-c") is None and not old.exists()


def test_the_log_shipper_sends_the_first_line_at_once_and_a_quiet_jobs_last_line_within_its_interval(
    aws: str,
) -> None:
    """A job that logs and then goes quiet (a long stage) still has its lines in the stream within FLUSH_SECONDS:
    a follower attached from another terminal must not wait for the job's next line to see them."""
    import time

    import boto3

    session = boto3.Session(region_name="us-east-1")
    logs = session.client("logs", endpoint_url=aws)
    logs.create_log_group(logGroupName="group")

    def shipped() -> list[str]:
        return [e["message"] for e in logs.get_log_events(logGroupName="group", logStreamName="stream")["events"]]

    shipper = runner.LogShipper(session, aws, ("group", "stream"))
    shipper.add("reading the month")
    assert shipped() == ["reading the month"]  # the first line: at once
    shipper.add("ready")
    assert shipped() == ["reading the month"]  # within FLUSH_SECONDS of the last flush: queued...
    deadline = time.monotonic() + 10 * runner.LogShipper.FLUSH_SECONDS
    while len(shipped()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shipped() == ["reading the month", "ready"]  # ...and sent by the timer, with no further line
    shipper.flush()
    assert shipped() == ["reading the month", "ready"]
