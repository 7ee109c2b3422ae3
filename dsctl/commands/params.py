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

from dsctl import ssm_parameters
from dsctl.envs import aws_errors, connect
from dsctl.output import EXIT_FAILED, CommandError, add_json_flag, console, print_json, table

_STYLE = {"same": "[dim]same[/]", "expected": "[cyan]expected[/]", "unexpected": "[red]UNEXPECTED[/]"}


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
    for name in (args.left, args.right):
        conn = connect(name, profiles.get(name), roles.get(name))
        sides.append((conn.env, ssm_parameters.read_parameters(conn.session, conn.env)))
    (left_env, left), (right_env, right) = sides
    rows = ssm_parameters.diff_parameters(left_env, left, right_env, right)
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
        description="Show LEFT and RIGHT's parameters, marking expected differences (per-environment bucket names) "
        "and unexpected ones (different model, missing parameter, drift from the stack file). Exit 1 if any "
        "difference is unexpected.",
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
