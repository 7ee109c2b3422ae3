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
from dsctl.models import MODEL_FILE, ModelStore, error_code, interpret_failed_read, is_denied, is_not_found
from dsctl.output import EXIT_FAILED, CommandError, add_json_flag, console, print_json, table
from dsctl.registry import bypass_problem
from job.s3 import MISSING_BUCKET_CODE


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
    """Promoted version and whether the object the job will read has the promoted digest.

    The store is the one the job reads: the ``artifact-bucket`` parameter, not the stack file's bucket. The digest
    is S3's full-object SHA-256 when it kept one, otherwise computed from the object (``ModelStore.sha256_of``),
    so a model replaced by hand is reported as MISMATCH here rather than by the next run.
    """
    values, missing = ssm_parameters.get_parameters(
        conn.session, conn.env, (naming.PARAM_ARTIFACT_BUCKET, *naming.PROMOTED_PARAMETER_KEYS)
    )
    if missing:
        raise CommandError(
            f"{conn.env.name} is missing {', '.join(missing)}; deploy the stack "
            f"(pulumi up --refresh --stack {conn.env.name})"
        )
    key, sha = values[naming.PARAM_MODEL_KEY], values[naming.PARAM_MODEL_SHA256]
    version = ssm_parameters.version_of_key(key)
    if version is None:
        return {
            "version": None,
            "model_key": key,
            "digest": "no model promoted" if key == ssm_parameters.NONE else "bad key",
        }
    store = ModelStore(conn.session, values[naming.PARAM_ARTIFACT_BUCKET])
    found = {"version": version, "model_key": key, "sha256": sha, "bucket": store.bucket}
    try:
        verdict, detail = store.digest_verdict(version, sha)
    except ClientError as err:
        code = error_code(err)
        if not (is_denied(code) or is_not_found(code) or code == MISSING_BUCKET_CODE):
            raise
        if store.bucket_missing():
            return {
                **found,
                "digest": "STORE MISSING",
                "detail": f"the artifact-bucket parameter names {store.bucket}, which does not exist; "
                f"pulumi up --refresh --stack {conn.env.name}",
            }
        failed = interpret_failed_read(store, version, MODEL_FILE, code, conn.env.name, conn.env.account_id)
        if failed.missing is True:
            return {**found, "digest": "MISSING from the store", "detail": failed.problem}
        raise CommandError(f"{failed.problem}; {failed.fix} (dsctl doctor --env {conn.env.name})") from err
    unrecorded = bypass_problem(conn)  # set outside dsctl: the promotion gate was bypassed
    return {**found, "digest": verdict, "detail": detail, **({"unrecorded": unrecorded} if unrecorded else {})}


def is_healthy(report: dict[str, Any]) -> bool:
    """An environment is healthy when it could be read, its promoted model verifies, no probe failed, no run has
    failed since its newest successful one and no alarm is in ALARM."""
    if not report["available"]:
        return False
    values = (report["model"], report["executions"], report["failed_runs"], report["last_run"], report["alarms"])
    if any(isinstance(value, dict) and "error" in value for value in values):
        return False
    return (
        report["model"]["digest"] == "verified"
        and not report["model"].get("unrecorded")
        and not report["failed_runs"]
        and "ALARM" not in report["alarms"].values()
    )


RECENT_RUNS = 20
"""How many of the newest runs ``status`` reads: enough to reach back to the last success after a bad week."""


def alarms(conn: Connection) -> dict[str, dict[str, Any]]:
    """The pipeline's alarms: state (INSUFFICIENT_DATA until they have data, MISSING when not deployed), since when,
    and why."""
    names = [naming.failed_executions_alarm(conn.env.name), naming.rejected_rows_alarm(conn.env.name)]
    response = client(conn.session, "cloudwatch").describe_alarms(AlarmNames=names)
    found = {
        alarm["AlarmName"]: {
            "state": alarm["StateValue"],
            "since": _iso(alarm.get("StateUpdatedTimestamp")),
            "reason": alarm.get("StateReason"),
        }
        for alarm in response["MetricAlarms"]
    }
    return {name: found.get(name, {"state": "MISSING", "since": None, "reason": None}) for name in names}


