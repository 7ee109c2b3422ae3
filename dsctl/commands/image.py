"""``dsctl image promote``: pin into a stack the job image digest that ran successfully in its promotesFrom stack.

The command edits ``Pulumi.<env>.yaml`` (a reviewed pull request deploys it); it reads the upstream stack's output
bucket (and, for the building stack, its task definition) with the upstream's credentials.
"""

from __future__ import annotations

import argparse
from typing import Any

from components.settings import PROJECT_DIR, load_stack_settings
from dsctl.envs import add_env_arguments, aws_errors, client, connect
from dsctl.image_promotion import PREVIOUS, find_successful_run, promote_image, rollback_image
from dsctl.output import add_json_flag, console, print_json


def _promote(args: argparse.Namespace) -> int:
    project_dir = PROJECT_DIR
    if args.to == PREVIOUS:
        result = rollback_image(project_dir, args.env)
    else:
        upstream_name = load_stack_settings(args.env, project_dir=project_dir).promotes_from or args.env
        upstream = connect(upstream_name, args.profile, args.role_arn)
        s3 = client(upstream.session, "s3")
        result = promote_image(
            project_dir,
            args.env,
            args.digest,
            lambda digest: find_successful_run(s3, upstream.env.output_bucket, digest),
            client(upstream.session, "ecs"),
            client(upstream.session, "ecr"),
            # the copy the pinned stack runs from, tagged with that stack's own (operator) credentials
            client(connect(args.env, args.target_profile, args.target_role_arn).session, "ecr"),
        )
    if args.json:
        print_json(result)
    else:
        console.print(f"[green]pinned[/] {args.env} to {result['imageDigest']} in Pulumi.{args.env}.yaml")
        if result.get("protected_by"):
            console.print(f"tagged {result['protected_by']} in the registries of {result['protected_in']}")
        console.print(f"next: open a pull request with Pulumi.{args.env}.yaml; merging it deploys the pin")
    return 0


def register(subparsers: Any) -> None:
    """Add ``dsctl image`` and its sub-command."""
    parser = subparsers.add_parser(
        "image",
        help="promote (or roll back) the job image digest a stack runs",
        description="Job image digests: the building stack's image runs in the others only once pinned here.",
    )
    sub = parser.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "promote",
        help="pin a digest that ran successfully upstream into Pulumi.<env>.yaml",
        description="Check that DIGEST (default: the digest the promotesFrom stack runs now) has a published run "
        "in the promotesFrom stack's output bucket, then write imageDigest (keeping the previous pin and the "
        "evidence) into Pulumi.<env>.yaml for a reviewed pull request, after tagging the digest keep-<env>-... in the "
        "promotesFrom stack's registry and in ENV's own (the lifecycle never expires keep- images). --to PREVIOUS "
        "rolls back to the previous pin and its evidence. Credentials: --profile/--role-arn are the promotesFrom "
        "stack's, --target-profile/--target-role-arn ENV's.",
    )
    p.add_argument("digest", metavar="DIGEST", nargs="?", help="sha256:<64 hex> (default: what upstream runs)")
    p.add_argument("--to", choices=[PREVIOUS], help="PREVIOUS: roll back to imageDigestPrevious (no upstream check)")
    add_env_arguments(p)
    p.add_argument(
        "--target-profile",
        help="AWS profile of ENV itself, to tag the pinned digest in ENV's registry (default: the profile named ENV)",
    )
    p.add_argument("--target-role-arn", help="role to assume in ENV for that tag (default: none)")
    add_json_flag(p)
    p.set_defaults(func=aws_errors(_promote))
