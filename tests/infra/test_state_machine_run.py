"""What each task of an execution receives: the synthesized definition run on moto's Step Functions interpreter.

ECS tasks cannot run here, so every Task state is replaced by a Pass state with the same
``Parameters`` (a Pass state evaluates them the same way, paths, intrinsics and context
object included) whose result is kept under the state's name; everything else, the
Choice, the Distributed Map with its ItemReader on the plan's ``items.json`` in moto's
S3 and its ItemSelector, runs as deployed. So the test sees the container overrides each
batch task would be started with, for a sample plan.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
import requests

from dsctl.synth import SynthResult

RUN_TASK_SYNC = "arn:aws:states:::ecs:runTask.sync"


def as_pass(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with every Task a Pass state keeping its evaluated Parameters under ``$.<state name>`` (and
    every Map keeping its results under ``$.<state name>``)."""
    result = copy.deepcopy(definition)
    for name, state in result["States"].items():
        if state["Type"] == "Task":
            kept = {key: state[key] for key in ("Next", "End") if key in state}
            result["States"][name] = {"Type": "Pass", "Parameters": state["Parameters"], "ResultPath": f"$.{name}"}
            result["States"][name].update(kept)
        elif state["Type"] == "Map":
            state["ItemProcessor"] = as_pass(state["ItemProcessor"])
            state["ResultPath"] = f"$.{name}"
    return result


@pytest.fixture
def interpreter(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Step Functions executing definitions (its ItemReader reads moto's S3 on MOTO_PORT), only for this
    test: other tests start executions that must not run."""
    monkeypatch.setenv("MOTO_PORT", str(urlparse(aws).port))
    requests.post(f"{aws}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10)
    try:
        yield boto3.client("stepfunctions")
    finally:
        requests.post(f"{aws}/moto-api/config", json={"stepfunctions": {"execute_state_machine": False}}, timeout=10)


def execute(client: Any, definition: dict[str, Any], name: str, input_key: str) -> dict[str, Any]:
    machine = client.create_state_machine(
        name=f"pipeline-{name}",
        definition=json.dumps(as_pass(definition)),
        roleArn="arn:aws:iam::123456789012:role/ds-preprocessing-sfn-dev",
    )["stateMachineArn"]
    arn = client.start_execution(stateMachineArn=machine, name=name, input=json.dumps({"inputKey": input_key}))[
        "executionArn"
    ]
    for _ in range(200):
        described = client.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    return dict(json.loads(described["output"]))


def environment_of(parameters: dict[str, Any]) -> dict[str, str]:
    (override,) = parameters["Overrides"]["ContainerOverrides"]
    return {item["Name"]: item["Value"] for item in override["Environment"]}


def test_each_batch_task_gets_only_the_run_id_and_its_batch(interpreter: Any, dev_stack: SynthResult) -> None:
    (machine,) = dev_stack.of_type("aws:sfn/stateMachine:StateMachine")
    definition = machine.inputs["definition"]
    bucket = definition["States"]["ProcessBatches"]["ItemReader"]["Parameters"]["Bucket"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    plan = [{"batch": str(i)} for i in range(3)]  # what `python -m job plan` writes (job.plan.write_plan)
    s3.put_object(Bucket=bucket, Key="_staging/run-7/batches/items.json", Body=json.dumps(plan).encode())

    output = execute(interpreter, definition, "run-7", "raw/2026-10/")
    assert "RunPreprocessingJob" not in output  # a prefix takes the scale-out path
    for step, command in (("PlanBatches", ["plan"]), ("CommitBatches", ["commit"])):
        (override,) = output[step]["Overrides"]["ContainerOverrides"]
        assert override["Command"] == command
        assert environment_of(output[step]) == {"DS_RUN_ID": "run-7", "DS_INPUT_KEY": "raw/2026-10/"}
    batches = output["ProcessBatches"]
    assert [environment_of(b["RunBatch"]) for b in batches] == [
        {"DS_RUN_ID": "run-7", "DS_BATCH": str(i)} for i in range(3)
    ]
    for batch in batches:  # the task definition's own command (`run`), nothing but the two names
        (override,) = batch["RunBatch"]["Overrides"]["ContainerOverrides"]
        assert "Command" not in override and len(json.dumps(override)) < 8192
        assert batch["RunBatch"]["TaskDefinition"] == output["PlanBatches"]["TaskDefinition"]

    single = execute(interpreter, definition, "run-8", "raw/monthly_data.csv")
    assert "PlanBatches" not in single and "ProcessBatches" not in single
    assert environment_of(single["RunPreprocessingJob"]) == {
        "DS_RUN_ID": "run-8",
        "DS_INPUT_KEY": "raw/monthly_data.csv",
    }
