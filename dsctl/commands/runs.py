"""``dsctl runs list/show/stop``: what ran, how it ended, and stopping one.

Step Functions lists finished executions for about 90 days and a failed run publishes
nothing, so the history comes from the job's own record of every run
(``runs/{run_id}.json``, ``job.run_record``), merged with the executions Step Functions
still has; ``dsctl.runs`` does the merging.
"""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import ClientError
from rich.table import Table

from dsctl import runs
from dsctl.envs import Connection, add_env_arguments, aws_errors, connect_args
from dsctl.follow import readable
from dsctl.output import EXIT_FAILED, add_json_flag, console, print_json, table


def _list(args: argparse.Namespace) -> int:
    conn = connect_args(args)
    found = runs.list_runs(conn, args.limit)
    if args.json:
        print_json({"env": conn.env.name, "runs": found})
        return 0
    rows = []
    for run in found:
        status = run.get("status")
        colour = "red" if status in runs.FAILED else ("green" if status == "SUCCEEDED" else "yellow")
        counts = "" if "rows_in" not in run else f"in {run['rows_in']} out {run['rows_out']} rej {run['rows_rejected']}"
        failure = f"exit {run['exit_code']} {run.get('error', '')}" if run.get("exit_code") else ""
        rows.append((run["run_id"], f"[{colour}]{run.get('status')}[/]", run.get("started") or "-", counts, failure))
    console.print(table(f"runs in {conn.env.name}", ["run", "status", "started", "rows", "failure"], rows))
    return 0


def _with_logs(args: argparse.Namespace, conn: Connection, shown: dict[str, Any]) -> list[str] | None:
    """The tail of the run's log stream with ``--logs`` (None without it; a note when the run has no stream)."""
    if not args.logs:
        return None
    if not shown.get("log_stream"):
        return ["(no log stream known for this run: no task was submitted, or its job did not record one)"]
    try:
        return [readable(line) for line in runs.log_tail(conn, shown["log_stream"], args.tail)]
    except ClientError as err:
        return [f"(log stream {shown['log_stream']} not readable: {err.response.get('Error', {}).get('Code')})"]


def _show(args: argparse.Namespace) -> int:
    conn = connect_args(args)
    shown = runs.show_run(conn, args.run_id)
    tail = _with_logs(args, conn, shown)
    if tail is not None:
        shown["log_tail"] = tail
    if args.json:
        print_json(shown)
    else:
        summary = Table(title=f"run {args.run_id} in {conn.env.name}", show_header=False)
        summary.add_column(style="bold")
        summary.add_column(overflow="fold")  # URLs and digests must stay whole and copyable
        model = shown.get("model") or {}
        for key, value in (
            ("status", shown.get("status")),
            ("started", shown.get("started")),
            ("finished", shown.get("finished")),
            ("model", f"{model.get('version') or model.get('url') or '-'} sha256 {model.get('sha256') or '-'}"),
            ("input", shown.get("input")),
            ("output", shown.get("output")),
            (
                "rows",
                " ".join(
                    f"{k.removeprefix('rows_')} {shown[k]}"
                    for k in ("rows_in", "rows_out", "rows_rejected")
                    if k in shown
                ),
            ),
            ("rejected by reason", shown.get("rejected_by_reason")),
            ("exit code", shown.get("exit_code")),
            ("error", f"{shown.get('error')}: {shown.get('message')}" if shown.get("error") else None),
            ("log stream", shown.get("log_stream")),
            ("execution", (shown.get("execution") or {}).get("arn")),
        ):
            if value not in (None, "", {}):
                summary.add_row(key, str(value))
        console.print(summary)
        for line in tail or []:
            console.print(f"  job | {line}", markup=False, highlight=False)
    return EXIT_FAILED if shown.get("status") in runs.FAILED else 0


def _stop(args: argparse.Namespace) -> int:
    from dsctl.commands.run import local_target  # where runs go is decided in one place

    conn = connect_args(args)
    local = local_target(conn)
    if local is not None:
        stopped = runs.stop_local_run(conn, local, args.run_id, args.reason)
    else:
        stopped = runs.stop_run(conn, args.run_id, args.reason)
    if args.json:
        print_json(stopped)
    elif local is not None:
        console.print(
            f"stopped {args.run_id} (local job process): it removed its staging area and exited; "
            f"recorded as {stopped['status']}"
        )
    else:
        console.print(
            f"stopped {args.run_id} ({stopped['execution_arn']}); the task gets SIGTERM and drops its staging"
        )
    return 0


def register(subparsers: Any) -> None:
    """Add ``dsctl runs``."""
    parser = subparsers.add_parser("runs", help="list, show and stop pipeline runs (failed ones included)")
    sub = parser.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "list",
        help="every run, newest first",
        description="Every run of the environment, newest first, failed/aborted/running included: the job's records "
        "under runs/ in the output bucket merged with Step Functions' executions.",
    )
    add_env_arguments(p)
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N runs (default 20)")
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_list))

    p = sub.add_parser(
        "show",
        help="one run: status, timings, model, input, rows, rejections, failure",
        description="Status, timings, model version and digest, input objects, rows in/out, rejected by reason, "
        "output location, the failure's exit code and message, the execution, its ECS task and log stream; --logs "
        "prints the stream's last lines. Exit 1 if the run failed.",
    )
    p.add_argument("run_id", metavar="RUN_ID")
    add_env_arguments(p)
    p.add_argument("--logs", action="store_true", help="print the last lines of the run's log stream")
    p.add_argument("--tail", type=int, default=50, metavar="N", help="with --logs: how many lines (default 50)")
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_show))

    p = sub.add_parser(
        "stop",
        help="stop a running run (its execution, or locally its job process)",
        description="Stop the run's execution; ECS sends the task SIGTERM and the job removes its staging area. "
        "On the local environment, the local job process gets SIGTERM the same way; the command returns once it "
        "has exited and the run is recorded as STOPPED.",
    )
    p.add_argument("run_id", metavar="RUN_ID")
    add_env_arguments(p)
    p.add_argument("--reason", default="stopped with dsctl runs stop", help="recorded as the execution's cause")
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_stop))
