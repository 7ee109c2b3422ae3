"""``dsctl status``: one table for all environments.

Replaces the guide's "Model Version Mismatches" section (``aws ssm get-parameter
--name .../model-key --profile dev`` then ``--profile prod``): the promoted version of
every environment, whether the stored model still matches its promoted digest, the
last executions and run counts, and the alarm state, side by side.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from components import naming
from dsctl import runs, ssm_parameters
from dsctl.envs import Connection, aws_errors, client, try_connect_all
from dsctl.image_promotion import digest_of_task_definition
from dsctl.models import MODEL_FILE, ModelStore, error_code, interpret_failed_read, is_denied
from dsctl.output import EXIT_FAILED, CommandError, add_json_flag, console, print_json, table


def _safely(what: Callable[[], Any]) -> Any:
    """Run one probe; a failure becomes a short ``error: …`` value instead of ending the whole report."""
    try:
        return what()
    except CommandError as err:
        return {"error": err.message}
    except (ClientError, BotoCoreError) as err:
        code = err.response.get("Error", {}).get("Code") if isinstance(err, ClientError) else type(err).__name__
        return {"error": str(code)}


def model_status(conn: Connection) -> dict[str, Any]:
    """Promoted version and whether the stored object's digest is the promoted one."""
    key, sha = ssm_parameters.current_model(conn.session, conn.env)
    version = ssm_parameters.version_of_key(key)
    if version is None:
        return {
            "version": None,
            "model_key": key,
            "digest": "no model promoted" if key == ssm_parameters.NONE else "bad key",
        }
    store = ModelStore(conn.session, conn.env.artifact_bucket)
    try:
        stored = store.stored_sha256(version)
    except ClientError as err:
        code = error_code(err)
        if not is_denied(code):
            raise
        failed = interpret_failed_read(store, version, MODEL_FILE, code, conn.env.name, conn.env.account_id)
        if failed.missing is True:
            return {"version": version, "model_key": key, "sha256": sha, "digest": "MISSING from the store"}
        raise CommandError(f"{failed.problem}; {failed.fix} (dsctl doctor --env {conn.env.name})") from err
    verdict = "verified" if stored == sha else ("no stored checksum" if stored is None else "MISMATCH")
    return {"version": version, "model_key": key, "sha256": sha, "digest": verdict}


def alarm_states(conn: Connection) -> dict[str, str]:
    """State of the pipeline's alarms (INSUFFICIENT_DATA until they have data)."""
    names = [naming.failed_executions_alarm(conn.env.name), naming.rejected_rows_alarm(conn.env.name)]
    response = client(conn.session, "cloudwatch").describe_alarms(AlarmNames=names)
    found = {alarm["AlarmName"]: alarm["StateValue"] for alarm in response["MetricAlarms"]}
    return {name: found.get(name, "MISSING") for name in names}


def image_status(conn: Connection) -> dict[str, Any]:
    """The digest the deployed task definition runs, the stack file's pin, and the upstream run that proves it."""
    env = conn.env
    evidence = env.image_promotion_evidence
    upstream = (
        "builds"
        if env.builds_image
        else f"ran in {env.promotes_from}: {evidence.split('/')[-2]}"
        if evidence
        else f"no recorded run in {env.promotes_from}"
    )
    running = _safely(lambda: digest_of_task_definition(client(conn.session, "ecs")))
    return {"running": running if isinstance(running, str) else None, "pinned": env.image_digest, "upstream": upstream}


def environment_status(conn: Connection) -> dict[str, Any]:
    """Everything ``status`` shows for one environment whose credentials were verified."""
    return {
        "env": conn.env.name,
        "account": conn.env.account_id,
        "available": True,
        "model": _safely(lambda: model_status(conn)),
        "image": image_status(conn),
        "executions": _safely(lambda: runs.recent_executions(conn)),
        "last_run": _safely(lambda: runs.counts(runs.latest_run_manifest(conn))),
        "alarms": _safely(lambda: alarm_states(conn)),
    }


def _cell(value: Any, render: Callable[[Any], str]) -> str:
    if isinstance(value, dict) and "error" in value:
        return f"[red]error: {value['error']}[/]"
    return render(value)


def _model_cell(model: dict[str, Any]) -> str:
    colour = "green" if model["digest"] == "verified" else "red"
    return f"{model['version'] or '-'} [{colour}]{model['digest']}[/]"


def _image_cell(image: dict[str, Any]) -> str:
    digest = image["running"] or image["pinned"]
    shown = f"{digest[:19]}…" if digest else "-"
    colour = "green" if image["upstream"] == "builds" or image["upstream"].startswith("ran in") else "yellow"
    pending = " (pin not deployed)" if image["pinned"] and image["running"] not in (None, image["pinned"]) else ""
    return f"{shown}{pending}\n[{colour}]{image['upstream']}[/]"


def _executions_cell(executions: list[dict[str, Any]]) -> str:
    return "\n".join(f"{e['name']} {e['status']}" for e in executions) or "-"


def _run_cell(last: dict[str, Any]) -> str:
    if not last:
        return "-"
    return f"{last['run_id']}: in {last['rows_in']} out {last['rows_out']} rejected {last['rows_rejected']}"


def _alarms_cell(alarms: dict[str, str]) -> str:
    return "\n".join(
        f"{name.rsplit('-', 1)[0].removeprefix('ds-preprocessing-')}: {state}" for name, state in alarms.items()
    )


def _status(args: argparse.Namespace) -> int:
    reports: list[dict[str, Any]] = []
    with console.status("reading every environment", spinner="dots"):
        for env, conn, problem in try_connect_all():
            if conn is None:
                reports.append({"env": env.name, "account": env.account_id, "available": False, "reason": problem})
            else:
                reports.append(environment_status(conn))
    if args.json:
        print_json({"environments": reports})
    else:
        rows = []
        for r in reports:
            if not r["available"]:
                rows.append((r["env"], r["account"], "[yellow]not checked (reason below)[/]", "", "", "", ""))
                continue
            rows.append(
                (
                    r["env"],
                    r["account"],
                    _cell(r["model"], _model_cell),
                    _image_cell(r["image"]),
                    _cell(r["executions"], _executions_cell),
                    _cell(r["last_run"], _run_cell),
                    _cell(r["alarms"], _alarms_cell),
                )
            )
        console.print(
            table(
                "ds-preprocessing status",
                ["env", "account", "model", "image", "executions", "last run", "alarms"],
                rows,
            )
        )
        for r in reports:
            if not r["available"]:
                console.print(f"[yellow]{r['env']}[/]: {r['reason']}")
    checked = [r for r in reports if r["available"]]
    return 0 if checked else EXIT_FAILED


def register(subparsers: Any) -> None:
    """Add ``dsctl status``."""
    parser = subparsers.add_parser(
        "status",
        help="promoted model, image digest, last runs and alarms of every environment",
        description="One table for all environments (each with its default credentials: the AWS profile named like "
        "the environment, else the environment variables; environments without credentials are marked). Exit 1 if "
        "no environment could be checked.",
    )
    add_json_flag(parser)
    parser.set_defaults(func=aws_errors(_status))
