"""Compare two synthesized stacks and say which differences the stacks' configs explain.

Stacks must stay in step: the same program, differing only where their config files declare a difference.
``diff_stacks`` first makes two stacks comparable by replacing each stack's own identity with placeholders: exact
values only (its physical names from ``naming``, its account id, the artifact store's bucket/key/account, reader
accounts, CI and operator principals, the environment where a whole string is it), never the environment word
inside other text (a stack called ``staging`` keeps the job's ``_staging/`` prefix). So
``ds-input-dev-123456789012-us-east-1`` and ``ds-input-prod-987654321098-us-east-1`` compare equal.
What still differs is then classified:

- *expected* when a declared config difference explains it (an entry of ``DECLARED``, e.g. artifact ownership,
  schedule, production) and the settings behind that entry really differ between the two stacks;
- *unexpected* otherwise: something in the program treats the stacks differently without the config saying so.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components import ci_policies, naming, tokens
from components.settings import StackSettings

ENV = "{env}"
ACCOUNT = "{account}"
ARTIFACT_BUCKET = "{artifact-bucket}"
ARTIFACT_KEY = "{artifact-key}"
ARTIFACT_ACCOUNT = "{artifact-account}"
READER_ACCOUNT = "{reader-account}"
OPERATOR_PRINCIPAL = "{operator-principal}"
ADMIN_PRINCIPAL = "{admin-principal}"
ARTIFACT_TOKENS = (ARTIFACT_BUCKET, ARTIFACT_KEY, ARTIFACT_ACCOUNT, READER_ACCOUNT)

IDENTITY_FIELDS = ("project", "stack", "environment", "account_id")
"""Settings that are the stack's identity: normalized away (every name and ARN holding them), never a difference."""
UNDECLARED_FIELDS = ("region", "parameter_prefix", "input_key")
"""Settings no entry of ``DECLARED`` covers: stacks that differ in them are reported as unexpectedly different."""

GENERATED_IDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(vpc|subnet|sg)-[0-9a-f]{8}(?:[0-9a-f]{9})?\b"), r"{\1-id}"),
    (re.compile(r"\bsha256:[0-9a-f]{64}\b"), "sha256:{digest}"),
)
"""Values AWS generates per account and that no config chooses: the default VPC's network ids each account's
lookup returns, security group ids, and the image digest (the builder's push, a pinned stack's promoted pin)."""


@dataclass(frozen=True)
class Declared:
    """A config difference the stacks may declare, and where in the resources it is allowed to show."""

    reason: str
    fields: tuple[str, ...]  # StackSettings fields; the difference is declared when any of them differs
    types: tuple[str, ...] = ()  # resource or component type tokens (anywhere in the URN's type chain)
    properties: tuple[str, ...] = ()  # input keys (at any depth) whose values may differ
    markers: tuple[str, ...] = ()  # strings in a resource or a value that tie it to this difference

    @property
    def config_keys(self) -> list[str]:
        """The config keys (camelCase, as in Pulumi.<stack>.yaml) behind this difference."""
        return [re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name) for name in self.fields]

    def describe(self) -> str:
        """``reason (key, key)`` for people."""
        return f"{self.reason} ({', '.join(self.config_keys)})"


