"""The asl-validator wrapper accepts valid definitions, reports invalid ones, and says how to install itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from policy import asl

RUN_TASK: dict[str, Any] = {
    "StartAt": "RunJob",
    "States": {
        "RunJob": {
            "Type": "Task",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Parameters": {"Cluster": "ds-processing-cluster", "TaskDefinition": "ds-preprocessing"},
            "Retry": [
                {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 30, "BackoffRate": 2, "MaxAttempts": 2}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
            "End": True,
        },
        "Failed": {"Type": "Fail", "Error": "JobFailed"},
    },
}


def test_a_valid_definition_has_no_errors() -> None:
    assert asl.validate_definition(RUN_TASK) == []


def test_an_unreachable_state_and_a_missing_target_are_reported() -> None:
    broken = {"StartAt": "Missing", "States": {"Orphan": {"Type": "Pass", "End": True}}}
    errors = asl.validate_definition(broken)
    assert any("Missing" in error and "MISSING_TRANSITION_TARGET" in error for error in errors)
    assert any("Orphan" in error and "not reachable" in error for error in errors)


def test_a_bad_result_path_is_reported() -> None:
    states = {**RUN_TASK["States"], "RunJob": {**RUN_TASK["States"]["RunJob"], "ResultPath": "no-dollar"}}
    errors = asl.validate_definition({**RUN_TASK, "States": states})
    assert errors and all("ResultPath" in error for error in errors)


def test_a_missing_validator_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(asl, "REPO_ROOT", tmp_path)
    with pytest.raises(asl.AslValidatorMissing, match="run make install"):
        asl.validate_definition(RUN_TASK)
