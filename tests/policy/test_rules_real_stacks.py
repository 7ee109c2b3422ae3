"""Every rule passes on both real stacks, offline (as ``dsctl check`` runs them) and through the policy pack.

The pack path replays the synthesized resources as the Pulumi engine would send them (protobuf Struct, documents
as JSON text, numbers as floats), so ``pulumi preview --policy-pack policy`` judges exactly what ``dsctl check``
judges.
"""

from __future__ import annotations

import pytest
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from components.project import stack_names
from dsctl.synth import synth
from policy.rules import RULES, context_from_settings, evaluate
from tests.policy.test_pack import _analyze, _analyze_stack, pack


@pytest.mark.parametrize("stack", stack_names())
def test_rules_pass_on_real_stack(stack: str) -> None:
    result = synth(stack)
    assert evaluate(result.to_dict()["resources"], context_from_settings(result.settings)) == []


@pytest.mark.parametrize("stack", stack_names())
def test_policy_pack_passes_on_real_stack(stack: str) -> None:
    analyzer = _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.build_policies(), EnforcementLevel.MANDATORY)
    resources = synth(stack).to_dict()["resources"]
    diagnostics = [d for r in resources for d in _analyze(analyzer, r)] + _analyze_stack(analyzer, resources)
    assert [d.message for d in diagnostics] == []


def test_policy_pack_fails_a_broken_real_stack() -> None:
    """The same real prod stack with its alarm removed fails the pack's stack policy, mandatory."""
    analyzer = _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.build_policies(), EnforcementLevel.MANDATORY)
    resources = [r for r in synth("prod").to_dict()["resources"] if "failed-executions" not in r["name"]]
    (diagnostic,) = _analyze_stack(analyzer, resources)
    assert diagnostic.policyName == "production-failed-executions-alarm"
    assert diagnostic.enforcementLevel == proto.MANDATORY


def test_every_rule_is_in_the_pack() -> None:
    assert [p.name for p in pack.build_policies()] == [rule.name for rule in RULES]
