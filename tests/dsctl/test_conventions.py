"""CLI conventions shared by every dsctl command: --version, --env (with --stack as alias), JSON errors with
--json, the closest command suggested for a typo, and no hard wrapping when stdout is not a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dsctl import cli
from dsctl.output import error_document, split_fix


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"dsctl {cli.version()}"


def test_a_typo_suggests_the_closest_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["synht"])
    assert exit_.value.code == 2
    assert "did you mean 'synth'?" in capsys.readouterr().err


def test_env_and_its_stack_alias_select_the_same_stack(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["check", "--env", "dev"]).stack == "dev"
    assert parser.parse_args(["check", "--stack", "dev"]).stack == "dev"


def test_with_json_a_usage_error_is_a_json_error_document(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["check", "--env", "dve", "--json"])
    assert exit_.value.code == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == 2 and error["kind"] == "usage"
    assert "invalid choice: 'dve'" in error["message"] and error["fix"] == "did you mean 'dev'?"


def test_with_json_a_command_error_is_a_json_error_document(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    missing = f"{tmp_path}/nope.yaml"
    code = cli.main(["check", "--env", "dev", "--config-file", missing, "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.err == ""
    error = json.loads(captured.out)["error"]
    assert set(error) == {"code", "kind", "message", "fix"} and error["kind"] == "usage"
    assert "not found" in error["message"] + error["fix"]


def test_messages_split_into_problem_and_fix() -> None:
    assert split_fix("no credentials for prod; fix: pass --profile") == ("no credentials for prod", "pass --profile")
    assert split_fix("a; b; run dsctl doctor") == ("a; b", "run dsctl doctor")
    assert split_fix("just a problem") == ("just a problem", "")
    assert error_document("x; y", 1) == {"error": {"code": 1, "kind": "failed", "message": "x", "fix": "y"}}


def test_piped_output_is_not_wrapped_at_80_columns() -> None:
    """A table printed to a pipe keeps a long value on one line (grep and copy-paste of URIs and digests)."""
    value = "s3://ds-output-prod-987654321098-us-east-1/processed/run-20261127-105221-a84c/manifest.json#" + "f" * 64
    script = f"from dsctl.output import console, table\nconsole.print(table('t', ['uri'], [({value!r},)]))\n"
    env = {key: v for key, v in os.environ.items() if key != "COLUMNS"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout
    assert any(value in line for line in out.splitlines())
