"""``dsctl workflows``: rewrite .github/workflows and the setup action from the stack files (``--check``: list stale).

Run it after adding, removing or re-chaining a stack (``Pulumi.<stack>.yaml``); CI's tests fail while the
committed workflows differ from the stack files.
"""

from __future__ import annotations

import argparse
from typing import Any

from dsctl.output import EXIT_FAILED, EXIT_OK, add_json_flag, console, print_json


def register(subparsers: Any) -> None:
    """Add ``workflows`` to the dsctl parser."""
    parser = subparsers.add_parser(
        "workflows",
        help="regenerate the GitHub workflows from the Pulumi.<stack>.yaml files",
        description="Render .github/workflows/{verify,pull-request,deploy}.yml (and the setup action) from the "
        "stacks: every stack checked and previewed, deployed in order (store owner first, each after its "
        "promotesFrom) in the GitHub environment named like it, every third-party action pinned by commit SHA. "
        "Writes the files that differ; --check only lists them (exit 1 if any).",
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is stale")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write (or with ``--check`` list) the workflow files that differ from the rendered ones."""
    from components.project import load_project
    from components.settings import PROJECT_DIR
    from dsctl import workflows

    project = load_project()
    changed = workflows.stale(project, PROJECT_DIR) if args.check else workflows.write(project, PROJECT_DIR)
    if args.json:
        print_json({"stale" if args.check else "written": changed})
    elif not changed:
        console.print("workflows are up to date with the stack files")
    elif args.check:
        console.print(f"stale: {', '.join(changed)}; regenerate with: {workflows.REGENERATE}")
    else:
        console.print(f"rewrote {', '.join(str(workflows.GITHUB_DIR / name) for name in changed)}")
    return EXIT_FAILED if args.check and changed else EXIT_OK
