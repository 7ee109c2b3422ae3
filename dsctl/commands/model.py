"""``dsctl model``: publish, list, validate, promote and roll back model versions; fail over to the store's replica.

Replaces the guide's "Model Promotion Workflow" (``aws s3 cp`` of the pickle,
``aws ssm put-parameter --overwrite`` per account, ``scripts/validate_model.py``) with
commands that refuse the unsafe cases instead of trusting the operator to notice them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from dsctl import ssm_parameters
from dsctl.envs import (
    Connection,
    add_env_arguments,
    aws_errors,
    connect,
    connect_args,
    connect_promoter,
    store_owner,
    try_connect_all,
)
from dsctl.failover import TARGETS, failover
from dsctl.models import ModelStore, StoredVersion, check_version, error_code
from dsctl.output import EXIT_FAILED, CommandError, add_json_flag, console, print_json, table
from dsctl.promotion import promote, rollback
from dsctl.registry import OUTSIDE, promotion_history, show_version
from dsctl.validation import validate_version


def _share(text: str) -> float:
    """A share between 0 and 1 (argparse type: a bad value is a usage error before anything is stored)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1, e.g. 0.05 for 5%")
    return value


def _require_owner(conn: Connection, action: str) -> None:
    """Writes to the store happen only with the owning account's credentials (readers have read-only grants)."""
    if not conn.env.owns_artifact_store:
        raise CommandError(
            f"{action} writes to the artifact store s3://{conn.env.artifact_bucket}, owned by account "
            f"{conn.env.artifact_account_id}; run it with --env {store_owner(conn.env)}, the stack that owns the store"
        )


def _other_connection(conn: Connection, name: str, profile: str | None, needed_for: str) -> Connection:
    """Credentials for stack ``name``, which a change in ``conn.env`` also touches: ``profile``, else that stack's own
    profile (named like it), else the default chain; ``conn`` itself when ``name`` is ``conn.env``."""
    if name == conn.env.name:
        return conn
    try:
        return connect(name, profile)
    except CommandError as err:
        raise CommandError(f"{needed_for}, which needs credentials for {name}: {err.message}", err.exit_code) from err


def _store_connection(conn: Connection, store_profile: str | None) -> Connection:
    """Credentials of the stack that owns the store, which alone may append to a version's history.

    A promotion into a reading stack acts there with that stack's credentials and records itself in the store with
    the owner's: ``--store-profile``, else the owner's own profile (named like it), else the default chain.
    """
    return _other_connection(conn, store_owner(conn.env), store_profile, "the promotion is recorded in the store")


def _source_connection(conn: Connection, store: Connection, source_profile: str | None) -> Connection | None:
    """Credentials of the ``promotesFrom`` stack, whose parameters and runs the promotion gate reads (None: no gate).

    The store owner's connection serves when it is that stack (prod promoting from dev) and no other profile is given.
    """
    source = conn.env.promotes_from
    if not source:
        return None
    if source == store.env.name and source_profile is None:
        return store
    return _other_connection(conn, source, source_profile, f"the promotion gate reads {source}'s runs")


def _publish(args: argparse.Namespace) -> int:
    version = check_version(args.version)
    conn = connect_args(args)
    _require_owner(conn, "model publish")
    store = ModelStore(conn.session, conn.env.artifact_bucket)
    with console.status(f"uploading {version} to s3://{store.bucket}/models/{version}/", spinner="dots"):
        manifest = store.publish(version, Path(args.directory))
    result = {"version": version, "sha256": manifest["sha256"], "model": store.url(version), "env": conn.env.name}
    if args.json:
        print_json(result)
    else:
        console.print(f"[green]published[/] {version} sha256 {manifest['sha256']} -> {store.url(version)}")
        console.print(f"next: dsctl model validate --env {conn.env.name} {version} --test-data PATH|s3://...")
    return 0


def _running_versions(conn: Connection) -> tuple[dict[str, str | None], dict[str, str]]:
    """Promoted version per environment (None = none), and the environments we could not look into."""
    running: dict[str, str | None] = {}
    unknown: dict[str, str] = {}
    for env, other, problem in try_connect_all(skip=conn.env.name):
        if other is None:
            unknown[env.name] = problem or "no credentials"
            continue
        running[env.name] = _promoted(other)
    running[conn.env.name] = _promoted(conn)
    return running, unknown


def _promoted(conn: Connection) -> str | None:
    try:
        key, _ = ssm_parameters.current_model(conn.session, conn.env)
    except CommandError:
        return None
    return ssm_parameters.version_of_key(key)


