"""``dsctl doctor --env ENV``: the guide's troubleshooting section as checks with fixes.

Exit 0 only when every check passes, so it can gate a deployment or a promotion.
"""

from __future__ import annotations

import argparse
from typing import Any

from dsctl.diagnostics import diagnose
from dsctl.envs import add_env_arguments, aws_errors, load_environment
from dsctl.output import EXIT_FAILED, add_json_flag, console, print_json, table

_MARK = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]skip[/]"}


def _doctor(args: argparse.Namespace) -> int:
    env = load_environment(args.env)
    with console.status(f"checking {env.name} ({env.account_id})", spinner="dots"):
        checks = diagnose(env, args.profile, args.role_arn)
    healthy = all(check.ok for check in checks)
    if args.json:
        print_json(
            {"env": env.name, "account": env.account_id, "healthy": healthy, "checks": [c.to_dict() for c in checks]}
        )
    else:
        console.print(
            table(
                f"doctor: {env.name} ({env.account_id})",
                ["check", "", "detail", "fix"],
                [(c.name, _MARK[c.ok], c.detail, c.fix) for c in checks],
            )
        )
        failed = [c.name for c in checks if c.ok is False]
        console.print("[green]all checks passed[/]" if healthy else f"[red]broken: {', '.join(failed)}[/]")
    return 0 if healthy else EXIT_FAILED


def register(subparsers: Any) -> None:
    """Add ``dsctl doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="diagnose an environment: credentials, parameters, artifact access, KMS, compute",
        description="Check, in the order the job needs them: credentials and account (STS), every parameter present "
        "and matching the stack, the artifact store reachable and the promoted model readable from this environment "
        "with its digest, KMS decrypt of the model, the state machine and the task definition. Each failure names "
        "its fix; exit 1 if any check fails.",
    )
    add_env_arguments(parser)
    add_json_flag(parser)
    parser.set_defaults(func=aws_errors(_doctor))
