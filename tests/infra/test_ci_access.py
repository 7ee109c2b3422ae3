"""CI's access in every synthesized stack: OIDC trust, the preview role's reads, the deploy role's coverage.

The deploy role must be able to deploy every CI-deployable type (every action the provider calls for it, from
policy/provider_actions.py) and hold no write of an admin-only type; the preview role holds reads only.
"""

from __future__ import annotations

from typing import Any

import pytest

from components import ci_policies
from components.settings import PROJECT_DIR
from dsctl.synth import SynthResult
from policy.provider_actions import INVOKES, TYPES, Deployer

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REPOSITORY = "acme-data/ds-preprocessing"
ISSUER = "token.actions.githubusercontent.com"


def _role(stack: SynthResult, kind: str) -> dict[str, Any]:
    return stack.get(ROLE, f"ci-{kind}-role").inputs


def _policy(stack: SynthResult, kind: str) -> dict[str, Any]:
    return stack.get(ROLE_POLICY, f"ci-{kind}-policy").inputs["policy"]


def _granted(stack: SynthResult, kind: str) -> set[str]:
    return ci_policies.actions_granted(_policy(stack, kind))


@pytest.mark.parametrize(("kind", "subject"), [("preview", "pull_request"), ("deploy", "environment:{env}")])
def test_each_ci_role_trusts_exactly_one_github_subject(any_stack: SynthResult, kind: str, subject: str) -> None:
    env, account = any_stack.settings.environment, any_stack.settings.account_id
    (trust,) = _role(any_stack, kind)["assumeRolePolicy"]["Statement"]
    assert trust == {
        "Sid": "GitHubActionsAssume",
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                f"{ISSUER}:aud": "sts.amazonaws.com",
                f"{ISSUER}:sub": f"repo:{REPOSITORY}:{subject.format(env=env)}",
            }
        },
    }
    assert _role(any_stack, kind)["name"] == f"ds-preprocessing-{kind}-{env}"


