"""Entry point of the `dsctl` operator CLI.

Each sub-command lives in its own module under `dsctl/commands/` and exposes
``register(subparsers)``; this file only discovers and dispatches them, so adding
a command never means editing a shared file.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.metadata
import pkgutil
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from components.settings import SettingsError
from dsctl import commands
from dsctl.output import EXIT_USAGE, CommandError, die, report_error

_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


def version() -> str:
    """The installed package's version (``dsctl --version``)."""
    try:
        return importlib.metadata.version("ds-preprocessing")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: run make install)"


class Parser(argparse.ArgumentParser):
    """argparse with dsctl's error conventions: the closest command or choice is suggested, and with ``--json``
    a usage error is the same JSON error document as any other failure."""

    def error(self, message: str) -> NoReturn:
        match = _INVALID_CHOICE.search(message)
        if match:
            choices = [choice.strip().strip("'") for choice in match.group(2).split(",")]
            close = difflib.get_close_matches(match.group(1), choices, n=1)
            message += f"; did you mean {close[0]!r}?" if close else f"; see {self.prog} --help"
        else:
            message += f"; see {self.prog} --help"
        if "--json" in sys.argv[1:] or _JSON_REQUESTED:
            report_error(f"{self.prog}: {message}", EXIT_USAGE, as_json=True)
            sys.exit(EXIT_USAGE)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


_JSON_REQUESTED = False


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every command module registered."""
    parser = Parser(
        prog="dsctl",
        description="Operate the ds-preprocessing pipeline: offline synth/check/diff of the Pulumi stacks, "
        "model publish/validate/promote/rollback, runs, status, doctor and an embedded local AWS.",
    )
    parser.add_argument("--version", action="version", version=f"dsctl {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the chosen command and return its exit code."""
    global _JSON_REQUESTED
    parser = build_parser()
    _JSON_REQUESTED = "--json" in (sys.argv[1:] if argv is None else list(argv))
    try:
        args = parser.parse_args(argv)
    finally:
        _JSON_REQUESTED = False
    as_json = bool(getattr(args, "json", False))
    try:
        code = args.func(args)
    except CommandError as err:
        return die(err, as_json=as_json)
    except SettingsError as err:  # invalid stack config: every problem, one line each
        if as_json:
            return report_error(
                "; ".join(err.errors) + "; fix: correct the stack config file", EXIT_USAGE, as_json=True
            )
        for line in err.errors:
            print(f"dsctl: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return report_error("interrupted; run the command again to resume", 130, as_json=as_json)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
