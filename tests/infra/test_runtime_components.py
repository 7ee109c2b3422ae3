"""The runtime components stand alone: each is built from its Args only, and uses exactly what it is given.

Built one at a time under the synth mocks with made-up inputs (no other component, no stack settings), so a
component that still reached for another's attributes, or ignored an Args field for a value of its own, fails here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi.runtime

from components.job_task import JobTask, JobTaskArgs, TaskLaunch
from components.model_access import ModelStoreLocation
from components.orchestration import Orchestration, OrchestrationArgs
from dsctl.synth import parse_json_inputs
from dsctl.synth_mocks import AwsMocks, RecordingMonitor, Registration, unwrap_secrets

ACCOUNT, REGION = "111122223333", "eu-west-1"
FAKE_LAUNCH = TaskLaunch(
    cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/fake-cluster",
    task_definition_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/fake-family:7",
    task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/fake-task",
    execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/fake-execution",
    subnet_ids=["subnet-0fake0000000000001"],
    security_group_id="sg-0fake000000000001",
    assign_public_ip=False,
)
FAKE_BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/fake-boundary"


def _build(construct: Callable[[], pulumi.ComponentResource]) -> dict[str, Registration]:
    """Register what ``construct`` creates under the synth mocks; registrations by logical name."""
    monitor = RecordingMonitor(AwsMocks(account_id=ACCOUNT, region=REGION))
    pulumi.runtime.settings.reset_options(project="components", stack="alone", preview=False)
    pulumi.runtime.set_mocks(monitor.mocks, project="components", stack="alone", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            construct()

    run()
    return {reg.name: reg for reg in monitor.registrations}


def _inputs(reg: Registration) -> dict[str, Any]:
    return dict(parse_json_inputs(unwrap_secrets(reg.inputs)))


def test_orchestration_runs_the_task_it_is_given() -> None:
    args = OrchestrationArgs(
        environment="alone",
        account_id=ACCOUNT,
        region=REGION,
        parameter_prefix="/fake/prefix",
        log_retention_days=3,
        task_timeout_minutes=10,
        schedule_expression="rate(1 day)",
        alarm_email=None,
        task=FAKE_LAUNCH,
        role_boundary_arn=FAKE_BOUNDARY,
        input_bucket_name="fake-input",
        output_bucket_name="fake-output",
        artifact_bucket_name="fake-artifacts",
        input_key="raw/fake.csv",
    )
    created = _build(lambda: Orchestration("orch", args))
    run = next(
        state["Parameters"]
        for state in _inputs(created["orch-state-machine"])["definition"]["States"].values()
        if state.get("Resource") == "arn:aws:states:::ecs:runTask.sync"
    )
    assert run["Cluster"] == FAKE_LAUNCH.cluster_arn and run["TaskDefinition"] == FAKE_LAUNCH.task_definition_arn
    network = run["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == FAKE_LAUNCH.subnet_ids and network["SecurityGroups"] == [FAKE_LAUNCH.security_group_id]
    assert network["AssignPublicIp"] == "DISABLED"
    # The roles it may pass are the task's, and its own roles sit under the boundary it was given.
    passed = [
        s for s in _inputs(created["orch-state-machine-policy"])["policy"]["Statement"] if "iam:PassRole" in s["Action"]
    ]
    assert {arn for s in passed for arn in s["Resource"]} == {FAKE_LAUNCH.task_role_arn, FAKE_LAUNCH.execution_role_arn}
    boundaries = {
        created[role].inputs["permissionsBoundary"] for role in ("orch-state-machine-role", "orch-schedule-role")
    }
    assert boundaries == {FAKE_BOUNDARY}
    parameter = created["orch-param-input-bucket"].inputs
    assert (parameter["name"], parameter["value"]) == ("/fake/prefix/input-bucket", "fake-input")
    assert not [reg.type for reg in created.values() if reg.type.startswith(("aws:ecs", "aws:ecr", "docker:"))]


def test_job_task_uses_the_image_buckets_and_store_it_is_given() -> None:
    args = JobTaskArgs(
        environment="alone",
        account_id=ACCOUNT,
        region=REGION,
        parameter_prefix="/fake/prefix",
        log_retention_days=3,
        cpu=256,
        memory=512,
        subnet_ids=["subnet-0fake0000000000001"],
        assign_public_ip=False,
        image="123.dkr.ecr.eu-west-1.amazonaws.com/fake@sha256:" + "0" * 64,
        image_digest="sha256:" + "0" * 64,
        repository_arn=f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/fake",
        input_bucket_arn="arn:aws:s3:::fake-input",
        output_bucket_arn="arn:aws:s3:::fake-output",
        store=ModelStoreLocation(
            bucket_name="fake-artifacts",
            kms_key_arn="arn:aws:kms:eu-west-1:444455556666:key/k",
            account_id="444455556666",
        ),
    )
    created = _build(lambda: JobTask("job", args))
    (container,) = _inputs(created["job-definition"])["containerDefinitions"]
    assert container["image"] == args.image
    pull = _inputs(created["job-execution-policy"])["policy"]
    assert args.repository_arn in str(pull) and "fake-input" not in str(pull)
    run_job = str(_inputs(created["job-policy"])["policy"])
    assert "arn:aws:s3:::fake-input" in run_job and "arn:aws:s3:::fake-output" in run_job
    boundary = str(_inputs(created["job-role-boundary"])["policy"])
    assert "arn:aws:s3:::fake-artifacts" in boundary and "arn:aws:kms:eu-west-1:444455556666:key/k" in boundary
    assert not [reg.type for reg in created.values() if reg.type.startswith(("aws:sfn", "aws:ssm", "docker:"))]
