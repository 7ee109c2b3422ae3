"""``dsctl synth``: show what a stack would create, offline (no Pulumi CLI, no AWS credentials).

The Pulumi program runs under mocks that answer like AWS (``dsctl/synth.py``), so names, ARNs and policy documents
are the ones a deployment would produce. Default output is a tree for people; ``--json`` is the CONTRACTS.md §7
document for machines (the checkers and ``dsctl check``/``diff`` read the same thing).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dsctl.output import EXIT_OK, add_json_flag, console, print_json, table
from dsctl.stack_args import add_config_file_argument, add_stack_argument


def register(subparsers: Any) -> None:
    """Add ``synth`` to the dsctl parser."""
    parser = subparsers.add_parser(
        "synth",
        help="show the resources and outputs a stack would create (offline, under mocks)",
        description="Run the Pulumi program for one stack under mocks (no Pulumi CLI, no AWS) and print every "
        "resource it would create, nested under its component, with its key properties (names, sizes, retention, "
        "schedule, ...), then the stack outputs. Invalid config is reported key by key with exit code 2.",
    )
    add_stack_argument(parser, "synthesize")
    add_config_file_argument(
        parser, purpose="stack config to use instead of Pulumi.<stack>.yaml (e.g. to try a change before committing it)"
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Synthesize the stack and print it; invalid config -> every problem on stderr, exit 2."""
    # Imported here so `dsctl --help` and other commands do not pay for the program's imports.
    from dsctl.synth import synth
    from dsctl.synth_tree import render_tree

    result = synth(args.stack, args.config_file)
    if args.json:
        print_json(result.to_dict())
        return EXIT_OK
    console.print(render_tree(result))
    if result.outputs:
        rows = ((name, _output_text(value)) for name, value in sorted(result.outputs.items()))
        outputs = table(f"outputs of {args.stack}", ("output", "value"), rows)
        for column in outputs.columns:
            column.overflow = "fold"  # ARNs must stay whole: fold them, never cut them with an ellipsis
        console.print(outputs)
    return EXIT_OK


def _output_text(value: Any) -> str:
    """Outputs are strings, lists, maps or null: lists one item a line, maps ``key: value`` a line."""
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if isinstance(value, dict):
        return "\n".join(f"{key}: {item}" for key, item in value.items())
    return value if isinstance(value, str) else json.dumps(value)
