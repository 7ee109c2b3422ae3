"""Following a run while it runs: elapsed time, the task's state and, on request, the job's log lines.

The state machine hides the ECS task behind ``ecs:runTask.sync``: the execution only says RUNNING for as
long as a task is being placed, pulls its image, runs the month, or stops. The task ARN is in the
execution history (the ``TaskSubmitted`` event carries RunTask's response), ``ecs:DescribeTasks`` gives
its state, and the awslogs driver names the task's log stream ``<prefix>/<container>/<task-id>`` from the
task definition's options, so an operator sees where a run is and what the job says without the console.
The local runner plays both parts (its process state, the same stream name with the run id as task id).

Progress goes to stderr and is shown on a terminal (or when asked with ``--progress``); stdout keeps the
command's result alone, so ``--json`` stays one document.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from botocore.exceptions import ClientError
from rich.console import Console
from rich.status import Status

from components import naming
from dsctl.envs import Connection, client
from dsctl.models import error_code
from dsctl.output import PIPE_WIDTH

TASK_STATES = ("PENDING", "RUNNING", "STOPPING", "STOPPED")
"""What following a run reports about its task (ECS's finer lifecycle folded into the four an operator needs)."""

_ECS_LAST_STATUS = {
    "PROVISIONING": "PENDING",
    "PENDING": "PENDING",
    "ACTIVATING": "PENDING",
    "RUNNING": "RUNNING",
    "DEACTIVATING": "STOPPING",
    "STOPPING": "STOPPING",
    "DEPROVISIONING": "STOPPING",
    "STOPPED": "STOPPED",
}


def task_state(task: Mapping[str, Any]) -> str:
    """PENDING/RUNNING/STOPPING/STOPPED of an ECS task description (``describe_tasks``' ``tasks[i]``).

    A running task whose desired status is already STOPPED (``StopTask`` sent SIGTERM, the job is removing its
    staging) is STOPPING: the operator sees that the stop was received before the task is gone.
    """
    state = _ECS_LAST_STATUS.get(str(task.get("lastStatus")), "PENDING")
    if state == "RUNNING" and task.get("desiredStatus") == "STOPPED":
        return "STOPPING"
    return state


def submitted_task_arn(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The task ARN of the newest ``TaskSubmitted`` event among execution history ``events`` (any order).

    The event's ``output`` is RunTask's response as a JSON string with Step Functions' PascalCase keys
    (``{"Tasks": [{"TaskArn": ...}], "Failures": [], ...}``). A retried task state submits a new task: the newest
    submission (highest event id) is the task that runs now.
    """
    newest: tuple[int, str] | None = None
    for event in events:
        if event.get("type") != "TaskSubmitted":
            continue
        try:
            response = json.loads((event.get("taskSubmittedEventDetails") or {}).get("output") or "{}")
        except ValueError:
            continue
        tasks = response.get("Tasks") if isinstance(response, dict) else None
        arn = tasks[0].get("TaskArn") if tasks and isinstance(tasks[0], dict) else None
        if arn and (newest is None or int(event.get("id", 0)) > newest[0]):
            newest = (int(event.get("id", 0)), str(arn))
    return newest[1] if newest else None


def log_location(container: Mapping[str, Any], task_id: str) -> tuple[str, str] | None:
    """``(log group, log stream)`` the awslogs driver writes ``container`` of task ``task_id`` to, or None.

    The stream is ``<awslogs-stream-prefix>/<container name>/<task id>``; without a prefix the driver names
    streams by container id, which no API call here can predict.
    """
    configuration = container.get("logConfiguration") or {}
    options = configuration.get("options") or {}
    group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
    if configuration.get("logDriver") != "awslogs" or not group or not prefix:
        return None
    return str(group), f"{prefix}/{container['name']}/{task_id}"


def job_container(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The job's container of a task definition (``naming.CONTAINER_NAME``, else the first)."""
    containers = definition["containerDefinitions"]
    return dict(next((c for c in containers if c["name"] == naming.CONTAINER_NAME), containers[0]))


def _log_record(line: str) -> dict[str, Any] | None:
    """The job's JSON log record on ``line`` (it logs JSON when not on a terminal, as CloudWatch wants), or None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "message" in record else None


def readable(line: str) -> str:
    """A job log line for people: level and message of a JSON record, else the line itself."""
    record = _log_record(line)
    return line if record is None else f"{record.get('level', '').lower():7} {record['message']}"


def message_of(line: str) -> str:
    """Just the message of a job log line (for a one-line error)."""
    record = _log_record(line)
    return line if record is None else str(record["message"])


class LogTail:
    """The events of one log stream that arrived since the previous call (``GetLogEvents``' forward token)."""

    def __init__(self, logs: Any, group: str, stream: str) -> None:
        self.logs, self.group, self.stream = logs, group, stream
        self._token: str | None = None

    def fetch(self) -> list[str]:
        """New messages, oldest first; none (not an error) while the task has not created its stream yet."""
        found: list[str] = []
        while True:
            request: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self._token:
                request["nextToken"] = self._token
            try:
                response = self.logs.get_log_events(**request)
            except ClientError as err:
                if error_code(err) == "ResourceNotFoundException":
                    return found
                raise
            events = response.get("events", [])
            found.extend(str(event["message"]) for event in events)
            token = response.get("nextForwardToken")
            finished = not events or token == self._token
            self._token = token or self._token
            if finished:
                return found


@dataclass
class TaskView:
    """What is known about a run's task at one poll."""

    state: str | None = None
    task_arn: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    stopped_reason: str | None = None


class TaskWatcher:
    """The ECS task behind execution ``execution_arn``, its state and (with ``logs``) its new log lines."""

    def __init__(self, conn: Connection, execution_arn: str) -> None:
        self.conn, self.execution_arn = conn, execution_arn
        self.view = TaskView()
        self._tail: LogTail | None = None

    def poll(self) -> TaskView:
        """Refresh the task's state (its ARN from the newest TaskSubmitted event, then DescribeTasks)."""
        history = client(self.conn.session, "stepfunctions").get_execution_history(
            executionArn=self.execution_arn, reverseOrder=True, maxResults=50
        )
        arn = submitted_task_arn(history.get("events", []))
        if arn is None:
            return self.view
        described = client(self.conn.session, "ecs").describe_tasks(cluster=naming.CLUSTER, tasks=[arn])
        tasks = described.get("tasks") or []
        if not tasks:
            return self.view
        task = tasks[0]
        if arn != self.view.task_arn:  # first sight, or a retry's new task: its own stream
            self.view = TaskView(task_arn=arn)
            self._tail = None
            self._locate_logs(str(task.get("taskDefinitionArn") or naming.TASK_FAMILY), arn)
        self.view.state = task_state(task)
        self.view.stopped_reason = task.get("stoppedReason")
        return self.view

    def _locate_logs(self, task_definition: str, task_arn: str) -> None:
        definition = client(self.conn.session, "ecs").describe_task_definition(taskDefinition=task_definition)
        location = log_location(job_container(definition["taskDefinition"]), task_arn.rsplit("/", 1)[-1])
        if location:
            self.view.log_group, self.view.log_stream = location

    def new_log_lines(self) -> list[str]:
        """The job's lines written since the last call (none before the task's stream is known)."""
        if self.view.log_stream is None or self.view.log_group is None:
            return []
        if self._tail is None:
            self._tail = LogTail(client(self.conn.session, "logs"), self.view.log_group, self.view.log_stream)
        return self._tail.fetch()


def _elapsed(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


class Progress:
    """Where a followed run is, on stderr: a live line on a terminal, one line per change otherwise.

    ``show`` None means "on a terminal only" (progress in a log file is noise unless asked for with
    ``--progress``); job log lines are printed whenever ``logs`` is set, since they were asked for.
    """

    def __init__(self, name: str, *, show: bool | None, logs: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.name, self.logs = name, logs
        self.terminal = self.stream.isatty()
        self.show = self.terminal if show is None else show
        self.status, self.task = "STARTING", "-"
        self.began = time.monotonic()
        self._said: tuple[str, str] | None = None
        self._console = Console(
            file=self.stream, width=None if self.terminal else PIPE_WIDTH, soft_wrap=not self.terminal, highlight=False
        )
        self._live: Status | None = None

    def line(self) -> str:
        """The progress line: run, its status, the task's state, elapsed time."""
        return f"{self.name}: {self.status}, task {self.task}, {_elapsed(time.monotonic() - self.began)}"

    def __rich__(self) -> str:  # rich re-renders this on every refresh: the elapsed time ticks between polls
        return self.line()

    def __enter__(self) -> Progress:
        if self.show and self.terminal:
            self._live = Status(self, console=self._console, spinner="dots")
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, status: str | None = None, task: str | None = None) -> None:
        """New run status and/or task state; printed as a line (when not live) only when one of them changed."""
        self.status = status or self.status
        self.task = task or self.task
        if self.show and self._live is None and (self.status, self.task) != self._said:
            self._said = (self.status, self.task)
            self._console.print(self.line(), markup=False)

    def job_lines(self, lines: Iterable[str]) -> None:
        """The job's log lines (only with ``--logs``), readable form of its JSON records."""
        if not self.logs:
            return
        for line in lines:
            self._console.print(f"  job | {readable(line)}", markup=False)

    def note(self, text: str) -> None:
        """A one-off statement, always printed: where the run goes (the local runner's first line), or why the
        task's state is not shown. Not progress: an operator reading a CI log needs it most."""
        self._console.print(text, markup=False)
