"""``dsctl run``: start the pipeline in an environment and, with ``--wait``, follow it to the end.

Replaces the guide's ``aws stepfunctions start-execution --name "test-new-model-$(date +%s)"``.
When the embedded local environment is up (``dsctl local up``), Step Functions cannot run
ECS tasks, so the run goes through ``dsctl.local.runner`` instead and says so.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from rich.table import Table

from dsctl import follow, runs
from dsctl.envs import Connection, add_env_arguments, aws_errors, client, connect_args
from dsctl.models import error_code
from dsctl.output import EXIT_FAILED, EXIT_INTERRUPTED, CommandError, add_json_flag, console, print_json


def local_mode() -> Any | None:
    """The local environment's state when ``dsctl local up`` is running, else None (also when not installed)."""
    try:
        from dsctl.local import state
    except ImportError:
        return None
    return state.current()


def endpoint_of(conn: Connection) -> str:
    """The endpoint this connection's calls actually go to (``AWS_ENDPOINT_URL``, a profile's ``endpoint_url``, or
    AWS's own)."""
    return str(client(conn.session, "stepfunctions").meta.endpoint_url).rstrip("/")


def local_target(conn: Connection) -> Any | None:
    """The local environment, when this connection targets it: a local environment merely being up is not enough,
    or a run with real AWS credentials and a forgotten ``dsctl local up`` would happen on the laptop."""
    local = local_mode()
    if local is None or endpoint_of(conn) != str(local.endpoint).rstrip("/"):
        return None
    return local


def _progress(args: argparse.Namespace, name: str) -> follow.Progress:
    return follow.Progress(name, show=args.progress, logs=args.logs)