def _list(args: argparse.Namespace) -> int:
    conn = connect_args(args)
    store = ModelStore(conn.session, conn.env.artifact_bucket)
    with console.status(f"reading s3://{store.bucket}/models/", spinner="dots"):
        versions = list(store.stored_versions())
        running, unknown = _running_versions(conn)
        rows = [_version_row(store, stored, running) for stored in versions]
    if args.json:
        print_json({"bucket": store.bucket, "versions": rows, "unknown_environments": unknown})
    else:
        console.print(
            table(
                f"models in s3://{store.bucket}",
                ["version", "sha256", "digest", "created", "validation", "running in"],
                [
                    (
                        r["version"],
                        r["sha256"][:12],
                        r["digest"],
                        r["created"],
                        r["validation"],
                        ", ".join(r["environments"]) or "-",
                    )
                    for r in rows
                ],
            )
        )
        for row in rows:
            if row.get("problem"):
                console.print(f"[red]{row['version']}: {row['problem']}[/]")
        for name, problem in unknown.items():
            console.print(f"[yellow]{name}: not checked[/] ({problem})")
    return EXIT_FAILED if any(r["digest"] != "verified" for r in rows) else 0


def _version_row(store: ModelStore, stored: StoredVersion, running: dict[str, str | None]) -> dict[str, Any]:
    """One version of ``model list``: its manifest, and whether the stored model.pkl still has the manifest's digest
    (computed when S3 kept no full-object SHA-256, so a file replaced by hand shows as MISMATCH)."""
    row: dict[str, Any] = {
        "version": stored.version,
        "sha256": stored.sha256,
        "created": stored.created,
        "validation": stored.validation_status,
        "environments": sorted(name for name, version in running.items() if version == stored.version),
    }
    if stored.problem:
        return {**row, "digest": "unusable", "problem": stored.problem}
    try:
        row["digest"], detail = store.digest_verdict(stored.version, stored.sha256)
    except ClientError as err:
        return {**row, "digest": "unreadable", "problem": f"{store.url(stored.version)}: {error_code(err)}"}
    return {**row, **({"problem": detail} if row["digest"] != "verified" else {})}


def _validate(args: argparse.Namespace) -> int:
    version = check_version(args.version)
    conn = connect_args(args)
    _require_owner(conn, "model validate")
    with console.status(f"validating {version} on {args.test_data}", spinner="dots"):
        report = validate_version(conn, version, args.test_data, args.max_rejected_share)
    if args.json:
        print_json(report)
    else:
        verdict = "[green]passed[/]" if report["passed"] else "[red]FAILED[/]"
        console.print(f"validation of {version}: {verdict}; report stored at {report['stored_at']}")
        for check in report.get("checks", []):
            if isinstance(check, dict) and not check.get("passed", True):
                console.print(f"  [red]failed[/] {check.get('name')}: {check.get('detail', '')}")
    return 0 if report["passed"] else EXIT_FAILED


def _promote(args: argparse.Namespace) -> int:
    if args.force and not (args.reason or "").strip():
        raise CommandError("--force needs --reason TEXT (it is recorded with the promotion)")
    if args.reason and not args.force:
        raise CommandError("--reason is only used with --force; drop it or add --force")
    version = check_version(args.version)
    conn = connect_promoter(args)
    with console.status(f"checking {version} from {conn.env.name}", spinner="dots"):
        store = _store_connection(conn, args.store_profile)
        source = _source_connection(conn, store, args.source_profile)
        result = promote(conn, version, args.reason.strip() if args.force else None, store, source)
    _print_change(args, result, "promoted")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    if args.to is not None:
        check_version(args.to)
    conn = connect_promoter(args)
    with console.status(f"rolling back {conn.env.name}", spinner="dots"):
        result = rollback(conn, args.to, _store_connection(conn, args.store_profile))
    _print_change(args, result, "rolled back")
    return 0


def _failover(args: argparse.Namespace) -> int:
    conn = connect_promoter(args)  # whoever may change the promoted model may change where it is read from
    with console.status(f"checking the promoted model in the {args.to} store for {conn.env.name}", spinner="dots"):
        result = failover(conn, args.to)
    if args.json:
        print_json(result)
    elif not result["changed"]:
        console.print(f"{result['env']} already reads {result['artifact_bucket']} ({result['check']}); no change")
    else:
        console.print(
            f"[green]failed over[/] {result['env']} to the {args.to} store: artifact-bucket "
            f"{result['previous_bucket']} -> {result['artifact_bucket']} ({result['check']})"
        )
    return 0


