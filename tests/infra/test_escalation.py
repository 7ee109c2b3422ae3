"""The privilege-escalation analysis of `dsctl check` (policy/escalation.py) on the synthesized stacks.

The real stacks reach exactly the documented paths; stacks mutated the ways issue 10 names (the deploy role regains
a trust or bucket-policy edit, the preview role gains iam:PassRole) and a few more fail with the path in the message.
Mutations work on deep copies of the session's synth results (never re-synthesized).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from components.policy_docs import statement
from dsctl.stackcheck import escalation_violations
from dsctl.synth import SynthResult
from policy.escalation import (
    DEPLOY,
    EXECUTION,
    EXPECTED_PATHS,
    OPERATOR,
    PREVIEW,
    SCHEDULE,
    STATE_MACHINE,
    TASK,
    analyse,
    render_markdown,
    role_kinds,
)

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"


def _with_statement(document: dict[str, Any], name: str, extra: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a synthesized stack's document with one more statement in the inline policy of role ``name``
    (or in the managed policy ``name``, e.g. a permissions boundary)."""
    mutated = copy.deepcopy(document)
    (policy,) = [
        r["inputs"]["policy"]
        for r in mutated["resources"]
        if (r["type"] == ROLE_POLICY and r["inputs"]["role"] == name)
        or (r["type"] == POLICY and r["inputs"]["name"] == name)
    ]
    policy["Statement"].append(extra)
    return mutated


def _prod_violations(prod: SynthResult, dev: SynthResult, document: dict[str, Any] | None = None) -> list[str]:
    """What `dsctl check --stack prod` reports under privilege-escalation (the function check_stack calls)."""
    violations, _ = escalation_violations(prod.settings, document or prod.to_dict(), dev.to_dict(), dev.settings)
    return [f"{v.resource}: {v.message} | {v.fix}" for v in violations]