def _iso(moment: Any) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def failed_runs(recent: list[dict[str, Any]], alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs that failed since the newest successful one (newest first), each with how it failed and the alarm
    that goes off for it (the failed-executions alarm: did it page anyone?). ``recent`` is newest first."""
    found = []
    for run in recent:
        if run.get("status") == "SUCCEEDED":
            break
        if run.get("status") in runs.FAILED:
            keys = ("run_id", "status", "started", "finished", "exit_code", "error", "message")
            found.append({**{key: run.get(key) for key in keys}, "alarm": alarm})
    return found


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
    report: dict[str, Any] = {
        "env": conn.env.name,
        "account": conn.env.account_id,
        "available": True,
        "model": _safely(lambda: model_status(conn)),
        "image": image_status(conn),
        "last_run": _safely(lambda: runs.counts(runs.latest_run_manifest(conn))),
    }
    recent = _safely(lambda: runs.list_runs(conn, RECENT_RUNS))
    found = _safely(lambda: alarms(conn))
    unreadable = "error" in found
    report["alarms"] = found if unreadable else {name: alarm["state"] for name, alarm in found.items()}
    if isinstance(recent, dict):  # the runs could not be read: both views say why
        report["executions"] = report["failed_runs"] = recent
    else:
        report["executions"] = runs.as_executions(recent[:3])
        failed_alarm = naming.failed_executions_alarm(conn.env.name)
        linked = {"name": failed_alarm, **({"state": "unknown"} if unreadable else found[failed_alarm])}
        report["failed_runs"] = failed_runs(recent, linked)
    report["healthy"] = is_healthy(report)
    return report


def _cell(value: Any, render: Callable[[Any], str]) -> str:
    if isinstance(value, dict) and "error" in value:
        return f"[red]error: {value['error']}[/]"
    return render(value)


def _model_cell(model: dict[str, Any]) -> str:
    colour = "green" if model["digest"] == "verified" else "red"
    unrecorded = " [red]NO PROMOTION RECORD (set outside dsctl)[/]" if model.get("unrecorded") else ""
    return f"{model['version'] or '-'} [{colour}]{model['digest']}[/]{unrecorded}"


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


def _failed_run_line(env: str, run: dict[str, Any]) -> str:
    """One failed run: how it failed, the alarm linked to it, and where to look next."""
    how = (
        f"exit {run['exit_code']} {run.get('error') or ''}: {run.get('message') or ''}" if run.get("exit_code") else ""
    )
    alarm = run["alarm"]
    since = f" since {alarm['since']}" if alarm.get("since") else ""
    return (
        f"{env}: run {run['run_id']} {run['status']} {how}".rstrip(": ")
        + f" (finished {run.get('finished') or '-'}); alarm {alarm['name']}: {alarm['state']}{since}; "
        f"details: dsctl runs show {run['run_id']} --env {env} --logs"
    )


def _status(args: argparse.Namespace) -> int:
    reports: list[dict[str, Any]] = []
    with console.status("reading every environment", spinner="dots"):
        for env, conn, problem in try_connect_all():
            if conn is None:
                unavailable = {"env": env.name, "account": env.account_id, "available": False, "reason": problem}
                reports.append({**unavailable, "healthy": False})
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
        for r in reports:
            failed = r.get("failed_runs")
            for run in failed if isinstance(failed, list) else []:
                console.print(_failed_run_line(r["env"], run), markup=False)
    return 0 if all(is_healthy(r) for r in reports) else EXIT_FAILED


def register(subparsers: Any) -> None:
    """Add ``dsctl status``."""
    parser = subparsers.add_parser(
        "status",
        help="promoted model, image digest, last runs and alarms of every environment",
        description="One table for all environments (each with its default credentials: the AWS profile named like "
        "the environment, else the environment variables; environments without credentials are marked), then "
        "every run that failed since the environment's last success, with the failed-executions alarm's state. Exit "
        "1 unless every environment is healthy: readable, its promoted model's digest verified (computed when S3 "
        "kept none), no run failed since the last success, no alarm in ALARM.",
    )
    add_json_flag(parser)
    parser.set_defaults(func=aws_errors(_status))
