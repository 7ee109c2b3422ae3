"""Entry point of the `dsctl` operator CLI.

Each sub-command lives in its own module under `dsctl/commands/` and exposes
``register(subparsers)``; this file only discovers and dispatches them, so adding
a command never means editing a shared file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from components.settings import SettingsError
from dsctl import commands
from dsctl.output import EXIT_USAGE, CommandError, die


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every command module registered."""
    parser = argparse.ArgumentParser(
        prog="dsctl",
        description="Operate the ds-preprocessing pipeline: offline synth/check/diff of the Pulumi stacks, "
        "model publish/validate/promote/rollback, runs, status, doctor and an embedded local AWS.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the chosen command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except CommandError as err:
        return die(err)
    except SettingsError as err:  # invalid stack config: every problem, one line each
        for line in err.errors:
            print(f"dsctl: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
