"""``dsctl diff LEFT RIGHT`` (e.g. ``dsctl diff dev prod``): are the two stacks in step?

Synthesizes both stacks offline and lists what differs after each stack's identity (environment, account, the
artifact store it owns or reads) is normalized away: resources only in one stack and inputs that differ, each
classified as expected (a declared config difference explains it) or unexpected (``dsctl/stackdiff.py``).
Exit 0 when every difference is expected, 1 when any is unexpected, 2 on invalid config.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dsctl.output import EXIT_FAILED, EXIT_OK, CommandError, add_json_flag, console, print_json, table
from dsctl.stack_args import add_config_file_argument, add_stack_pair_arguments

_SHOWN_CHARS = 48


def register(subparsers: Any) -> None:
    """Add ``diff`` to the dsctl parser."""
    parser = subparsers.add_parser(
        "diff",
        help="compare two stacks offline and flag differences their configs do not declare",
        description="Synthesize two stacks under mocks, normalize each stack's identity (environment, account, "
        "artifact store), and list resources in one stack only and inputs that differ. Each difference is "
        f"expected (explained by a declared config difference: {_declared_reasons()}) or unexpected. "
        "Exit 1 when any difference is unexpected.",
    )
    add_stack_pair_arguments(parser)
    add_config_file_argument(parser, "--left-config-file", purpose="config file for the first stack")
    add_config_file_argument(parser, "--right-config-file", purpose="config file for the second stack")
    parser.add_argument(
        "--unexpected-only",
        action="store_true",
        help="list only the unexpected differences (the exit code is the same)",
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _declared_reasons() -> str:
    """The config differences ``dsctl diff`` accepts, as its help lists them (from ``stackdiff.DECLARED``)."""
    from dsctl.stackdiff import DECLARED

    return ", ".join(declared.reason for declared in DECLARED)


def run(args: argparse.Namespace) -> int:
    """Diff the stacks; print the differences and return 1 when any is unexpected."""
    from dsctl.stackdiff import diff_stacks
    from dsctl.synth import synth

    if args.left == args.right and args.left_config_file is None and args.right_config_file is None:
        raise CommandError(f"both sides are {args.left}: name two different stacks, e.g. dsctl diff dev prod")
    left = synth(args.left, args.left_config_file)
    right = synth(args.right, args.right_config_file)
    result = diff_stacks(left.to_dict(), left.settings, right.to_dict(), right.settings)
    code = EXIT_FAILED if result.unexpected else EXIT_OK
    if args.json:
        print_json(result.to_dict())
        return code
    shown = result.unexpected if args.unexpected_only else result.differences
    if not result.differences:
        console.print(f"[green]{args.left} and {args.right} are identical[/green] once their identities are normalized")
        return code
    rows = (
        (
            "UNEXPECTED" if not d.expected else "expected",
            _resource_label(d.resource),
            d.path or d.kind,
            _cell(d.left, d.path),
            _cell(d.right, d.path),
            d.reason,
        )
        for d in shown
    )
    title = f"{args.left} vs {args.right}: {len(result.differences)} difference(s), {len(result.unexpected)} unexpected"
    if shown:
        console.print(table(title, ("verdict", "resource", "where", args.left, args.right, "explained by"), rows))
    else:
        console.print(title)
    if result.declared:
        console.print("declared config differences: " + "; ".join(result.declared))
    if result.unexpected:
        console.print(
            "[red]unexpected differences:[/red] make the program treat both stacks alike, or declare the "
            "difference in the stack config files (and in dsctl/stackdiff.py DECLARED)"
        )
    return code


def _resource_label(key: str) -> str:
    """``aws:s3/bucket:Bucket::artifacts`` -> ``Bucket artifacts`` (the table is read by people)."""
    token, _, name = key.partition("::")
    return f"{token.rsplit(':', 1)[-1]} {name}"


def _cell(value: Any, path: str) -> str:
    """A value on one line, cut to fit a table cell; for a whole resource only whether it exists."""
    if value is None:
        return "-"
    if not path:
        return "present"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
