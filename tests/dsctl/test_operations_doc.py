"""docs/operations.md says what the commands really accept: its headings' flags exist in each command's argparse tree
(the ``--help`` users see), and every option of the commands that follow and show runs is described."""

from __future__ import annotations

import argparse
import re
from itertools import product
from pathlib import Path

import pytest

from dsctl.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
COMMON = {"-h", "--help", "--json", "--env", "--profile", "--role-arn"}
"""Options every environment command has, described once in the doc's "Environments and credentials"."""


def _subparser(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> argparse.ArgumentParser:
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _headed_commands() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(command words, flags named) for every ``dsctl …`` command in a heading; ``a|b`` names several."""
    found = []
    for heading in re.findall(r"^#+ .*$", DOC.read_text(), flags=re.MULTILINE):
        for command in re.findall(r"`dsctl ([^`]+)`", heading):
            words = []
            for token in command.split():
                if not re.fullmatch(r"[a-z][a-z|-]*", token):
                    break
                words.append(token.split("|"))
            flags = set()
            for negatable, name in re.findall(r"--(\[no-\])?([a-z][a-z-]*)", command):
                flags |= {f"--{name}", f"--no-{name}"} if negatable else {f"--{name}"}
            found += [(combination, tuple(sorted(flags))) for combination in product(*words)]
    return found


@pytest.mark.parametrize(("words", "flags"), _headed_commands(), ids=lambda value: " ".join(value))
def test_the_headings_name_real_commands_and_flags(words: tuple[str, ...], flags: tuple[str, ...]) -> None:
    unknown = sorted(set(flags) - _options(_subparser(build_parser(), words)))
    assert not unknown, f"dsctl {' '.join(words)} has no {unknown}"


@pytest.mark.parametrize("words", [("run",), ("runs", "list"), ("runs", "show"), ("runs", "stop"), ("status",)])
def test_every_option_of_the_run_commands_is_described(words: tuple[str, ...]) -> None:
    text = DOC.read_text()
    missing = sorted(
        option
        for option in _options(_subparser(build_parser(), words)) - COMMON
        if option not in text and option.replace("--no-", "--[no-]") not in text
    )
    assert not missing, f"docs/operations.md does not describe dsctl {' '.join(words)} {missing}"
