"""One place for how dsctl talks to people and machines.

Commands print tables through ``console`` in a terminal and one JSON document with
``--json``; errors are one line on stderr naming the problem and the fix, with a
non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem (violations, failed checks, failed run)
EXIT_USAGE = 2  # bad input: invalid config, bad arguments, refused operation


class CommandError(Exception):
    """A user-facing failure: ``message`` names the problem and the fix."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def die(err: CommandError) -> int:
    """Print ``err`` as one line on stderr and return its exit code (embedded AWS error text may hold newlines)."""
    print(f"dsctl: error: {' '.join(err.message.split())}", file=sys.stderr)
    return err.exit_code


def print_json(document: Any) -> None:
    """Print one JSON document on stdout (sorted keys, so output diffs cleanly)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """Build a rich table from plain rows (values are stringified).

    Narrow terminals wrap long values instead of cutting them with an ellipsis: run ids, bucket names
    and digests must stay complete.
    """
    result = Table(title=title, show_lines=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*("" if value is None else str(value) for value in row))
    return result


def add_json_flag(parser: Any) -> None:
    """Add the standard ``--json`` flag to a sub-parser."""
    parser.add_argument("--json", action="store_true", help="print one JSON document for machines instead of tables")