def test_the_real_stacks_have_no_unexpected_path(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    assert escalation_violations(dev_stack.settings, dev_stack.to_dict()) == ([], 6)
    violations, edges = escalation_violations(
        prod_stack.settings, prod_stack.to_dict(), dev_stack.to_dict(), dev_stack.settings
    )
    assert violations == [] and edges == 14  # prod's 8 (with the schedule) and dev's 6, all expected


def test_each_role_reaches_exactly_the_documented_roles(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    analysis = analyse(
        [(s.settings.arns, s.to_dict()) for s in (prod_stack, dev_stack)], dev_stack.settings.admin_principal_arns
    )
    expected = {
        DEPLOY: {TASK, EXECUTION, STATE_MACHINE, SCHEDULE},
        PREVIEW: set(),
        OPERATOR: {STATE_MACHINE, TASK, EXECUTION},
        STATE_MACHINE: {TASK, EXECUTION},
        SCHEDULE: {STATE_MACHINE, TASK, EXECUTION},
        TASK: set(),
        EXECUTION: set(),
    }
    for stack in (prod_stack, dev_stack):
        kinds = role_kinds(stack.settings.arns)
        schedule = stack.settings.schedule_enabled
        for arn, kind in ((a, k) for a, k in kinds.items() if a in analysis.kinds):
            reached = {analysis.kinds[target] for target in analysis.reachable(arn)}
            assert reached == expected[kind] - (set() if schedule else {SCHEDULE}), (stack.stack, kind)
    # the deploy path, as the report prints it
    (path,) = [
        p for t, p in analysis.reachable(prod_stack.settings.arns.deploy_role).items() if t.endswith("-task-prod")
    ]
    assert [e.detail for e in path] == ["iam:PassRole to ecs-tasks.amazonaws.com + ecs:RegisterTaskDefinition"]


@pytest.mark.parametrize(
    ("role", "sid", "actions", "resource", "expected"),
    [
        (  # issue 10: the deploy role regains a trust-policy edit on the task role (principalmapper's IAM edge)
            "deploy",
            "DeployTrust",
            ["iam:UpdateAssumeRolePolicy"],
            "task_role",
            "ds-preprocessing-deploy-prod -> [trust-edit: iam:UpdateAssumeRolePolicy (can update the trust document "
            "to access)] ds-preprocessing-task-prod",
        ),
        (  # issue 10: the deploy role may rewrite a data bucket's policy (added resource-policy edge)
            "deploy",
            "DeployBucketPolicy",
            ["s3:PutBucketPolicy"],
            "input_bucket",
            "ds-preprocessing-deploy-prod -> [resource-policy-edit: s3:PutBucketPolicy] bucket ds-input-prod-",
        ),
        (  # issue 10: the preview role gains iam:PassRole (half of the ECS path is already a finding)
            "preview",
            "PreviewPass",
            ["iam:PassRole"],
            "task_role",
            "ds-preprocessing-preview-prod -> [pass-only: iam:PassRole to ecs-tasks.amazonaws.com (without "
            "ecs:RegisterTaskDefinition or ecs:RunTask)] ds-preprocessing-task-prod",
        ),
    ],
)
def test_a_mutated_prod_stack_fails_with_the_offending_path(
    dev_stack: SynthResult,
    prod_stack: SynthResult,
    role: str,
    sid: str,
    actions: list[str],
    resource: str,
    expected: str,
) -> None:
    arns = prod_stack.settings.arns
    role_name = (arns.deploy_role if role == "deploy" else arns.preview_role).rsplit("/", 1)[-1]
    mutated = _with_statement(prod_stack.to_dict(), role_name, statement(sid, actions, [getattr(arns, resource)]))
    violations = _prod_violations(prod_stack, dev_stack, mutated)
    assert len(violations) == 1, violations
    assert expected in violations[0]
    assert f"| remove {actions[0]}" in violations[0] and "EXPECTED_PATHS" in violations[0]


def test_the_boundaries_cap_a_widened_workload_or_operator_policy(
    dev_stack: SynthResult, prod_stack: SynthResult
) -> None:
    """A bounded role's inline policy alone cannot open a path: its permissions boundary does not allow the action."""
    arns = prod_stack.settings.arns
    edits_deploy = statement("SfnEditsDeploy", ["iam:PutRolePolicy"], [arns.deploy_role])
    deploys = statement(
        "OperatorDeploys", ["iam:PassRole", "ecs:RegisterTaskDefinition"], [arns.task_role, arns.task_definitions]
    )
    mutated = _with_statement(prod_stack.to_dict(), "ds-preprocessing-sfn-prod", edits_deploy)
    mutated = _with_statement(mutated, "ds-preprocessing-operator", deploys)
    assert _prod_violations(prod_stack, dev_stack, mutated) == []


def test_a_path_through_a_workload_role_is_reported_from_the_role_people_hold(
    dev_stack: SynthResult, prod_stack: SynthResult
) -> None:
    """The state-machine role, widened in its policy *and* its boundary, may edit the deploy role's policy: the
    report starts at a role people or CI hold that reaches the state-machine role (shortest path; ties by ARN)."""
    arns = prod_stack.settings.arns
    edits_deploy = statement("SfnEditsDeploy", ["iam:PutRolePolicy"], [arns.deploy_role])
    mutated = _with_statement(prod_stack.to_dict(), "ds-preprocessing-sfn-prod", edits_deploy)
    mutated = _with_statement(mutated, "ds-preprocessing-boundary-prod", edits_deploy)
    (violation,) = _prod_violations(prod_stack, dev_stack, mutated)
    assert violation.startswith(
        "ds-preprocessing-deploy-prod: ds-preprocessing-deploy-prod escalates by a path the design does not expect: "
        "ds-preprocessing-deploy-prod -> [states-pass: iam:PassRole to states.amazonaws.com + "
        "states:CreateStateMachine / states:UpdateStateMachine] ds-preprocessing-sfn-prod -> "
        "[policy-edit: iam:PutRolePolicy] ds-preprocessing-deploy-prod"
    )


def test_a_ci_role_that_may_assume_an_administrator_role_fails(dev_stack: SynthResult) -> None:
    """principalmapper's STS edge: the admins' roles are modelled as trusting their account (the worst case)."""
    (admin,) = dev_stack.settings.admin_principal_arns
    extra = statement("DeployBecomesAdmin", ["sts:AssumeRole"], [admin])
    mutated = _with_statement(dev_stack.to_dict(), "ds-preprocessing-deploy-dev", extra)
    (violation,), _ = escalation_violations(dev_stack.settings, mutated)
    assert "[assume-role: sts:AssumeRole (can access via sts:AssumeRole)] AWSReservedSSO_PlatformAdmin_" in (
        violation.message
    )


def test_a_role_that_can_rewrite_its_own_policy_is_an_administrator(dev_stack: SynthResult) -> None:
    """principalmapper's update_admin_status: the preview role editing its own inline policy administers itself."""
    arns = dev_stack.settings.arns
    extra = statement("PreviewSelfEdit", ["iam:PutRolePolicy"], [arns.preview_role])
    mutated = _with_statement(dev_stack.to_dict(), "ds-preprocessing-preview-dev", extra)
    (violation,), _ = escalation_violations(dev_stack.settings, mutated)
    assert violation.message.startswith(
        "ds-preprocessing-preview-dev can change its own permissions (iam:PutRolePolicy"
    )
    assert "principalmapper: it may edit its own inline policy" in violation.message


def test_dsctl_check_reports_the_escalation_path(
    dev_stack: SynthResult,
    prod_stack: SynthResult,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole CLI on a mutated prod stack: the privilege-escalation row names the path."""
    import json

    from dsctl import cli
    from dsctl import synth as synth_module

    extra = statement("DeployTrust", ["iam:UpdateAssumeRolePolicy"], [prod_stack.settings.arns.task_role])
    document = _with_statement(prod_stack.to_dict(), "ds-preprocessing-deploy-prod", extra)
    (policy,) = [r for r in document["resources"] if r["type"] == ROLE_POLICY and r["name"] == "ci-deploy-policy"]
    resources = tuple(
        dataclasses.replace(r, inputs=policy["inputs"]) if r.type == ROLE_POLICY and r.name == "ci-deploy-policy" else r
        for r in prod_stack.resources
    )
    mutated = dataclasses.replace(prod_stack, resources=resources)
    stacks = {"prod": mutated, "dev": dev_stack}
    monkeypatch.setattr(synth_module, "synth", lambda stack, config_file=None: stacks[stack])
    assert cli.main(["check", "--stack", "prod", "--json"]) == 1
    output = json.loads(capsys.readouterr().out)
    (violation,) = [v for v in output["violations"] if v["rule"] == "privilege-escalation"]
    assert violation["resource"] == "ds-preprocessing-deploy-prod"
    assert "[trust-edit: iam:UpdateAssumeRolePolicy" in violation["message"]
    assert output["checked"]["escalation edges"] == 15


def test_the_expected_paths_table_is_in_the_docs() -> None:
    from components.settings import PROJECT_DIR

    assert render_markdown() in (PROJECT_DIR / "docs" / "infrastructure.md").read_text()
    assert len({(p.source, p.target, p.via) for p in EXPECTED_PATHS}) == len(EXPECTED_PATHS)
