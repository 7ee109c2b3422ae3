"""The offline synth engine: config files, stack references, caching, realistic mocks, the JSON form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import SettingsError, stack_config_values
from dsctl import synth as synth_module
from dsctl.synth import SynthResult, parse_json_inputs, synth
from dsctl.synth_mocks import SECRET_SIG_KEY, SECRET_SIG_VALUE, unwrap_secrets

DEV = "123456789012"
PROD = "987654321098"
KEY_ARN = f"arn:aws:kms:us-east-1:{DEV}:key/6f33261d-ee6e-4ccd-ab20-595cf6bd022d"


def write_config(path: Path, stack: str, **changes: Any) -> Path:
    values = stack_config_values(stack)
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    path.write_text(yaml.safe_dump({"config": {f"ds-preprocessing:{k}": v for k, v in values.items()}}))
    return path


@pytest.fixture(scope="module")
def explicit_prod(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """prod with an explicit store location, explicit subnets and a provider role, from a --config-file."""
    path = write_config(
        tmp_path_factory.mktemp("cfg") / "Pulumi.prod-explicit.yaml",
        "prod",
        artifactSourceStack=None,
        artifactSourceBucket=f"ds-artifacts-dev-{DEV}-us-east-1",
        artifactSourceKmsKeyArn=KEY_ARN,
        artifactSourceAccountId=DEV,
        subnetIds=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        assignPublicIp=False,
        scheduleEnabled=False,
    )
    return synth("prod", path)


def test_config_file_drives_the_program(explicit_prod: SynthResult) -> None:
    (provider,) = explicit_prod.of_type("pulumi:providers:aws")
    assert "assumeRoles" not in provider.inputs  # one role-chaining mechanism: none
    assert not explicit_prod.of_type("pulumi:pulumi:StackReference")
    rules = explicit_prod.of_type("aws:cloudwatch/eventRule:EventRule")
    assert not [r for r in rules if "scheduleExpression" in r.inputs]  # scheduleEnabled: false
    assert explicit_prod.outputs["artifactKmsKeyArn"] == KEY_ARN
    assert explicit_prod.outputs["subnetIds"] == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    definition = explicit_prod.get("aws:sfn/stateMachine:StateMachine", "pipeline-state-machine").inputs["definition"]
    network = definition["States"]["RunPreprocessingJob"]["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    # The security group lands in the explicit subnets' VPC, not the default VPC.
    group = explicit_prod.get("aws:ec2/securityGroup:SecurityGroup", "task-sg").inputs
    assert group["vpcId"].startswith("vpc-")


def test_invalid_config_raises_every_settings_error(tmp_path: Path) -> None:
    path = write_config(tmp_path / "Pulumi.bad.yaml", "dev", accountId="42", logRetentionDays=8)
    with pytest.raises(SettingsError) as caught:
        synth("dev", path)
    assert [e.split(":")[0] for e in caught.value.errors] == ["accountId", "logRetentionDays"]


def test_promoting_from_a_stack_without_a_file_here_cannot_be_synthesized(tmp_path: Path) -> None:
    path = write_config(tmp_path / "Pulumi.other.yaml", "prod", promotesFrom="elsewhere")
    with pytest.raises(SettingsError, match=r"no Pulumi\.elsewhere\.yaml here"):
        synth("prod", path)


def test_results_are_cached_per_config_content(tmp_path: Path, dev_stack: SynthResult) -> None:
    assert synth("dev") is dev_stack
    path = write_config(tmp_path / "Pulumi.dev.yaml", "dev", logRetentionDays=14)
    changed = synth("dev", path)
    assert changed is not dev_stack
    groups = changed.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert {g.inputs["retentionInDays"] for g in groups} == {14}


def test_synthesis_is_deterministic(dev_stack: SynthResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth_module, "_CACHE", {})
    again = synth("dev")
    assert again is not dev_stack
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(dev_stack.to_dict(), sort_keys=True)


def test_json_form_follows_the_contract(prod_stack: SynthResult) -> None:
    document = json.loads(json.dumps(prod_stack.to_dict()))
    assert set(document) == {"project", "stack", "resources", "outputs"}
    assert (document["project"], document["stack"]) == ("ds-preprocessing", "prod")
    for resource in document["resources"]:
        assert {"type", "name", "urn", "id", "parent", "inputs", "options"} <= set(resource)
    urns = {r["urn"] for r in document["resources"]}
    parents = {r["parent"] for r in document["resources"]} - {None}
    stack_urn = "urn:pulumi:prod::ds-preprocessing::pulumi:pulumi:Stack::ds-preprocessing-prod"
    assert parents - urns == {stack_urn}
    # Policy documents are parsed.
    policies = [r["inputs"]["policy"] for r in document["resources"] if r["type"] == "aws:iam/rolePolicy:RolePolicy"]
    assert policies and all(p["Version"] == "2012-10-17" for p in policies)


def test_secrets_are_unwrapped() -> None:
    """A secret input reaches the mocks in Pulumi's wire envelope; synth shows the value (the program has no secret
    input today: the job image pushes with the Docker client's login, see test_resources)."""
    envelope = {SECRET_SIG_KEY: SECRET_SIG_VALUE, "value": "s3cret"}
    assert unwrap_secrets({"registry": {"password": envelope}, "list": [envelope]}) == {
        "registry": {"password": "s3cret"},
        "list": ["s3cret"],
    }


def test_no_resource_of_either_stack_has_a_secret_input(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    """Nothing secret is stored in the state (where pull-request previews could decrypt it)."""
    for stack in (dev_stack, prod_stack):
        text = json.dumps(stack.to_dict())
        assert "synth-only" not in text and SECRET_SIG_KEY not in text


def test_get_names_what_exists_when_a_name_is_wrong(dev_stack: SynthResult) -> None:
    with pytest.raises(KeyError, match=r"have: .*task-execution-role"):
        dev_stack.get("aws:iam/role:Role", "no-such-role")


def test_parse_json_inputs_only_touches_document_keys() -> None:
    parsed = parse_json_inputs({"policy": '{"a": 1}', "description": '{"b": 2}', "nested": [{"input": "[1]"}]})
    assert parsed == {"policy": {"a": 1}, "description": '{"b": 2}', "nested": [{"input": [1]}]}


def test_mocks_refuse_invokes_they_do_not_know() -> None:
    from pulumi.runtime import MockCallArgs

    from dsctl.synth_mocks import AwsMocks

    mocks = AwsMocks(account_id=DEV, region="us-east-1")
    with pytest.raises(NotImplementedError, match="aws:rds/getInstance:getInstance"):
        mocks.call(MockCallArgs("aws:rds/getInstance:getInstance", {}, ""))


def test_the_program_itself_refuses_invalid_config_before_creating_anything() -> None:
    """Under `pulumi up` there is no dsctl in front: __main__.py validates with the same settings code."""
    from pulumi import RunError

    from components.settings import load_stack_settings

    settings = load_stack_settings("dev")
    config = {"ds-preprocessing:environment": "dev", "ds-preprocessing:accountId": "42"}
    with pytest.raises(RunError, match="invalid stack config:\naccountId: '42' — not a 12-digit AWS account id"):
        synth_module._run_program(settings, config, {})
