"""CrossGuard policy pack over the rules in ``policy/rules.py``: ``pulumi preview --policy-pack policy``.

Every rule is MANDATORY: a violation fails ``pulumi preview`` and stops ``pulumi up``. Rules that judge one resource
alone become ``ResourceValidationPolicy`` (they run before the resource is created); rules that relate resources
(a bucket and its encryption, the stack's alarm) become ``StackValidationPolicy``.

The adapters turn pulumi-policy's arguments into the synth format the rules read: property proxies become plain
values, values unknown during preview become ``rules.UNKNOWN`` (rules skip them), and the rule context comes from
the stack's own config files (``Pulumi.yaml`` + ``Pulumi.<stack>.yaml`` beside this directory), exactly as
``dsctl check`` builds it. The pack is constructed only when run as a program: constructing a ``PolicyPack`` starts
its gRPC server and blocks, so tests import this module and call the adapters.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run by the policy analyzer as a directory: make the repository (``policy``, ``components``) importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    proxy,
)
from pulumi_policy.secret import Secret

from components.settings import SettingsError, load_stack_settings
from policy.rules import RULES, UNKNOWN, Resource, Rule, RuleContext, Violation, context_from_settings

PACK_NAME = "ds-preprocessing"

_UNKNOWN_SENTINELS = frozenset(
    getattr(proxy, name) for name in dir(proxy) if name.startswith("UNKNOWN_") and name.endswith("_VALUE")
)
"""The strings the engine sends for values it cannot know during preview (one per kind: string, number, ...)."""


def plain(value: Any) -> Any:
    """A deep plain copy of a pulumi-policy property value; unknown values become ``UNKNOWN``.

    The analyzer wraps properties in proxies that raise on unknown values when read; reading through their
    ``__target`` keeps a rule from aborting on the first unknown ARN of a first preview.
    """
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
        return UNKNOWN
    if isinstance(value, Mapping):
        target = value["__target"] if _is_proxy(value) else value
        return {key: plain(target[key]) for key in target}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = value["__target"] if _is_proxy(value) else value  # type: ignore[call-overload]
        return [plain(item) for item in items]
    return value


def _is_proxy(value: Any) -> bool:
    return type(value).__module__ in ("pulumi_policy.proxy", "pulumi_policy.secret")


def stack_of(urn: str) -> str:
    """The stack name in a URN (``urn:pulumi:<stack>::<project>::<type>::<name>``)."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


@lru_cache(maxsize=4)
def context_for(stack: str) -> RuleContext:
    """The rule context of ``stack`` from its config files; raises ``SettingsError`` when they are invalid.

    Read once per stack: the analyzer calls every policy for every resource.
    """
    return context_from_settings(load_stack_settings(stack))


def resource_from_args(args: ResourceValidationArgs) -> dict[str, Any]:
    """A ``ResourceValidationArgs`` as a synth-format resource."""
    return {
        "type": args.resource_type,
        "name": args.name,
        "urn": args.urn,
        "parent": args.opts.parent if args.opts else None,
        "inputs": plain(args.props),
    }


def resource_from_policy_resource(resource: PolicyResource) -> dict[str, Any]:
    """A stack validation's ``PolicyResource`` as a synth-format resource."""
    parent = resource.parent.urn if resource.parent else (resource.opts.parent if resource.opts else None)
    return {
        "type": resource.resource_type,
        "name": resource.name,
        "urn": resource.urn,
        "parent": parent,
        "inputs": plain(resource.props),
    }


def _message(violation: Violation) -> str:
    return f"{violation.resource}: {violation.message}. Fix: {violation.fix}"


def _with_context(urn: str, report: ReportViolation, judge: Callable[[RuleContext], list[Violation]]) -> None:
    """Run ``judge`` with the stack's context; an invalid config is itself reported (the rules cannot run)."""
    try:
        ctx = context_for(stack_of(urn))
    except SettingsError as err:
        report(f"cannot load the settings of stack {stack_of(urn)!r}: {err}. Fix the stack config file.", None)
        return
    for violation in judge(ctx):
        report(_message(violation), violation.urn)


def resource_validator(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """The pulumi-policy validation callback of a resource rule."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if rule.types and args.resource_type not in rule.types:
            return
        resource = resource_from_args(args)
        _with_context(args.urn, report, lambda ctx: rule.check_resource(resource, ctx))

    return validate


def stack_validator(rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """The pulumi-policy validation callback of a stack rule."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources: list[Resource] = [resource_from_policy_resource(r) for r in args.resources]
        if not resources:
            return
        _with_context(str(resources[0]["urn"]), report, lambda ctx: rule.check_stack(resources, ctx))

    return validate


def build_policies(rules: Sequence[Rule] = RULES) -> list[Policy]:
    """One MANDATORY pulumi-policy per rule, of the kind the rule needs."""
    policies: list[Policy] = []
    for rule in rules:
        if rule.stack_check is None:
            policies.append(
                ResourceValidationPolicy(
                    name=rule.name,
                    description=rule.description,
                    validate=resource_validator(rule),
                    enforcement_level=EnforcementLevel.MANDATORY,
                )
            )
        else:
            policies.append(
                StackValidationPolicy(
                    name=rule.name,
                    description=rule.description,
                    validate=stack_validator(rule),
                    enforcement_level=EnforcementLevel.MANDATORY,
                )
            )
    return policies


def main() -> None:
    """Serve the pack to the Pulumi engine (blocks; the engine stops it)."""
    PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=EnforcementLevel.MANDATORY)


if __name__ == "__main__":
    main()
