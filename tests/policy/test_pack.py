"""The CrossGuard pack, driven through pulumi-policy's real analyzer service (protobuf requests, no gRPC server).

This is the path ``pulumi preview --policy-pack policy`` takes inside the engine: properties arrive as a protobuf
Struct with documents as JSON text and unknown values as sentinels, wrapped in the SDK's proxies.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.rules import RULES
from tests.policy.stack_fixture import compliant_stack, find

pack = importlib.import_module("policy.__main__")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def analyzer() -> _PolicyAnalyzerServicer:
    return _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.build_policies(), EnforcementLevel.MANDATORY)


def _struct(resource: dict[str, Any]) -> struct_pb2.Struct:
    """Inputs as the engine sends them: JSON documents as text."""
    inputs = dict(resource["inputs"])
    for key in ("policy", "assumeRolePolicy", "containerDefinitions"):
        if isinstance(inputs.get(key), dict | list):
            inputs[key] = json.dumps(inputs[key])
    struct = struct_pb2.Struct()
    struct.update(inputs)
    return struct


def _analyze(analyzer: _PolicyAnalyzerServicer, resource: dict[str, Any]) -> list[Any]:
    request = proto.AnalyzeRequest(
        type=resource["type"],
        properties=_struct(resource),
        urn=resource["urn"],
        name=resource["name"],
        options=proto.AnalyzerResourceOptions(parent=resource["parent"] or ""),
    )
    return list(analyzer.Analyze(request, None).diagnostics)


def _analyze_stack(analyzer: _PolicyAnalyzerServicer, resources: list[dict[str, Any]]) -> list[Any]:
    request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r["type"],
                properties=_struct(r),
                urn=r["urn"],
                name=r["name"],
                parent=r["parent"] or "",
                options=proto.AnalyzerResourceOptions(parent=r["parent"] or ""),
            )
            for r in resources
        ]
    )
    return list(analyzer.AnalyzeStack(request, None).diagnostics)


def test_pack_has_one_mandatory_policy_per_rule() -> None:
    policies = pack.build_policies()
    assert [p.name for p in policies] == [rule.name for rule in RULES]
    assert {p.enforcement_level for p in policies} == {EnforcementLevel.MANDATORY}


def test_compliant_stack_has_no_diagnostics(analyzer: _PolicyAnalyzerServicer) -> None:
    stack = compliant_stack()
    assert [d.message for r in stack for d in _analyze(analyzer, r)] == []
    assert [d.message for d in _analyze_stack(analyzer, stack)] == []


def test_resource_policy_reports_mandatory_violation(analyzer: _PolicyAnalyzerServicer) -> None:
    stack = compliant_stack()
    task = find(stack, "task")
    task["inputs"]["containerDefinitions"][0]["user"] = "root"
    (diagnostic,) = _analyze(analyzer, task)
    assert diagnostic.policyName == "task-non-root-read-only"
    assert diagnostic.enforcementLevel == proto.MANDATORY
    assert "runs as root" in diagnostic.message and "Fix:" in diagnostic.message


def test_stack_policy_reports_the_culprit_urn(analyzer: _PolicyAnalyzerServicer) -> None:
    stack = compliant_stack()
    stack.remove(find(stack, "input-sse"))
    (diagnostic,) = _analyze_stack(analyzer, stack)
    assert diagnostic.policyName == "s3-bucket-encrypted"
    assert diagnostic.urn == find(stack, "input")["urn"]
    assert diagnostic.enforcementLevel == proto.MANDATORY


def test_reader_accounts_come_from_the_stack_config(analyzer: _PolicyAnalyzerServicer) -> None:
    """The dev config names prod as the only reader: a grant to another account is reported."""
    stack = compliant_stack()
    policy = find(stack, "artifacts-policy")
    policy["inputs"]["policy"]["Statement"][1]["Principal"] = {"AWS": "arn:aws:iam::111122223333:root"}
    messages = [d.message for d in _analyze(analyzer, policy)]
    assert any("111122223333" in m and "not configured readers" in m for m in messages)


def test_unknown_values_during_preview_are_not_violations(analyzer: _PolicyAnalyzerServicer) -> None:
    stack = compliant_stack()
    for resource in stack:
        if "bucket" in resource["inputs"] and resource["type"] != "aws:s3/bucket:Bucket":
            resource["inputs"]["bucket"] = UNKNOWN_STRING_VALUE
    find(stack, "task-role-policy")["inputs"]["policy"] = UNKNOWN_STRING_VALUE
    assert [d.message for r in stack for d in _analyze(analyzer, r)] == []
    assert [d.message for d in _analyze_stack(analyzer, stack)] == []


def test_invalid_stack_config_is_reported_not_crashed(analyzer: _PolicyAnalyzerServicer) -> None:
    resource = find(compliant_stack(), "job-logs")
    resource["urn"] = resource["urn"].replace(":dev:", ":nosuchstack:")
    messages = [d.message for d in _analyze(analyzer, resource)]
    assert messages and all("cannot load the settings of stack 'nosuchstack'" in m for m in messages)


def test_policy_project_file_declares_a_python_pack() -> None:
    document = yaml.safe_load((REPO / "policy" / "PulumiPolicy.yaml").read_text())
    assert document["runtime"]["name"] == "python"
    assert document["version"]
    requirements = (REPO / "policy" / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements


def test_importing_the_pack_does_not_serve() -> None:
    """Importing must not construct the PolicyPack (that would start a gRPC server and block forever)."""
    assert pack.__name__ == "policy.__main__"
    assert callable(pack.main)
