"""Arguments shared by the offline stack commands (synth, check, diff).

Stack names come from the ``Pulumi.<stack>.yaml`` files (``dsctl.envs.environment_names``),
so a new stack file is a new choice here with no list to keep in sync.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dsctl.envs import environment_names


def add_stack_argument(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--env NAME`` (``--stack`` kept as an alias; a stack is an environment), one of the stacks with a file."""
    parser.add_argument(
        "--env",
        "--stack",
        dest="stack",
        required=True,
        choices=environment_names(),
        help=f"which stack (= environment) to {verb}",
    )


def add_config_file_argument(parser: argparse.ArgumentParser, *flags: str, purpose: str) -> None:
    """A ``--config-file FILE`` style option replacing a stack's ``Pulumi.<stack>.yaml``."""
    parser.add_argument(*(flags or ("--config-file",)), type=Path, metavar="FILE", help=purpose)


def add_stack_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """Two positional stack names (``dsctl diff dev prod``)."""
    names = environment_names()
    parser.add_argument("left", choices=names, help="first stack (e.g. dev)")
    parser.add_argument("right", choices=names, help="second stack (e.g. prod)")