DECLARED: tuple[Declared, ...] = (
    Declared(
        "artifact ownership",
        ("owns_artifact_store", "artifact_reader_accounts", "artifact_reader_role_patterns", "artifact_source"),
        types=(tokens.ARTIFACT_STORE_COMPONENT, tokens.CROSS_ACCOUNT_ACCESS_COMPONENT, tokens.LOG_METRIC_FILTER),
        # The owning stack also audits its store (components.audit): data events, the trail in CloudWatch Logs,
        # the denied-access alarm, the alert rules on the store's bucket and key.
        properties=("cloudWatchLogsGroupArn", "cloudWatchLogsRoleArn", "advancedEventSelectors"),
        markers=(
            *ARTIFACT_TOKENS,
            naming.artifact_key_alias(ENV),
            naming.artifact_bucket(ENV, ACCOUNT, ""),  # the CI roles' read of the store's replica (any region)
            naming.audit_trail_log_group(ENV),
            naming.audit_trail_role(ENV),
            naming.store_access_denied_alarm(ENV),
            *(naming.alert_rule(ENV, what) for what in naming.ALERTS),
        ),
    ),
    Declared(
        "store replica",
        ("artifact_replica_region",),
        types=(tokens.BUCKET_REPLICATION,),
        markers=(naming.store_replication_role(ENV),),
    ),
    Declared("data retention", ("data_retention_days",), types=(tokens.BUCKET_LIFECYCLE,)),
    Declared("organization trail", ("organization_trail",), types=(tokens.TRAIL,)),
    Declared(
        "schedule",
        ("schedule_enabled", "schedule_expression"),
        types=(tokens.EVENT_RULE, tokens.EVENT_TARGET),
        properties=("scheduleExpression", "state", "isEnabled"),
        markers=(naming.schedule_rule(ENV), naming.schedule_role(ENV)),
    ),
    Declared(
        "image build",
        (
            "builds_image",
            "image_digest",
            "image_digest_previous",
            "image_promotion_evidence",
            "image_promotion_evidence_previous",
        ),
        types=(tokens.DOCKER_IMAGE, tokens.ECR_REPLICATION, tokens.ECR_REGISTRY_POLICY),
    ),
    Declared("log retention", ("log_retention_days",), properties=("retentionInDays",)),
    Declared("task size", ("task_cpu", "task_memory"), properties=("cpu", "memory")),
    Declared("run timeout", ("task_timeout_minutes",), properties=("TimeoutSeconds",)),
    Declared("parallel tasks", ("max_parallel_tasks",), properties=("MaxConcurrency", naming.MAX_PARALLEL_ENV)),
    Declared(
        "alarm e-mail",
        ("alarm_email",),
        types=(tokens.TOPIC_SUBSCRIPTION,),
        properties=("endpoint",),
    ),
    Declared(
        "CI access",
        ("github_repository", "github_oidc_provider_arn"),
        types=(tokens.OIDC_PROVIDER,),
        markers=(naming.deploy_role(ENV), naming.preview_role(ENV)),
    ),
    # Who deploys access changes: not in any resource yet (the store's break-glass grant will name them).
    # The administrators are named in the store's bucket and key policies (break glass): wherever they show.
    Declared("administrators", ("admin_principal_arns",), markers=(ADMIN_PRINCIPAL,)),
    Declared(
        "operators",
        ("operator_principal_arns", "operator_permission_set"),
        types=(tokens.OPERATOR_ROLE_COMPONENT,),
        markers=(OPERATOR_PRINCIPAL, naming.operator_role()),
    ),
    Declared(
        "promoters",
        ("promoter_permission_set",),
        types=(tokens.PROMOTER_ROLE_COMPONENT,),
        # where the promoter exists the operator loses its promotion statement (and says so in its description)
        markers=(naming.promoter_role(), "OperatorPromoteModels", "the promoter role promotes"),
    ),
    # A production stack must alarm on failed runs (policy/rules.py); it may have alarms and subscriptions the
    # other stack does not.
    Declared("production", ("production",), types=(tokens.METRIC_ALARM, tokens.TOPIC_SUBSCRIPTION)),
    Declared("promotion source", ("promotes_from", "pulumi_organization"), types=(tokens.STACK_REFERENCE,)),
    Declared(
        "network",
        ("subnet_ids", "assign_public_ip"),
        properties=("subnetIds", "subnets", "assignPublicIp", "AssignPublicIp", "Subnets"),
    ),
)


@dataclass(frozen=True)
class Difference:
    """One way the two stacks differ, after normalization."""

    resource: str  # "<type>::<logical name>" (normalized)
    path: str  # "" when the resource exists on one side only, else the input path, e.g. policy.Statement[Sid=X]
    left: Any  # value in the left stack (None when absent)
    right: Any
    expected: bool
    reason: str

    @property
    def kind(self) -> str:
        if self.path:
            return "property"
        return "only-left" if self.right is None else "only-right"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource": self.resource,
            "path": self.path,
            "left": self.left,
            "right": self.right,
            "expected": self.expected,
            "reason": self.reason,
        }


@dataclass
class StackDiff:
    """All differences between two stacks."""

    left: str
    right: str
    differences: list[Difference] = field(default_factory=list)
    declared: list[str] = field(default_factory=list)  # the declared config differences that apply

    @property
    def unexpected(self) -> list[Difference]:
        return [d for d in self.differences if not d.expected]

    def to_dict(self) -> dict[str, Any]:
        return {
            "left": self.left,
            "right": self.right,
            "declared": self.declared,
            "ok": not self.unexpected,
            "differences": [d.to_dict() for d in self.differences],
        }


