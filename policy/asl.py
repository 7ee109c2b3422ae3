"""Validate Step Functions definitions (Amazon States Language) offline with the npm ``asl-validator``.

API (stable; reused by ``dsctl check``):

- ``validate_definition(definition) -> list[str]``: the validator's error lines, empty when the definition is valid.
- ``validator_path() -> Path``: where the validator is expected (``node_modules/.bin`` at the repository root).
- ``AslValidatorMissing``: raised, with the fix ("run make install"), when the validator is not installed.

Why a subprocess: asl-validator is the maintained ASL schema + reachability checker and exists only for Node; Pulumi
mocks accept any string as a definition, so without it a broken state machine would surface only at deploy time.
It checks JSONPath and ARN syntax too, so we keep those checks on.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
_TIMEOUT_SECONDS = 60


class AslValidatorMissing(RuntimeError):
    """The npm validator is not installed where the repository expects it."""


def validator_path() -> Path:
    """The asl-validator executable installed by ``npm install`` (``make install``) at the repository root."""
    return REPO_ROOT / "node_modules" / ".bin" / "asl-validator"


def validate_definition(definition: Mapping[str, Any]) -> list[str]:
    """Return asl-validator's error lines for ``definition`` (a parsed state machine definition); [] when valid."""
    executable = validator_path()
    if not executable.exists():
        raise AslValidatorMissing(f"asl-validator is not installed at {executable}: run make install")
    with tempfile.TemporaryDirectory(prefix="asl-") as tmp:
        path = Path(tmp) / "definition.json"
        path.write_text(json.dumps(definition, indent=2))
        try:
            result = subprocess.run(
                [str(executable), "--json-path", str(path)],
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_SECONDS,
                check=False,
            )
        except OSError as err:  # e.g. node itself missing from PATH
            message = f"asl-validator at {executable} could not start ({err}): run make install"
            raise AslValidatorMissing(message) from err
    if result.returncode == 0:
        return []
    return _error_lines(result.stdout + "\n" + result.stderr, path) or [
        f"asl-validator exited {result.returncode} without saying why"
    ]


def _error_lines(output: str, path: Path) -> list[str]:
    """The validator prints a header naming the temporary file, then one error per line; keep the errors."""
    lines = [line.strip() for line in output.splitlines()]
    return [line for line in lines if line and str(path) not in line]
