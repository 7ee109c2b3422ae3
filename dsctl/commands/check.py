"""``dsctl check``: is this stack secure, before anyone's credentials are involved?

Synthesizes the stack offline and runs the policy rules (the same ones the CrossGuard pack enforces in
``pulumi preview``), parliament on every IAM document, asl-validator on the state machine, the access matrix
derived from the stack's config and the privilege-escalation analysis of every role (``dsctl/stackcheck.py``).
Exit 0 when clean, 1 with a table of violations (rule, resource, what is wrong, what to change), 2 when the config
itself is invalid or a checker is not installed.
"""

from __future__ import annotations

import argparse
from typing import Any

from dsctl.output import EXIT_FAILED, EXIT_OK, CommandError, add_json_flag, console, print_json, table
from dsctl.stack_args import add_config_file_argument, add_stack_argument


def register(subparsers: Any) -> None:
    """Add ``check`` to the dsctl parser."""
    parser = subparsers.add_parser(
        "check",
        help="verify a stack offline: policy rules, IAM lint, state machine, access matrix, privilege escalation",
        description="Synthesize one stack under mocks and verify it: the policy rules shared with the CrossGuard "
        "pack (encrypted, private, TLS-only buckets; no wildcard IAM; readers only as configured; log retention; "
        "ECR scanning; non-root read-only task; prod alarm), parliament on every IAM document, asl-validator on "
        "the state machine, principalmapper's evaluation of who can read the model store, and its privilege-escalation "
        "analysis of every role (paths other than the documented deploy path fail). Exit 0 when clean, 1 with the "
        "violations, 2 on invalid config.",
    )
    add_stack_argument(parser, "check")
    add_config_file_argument(
        parser, purpose="stack config to check instead of Pulumi.<stack>.yaml (e.g. a change before committing it)"
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the stack; print violations as a table (or JSON) and return 0/1, or 2 on invalid config."""
    from dsctl.stackcheck import check_stack
    from policy.asl import AslValidatorMissing

    try:
        report = check_stack(args.stack, args.config_file)
    except AslValidatorMissing as err:
        raise CommandError(str(err)) from err
    if args.json:
        print_json(report.to_dict())
        return EXIT_OK if report.ok else EXIT_FAILED
    checked = ", ".join(f"{count} {what}" for what, count in report.counts.items())
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if report.ok:
        console.print(f"[green]{args.stack}: no violations[/green] ({checked})")
        return EXIT_OK
    rows = ((v.rule, v.resource, v.message, v.fix) for v in report.violations)
    console.print(
        table(f"{args.stack}: {len(report.violations)} violation(s)", ("rule", "resource", "problem", "fix"), rows)
    )
    console.print(f"checked: {checked}")
    return EXIT_FAILED
