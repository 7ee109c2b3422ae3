"""``dsctl local up|down|status|env``: an embedded AWS (moto), one account per stack, built from the Pulumi program.

``up`` prints only ``export`` lines on stdout (progress goes to stderr), so
``eval "$(dsctl local up)"`` points this shell's AWS CLI, boto3 and dsctl at it.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from types import FrameType
from typing import Any

from dsctl.local import lifecycle, state
from dsctl.output import EXIT_FAILED, CommandError, add_json_flag, console, print_json, table


def _progress(message: str) -> None:
    print(f"local: {message}", file=sys.stderr, flush=True)


def _export_lines(local: state.LocalState) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in local.exports().items()]


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so `up` takes a half-built environment down on SIGTERM/SIGHUP too


def _up(args: argparse.Namespace) -> int:
    previous = {signum: signal.signal(signum, _terminate) for signum in (signal.SIGTERM, signal.SIGHUP)}
    started = time.monotonic()
    try:
        result = lifecycle.up(_progress, detail=_progress if args.verbose else None)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    local = result.state
    if args.json:
        print_json(
            {
                "state": local.to_dict(),
                "reused": result.reused,
                "exports": local.exports(),
                "provisioned": result.report.to_dict() if result.report else None,
            }
        )
        return 0
    if result.reused:
        _progress(
            f"already up at {local.endpoint} (pid {local.pid}, state in {local.directory}); reusing it as is. "
            "For a fresh one: dsctl local down && dsctl local up"
        )
    else:
        created = len(result.report.created) if result.report else 0
        _progress(
            f"up at {local.endpoint} (pid {local.pid}) in {time.monotonic() - started:.1f} s; {created} resources"
        )
        _progress(f"state, AWS config and server log in {local.directory}; stop with: dsctl local down")
        _progress("profiles: " + ", ".join(f"{env} (account {acct})" for env, acct in local.accounts.items()))
    _progress('point this shell at it with: eval "$(dsctl local env)"   (the lines below); then')
    first, last = next(iter(local.accounts)), list(local.accounts)[-1]
    _progress(f"  dsctl:   dsctl status | dsctl run --env {first} | dsctl model list --env {first}   (local runner)")
    _progress(f"  AWS CLI: aws s3 ls --profile {last}        boto3: boto3.Session(profile_name='{last}').client('s3')")
    print("\n".join(_export_lines(local)))
    return 0


def _down(args: argparse.Namespace) -> int:
    result = lifecycle.down()
    if args.json:
        print_json(
            {
                "directory": str(result.directory),
                "was_running": result.was_running,
                "stopped_pid": result.stopped_pid,
                "removed": result.removed,
            }
        )
    elif not result.was_running:
        _progress(f"nothing to stop: no local environment recorded in {result.directory}")
    else:
        stopped = f"stopped moto server (pid {result.stopped_pid})" if result.stopped_pid else "server was not running"
        _progress(f"{stopped}; removed {result.directory}" if result.removed else stopped)
        _progress("unset AWS_ENDPOINT_URL AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE DSCTL_LOCAL_DIR in your shell")
    if not result.removed:
        raise CommandError(
            f"{result.directory} still holds files dsctl did not create; remove them yourself", EXIT_FAILED
        )
    return 0


def _running() -> state.LocalState:
    local = state.current()
    if local is None:
        raise CommandError(
            f"no local environment is running (state dir {state.local_dir()}); start one: dsctl local up"
        )
    return local


def _status(args: argparse.Namespace) -> int:
    local = state.current()
    recorded = local or state.load()
    document: dict[str, Any] = {
        "directory": str(state.local_dir()),
        "running": local is not None,
        "state": recorded.to_dict() if recorded else None,
    }
    if args.json:
        print_json(document)
    elif recorded is None:
        console.print(f"no local environment (state dir {state.local_dir()}); start one: dsctl local up")
    else:
        health = "answering" if local else "NOT answering (stale: run dsctl local down)"
        console.print(f"moto server at {recorded.endpoint}, pid {recorded.pid}: {health}")
        rows = [(env, account, recorded.profiles.get(env, "")) for env, account in recorded.accounts.items()]
        console.print(table("environments", ["environment", "account", "AWS profile"], rows))
    return 0 if local else EXIT_FAILED


def _env(args: argparse.Namespace) -> int:
    local = _running()
    if args.json:
        print_json(local.exports())
    else:
        print("\n".join(_export_lines(local)))
    return 0


def register(subparsers: Any) -> None:
    """Add ``dsctl local`` and its sub-commands."""
    parser = subparsers.add_parser(
        "local",
        help="embedded AWS (moto), one account per stack, built from the synthesized stacks",
        description="Run moto's AWS emulator on 127.0.0.1 with every stack (Pulumi.<stack>.yaml) in its own account, "
        "provisioned exactly as `dsctl synth` reports it; `dsctl run` then runs the job locally.",
    )
    commands = parser.add_subparsers(dest="local_command", metavar="SUBCOMMAND", required=True)
    specs = (
        ("up", _up, "start the server, provision every stack, print the export lines (reuses a running one)"),
        ("down", _down, "stop the server and remove the state directory"),
        ("status", _status, "say whether the local environment is up (exit 1 if not)"),
        ("env", _env, 'print the export lines of the running environment, for eval "$(dsctl local env)"'),
    )
    for name, func, help_text in specs:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_json_flag(sub)
        sub.set_defaults(func=func)
        if name == "up":
            sub.add_argument("--verbose", action="store_true", help="list every resource as it is created")
