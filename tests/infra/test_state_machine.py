"""The state machine both stacks deploy is valid ASL, and its role may make every call its definition makes.

asl-validator checks the language (states, transitions, paths); principalmapper then checks that the role the
machine runs as is allowed the service calls of each Task state (DESIGN.md section 4: ``ecs:runTask.sync`` needs
RunTask, Describe/StopTask, PassRole of the task's roles to ECS, and the managed events rule; with ``PropagateTags``
also ``ecs:TagResource`` on the new task, ECS's tag-on-create authorization), and no more.
"""

from __future__ import annotations

from typing import Any

import pytest

from dsctl.synth import SynthResult
from policy.access import AccessModel
from policy.asl import validate_definition

SFN = "aws:sfn/stateMachine:StateMachine"
RUN_TASK_SYNC = "arn:aws:states:::ecs:runTask.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"


def _machine(stack: SynthResult) -> dict[str, Any]:
    (machine,) = stack.of_type(SFN)
    return machine.inputs


def _states(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Every state, those of Map item processors (the scale-out path's batches) included."""
    found = []
    for state in definition["States"].values():
        found.append(state)
        if "ItemProcessor" in state:
            found += _states(state["ItemProcessor"])
    return found


def _tasks(definition: dict[str, Any], resource: str) -> list[dict[str, Any]]:
    return [state for state in _states(definition) if state.get("Resource") == resource]


def test_definition_passes_asl_validator(any_stack: SynthResult) -> None:
    assert validate_definition(_machine(any_stack)["definition"]) == []


@pytest.fixture(scope="module")
def model(dev_stack: SynthResult, prod_stack: SynthResult) -> AccessModel:
    return AccessModel.from_stacks(dev_stack.to_dict(), prod_stack.to_dict())


def test_role_may_make_every_call_of_the_definition(any_stack: SynthResult, model: AccessModel) -> None:
    machine = _machine(any_stack)
    role, definition = machine["roleArn"], machine["definition"]
    (task_definition,) = any_stack.of_type("aws:ecs/taskDefinition:TaskDefinition")
    account, region = any_stack.settings.account_id, any_stack.settings.region
    runs = _tasks(definition, RUN_TASK_SYNC)
    assert len(runs) == 5  # one task; or plan, each batch, abandon, commit
    task = f"arn:aws:ecs:{region}:{account}:task/ds-processing-cluster/0123456789abcdef0123456789abcdef"
    events_rule = f"arn:aws:events:{region}:{account}:rule/StepFunctionsGetEventsForECSTaskRule"
    for run in runs:
        cluster, family_arn = run["Parameters"]["Cluster"], run["Parameters"]["TaskDefinition"]
        on_cluster = {"ecs:cluster": cluster}
        assert model.can(role, "ecs:RunTask", family_arn, on_cluster)
        if run["Parameters"].get("PropagateTags"):
            # tag-on-create: RunTask with PropagateTags is also authorized as ecs:TagResource on the new task
            assert model.can(role, "ecs:TagResource", task, {"ecs:CreateAction": "RunTask"})
    assert model.can(role, "ecs:DescribeTasks", task, on_cluster)
    assert model.can(role, "ecs:StopTask", task, on_cluster)
    for passed in (task_definition.inputs["taskRoleArn"], task_definition.inputs["executionRoleArn"]):
        assert model.can(role, "iam:PassRole", passed, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        assert model.can(role, action, events_rule)
    for notify in _tasks(definition, SNS_PUBLISH):
        assert model.can(role, "sns:Publish", notify["Parameters"]["TopicArn"])
    # the Distributed Map: child executions of this machine, and its ItemReader's plan in the run's staging
    (batches,) = [state for state in _states(definition) if state["Type"] == "Map"]
    machine_arn = any_stack.outputs["stateMachineArn"]
    child = f"arn:aws:states:{region}:{account}:execution:ds-preprocessing-pipeline/batches:0f6b7c3e-1d2a-4b5c"
    assert model.can(role, "states:StartExecution", machine_arn)
    assert model.can(role, "states:DescribeExecution", child) and model.can(role, "states:StopExecution", child)
    reader = batches["ItemReader"]["Parameters"]
    items = "_staging/run-1/batches/items.json"
    assert model.can(role, "s3:GetObject", f"arn:aws:s3:::{reader['Bucket']}/{items}")
    assert model.can(role, "s3:ListBucket", f"arn:aws:s3:::{reader['Bucket']}", {"s3:prefix": items})


def test_role_may_do_nothing_beyond_its_job(any_stack: SynthResult, model: AccessModel) -> None:
    machine = _machine(any_stack)
    role = machine["roleArn"]
    run = machine["definition"]["States"]["RunPreprocessingJob"]
    account, region = any_stack.settings.account_id, any_stack.settings.region
    other_family = f"arn:aws:ecs:{region}:{account}:task-definition/something-else:1"
    task_role = any_stack.outputs["taskRoleArn"]
    assert not model.can(role, "ecs:RunTask", other_family, {"ecs:cluster": run["Parameters"]["Cluster"]})
    assert not model.can(role, "ecs:RunTask", run["Parameters"]["TaskDefinition"], {"ecs:cluster": "arn:aws:ecs:x"})
    assert not model.can(role, "iam:PassRole", task_role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not model.can(role, "iam:PassRole", machine["roleArn"], {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    assert not model.can(role, "s3:GetObject", f"{any_stack.outputs['inputBucketArn']}/raw/monthly_data.csv")
    # tags only the task its own RunTask creates: not existing tasks, not other resources
    task = f"arn:aws:ecs:{region}:{account}:task/ds-processing-cluster/0123456789abcdef0123456789abcdef"
    assert not model.can(role, "ecs:TagResource", task)
    assert not model.can(role, "ecs:TagResource", task, {"ecs:CreateAction": "StartTask"})
    assert not model.can(role, "ecs:TagResource", any_stack.outputs["clusterArn"], {"ecs:CreateAction": "RunTask"})
    # the Map's rights reach this machine's own children and the plan's item list, nothing else
    machine_arn = any_stack.outputs["stateMachineArn"]
    output = any_stack.outputs["outputBucketArn"]
    assert not model.can(role, "states:StartExecution", machine_arn + "-other")
    assert not model.can(role, "states:StopExecution", machine_arn.replace(":stateMachine:", ":execution:") + ":run-1")
    assert not model.can(role, "s3:GetObject", f"{output}/processed/run-1/part-00000.parquet")
    assert not model.can(role, "s3:GetObject", f"{output}/_staging/run-1/batches/plan.json")
    assert not model.can(role, "s3:ListBucket", output, {"s3:prefix": "processed/"})


def test_the_definition_propagates_task_definition_tags(any_stack: SynthResult) -> None:
    """The tag-on-create rows above matter because RunTask propagates tags; keep the two in step."""
    for run in _tasks(_machine(any_stack)["definition"], RUN_TASK_SYNC):
        assert run["Parameters"]["PropagateTags"] == "TASK_DEFINITION"


def test_the_schedule_may_start_only_this_machine(prod_stack: SynthResult, model: AccessModel) -> None:
    events_role = f"arn:aws:iam::{prod_stack.settings.account_id}:role/ds-preprocessing-events-prod"
    machine = prod_stack.outputs["stateMachineArn"]
    assert model.can(events_role, "states:StartExecution", machine)
    assert not model.can(events_role, "states:StartExecution", machine + "-other")
    assert not model.can(events_role, "states:StopExecution", machine)


# ----------------------------------------------------------------------------- intrinsic functions (JSONPath)
# The Amazon States Language reserves `'`, `{`, `}` and `\` inside intrinsic function string literals: each must be
# escaped with a backslash to appear in a value; an unescaped one fails the definition or the run ("Reserved
# characters in intrinsic functions", AWS Step Functions developer guide). asl-validator does not check this.


def _intrinsic_fields(node: Any) -> list[tuple[str, str]]:
    """Every ``"Key.$": "States.…(…)"`` field of the definition, at any depth."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith(".$") and isinstance(value, str) and value.startswith("States."):
                found.append((key, value))
            else:
                found.extend(_intrinsic_fields(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_intrinsic_fields(item))
    return found


def _string_literals(expression: str) -> list[tuple[str, str]]:
    """(function, raw literal) for each single-quoted literal in an intrinsic call, escapes kept as written."""
    literals, stack, i = [], [], 0
    while i < len(expression):
        char = expression[i]
        if char == "'":
            start, i = i + 1, i + 1
            while expression[i] != "'":
                i += 2 if expression[i] == "\\" else 1
            literals.append((stack[-1] if stack else "", expression[start:i]))
        elif char == "(":
            stack.append(expression[:i].rsplit(" ", 1)[-1].rsplit("(", 1)[-1].rsplit(",", 1)[-1].strip())
        elif char == ")":
            stack.pop()
        i += 1
    return literals


def _unescaped_reserved(literal: str, *, format_string: bool) -> list[str]:
    bad, i = [], 0
    while i < len(literal):
        char = literal[i]
        if char == "\\":
            i += 2
            continue
        if format_string and literal.startswith("{}", i):
            i += 2  # States.Format's placeholder
            continue
        if char in "{}'":
            bad.append(char)
        i += 1
    return bad


def test_intrinsic_literal_parser_sees_reserved_characters() -> None:
    (literal,) = _string_literals("""States.JsonMerge(States.StringToJson('{"inputKey": ""}'), $, false)""")
    assert literal[0] == "States.StringToJson"
    assert _unescaped_reserved(literal[1], format_string=False) == ["{", "}"]
    (fmt,) = _string_literals("States.Format('run {} failed', $$.Execution.Name)")
    assert fmt[0] == "States.Format" and _unescaped_reserved(fmt[1], format_string=True) == []
    assert _unescaped_reserved(r"a \{ b \}", format_string=False) == []


def test_intrinsic_string_literals_escape_reserved_characters(any_stack: SynthResult) -> None:
    fields = _intrinsic_fields(_machine(any_stack)["definition"])
    assert fields, "the definition uses intrinsic functions"
    for key, expression in fields:
        for function, literal in _string_literals(expression):
            bad = _unescaped_reserved(literal, format_string=function == "States.Format")
            assert not bad, f"{key}: unescaped {bad} in {function} literal {literal!r}"


def test_optional_input_key_defaults_from_a_json_object_merged_under_the_input(any_stack: SynthResult) -> None:
    """``{"inputKey": …}`` is optional: defaults come from plain JSON, and JsonMerge gets paths, input second."""
    definition = _machine(any_stack)["definition"]
    states = definition["States"]
    collect = states[definition["StartAt"]]
    assert collect["Type"] == "Pass"
    assert collect["Parameters"] == {"defaults": {"inputKey": ""}, "input.$": "$"}
    merge = states[collect["Next"]]
    assert merge["Type"] == "Pass"
    assert merge["Parameters"] == {"args.$": "States.JsonMerge($.defaults, $.input, false)"}
    choice = states[merge["Next"]]  # a prefix takes the scale-out path; anything else runs as before
    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [{"Variable": "$.args.inputKey", "StringMatches": "*/", "Next": "PlanBatches"}]
    run = states[choice["Default"]]
    assert run["Resource"] == RUN_TASK_SYNC
    (override,) = run["Parameters"]["Overrides"]["ContainerOverrides"]
    environment = {item["Name"]: item for item in override["Environment"]}
    assert environment["DS_INPUT_KEY"] == {"Name": "DS_INPUT_KEY", "Value.$": "$.args.inputKey"}


def test_failure_notification_reads_only_fields_every_error_output_has(any_stack: SynthResult) -> None:
    """A catcher's error output always has ``Error`` but only "usually" ``Cause``; a missing path fails the state.

    The notification therefore sends the whole error output (``States.JsonToString($.error)``), never
    ``$.error.Cause``, so a timeout or a runtime error without a cause still reaches the topic.
    """
    definition = _machine(any_stack)["definition"]
    for state in definition["States"].values():
        for catch in state.get("Catch", []):  # every catcher leaves the error where the notification reads it
            assert catch["ResultPath"] == (
                "$.cleanup" if state is definition["States"]["AbandonBatches"] else "$.error"
            )
    (notify,) = _tasks(definition, SNS_PUBLISH)
    message = notify["Parameters"]["Message.$"]
    assert "$.error." not in message
    assert message.endswith("$$.Execution.Name, States.JsonToString($.error))")


def test_machine_is_created_after_its_role_may_deliver_logs(any_stack: SynthResult) -> None:
    """CreateStateMachine with logging checks the role's log-delivery permissions at once ("The state machine IAM
    Role is not authorized to access the Log Destination"): the machine waits for the role's inline policy."""
    (machine,) = any_stack.of_type(SFN)
    assert machine.inputs["loggingConfiguration"]["level"] != "OFF"
    (policy,) = [
        p
        for p in any_stack.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"] == machine.inputs["roleArn"].rsplit("/", 1)[-1]
    ]
    assert "logs:CreateLogDelivery" in str(policy.inputs["policy"])
    assert policy.urn in machine.depends_on