def _run_locally(args: argparse.Namespace, conn: Connection, local: Any) -> dict[str, Any]:
    from dsctl.local.runner import JobStopped, run_job_locally  # the seam of CONTRACTS §10

    run_id = runs.execution_name()
    started = datetime.now(UTC)
    result: dict[str, Any] = {"mode": "local", "name": run_id, "output": runs.run_output_url(conn.env, run_id)}
    try:
        with _progress(args, run_id) as progress:
            progress.update("RUNNING", "PENDING")  # the runner reads the task definition before the job starts
            manifest = run_job_locally(
                conn.env,
                run_id=run_id,
                input_key=args.input_key,
                session=conn.session,
                local=local,
                log=progress.note,
                job_log=lambda line: progress.job_lines([line]),
                on_state=lambda state: progress.update(task=state),
            )
    except JobStopped as err:
        result.update(status="STOPPED", counts={}, error="JobStopped", cause=err.message)
    except CommandError as err:
        if err.exit_code != EXIT_FAILED:  # not a run that failed, but one that could not start: a usage error
            raise
        # A failed run is a result, reported like a failed execution (--json: one document with the cause).
        result.update(status="FAILED", counts={}, error="JobFailed", cause=err.message)
    else:
        result.update(status="SUCCEEDED", counts=runs.counts(manifest))
    result["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    result["log_stream"] = (runs.run_record(conn, run_id) or {}).get("log_stream")  # the runner named it
    return result


def _attach_locally(args: argparse.Namespace, conn: Connection, local: Any, run_id: str) -> dict[str, Any]:
    """Follow a local run started by another ``dsctl run``: its record, its job process, its log stream."""
    from dsctl.local.runner import local_process, task_container

    record = runs.run_record(conn, run_id)
    if record is None and local_process(local, run_id) is None:
        raise CommandError(
            f"no local run {run_id} in {conn.env.name}; list runs: dsctl runs list --env {conn.env.name}", EXIT_FAILED
        )
    location = follow.log_location(task_container(conn.session, str(local.endpoint))[1], run_id)
    tail = follow.LogTail(client(conn.session, "logs"), *location) if location else None
    try:
        with _progress(args, run_id) as progress:
            while True:
                running = local_process(local, run_id) is not None
                record = runs.run_record(conn, run_id) or {}
                progress.update(str(record.get("status", "RUNNING")), "RUNNING" if running else "STOPPED")
                progress.job_lines(tail.fetch() if tail else [])
                if not running:
                    break
                runs.pause(args.poll_seconds)
    except KeyboardInterrupt:
        raise _still_running(conn, run_id, "local job process") from None
    status = str(record.get("status", "RUNNING"))
    if status == "RUNNING":  # the job is gone without recording an end: killed (SIGKILL, out of memory)
        status, record = "FAILED", {**record, "error": "KILLED", "message": "the job ended without recording how"}
    result: dict[str, Any] = {
        "mode": "local",
        "name": run_id,
        "status": status,
        "output": runs.run_output_url(conn.env, run_id),
        "counts": runs.counts(runs.run_manifest(conn, run_id)) if status == "SUCCEEDED" else {},
        "log_stream": record.get("log_stream"),
    }
    if status != "SUCCEEDED":
        result.update(error=record.get("error"), cause=record.get("message"), exit_code=record.get("exit_code"))
    if record.get("started") and record.get("finished"):
        took = datetime.fromisoformat(record["finished"]) - datetime.fromisoformat(record["started"])
        result["duration_seconds"] = round(took.total_seconds(), 1)
    return result


def _refuse_while_running(conn: Connection, local: Any | None = None) -> None:
    """One run per environment: a second one would publish the same month twice (the job's lease is the backstop).

    Locally a run has no execution: a RUNNING record whose job process is gone (killed with SIGKILL, the laptop
    rebooted) blocks nothing, or no command could ever start or stop a run there again.
    """
    active = runs.running(conn)
    if local is not None:
        from dsctl.local.runner import local_process

        active = [run for run in active if "execution_status" in run or local_process(local, run["run_id"])]
    if active:
        run_id = active[0]["run_id"]
        raise CommandError(
            f"run {run_id} is still running in {conn.env.name}; follow it: dsctl run --env {conn.env.name} "
            f"--attach {run_id} (or stop it: dsctl runs stop {run_id} --env {conn.env.name})"
        )


def _still_running(conn: Connection, name: str, where: str) -> CommandError:
    """What Ctrl-C/SIGTERM while following says: the run goes on, and how to come back to it or stop it."""
    return CommandError(
        f"stopped following {name}, which is still running ({where}); "
        f"attach again: dsctl run --env {conn.env.name} --attach {name}, or stop it: "
        f"dsctl runs stop {name} --env {conn.env.name}",
        EXIT_INTERRUPTED,
    )


def _follow(args: argparse.Namespace, conn: Connection, name: str, execution_arn: str) -> dict[str, Any]:
    """Follow an execution to its end, showing elapsed time, its status and its ECS task's state (and with
    ``--logs`` the job's lines); Ctrl-C leaves it running and says how to come back to it or stop it."""
    watcher = follow.TaskWatcher(conn, execution_arn)
    probing = {"on": True}

    def show(progress: follow.Progress, status: str | None = None, *, last: bool = False) -> None:
        """The run's status with its task's state, then the job's new lines. A refusal (an operator role without
        the follow permissions yet) turns the task probe off with one note instead of ending the following."""
        view, lines = None, []
        if probing["on"] and (progress.show or progress.logs or last):
            try:
                view = watcher.poll()
                lines = watcher.new_log_lines()
            except ClientError as err:
                probing["on"] = False
                progress.note(f"task state and logs unavailable ({error_code(err)}); following the execution only")
        progress.update(status, view.state if view else None)
        progress.job_lines(lines)

    try:
        with _progress(args, name) as progress:
            final = runs.wait_for(
                conn,
                execution_arn,
                args.poll_seconds,
                on_poll=lambda description: show(progress, description["status"]),
            )
            show(progress, last=True)  # the task's last state (also for the result) and the lines since the last poll
    except KeyboardInterrupt:
        raise _still_running(conn, name, execution_arn) from None
    stopped = final.get("stopDate") or datetime.now(UTC)
    return {
        "mode": "aws",
        "name": name,
        "execution_arn": execution_arn,
        "status": final["status"],
        "duration_seconds": round((stopped - final["startDate"]).total_seconds(), 1),
        "output": runs.run_output_url(conn.env, name),
        "counts": runs.counts(runs.run_manifest(conn, name)) if final["status"] == "SUCCEEDED" else {},
        "error": final.get("error"),
        "cause": final.get("cause"),
        "task_arn": watcher.view.task_arn,
        "log_stream": watcher.view.log_stream,
    }


def _run(args: argparse.Namespace) -> int:
    conn = connect_args(args)
    local = local_target(conn)
    if args.attach and local is not None:
        result = _attach_locally(args, conn, local, args.attach)
    elif args.attach:
        result = _follow(args, conn, args.attach, runs.execution_arn(conn.env, args.attach))
    elif local is not None:
        _refuse_while_running(conn, local)
        if not args.json:
            console.print(
                f"[yellow]local mode[/]: {conn.env.name} ({conn.env.account_id}) is the local environment at "
                f"{endpoint_of(conn)}: running the job with the local runner"
            )
        result = _run_locally(args, conn, local)
    else:
        _refuse_while_running(conn)
        if not args.json:
            console.print(
                f"running in {conn.env.name} ({conn.env.account_id}) at {endpoint_of(conn)} as {conn.caller_arn}"
                + ("; the local environment is up but not targeted by these credentials" if local_mode() else "")
            )
        started = runs.start_run(conn, args.input_key)
        result = {"mode": "aws", **started}
        if args.wait:
            result = _follow(args, conn, started["name"], started["execution_arn"])
    _print(args, result)
    return 0 if result.get("status", "SUCCEEDED") == "SUCCEEDED" else EXIT_FAILED


def _print(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print_json(result)
        return
    if "status" not in result:
        console.print(
            f"started {result['name']} ({result['execution_arn']}); follow it: dsctl run --env {args.env} "
            f"--attach {result['name']}"
        )
        return
    rows = [
        ("run", result["name"]),
        ("status", result["status"]),
        ("duration", f"{result['duration_seconds']} s"),
        ("output", result["output"]),
    ]
    rows += [(key, value) for key, value in result.get("counts", {}).items() if key != "run_id"]
    if result.get("error"):
        rows.append(("error", f"{result['error']}: {result.get('cause') or ''}"))
    if result.get("log_stream"):
        rows.append(("log stream", result["log_stream"]))
    summary = Table(title=f"{args.env} run", show_header=False)
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")  # the output URL must stay copyable, never cut with an ellipsis
    for key, value in rows:
        summary.add_row(key, str(value))
    console.print(summary)


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse type: refused before the run starts, not when it is first polled)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 3600.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds between 0 and 3600, e.g. 5")
    return value


def register(subparsers: Any) -> None:
    """Add ``dsctl run``."""
    parser = subparsers.add_parser(
        "run",
        help="start the pipeline (state machine) in an environment",
        description="Start ds-preprocessing-pipeline with a readable execution name (run-YYYYMMDD-HHMMSS-xxxx, also "
        "the run id under processed/). --wait follows it and prints status, duration, output and row counts; "
        "--attach RUN_ID follows one already started. While following, stderr shows elapsed time, the run's "
        "status and its ECS task's state (PENDING/RUNNING/STOPPING/STOPPED; locally the job process's) on a "
        "terminal or with --progress, and --logs streams the job's log lines. Refused while another run of the "
        "environment is running. Exit 1 if the run did not succeed.",
    )
    add_env_arguments(parser)
    parser.add_argument("--input-key", help="input object key (default: the environment's input-key parameter)")
    parser.add_argument("--wait", action="store_true", help="follow the execution until it ends")
    parser.add_argument("--attach", metavar="RUN_ID", help="follow a run that is already running (starts nothing)")
    parser.add_argument(
        "--logs", action="store_true", help="while following, print the job's log lines (on stderr) as they come"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="while following, show elapsed time, run status and task state on stderr (default: on a terminal)",
    )
    parser.add_argument(
        "--poll-seconds", type=_seconds, default=5.0, metavar="N", help="seconds between status checks (--wait)"
    )
    add_json_flag(parser)
    parser.set_defaults(func=aws_errors(_run))
