"""``dsctl params diff``: two environments' parameter stores side by side.

Replaces the guide's "Parameter Store Sync Issues" section (two
``aws ssm get-parameters-by-path --profile ...`` dumps compared by eye): expected
differences (each environment's own bucket names) are marked as such, and only the
unexpected ones (a different model, a missing parameter, drift from the stack file)
make the command fail.
"""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import ClientError

from components import naming
from components.project import load_project
from dsctl import ssm_parameters
from dsctl.envs import Connection, aws_errors, connect
from dsctl.models import ModelStore
from dsctl.output import EXIT_FAILED, CommandError, add_json_flag, console, print_json, table

_STYLE = {
    "same": "[dim]same[/]",
    "expected": "[cyan]expected[/]",
    "pending": "[yellow]pending[/]",
    "unexpected": "[red]UNEXPECTED[/]",
}


def key_digest_problem(conn: Connection, values: dict[str, str]) -> str | None:
    """Why ``model-key`` and ``model-sha256`` of one environment disagree, or None: the digest must be the one in
    the promoted version's manifest (a pair written by hand, or half a promotion, makes the job refuse the model).
    """
    version = ssm_parameters.version_of_key(values.get(naming.PARAM_MODEL_KEY))
    bucket = values.get(naming.PARAM_ARTIFACT_BUCKET)
    if version is None or not bucket:
        return None
    try:
        manifest = ModelStore(conn.session, bucket).manifest(version)
    except (ClientError, CommandError) as err:
        return f"cannot read models/{version}/manifest.json from {conn.env.name} to check model-sha256 ({err})"
    if manifest is None:
        return f"model-key names {version}, which has no manifest in s3://{bucket}/models/"
    if manifest["sha256"] != values.get(naming.PARAM_MODEL_SHA256):
        return (
            f"model-sha256 is {values.get(naming.PARAM_MODEL_SHA256)} but models/{version}/manifest.json says "
            f"{manifest['sha256']}: key and digest disagree; promote again: dsctl model promote --env "
            f"{conn.env.name} {version}"
        )
    return None


def _per_env(values: list[str] | None, option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values or []:
        env, sep, value = item.partition("=")
        if not sep or not env or not value:
            raise CommandError(f"{option} {item!r} is not ENV=VALUE; write e.g. {option} prod=my-prod-profile")
        result[env] = value
    return result


def _diff(args: argparse.Namespace) -> int:
    if args.left == args.right:
        raise CommandError(
            f"both sides are {args.left}; compare two different environments, e.g. dsctl params diff dev prod"
        )
    profiles, roles = _per_env(args.profile, "--profile"), _per_env(args.role_arn, "--role-arn")
    for option, given in (("--profile", profiles), ("--role-arn", roles)):
        for env in sorted(set(given) - {args.left, args.right}):
            raise CommandError(
                f"{option} {env}=... names {env}, which is not compared here ({args.left}, {args.right}); "
                f"write {option} {args.right}=VALUE for the {args.right} side"
            )
    sides = []
    inconsistent: list[ssm_parameters.DiffRow] = []
    for name in (args.left, args.right):
        conn = connect(name, profiles.get(name), roles.get(name))
        values = ssm_parameters.read_parameters(conn.session, conn.env)
        sides.append((conn.env, values))
        if problem := key_digest_problem(conn, values):
            key, digest = values.get(naming.PARAM_MODEL_KEY), values.get(naming.PARAM_MODEL_SHA256)
            inconsistent.append(
                ssm_parameters.DiffRow(f"model-key/model-sha256 in {name}", key, digest, "unexpected", problem)
            )
    (left_env, left), (right_env, right) = sides
    project = load_project()
    along_chain = left_env.name in project.promotion_chain(right_env.name) or right_env.name in project.promotion_chain(
        left_env.name
    )
    rows = ssm_parameters.diff_parameters(left_env, left, right_env, right, along_chain) + inconsistent
    unexpected = [row for row in rows if row.status == "unexpected"]
    if args.json:
        print_json(
            {
                "left": left_env.name,
                "right": right_env.name,
                "rows": [row.__dict__ for row in rows],
                "unexpected": len(unexpected),
            }
        )
    else:
        console.print(
            table(
                f"parameters under {left_env.parameter_prefix}",
                ["parameter", left_env.name, right_env.name, "", "note"],
                [(r.key, r.left or "-", r.right or "-", _STYLE[r.status], r.note) for r in rows],
            )
        )
        verdict = (
            f"[red]{len(unexpected)} unexpected difference(s)[/]"
            if unexpected
            else "[green]no unexpected differences[/]"
        )
        console.print(verdict)
    return EXIT_FAILED if unexpected else 0


def register(subparsers: Any) -> None:
    """Add ``dsctl params`` and ``dsctl params diff``."""
    parser = subparsers.add_parser(
        "params", help="compare parameter stores", description="The SSM parameters the job reads, per environment."
    )
    sub = parser.add_subparsers(dest="params_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "diff",
        help="two environments' parameters side by side",
        description="Show LEFT and RIGHT's parameters, marking expected differences (per-environment bucket names), "
        "pending promotions (a different model along the promotion chain, e.g. dev ahead of prod) and unexpected "
        "ones (different model off the chain, missing parameter, drift from the stack file, a model-key whose "
        "manifest has another digest than model-sha256). Exit 1 if any difference is unexpected.",
    )
    p.add_argument("left", metavar="LEFT", help="environment, e.g. dev")
    p.add_argument("right", metavar="RIGHT", help="environment, e.g. prod")
    p.add_argument(
        "--profile",
        action="append",
        metavar="ENV=PROFILE",
        help="AWS profile for one side (repeatable; default: the profile named like the env, else env variables)",
    )
    p.add_argument("--role-arn", action="append", metavar="ENV=ARN", help="role to assume for one side (repeatable)")
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_diff))