# ----------------------------------------------------------------------------------------------- normalization
@dataclass(frozen=True)
class Substitutions:
    """How one stack's identity is replaced: exact values only, never a word inside other text.

    ``replacements`` are (value, placeholder) pairs applied longest value first, so a bucket name is replaced
    whole before the account id inside it; ``whole_values`` replace a string only when it *is* that value (the
    environment in a tag or a metric dimension), so a stack called ``staging`` leaves the job's ``_staging/``
    prefix alone.
    """

    replacements: tuple[tuple[str, str], ...]
    whole_values: Mapping[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...]

    def apply(self, text: str) -> str:
        if text in self.whole_values:
            return self.whole_values[text]
        for pattern, placeholder in self.patterns:
            text = pattern.sub(placeholder, text)
        for value, placeholder in self.replacements:
            text = text.replace(value, placeholder)
        return text


def _known_names(settings: StackSettings) -> list[tuple[str, str]]:
    """Every physical name of the stack that holds its environment (and account), with its placeholder form.

    Both come from ``naming`` called twice, with the real identity and with the placeholders, so a new name
    added there is normalized here without a change.
    """
    env, account, region = settings.environment, settings.account_id, settings.region
    templates = [
        *naming.environment_names(ENV),
        *naming.environment_labels(ENV),
        *naming.regional_names(ENV, ACCOUNT, region),
    ]
    return [(template.replace(ENV, env).replace(ACCOUNT, account), template) for template in templates]


def substitutions(settings: StackSettings) -> Substitutions:
    """The exact identity values of this stack and their placeholders."""
    pairs: list[tuple[str, str]] = []
    if settings.artifact_bucket_name:
        pairs.append((settings.artifact_bucket_name, ARTIFACT_BUCKET))
    if settings.owns_artifact_store:
        # The store's replica (any region) and the CI roles' read pattern for it: artifact ownership.
        pairs.append((naming.artifact_bucket(settings.environment, settings.account_id, ""), ARTIFACT_BUCKET + "-"))
    pairs += [(arn, OPERATOR_PRINCIPAL) for arn in settings.operator_principal_arns]
    pairs += [(arn, ADMIN_PRINCIPAL) for arn in settings.admin_principal_arns]
    if settings.github_repository:
        # The deploy role's OIDC subject names the stack's GitHub environment, which is the stack's name.
        subject = ci_policies.environment_subject(settings.github_repository, settings.environment)
        pairs.append((subject, ci_policies.environment_subject(settings.github_repository, ENV)))
    pairs += _known_names(settings)
    artifact_account = settings.artifact_account_id
    if artifact_account and artifact_account != settings.account_id:
        pairs.append((artifact_account, ARTIFACT_ACCOUNT))
    pairs += [(account, READER_ACCOUNT) for account in settings.artifact_reader_accounts]
    pairs.append((settings.account_id, ACCOUNT))
    patterns = list(GENERATED_IDS)
    if artifact_account:
        # The store's key ARN is generated when the owning stack creates the key: known by its shape only.
        key = re.compile(rf"arn:aws:kms:[a-z0-9-]+:{artifact_account}:key/[0-9a-f-]{{36}}")
        patterns.append((key, ARTIFACT_KEY))
    first: dict[str, str] = {}
    for value, placeholder in pairs:  # the first placeholder named for a value wins (the store before its name)
        first.setdefault(value, placeholder)
    ordered = sorted(first.items(), key=lambda pair: len(pair[0]), reverse=True)
    return Substitutions(tuple(ordered), {settings.environment: ENV}, tuple(patterns))


def normalize(value: Any, subs: Substitutions) -> Any:
    """``value`` with every string's stack identity replaced by placeholders (recursively)."""
    if isinstance(value, str):
        return subs.apply(value)
    if isinstance(value, Mapping):
        return {normalize(key, subs): normalize(item, subs) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(item, subs) for item in value]
    return value


def _index(document: Mapping[str, Any], settings: StackSettings) -> dict[str, dict[str, Any]]:
    """Normalized resources keyed by ``<type>::<name>``, with their URN's type chain."""
    subs = substitutions(settings)
    indexed: dict[str, dict[str, Any]] = {}
    for resource in document["resources"]:
        name = normalize(resource["name"], subs)
        urn = str(resource.get("urn") or "")
        chain = urn.split("::")[2].split("$") if urn.count("::") >= 3 else [resource["type"]]
        indexed[f"{resource['type']}::{name}"] = {
            "inputs": normalize(resource.get("inputs") or {}, subs),
            "chain": chain,
        }
    return indexed


