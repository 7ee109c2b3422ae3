"""``dsctl admin-changes --env STACK --base REF``: stop a CI deploy that would change who can access what.

The deploy workflow runs it before ``pulumi up`` (base: the commit main pointed at before the push); an operator can
run it before merging. Offline: two synths, no Pulumi CLI, no AWS (``dsctl/admin_changes.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

from dsctl.output import EXIT_FAILED, EXIT_OK, add_json_flag, console, print_json, table
from dsctl.stack_args import add_stack_argument


def register(subparsers: Any) -> None:
    """Add ``admin-changes`` to the dsctl parser."""
    parser = subparsers.add_parser(
        "admin-changes",
        help="list the admin-only resources a change adds, changes or removes (exit 1 if any)",
        description="Synthesize the stack at the base git commit (its own code and stack files) and as checked out "
        "here, both offline, and compare them resource by resource. Exit 1 naming each added, changed or removed "
        "admin-only resource (trust and permission policies, roles, bucket and key policies, bucket protection, "
        "ECR policies and replication: the admin-only rows of policy/provider_actions.py) and the admin deploy to "
        "run instead, since the CI deploy role cannot make such changes; exit 0 when CI may deploy the change; "
        "exit 2 when the base is not in this clone or does not synthesize.",
    )
    add_stack_argument(parser, "compare")
    parser.add_argument(
        "--base",
        required=True,
        metavar="REF",
        help="git commit (or branch/tag) to compare against, e.g. the previously deployed commit; "
        f"{'0' * 40} (GitHub's 'no previous commit') compares against an empty stack",
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compare, print the admin-only changes with the admin command, exit 1 if there are any."""
    from components.settings import PROJECT_DIR
    from dsctl.admin_changes import NO_COMMIT, admin_changes, resolve_commit
    from dsctl.synth import synth

    if args.base != NO_COMMIT:
        resolve_commit(PROJECT_DIR, args.base)  # a missing base fails before the synths
    head = synth(args.stack)
    settings = head.settings
    commit, existed, changes = admin_changes(
        args.stack, args.base, [resource.to_dict() for resource in head.resources], PROJECT_DIR
    )
    command = f"pulumi up --refresh -s {settings.pulumi_organization}/{args.stack}"
    who = f"an administrator of account {settings.account_id}"
    if args.json:
        print_json(
            {
                "stack": args.stack,
                "base": commit,
                "stackAtBase": existed,
                "adminOnly": [change.to_dict() for change in changes],
                "adminCommand": command if changes else None,
            }
        )
    elif not changes:
        console.print(f"{args.stack}: no admin-only change since {commit[:12]}; the CI deploy role can deploy it")
    else:
        rows = [(c.change, c.type, c.name, ", ".join(c.inputs) or "-") for c in changes]
        console.print(
            table(f"{args.stack}: admin-only changes since {commit[:12]}", ("change", "type", "name", "inputs"), rows)
        )
        if not existed:
            console.print(f"{args.stack} has no stack file at {commit[:12]}: its first deploy is an admin deploy")
        console.print(
            f"{args.stack}: {len(changes)} admin-only change(s) the CI deploy role cannot make; fix: {who} runs "
            f'`{command}` (docs/infrastructure.md, "Admin deploys")'
        )
    return EXIT_FAILED if changes else EXIT_OK