def test_the_stack_creates_the_github_oidc_provider_and_the_account_public_access_block(any_stack: SynthResult) -> None:
    (provider,) = any_stack.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == f"https://{ISSUER}"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    for kind in ("preview", "deploy"):
        assert provider.urn in any_stack.get(ROLE, f"ci-{kind}-role").depends_on
    (block,) = any_stack.of_type("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")
    assert block.inputs == {
        "accountId": any_stack.settings.account_id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert TYPES[block.type].deployer is Deployer.ADMIN and TYPES[provider.type].deployer is Deployer.ADMIN


def test_the_deploy_role_covers_every_provider_action_of_the_ci_deployable_types(any_stack: SynthResult) -> None:
    granted = _granted(any_stack, "deploy")
    synthesized = {r.type for r in any_stack.resources}
    for token in synthesized:
        entry = TYPES[token]
        needed = entry.actions() if entry.deployer is Deployer.CI else frozenset(entry.read)
        assert needed <= granted, (token, sorted(needed - granted))
    for entry in INVOKES.values():
        assert set(entry.read) <= granted, entry.token
    assert "states:ValidateStateMachineDefinition" in granted


def test_the_deploy_role_has_no_write_of_an_admin_only_type(any_stack: SynthResult) -> None:
    granted = _granted(any_stack, "deploy")
    admin_writes = {a for e in TYPES.values() if e.admin_only for a in e.writes()} - {"iam:PassRole"}
    assert not granted & admin_writes, sorted(granted & admin_writes)
    named_in_the_issue = {
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "s3:PutBucketPolicy",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketVersioning",
        "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
        "kms:PutKeyPolicy",
        "logs:PutResourcePolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:PutReplicationConfiguration",
        "ecr:PutRegistryPolicy",
        "s3:PutAccountPublicAccessBlock",
    }
    assert not granted & named_in_the_issue


def test_the_deploy_role_passes_each_workload_role_only_to_its_service(any_stack: SynthResult) -> None:
    account, env = any_stack.settings.account_id, any_stack.settings.environment
    passes = [s for s in _policy(any_stack, "deploy")["Statement"] if "iam:PassRole" in s["Action"]]
    role = f"arn:aws:iam::{account}:role/ds-preprocessing"
    assert {(tuple(s["Resource"]), s["Condition"]["StringEquals"]["iam:PassedToService"]) for s in passes} == {
        ((f"{role}-task-{env}", f"{role}-exec-{env}"), "ecs-tasks.amazonaws.com"),
        ((f"{role}-sfn-{env}",), "states.amazonaws.com"),
        ((f"{role}-events-{env}",), "events.amazonaws.com"),
    }
    assert all(s["Action"] == ["iam:PassRole"] for s in passes)


def test_the_preview_role_reads_only(any_stack: SynthResult) -> None:
    granted = _granted(any_stack, "preview")
    reads = {a for e in (*TYPES.values(), *INVOKES.values()) for a in e.read}
    # the provider validates a changed state-machine definition while planning: the one non-read it needs
    assert granted - reads == {"states:ValidateStateMachineDefinition"}
    for forbidden in ("s3:GetObject", "kms:Decrypt", "iam:PassRole", "ssm:GetParameters", "s3:PutObject"):
        assert forbidden not in granted
    all_writes = {a for e in TYPES.values() for a in e.writes()}
    assert not (granted & all_writes) - {"states:ValidateStateMachineDefinition"}


def test_every_ci_statement_names_project_resources_or_is_star_only(any_stack: SynthResult) -> None:
    account = any_stack.settings.account_id
    for kind in ("preview", "deploy"):
        for statement in _policy(any_stack, kind)["Statement"]:
            resources = statement["Resource"]
            if resources == "*":
                assert statement["Sid"].endswith("OnlyOnStar")
                continue
            for arn in resources:
                assert arn.startswith("arn:aws:s3:::ds-") or f":{account}:" in arn, (kind, statement["Sid"], arn)


def test_an_existing_oidc_provider_is_trusted_instead_of_creating_one(tmp_path: Any) -> None:
    import yaml

    from dsctl.synth import synth

    document = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    existing = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    document["config"]["ds-preprocessing:githubOidcProviderArn"] = existing
    config = tmp_path / "Pulumi.dev.yaml"
    config.write_text(yaml.safe_dump(document))
    result = synth("dev", config)
    assert not result.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    (trust,) = result.get(ROLE, "ci-deploy-role").inputs["assumeRolePolicy"]["Statement"]
    assert trust["Principal"] == {"Federated": existing}


def test_without_a_repository_there_are_no_ci_roles_but_the_block_stays(tmp_path: Any) -> None:
    import yaml

    from dsctl.synth import synth

    document = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    document["config"].pop("ds-preprocessing:githubRepository")
    config = tmp_path / "Pulumi.dev.yaml"
    config.write_text(yaml.safe_dump(document))
    result = synth("dev", config)
    assert result.outputs["deployRoleArn"] is None and result.outputs["previewRoleArn"] is None
    assert result.of_type("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")


def _with_extra_action(stack: SynthResult, kind: str, action: str) -> SynthResult:
    """``stack`` with ``action`` added to the first statement of its ``kind`` CI role's policy."""
    import copy
    import dataclasses

    resources = []
    for resource in stack.resources:
        if resource.type == ROLE_POLICY and resource.name == f"ci-{kind}-policy":
            policy = copy.deepcopy(resource.inputs["policy"])
            policy["Statement"][0]["Action"] = [*policy["Statement"][0]["Action"], action]
            resource = dataclasses.replace(resource, inputs={**resource.inputs, "policy": policy})
        resources.append(resource)
    return dataclasses.replace(stack, resources=tuple(resources))


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        ("deploy", "iam:UpdateAssumeRolePolicy"),
        ("deploy", "s3:PutBucketPolicy"),
        ("deploy", "iam:*"),
        ("deploy", "kms:PutKeyPolicy"),
        ("preview", "iam:PassRole"),
        ("preview", "s3:GetObject"),
        ("preview", "ecs:RegisterTaskDefinition"),
    ],
)
def test_the_ci_rule_fails_a_ci_role_that_regains_an_access_change(
    prod_stack: SynthResult, kind: str, action: str
) -> None:
    from policy.rules import RULES, context_from_settings, evaluate

    mutated = _with_extra_action(prod_stack, kind, action).to_dict()["resources"]
    rule = [r for r in RULES if r.name == "ci-roles-change-no-access"]
    (violation,) = evaluate(mutated, context_from_settings(prod_stack.settings), rule)
    assert violation.resource == f"ci-{kind}-policy" and action in violation.message
    assert evaluate(prod_stack.to_dict()["resources"], context_from_settings(prod_stack.settings), rule) == []


def test_dsctl_check_fails_the_stack_whose_deploy_role_regains_update_assume_role_policy(
    prod_stack: SynthResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mutated stack goes through `dsctl check` itself (its synth replaced by the mutated result)."""
    import json

    from dsctl import cli
    from dsctl import synth as synth_module

    mutated = _with_extra_action(prod_stack, "deploy", "iam:UpdateAssumeRolePolicy")
    real = synth_module.synth
    monkeypatch.setattr(
        synth_module, "synth", lambda stack, config_file=None: mutated if stack == "prod" else real(stack, config_file)
    )
    assert cli.main(["check", "--stack", "prod", "--json"]) == 1
    violations = json.loads(capsys.readouterr().out)["violations"]
    (violation,) = [v for v in violations if v["rule"] == "ci-roles-change-no-access"]
    assert violation["resource"] == "ci-deploy-policy" and "iam:UpdateAssumeRolePolicy" in violation["message"]