# ----------------------------------------------------------------------------------------------- comparison
def _item_key(item: Any) -> str | None:
    """How list items are matched across stacks: by Sid or name when they have one."""
    if isinstance(item, Mapping):
        for key in ("Sid", "name", "Name"):
            if isinstance(item.get(key), str):
                return f"{key}={item[key]}"
    return None


def compare(left: Any, right: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, left, right) for every leaf where ``left`` and ``right`` differ."""
    if left == right:
        return
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        for key in sorted(set(left) | set(right)):
            yield from compare(left.get(key), right.get(key), f"{path}.{key}" if path else str(key))
        return
    if isinstance(left, list) and isinstance(right, list):
        yield from _compare_lists(left, right, path)
        return
    yield path, left, right


def _compare_lists(left: list[Any], right: list[Any], path: str) -> Iterator[tuple[str, Any, Any]]:
    left_keys, right_keys = [_item_key(i) for i in left], [_item_key(i) for i in right]
    if all(left_keys) and all(right_keys) and len(set(left_keys)) == len(left) and len(set(right_keys)) == len(right):
        by_left, by_right = dict(zip(left_keys, left, strict=True)), dict(zip(right_keys, right, strict=True))
        for key in sorted(set(by_left) | set(by_right), key=str):
            yield from compare(by_left.get(key), by_right.get(key), f"{path}[{key}]")
        return
    if len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from compare(a, b, f"{path}[{index}]")
        return
    only_left = [item for item in left if item not in right]
    only_right = [item for item in right if item not in left]
    for item in only_left:
        yield f"{path}[-]", item, None
    for item in only_right:
        yield f"{path}[+]", None, item


def _mentions(value: Any, markers: Sequence[str]) -> bool:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return any(marker in text for marker in markers)


def _path_keys(path: str) -> set[str]:
    return {part for part in re.split(r"[.\[\]=]", path) if part}


def explain_resource(resource: Mapping[str, Any], active: Sequence[Declared]) -> Declared | None:
    """The declared difference that explains a resource existing in one stack only."""
    for declared in active:
        if set(resource["chain"]) & set(declared.types) or _mentions(resource["inputs"], declared.markers):
            return declared
    return None


def explain_property(
    resource: Mapping[str, Any], path: str, left: Any, right: Any, active: Sequence[Declared]
) -> Declared | None:
    """The declared difference that explains one differing input of a resource both stacks have."""
    for declared in active:
        if set(resource["chain"]) & set(declared.types):
            return declared
        if _path_keys(path) & set(declared.properties):
            return declared
        if declared.markers and (_mentions(left, declared.markers) or _mentions(right, declared.markers)):
            return declared
    return None


def declared_differences(left: StackSettings, right: StackSettings) -> list[Declared]:
    """The entries of ``DECLARED`` whose settings really differ between the two stacks."""
    a, b = dataclasses.asdict(left), dataclasses.asdict(right)
    return [declared for declared in DECLARED if any(a[name] != b[name] for name in declared.fields)]


def diff_stacks(
    left: Mapping[str, Any], left_settings: StackSettings, right: Mapping[str, Any], right_settings: StackSettings
) -> StackDiff:
    """Every difference between two ``SynthResult.to_dict()`` documents, classified by their settings."""
    active = declared_differences(left_settings, right_settings)
    result = StackDiff(str(left["stack"]), str(right["stack"]), declared=[d.describe() for d in active])
    a, b = _index(left, left_settings), _index(right, right_settings)
    for key in sorted(set(a) | set(b)):
        if key not in b or key not in a:
            present = a.get(key) or b[key]
            declared = explain_resource(present, active)
            old, new = (present["inputs"], None) if key in a else (None, present["inputs"])
            result.differences.append(_difference(key, "", old, new, declared))
            continue
        for path, old, new in compare(a[key]["inputs"], b[key]["inputs"]):
            declared = explain_property(a[key], path, old, new, active)
            result.differences.append(_difference(key, path, old, new, declared))
    return result


def _difference(resource: str, path: str, left: Any, right: Any, declared: Declared | None) -> Difference:
    reason = declared.reason if declared else "nothing declared"
    return Difference(resource, path, left, right, declared is not None, reason)
