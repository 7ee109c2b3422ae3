"""Run the job the way ECS would, as a local subprocess (there is no container engine here).

What runs is what the deployed task definition says: the command and environment are
read back from the task definition registered on the local server (which ``local up``
registered from ``dsctl synth``), the state machine's per-run overrides are added
(``DS_RUN_ID``, ``DS_INPUT_KEY``, CONTRACTS §4), and the credentials are the
environment's own (a reading stack's come from the assumed role in its account), so the job
reads SSM in its own account and the model from wherever that account's parameters
point: for a reading stack, the owner's artifact store. Only the image is replaced by this interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from components import naming, pipeline_definition
from dsctl.envs import Environment, load_environment, session_for, verify_account
from dsctl.follow import job_container, log_location, message_of, readable
from dsctl.local import state
from dsctl.local.lifecycle import pointed_at
from dsctl.output import EXIT_FAILED, CommandError
from dsctl.ssm_parameters import read_parameters
from job.run_record import LOG_STREAM_ENV

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

DEFAULT_ENTRYPOINT = ("python", "-m", "job")
"""The image's ENTRYPOINT (job/Dockerfile), used when the task definition sets only ``command``."""
LOCAL_RUNNER = "local runner"
_PROJECT_DIR = Path(__file__).resolve().parents[2]
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def task_container(session: boto3.Session, endpoint: str) -> tuple[str, dict[str, Any]]:
    """The registered task definition's ARN and the job's container definition, as ECS would start them."""
    ecs = session.client("ecs", endpoint_url=endpoint)
    try:
        definition = ecs.describe_task_definition(taskDefinition=naming.TASK_FAMILY)["taskDefinition"]
    except ClientError as err:
        raise CommandError(
            f"task definition {naming.TASK_FAMILY} is not registered locally ({err}); "
            "run `dsctl local down && dsctl local up` to provision from the current program"
        ) from err
    return str(definition["taskDefinitionArn"]), job_container(definition)


def task_argv(container: Mapping[str, Any]) -> list[str]:
    """Entry point + command as the task definition gives them (what the container would execute)."""
    return [*(container.get("entryPoint") or DEFAULT_ENTRYPOINT), *(container.get("command") or [])]