def _print_change(args: argparse.Namespace, result: dict[str, Any], verb: str) -> None:
    if args.json:
        print_json(result)
    elif not result["changed"]:
        console.print(f"{result['env']} already runs {result['version']} (sha256 {result['sha256'][:12]}); no change")
    else:
        console.print(
            f"[green]{verb}[/] {result['env']}: {result['previous_key']} -> {result['model_key']} "
            f"(sha256 {result['sha256'][:12]}, label {result['label']})"
        )


def _show(args: argparse.Namespace) -> int:
    version = check_version(args.version)
    conn = connect_args(args)
    with console.status(f"reading {version} from s3://{conn.env.artifact_bucket}/models/", spinner="dots"):
        running, unknown = _running_versions(conn)
        shown = show_version(conn, version, running)
    if args.json:
        print_json({**shown, "unknown_environments": unknown})
        return 0 if shown["digest"] == "verified" else EXIT_FAILED
    lineage = shown["training_input"] or {}
    console.print(f"[bold]model {version}[/] sha256 {shown['sha256']} created {shown['created']}")
    console.print(f"  {shown['model']}: digest {shown['digest']} ({shown['digest_detail']})")
    console.print(f"  replication: {shown['replication'] or 'none (the store does not replicate)'}")
    if lineage:
        objects = lineage.get("objects", [])
        console.print(
            f"  trained on {lineage.get('location')} ({len(objects)} object(s), {lineage.get('rows')} rows): "
            + ", ".join(
                f"{o.get('url')} {o.get('size')} B {o.get('sha256') or o.get('etag') or ''}".strip() for o in objects
            )
        )
    else:
        console.print("  trained on: not recorded (a manifest from before job train kept its input)")
    console.print(
        table(
            f"validations of {version} (the latest decides: {shown['validation']})",
            ["at", "result", "by", "test data", "test data sha256"],
            [
                (
                    v.get("validated_at"),
                    "passed" if v.get("passed") else "FAILED",
                    v.get("validated_by"),
                    v.get("test_data"),
                    str(v.get("test_data_sha256") or "")[:12],
                )
                for v in shown["validations"]
            ],
        )
    )
    console.print(table(f"promotions of {version}", _CHANGE_COLUMNS, [_change_row(r) for r in shown["promotions"]]))
    console.print(f"running in: {', '.join(shown['environments']) or '-'}")
    for name, problem in unknown.items():
        console.print(f"[yellow]{name}: not checked[/] ({problem})")
    return 0 if shown["digest"] == "verified" else EXIT_FAILED


_CHANGE_COLUMNS = ["at", "stack", "action", "version", "sha256", "by", "forced / reason", "gate"]


def _change_row(change: dict[str, Any]) -> tuple[Any, ...]:
    gate = change.get("gate")
    gate_text = "-" if not gate else ("passed" if gate.get("passed") else "BYPASSED")
    reason = f"forced: {change.get('reason')}" if change.get("forced") else ""
    return (
        change.get("at"),
        change.get("stack", ""),
        change.get("action"),
        change.get("version"),
        str(change.get("sha256") or "")[:12],
        change.get("by"),
        reason,
        gate_text,
    )


def _history(args: argparse.Namespace) -> int:
    conn = connect_args(args)
    with console.status(f"reading {conn.env.name}'s promotion history", spinner="dots"):
        history = promotion_history(conn)
    newest_first = list(reversed(history.entries))
    if args.json:
        print_json({"env": conn.env.name, "history": newest_first, "unapplied": history.unapplied})
        return 0
    rows = [(*_change_row({**entry, "stack": conn.env.name}), entry["source"]) for entry in newest_first]
    console.print(table(f"promotions in {conn.env.name}, newest first", [*_CHANGE_COLUMNS, "source"], rows))
    for entry in newest_first:
        if entry["source"] == OUTSIDE:
            console.print(
                f"[red]parameter version {entry['parameter_version']} ({entry['model_key']}, by {entry['by']}) "
                "was set outside dsctl: no promotion record, no gate[/]"
            )
    for record in history.unapplied:
        console.print(f"[yellow]{record.get('stored_at')}: recorded, but no model-key version matches it[/]")
    return 0


def _add_store_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store-profile",
        help="AWS profile for the stack that owns the store, where the change is recorded (default: its own profile)",
    )


