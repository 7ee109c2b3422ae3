"""The outputs contract: names, types and shapes of each stack's outputs, frozen here.

The reading stack (``StackReference.require_output``), dsctl, CI and runbooks consume these outputs; renaming one,
dropping one or changing its type breaks them silently at deploy time. A deliberate change updates this table (and
docs/infrastructure.md) in the same commit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components import naming
from dsctl.synth import SynthResult

ACCOUNT = r"\d{12}"
REGION = r"[a-z]{2}-[a-z]+-\d"
ENV = r"(dev|prod)"

# name -> (type, pattern every string value must fully match)
COMMON: dict[str, tuple[str, str]] = {
    "environment": ("str", ENV),
    "accountId": ("str", ACCOUNT),
    "region": ("str", REGION),
    "inputBucketName": ("str", rf"ds-input-{ENV}-{ACCOUNT}-{REGION}"),
    "inputBucketArn": ("str", rf"arn:aws:s3:::ds-input-{ENV}-{ACCOUNT}-{REGION}"),
    "outputBucketName": ("str", rf"ds-output-{ENV}-{ACCOUNT}-{REGION}"),
    "outputBucketArn": ("str", rf"arn:aws:s3:::ds-output-{ENV}-{ACCOUNT}-{REGION}"),
    "artifactBucketName": ("str", rf"ds-artifacts-{ENV}-{ACCOUNT}-{REGION}"),
    "artifactBucketArn": ("str", rf"arn:aws:s3:::ds-artifacts-{ENV}-{ACCOUNT}-{REGION}"),
    "artifactKmsKeyArn": ("str", rf"arn:aws:kms:{REGION}:{ACCOUNT}:key/[0-9a-f-]{{36}}"),
    "artifactAccountId": ("str", ACCOUNT),
    "ecrRepositoryUrl": ("str", rf"{ACCOUNT}\.dkr\.ecr\.{REGION}\.amazonaws\.com/ds-preprocessing"),
    "imageDigest": ("str", rf"{ACCOUNT}\.dkr\.ecr\.{REGION}\.amazonaws\.com/ds-preprocessing@sha256:[0-9a-f]{{64}}"),
    "clusterArn": ("str", rf"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/ds-processing-cluster"),
    "clusterName": ("str", "ds-processing-cluster"),
    "taskDefinitionArn": ("str", rf"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/ds-preprocessing:\d+"),
    "taskFamily": ("str", "ds-preprocessing"),
    "containerName": ("str", "ds-preprocessing"),
    "stateMachineArn": ("str", rf"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:ds-preprocessing-pipeline"),
    "subnetIds": ("list[str]", r"subnet-[0-9a-f]{8,17}"),
    "securityGroupId": ("str", r"sg-[0-9a-f]{8,17}"),
    "parameterNames": ("dict[str,str]", r"/ds/preprocessing/[a-z0-9-]+"),
    "logGroupName": ("str", rf"/ecs/ds-preprocessing-{ENV}"),
    "stateMachineLogGroupName": ("str", rf"/aws/vendedlogs/states/ds-preprocessing-pipeline-{ENV}"),
    "alarmTopicArn": ("str", rf"arn:aws:sns:{REGION}:{ACCOUNT}:ds-preprocessing-alarms-{ENV}"),
    "taskRoleArn": ("str", rf"arn:aws:iam::{ACCOUNT}:role/ds-preprocessing-task-{ENV}"),
    "executionRoleArn": ("str", rf"arn:aws:iam::{ACCOUNT}:role/ds-preprocessing-exec-{ENV}"),
    "stateMachineRoleArn": ("str", rf"arn:aws:iam::{ACCOUNT}:role/ds-preprocessing-sfn-{ENV}"),
    # dsctl's role; null in a stack configured without operatorPrincipalArns (both stacks have operators)
    "operatorRoleArn": ("str", rf"arn:aws:iam::{ACCOUNT}:role/ds-preprocessing-operator"),
}
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "dev": {
        **COMMON,
        "scheduleRuleName": ("null", ""),  # dev runs on demand only
        "promoterRoleArn": ("null", ""),  # not production: the operator role promotes
        "artifactReaderPrincipalPatterns": ("list[str]", rf"arn:aws:iam::{ACCOUNT}:role/[\w+=,.@*-]+"),
        # The store's replica (artifactReplicaRegion): a reading stack fails over to it.
        "artifactReplicaBucketName": ("str", rf"ds-artifacts-dev-{ACCOUNT}-{REGION}"),
        "artifactReplicaKmsKeyArn": ("str", rf"arn:aws:kms:{REGION}:{ACCOUNT}:key/[0-9a-f-]{{36}}"),
        "artifactReplicaRegion": ("str", REGION),
    },
    "prod": {
        **COMMON,
        "scheduleRuleName": ("str", "ds-preprocessing-schedule-prod"),
        # production: the one role that changes the promoted model (promoterPermissionSet); null elsewhere
        "promoterRoleArn": ("str", rf"arn:aws:iam::{ACCOUNT}:role/ds-preprocessing-promoter"),
    },
}
for _stack, _expected in EXPECTED.items():
    # CI's roles in every account (githubRepository is set in both stack files)
    _expected["deployRoleArn"] = ("str", rf"arn:aws:iam::{ACCOUNT}:role/ds-preprocessing-deploy-{_stack}")
    _expected["previewRoleArn"] = ("str", rf"arn:aws:iam::{ACCOUNT}:role/ds-preprocessing-preview-{_stack}")
# Outputs that name the artifact store, which lives in the owning (dev) account even in prod's outputs.
STORE_OUTPUTS = ("artifactBucketName", "artifactBucketArn", "artifactKmsKeyArn", "artifactAccountId")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "list[str]"
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return "dict[str,str]"
    return type(value).__name__


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value] if isinstance(value, str) else []


def test_output_names_are_the_contract(any_stack: SynthResult) -> None:
    expected, actual = set(EXPECTED[any_stack.stack]), set(any_stack.outputs)
    assert actual == expected, f"missing: {sorted(expected - actual)}, unexpected: {sorted(actual - expected)}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("name", sorted(set(EXPECTED["dev"]) | set(EXPECTED["prod"])))
def test_output_type_and_shape(stack: str, name: str, dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    if name not in EXPECTED[stack]:
        assert name not in {"dev": dev_stack, "prod": prod_stack}[stack].outputs
        return
    value = {"dev": dev_stack, "prod": prod_stack}[stack].outputs[name]
    type_name, pattern = EXPECTED[stack][name]
    assert _type_name(value) == type_name, f"{stack}.{name} = {value!r}"
    if type_name != "null":
        assert _strings(value), f"{stack}.{name} is empty"
    for item in _strings(value):
        assert re.fullmatch(pattern, item), f"{stack}.{name}: {item!r} does not match {pattern}"


def test_outputs_belong_to_the_stacks_own_account_and_environment(any_stack: SynthResult) -> None:
    settings, outputs = any_stack.settings, any_stack.outputs
    assert outputs["environment"] == settings.environment and outputs["accountId"] == settings.account_id
    for name, value in outputs.items():
        if name in STORE_OUTPUTS or name == "artifactReaderPrincipalPatterns":
            continue
        for item in _strings(value):
            accounts = set(re.findall(r"(?<![0-9a-fA-F])\d{12}(?![0-9a-fA-F])", item))  # not inside hex digests
            assert accounts <= {settings.account_id}, f"{name}: {item} names another account"


def test_prod_sees_devs_store_as_dev_exports_it(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    for name in STORE_OUTPUTS:
        assert prod_stack.outputs[name] == dev_stack.outputs[name], name
    assert dev_stack.outputs["artifactAccountId"] == dev_stack.settings.account_id


def test_parameter_names_cover_every_parameter_the_job_reads(any_stack: SynthResult) -> None:
    names = any_stack.outputs["parameterNames"]
    assert tuple(names) == naming.PARAMETER_KEYS
    assert names == {key: any_stack.settings.parameter_name(key) for key in naming.PARAMETER_KEYS}


def test_every_output_the_program_consumes_from_another_stack_is_in_the_contract() -> None:
    source = "\n".join(path.read_text() for path in Path(naming.__file__).parent.glob("*.py"))
    consumed = set(re.findall(r"require_output\(\s*\"(\w+)\"", source)) | set(
        re.findall(r"get_output\(\s*\"(\w+)\"", source)
    )
    assert consumed, "the reading stack reads the store's location from the owning stack's outputs"
    assert consumed <= set(EXPECTED["dev"]), (
        f"consumed but not in the contract: {sorted(consumed - set(EXPECTED['dev']))}"
    )


def test_operator_role_output_is_null_without_operators(tmp_path: Path) -> None:
    """The output exists in every stack (runbooks read it); without operators there is no role and it is null."""
    import yaml

    from dsctl.synth import synth

    document = yaml.safe_load((Path(naming.__file__).resolve().parent.parent / "Pulumi.dev.yaml").read_text())
    document["config"].pop("ds-preprocessing:operatorPrincipalArns", None)
    document["config"].pop("ds-preprocessing:operatorPermissionSet")
    config = tmp_path / "Pulumi.dev.yaml"
    config.write_text(yaml.safe_dump(document))
    result = synth("dev", config)
    assert result.outputs["operatorRoleArn"] is None
    assert not [r for r in result.resources if r.type == "ds:access:OperatorRole" or "operator" in r.name]
