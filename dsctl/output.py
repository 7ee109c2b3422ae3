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

PIPE_WIDTH = 10_000
"""Width when the stream is not a terminal: a file or pipe gets whole lines (S3 URIs and digests never split)."""


def _console(*, stderr: bool = False) -> Console:
    """A console that wraps for a terminal's width and not at all when writing to a file or a pipe."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem (violations, failed checks, failed run)
EXIT_USAGE = 2  # bad input: invalid config, bad arguments, refused operation
EXIT_INTERRUPTED = 130  # Ctrl-C/SIGTERM (128 + SIGINT), as shells report it


ERROR_KINDS = {EXIT_FAILED: "failed", EXIT_USAGE: "usage", EXIT_INTERRUPTED: "interrupted"}
"""``kind`` of a JSON error by exit code: the command ran and failed, the input was refused, the user stopped it."""


class CommandError(Exception):
    """A user-facing failure: ``message`` names the problem and the fix."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def split_fix(message: str) -> tuple[str, str]:
    """``(problem, fix)`` of a one-line message written as ``problem; fix`` (or ``problem; fix: …``).

    dsctl's messages put the fix last, after the last ``; `` (``fix:`` marks it where the problem itself has
    semicolons); a message with neither has no separate fix.
    """
    flat = " ".join(message.split())
    if "; fix: " in flat:
        problem, fix = flat.split("; fix: ", 1)
        return problem, fix
    if "; " in flat:
        problem, fix = flat.rsplit("; ", 1)
        return problem, fix
    return flat, ""


def error_document(message: str, exit_code: int) -> dict[str, Any]:
    """The JSON form of an error: ``{"error": {"code", "kind", "message", "fix"}}``, the same for every command."""
    problem, fix = split_fix(message)
    return {"error": {"code": exit_code, "kind": ERROR_KINDS.get(exit_code, "failed"), "message": problem, "fix": fix}}


def report_error(message: str, exit_code: int, *, as_json: bool = False) -> int:
    """Print an error (one line on stderr, or the JSON error document on stdout with ``--json``); return the code."""
    if as_json:
        print_json(error_document(message, exit_code))
    else:
        print(f"dsctl: error: {' '.join(message.split())}", file=sys.stderr)
    return exit_code


def die(err: CommandError, *, as_json: bool = False) -> int:
    """Report ``err`` and return its exit code (embedded AWS error text may hold newlines: flattened)."""
    return report_error(err.message, err.exit_code, as_json=as_json)


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