def register(subparsers: Any) -> None:
    """Add ``dsctl model`` and its sub-commands."""
    parser = subparsers.add_parser(
        "model",
        help="publish, list, validate, promote and roll back model versions",
        description="Model versions in the artifact store and which one each environment runs.",
    )
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "publish",
        help="upload model.pkl + manifest.json as an immutable version",
        description="Upload DIR/model.pkl then DIR/manifest.json to models/VERSION/ in the artifact store. Refuses an "
        "existing version (conditional write), a bad version string and a manifest whose digest is not the file's.",
    )
    p.add_argument("version", metavar="VERSION", help="semantic version MAJOR.MINOR.PATCH, e.g. 1.2.0")
    p.add_argument("directory", metavar="DIR", help="directory written by: python -m job train --output DIR")
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_publish))

    p = sub.add_parser(
        "list",
        help="versions with digest, created time, validation and where they run",
        description="Every published version, its sha256, when it was trained, its validation result and which "
        "environments currently run it (environments without credentials are reported, not guessed), and whether "
        "model.pkl still has its manifest's digest (S3's full-object SHA-256, else computed from the object). "
        "Exit 1 if any version's digest does not verify.",
    )
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_list))

    p = sub.add_parser(
        "show",
        help="one version: manifest, training data, validations, promotions, where it runs",
        description="Everything the store knows about VERSION: its manifest and training-data lineage, whether "
        "model.pkl still has the manifest's digest (computed when S3 kept no SHA-256), its replication state, every "
        "validation report, every promotion and rollback record, and the environments running it now. Exit 1 if "
        "the digest does not verify.",
    )
    p.add_argument("version", metavar="VERSION")
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_show))

    p = sub.add_parser(
        "history",
        help="every promotion and rollback in an environment: version, digest, when, who, why",
        description="Every change of the environment's promoted model, newest first: SSM's model-key history (what "
        "the job read), each entry explained by its promotion record in the store (who, when, why, the gate), "
        "else dsctl's audit parameter (older promotions), else marked as set outside dsctl.",
    )
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_history))

    p = sub.add_parser(
        "validate",
        help="run the job's validation on a stored version and append the report to its history",
        description="Download VERSION (digest-checked), run job validation on --test-data and append the report "
        "(test data digest/ETag, model digest, who) as models/VERSION/validations/STAMP-ID.json; earlier reports "
        "are kept. The latest report decides promotion. Exit 1 if the model did not pass.",
    )
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--test-data", required=True, metavar="PATH|s3://...", help="CSV to validate on (file or s3://)")
    p.add_argument(
        "--max-rejected-share",
        type=_share,
        metavar="X",
        help="fail above this share of rejected rows, 0 to 1 (default: the job's)",
    )
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_validate))

    p = sub.add_parser(
        "promote",
        help="point an environment's model-key/model-sha256 at a version",
        description="Refuses unless VERSION exists, its stored digest matches its manifest, its validation passed, "
        "this environment's own credentials can read it and, in a stack with promotesFrom, it was promoted in that "
        "stack and has a published run there with the same digest (the gate; --force --reason overrides validation "
        "and the gate, and is recorded). Then records the promotion in the store, sets model-key and model-sha256 "
        "and labels both parameter versions with the model version.",
    )
    p.add_argument("version", metavar="VERSION")
    p.add_argument(
        "--force",
        action="store_true",
        help="promote even if validation did not pass or the promotesFrom gate is not met (needs --reason)",
    )
    p.add_argument("--reason", help="why --force is justified; recorded in the promotion record")
    _add_store_profile(p)
    p.add_argument(
        "--source-profile",
        help="AWS profile for the promotesFrom stack, whose promotions and runs the gate reads "
        "(default: its own profile)",
    )
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_promote))

    p = sub.add_parser(
        "rollback",
        help="return to the previously promoted version",
        description="Return to the previous promoted version found in the parameter history (or --to VERSION, "
        "which must have been promoted here before), with its recorded digest re-checked against the store.",
    )
    p.add_argument("--to", metavar="VERSION", help="an earlier promoted version (default: the previous one)")
    _add_store_profile(p)
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_rollback))

    p = sub.add_parser(
        "failover",
        help="point a reading environment's artifact-bucket at the store's replica, or back at the primary",
        description="For a region or bucket loss of the artifact store (docs/operations.md, 'Runbook: region loss'). "
        "Refuses unless the environment reads another stack's store, that stack declares artifactReplicaRegion "
        "(for --to replica), and the promoted model is in the target bucket with the promoted SHA-256, read with this "
        "environment's credentials. Then sets artifact-bucket (Pulumi ignores its value: pulumi up --refresh keeps "
        "it). The roles already read the replica: no deploy. Runs as the promoter role where the stack has one.",
    )
    p.add_argument("--to", required=True, choices=TARGETS, help="the store to read models from")
    add_env_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_failover))