def container_command(container: Mapping[str, Any]) -> list[str]:
    """``task_argv`` with the image's ``python`` replaced by this interpreter."""
    argv = task_argv(container)
    if argv and Path(argv[0]).name in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def container_environment(
    container: Mapping[str, Any],
    overrides: Mapping[str, str],
    credentials: Any,
    endpoint: str,
    scratch: Path | None = None,
) -> dict[str, str]:
    """The process environment: a clean base, the task definition's variables, the run's overrides, credentials.

    Nothing else of the operator's shell leaks in (no AWS_PROFILE, no stray keys), as in a container.
    ``scratch`` becomes TMPDIR: a task starts with an empty scratch volume, so a run must not see the
    temporary files (e.g. Polars' cloud file cache) of earlier runs on this machine.
    """
    environment = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    environment.update({"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(_PROJECT_DIR)})
    environment.update({item["name"]: item["value"] for item in container.get("environment", [])})
    # The job runs from the working tree here, not from the image: recording the task definition's digest in the
    # run manifest would claim that image ran (and `dsctl image promote` takes such records as evidence).
    environment.pop(naming.IMAGE_DIGEST_ENV, None)
    environment.update(overrides)
    environment.update(
        {
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    if credentials.token:
        environment["AWS_SESSION_TOKEN"] = credentials.token
    if scratch is not None:
        environment["TMPDIR"] = str(scratch)
    return environment


def _exit_name(code: int) -> str:
    from job.errors import ExitCode

    try:
        return ExitCode(code).name
    except ValueError:
        return "UNKNOWN"


STOP_GRACE_SECONDS = 120.0
"""How long an interrupted job gets to remove its staging area after SIGTERM before it is killed (ECS's stopTimeout
plays this part in AWS)."""


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _ignore(value: Any) -> None:
    return None


def _stream(
    argv: list[str],
    environment: dict[str, str],
    on_line: Callable[[str], None],
    on_state: Callable[[str], None] = _ignore,
    on_start: Callable[[int], None] = _ignore,
    on_exit: Callable[[int], None] = _ignore,
) -> tuple[int, list[str]]:
    """Run ``argv``, handing each output line to ``on_line`` as it comes; return the exit code and every line.

    ``on_state`` hears the process's life as the task states ``dsctl run`` shows (PENDING, RUNNING, STOPPING,
    STOPPED); ``on_start`` gets the job's pid once it runs and ``on_exit`` once it has been reaped (``StepProcesses``
    keeps it in the run's process file in between, where ``dsctl runs stop`` finds it). The job runs in its own
    session, so a Ctrl-C in the terminal reaches dsctl only; dsctl (on Ctrl-C or SIGTERM) forwards one SIGTERM to
    the job, which removes its staging area and exits, as ECS stops a task. Only a job that does not finish
    within ``STOP_GRACE_SECONDS`` is killed.
    """
    lines: list[str] = []
    on_state("PENDING")
    process = subprocess.Popen(  # fixed argv from the task definition, no shell
        argv,
        env=environment,
        cwd=_PROJECT_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    try:
        on_start(process.pid)
        on_state("RUNNING")
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            on_line(line)
        return process.wait(), lines
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:  # interrupted: stop the job the way ECS would, so it cleans up after itself
            on_state("STOPPING")
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        on_exit(process.pid)
        on_state("STOPPED")


class LogShipper:
    """Sends the job's lines to the task's log stream while it runs, as the awslogs driver does on ECS.

    Shipped as they come (in batches of at most ``FLUSH_LINES`` or ``FLUSH_SECONDS``), so that
    ``dsctl run --attach --logs`` from another terminal and ``aws logs tail`` see a local run's lines during the
    run, not after it: the first line at once, and a line followed by silence (a long stage) within
    ``FLUSH_SECONDS`` all the same (a timer flushes it; the next line need not come). Logs are a convenience here:
    a failing log call switches shipping off, never the run.
    """

    FLUSH_LINES = 200
    FLUSH_SECONDS = 1.0
    MAX_BATCH = 10_000  # PutLogEvents' limit of events per call

    def __init__(self, session: boto3.Session, endpoint: str, location: tuple[str, str] | None) -> None:
        self.location = location
        self._pending: list[InputLogEventTypeDef] = []
        self._flushed = -float("inf")  # nothing sent yet: the first line goes out at once
        self._lock = threading.Lock()  # the timer's flush and the reader's add/flush; keeps the lines in order
        self._timer: threading.Timer | None = None
        self._logs = session.client("logs", endpoint_url=endpoint) if location else None
        if self._logs is not None and location is not None:
            try:
                self._logs.create_log_stream(logGroupName=location[0], logStreamName=location[1])
            except ClientError as err:
                if "ResourceAlreadyExists" not in str(err):
                    self._logs = None

    def add(self, line: str) -> None:
        """Queue one line (CloudWatch refuses empty messages: a blank line is sent as one space)."""
        if self._logs is None:
            return
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line or " "})
            due = len(self._pending) >= self.FLUSH_LINES or time.monotonic() - self._flushed >= self.FLUSH_SECONDS
            if not due and self._timer is None:
                self._timer = threading.Timer(self.FLUSH_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        """Send what is queued (and stop a pending timer: nothing is left for it)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._flushed = time.monotonic()
            if self._logs is None or self.location is None or not self._pending:
                return
            pending, self._pending = self._pending, []
            try:
                for start in range(0, len(pending), self.MAX_BATCH):
                    self._logs.put_log_events(
                        logGroupName=self.location[0],
                        logStreamName=self.location[1],
                        logEvents=pending[start : start + self.MAX_BATCH],
                    )
            except ClientError:
                self._logs = None


def process_file(local: state.LocalState, run_id: str) -> Path:
    """Where a local run in progress records its runner's pid and its live step processes (``StepProcesses``)."""
    return local.path / state.RUNS_DIR / f"{run_id}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but not ours: not a job this user started
        return False
    return True


def _signal(pid: int, signum: int) -> None:
    """``os.kill`` of a process that may have exited since it was seen alive (then there is nothing to do)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


class StepProcesses:
    """The step processes of one local run while they run, kept in its process file for other terminals.

    A single-task run has one step, the job; a scaled-out run has the plan, its batches (several at once, started
    from a pool's threads, hence the lock) and the commit. The file is replaced whole (write, then rename) as steps
    start and end, so a reader never sees half of it; it also names the runner (this process), so the run is found
    between two steps too, when no step runs. Only ``dsctl runs stop`` (``stop_local_run``) signals the steps,
    each once: a second SIGTERM would cut short the job's cleanup. ``stopping`` tells the runner to start no more.
    """

    def __init__(self, path: Path, env: str, run_id: str) -> None:
        self.path = path
        self.stopping = False
        self._header = {"env": env, "run_id": run_id, "runner": os.getpid()}
        self._steps: set[int] = set()
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write()

    def started(self, pid: int) -> None:
        """A step process started (``_stream``'s ``on_start``)."""
        with self._lock:
            self._steps.add(pid)
            self._write()

    def ended(self, pid: int) -> None:
        """A step process exited and was reaped (``_stream``'s ``on_exit``): its pid may now name another process."""
        with self._lock:
            self._steps.discard(pid)
            self._write()

    def stop(self) -> None:
        """A step ended stopped: the run is being stopped, no further step is to start."""
        self.stopping = True

    def close(self) -> None:
        """The run is over: no process of it is left to find."""
        with self._lock:
            self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({**self._header, "steps": sorted(self._steps)}))
        os.replace(partial, self.path)


def local_process(local: state.LocalState, run_id: str) -> dict[str, Any] | None:
    """Local run ``run_id`` while it runs here (``env``, ``run_id``, ``runner``, ``steps``: the live step pids), or
    None.

    The run is running while its runner or any of its steps is alive (steps run in their own session: they outlive
    a runner killed with SIGKILL). A file that names only processes that are gone is removed, not reported. A file
    of an older dsctl (one job ``pid``) is read as a run of that one step.
    """
    path = process_file(local, run_id)
    try:
        found = dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
    steps = [int(pid) for pid in found.get("steps", [found["pid"]] if "pid" in found else []) if _alive(int(pid))]
    runner = found.get("runner")
    if steps or (runner is not None and _alive(int(runner))):
        return {**found, "steps": steps}
    path.unlink(missing_ok=True)
    return None


class JobStopped(CommandError):
    """The job ended because it was stopped (SIGTERM/SIGINT: ``dsctl runs stop``, Ctrl-C), not because it failed."""


STOPPED_EXIT_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM)
"""How the job exits when stopped by a signal (``job.cli.main``), and how a process ends that the signal reached
before the job had set its handler (killed by it: Popen's negative return code)."""


def stop_local_run(
    local: state.LocalState, run_id: str, wait_seconds: float = STOP_GRACE_SECONDS, poll_seconds: float = 0.1
) -> bool:
    """Stop local run ``run_id`` as Step Functions' StopExecution (and ECS's StopTask) would; wait until it is over.

    Every live step of the run gets SIGTERM, and so does every step that starts while this waits (a batch started
    just before its sibling was stopped; the step after a gap between two). A step removes its staging area,
    records the run as STOPPED and exits; its runner (the ``dsctl run`` that started it) starts no further step,
    cleans up a scaled-out run's staged batches (``commit --abandon``, which is not stopped) and reports the run as
    stopped. This returns once the runner is done, or when no step of the run has been alive for ``wait_seconds``
    (a runner that lingers is not waited for forever). Returns False when no such run is running here; a step still
    running ``wait_seconds`` after its SIGTERM is killed, as ECS kills a task after its stop timeout.
    """
    found = local_process(local, run_id)
    if found is None:
        return False
    signalled: dict[int, float] = {}
    killed: set[int] = set()  # gone, or a zombie its runner has not reaped yet: nothing more to wait for
    quiet_since = time.monotonic()
    while found is not None:
        now = time.monotonic()
        live = [pid for pid in found["steps"] if pid not in killed]
        for pid in live:
            if pid not in signalled:
                _signal(pid, signal.SIGTERM)
                signalled[pid] = now
            elif now - signalled[pid] >= wait_seconds:
                _signal(pid, signal.SIGKILL)
                killed.add(pid)
        if live:
            quiet_since = now
        elif now - quiet_since >= wait_seconds:
            break
        time.sleep(poll_seconds)
        found = local_process(local, run_id)
    return True


def read_run_manifest(session: boto3.Session, env: Environment, endpoint: str, run_id: str) -> dict[str, Any]:
    """``processed/{run_id}/manifest.json`` from the bucket the env's ``output-bucket`` parameter names."""
    bucket = read_parameters(session, env).get(naming.PARAM_OUTPUT_BUCKET, env.output_bucket)
    key = f"{naming.PROCESSED_PREFIX}{run_id}/manifest.json"
    try:
        body = session.client("s3", endpoint_url=endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        raise CommandError(
            f"the job exited 0 but s3://{bucket}/{key} is not readable ({err}); see the job's log above", EXIT_FAILED
        ) from err
    return dict(json.loads(body))


def run_job_locally(
    env: Environment | str,
    *,
    run_id: str,
    input_key: str | None = None,
    session: boto3.Session | None = None,
    local: state.LocalState | None = None,
    log: Callable[[str], None] = _stderr,
    job_log: Callable[[str], None] | None = None,
    on_state: Callable[[str], None] = _ignore,
) -> dict[str, Any]:
    """Run the job of ``env`` once in a subprocess on the local environment; return its run manifest.

    ``session`` defaults to the env's own profile in the generated config (a stack outside moto's
    default account: the assumed operator role there). ``input_key`` empty/None means the ``input-key``
    parameter, as with the state machine. The job's lines go to ``job_log`` as they come (default: to
    ``log``, as ``  job | …``) and to the task's log stream, whose name the job records in its run record;
    ``on_state`` hears the task states (PENDING … STOPPED). Raises CommandError when the job fails, naming its
    exit code and last line, and JobStopped when it was stopped by a signal.
    """
    local = local or state.current()
    if local is None:
        raise CommandError("no local environment is running; start one with `dsctl local up`")
    environment = env if isinstance(env, Environment) else load_environment(env)
    with pointed_at(local):
        session = session or session_for(environment)
        verify_account(session, environment)
        credentials = session.get_credentials()
        if credentials is None:
            raise CommandError(f"no credentials for {environment.name} in the local AWS config; run `dsctl local up`")
        task_arn, container = task_container(session, local.endpoint)
        task = LocalTask(environment, session, local.endpoint, container, credentials.get_frozen_credentials())
        overrides = {"DS_RUN_ID": run_id, "DS_INPUT_KEY": input_key or ""}
        steps = StepProcesses(process_file(local, run_id), environment.name, run_id)
        started = time.monotonic()
        try:
            if input_key and pipeline_definition.is_prefix(input_key):  # the state machine's scale-out path
                from dsctl.local.scale_out import run_batched

                log(f"{LOCAL_RUNNER}: no ECS here — running {task_arn.split('/')[-1]}'s steps in subprocesses")
                run_batched(task, overrides, log, steps)
            else:
                log(
                    f"{LOCAL_RUNNER}: no ECS here — running {task_arn.split('/')[-1]} container {container['name']} "
                    f"in a subprocess as account {environment.account_id}: {' '.join(task_argv(container))} "
                    f"(DS_RUN_ID={run_id})"
                )
                code, lines = task.run(None, overrides, log, job_log=job_log, on_state=on_state, steps=steps)
                task.check(code, lines, "the job")
        finally:
            steps.close()
        log(f"{LOCAL_RUNNER}: job finished in {time.monotonic() - started:.1f} s")
        return read_run_manifest(session, environment, local.endpoint, run_id)


@dataclass(frozen=True)
class LocalTask:
    """What starting the job's container locally needs: a task definition's container in an environment."""

    environment: Environment
    session: boto3.Session
    endpoint: str
    container: Mapping[str, Any]
    credentials: Any

    def run(
        self,
        command: list[str] | None,
        overrides: Mapping[str, str],
        log: Callable[[str], None],
        step: str = "",
        *,
        job_log: Callable[[str], None] | None = None,
        on_state: Callable[[str], None] = _ignore,
        steps: StepProcesses | None = None,
    ) -> tuple[int, list[str]]:
        """One task: ``command`` replaces the container's (as ECS container overrides do; None keeps it), with a
        fresh scratch directory.

        Its lines go to ``job_log`` as they come (default: to ``log``, as ``  job | …``) and, while it runs, to
        the task definition's log group (stream named after the run id, and the ``step`` of a scaled-out run),
        whose name the job records in its run record (``LOG_STREAM_ENV``). ``on_state`` is ``_stream``'s; a task
        of ``steps`` is findable (and stoppable) by ``dsctl runs stop`` while it runs, one without is not.
        """
        container = dict(self.container, command=command) if command is not None else self.container
        location = log_location(container, overrides.get("DS_RUN_ID", "run") + (f"-{step}" if step else ""))
        variables = dict(overrides)
        if location:
            variables[LOG_STREAM_ENV] = location[1]
        shipper = LogShipper(self.session, self.endpoint, location)
        show = job_log or (lambda line: log(f"  job | {readable(line)}"))

        def on_line(line: str) -> None:
            shipper.add(line)
            show(line)

        try:
            with tempfile.TemporaryDirectory(prefix=f"dsctl-task-{self.environment.name}-") as scratch:
                process_env = container_environment(
                    container, variables, self.credentials, self.endpoint, Path(scratch)
                )
                on_start, on_exit = (steps.started, steps.ended) if steps else (_ignore, _ignore)
                return _stream(container_command(container), process_env, on_line, on_state, on_start, on_exit)
        finally:
            shipper.flush()

    def check(self, code: int, lines: list[str], what: str) -> None:
        """CommandError (a failed run) naming the exit code and the job's last line unless ``code`` is 0;
        JobStopped when a signal stopped it."""
        if code in STOPPED_EXIT_CODES:
            raise JobStopped(
                f"{LOCAL_RUNNER}: {what} in {self.environment.name} was stopped (exit code {code}); "
                "nothing was published",
                EXIT_FAILED,
            )
        if code != 0:
            last = next((message_of(line).strip() for line in reversed(lines) if line.strip()), "no output")
            raise CommandError(
                f"{LOCAL_RUNNER}: {what} failed in {self.environment.name} with exit code {code} "
                f"({_exit_name(code)}): {last}",
                EXIT_FAILED,
            )

    def variable(self, name: str) -> str | None:
        """A variable of the task definition's container environment."""
        return next((e["value"] for e in self.container.get("environment", []) if e["name"] == name), None)
