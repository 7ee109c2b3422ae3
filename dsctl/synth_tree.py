"""Render a synthesized stack as a tree a reviewer can read: components, their resources, and what matters about each.

``key_properties(type, id, inputs)`` picks the few inputs a reviewer checks for each resource type (names, sizes,
retention, schedule, rotation, ...); ``render_tree(result)`` nests resources under their parent components. Both work
on ``SynthResult`` (``dsctl/synth.py``), so ``dsctl synth`` and any other view (e.g. ``dsctl diff``) describe a
resource the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.tree import Tree

from components import tokens

if TYPE_CHECKING:
    from dsctl.synth import SynthResource, SynthResult

# Per resource type: (label, dotted input path) of the properties worth showing. Types not listed show a name-like
# input if they have one; the id is shown for every custom resource.
_KEY_INPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    tokens.AWS_PROVIDER: (("region", "region"), ("accounts", "allowedAccountIds")),
    tokens.BUCKET: (("bucket", "bucket"),),
    tokens.BUCKET_VERSIONING: (("status", "versioningConfiguration.status"),),
    tokens.BUCKET_SSE: (
        ("sse", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"),
        ("key", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId"),
    ),
    tokens.BUCKET_LIFECYCLE: (("rules", "rules.*.id"),),
    tokens.BUCKET_POLICY: (("statements", "policy.Statement.*.Sid"),),
    tokens.BUCKET_PUBLIC_ACCESS_BLOCK: (("restrictPublicBuckets", "restrictPublicBuckets"),),
    tokens.BUCKET_OWNERSHIP: (("ownership", "rule.objectOwnership"),),
    tokens.KMS_KEY: (("rotation", "enableKeyRotation"), ("deletionWindowDays", "deletionWindowInDays")),
    tokens.KMS_ALIAS: (("name", "name"),),
    tokens.ROLE: (("name", "name"), ("trusts", "assumeRolePolicy.Statement.*.Principal")),
    tokens.ROLE_POLICY: (("role", "role"), ("statements", "policy.Statement.*.Sid")),
    tokens.ROLE_POLICY_ATTACHMENT: (("role", "role"), ("policy", "policyArn")),
    tokens.ECR_REPOSITORY: (
        ("name", "name"),
        ("tags", "imageTagMutability"),
        ("scanOnPush", "imageScanningConfiguration.scanOnPush"),
    ),
    tokens.DOCKER_IMAGE: (("image", "imageName"), ("platform", "build.platform")),
    tokens.CLUSTER: (("name", "name"),),
    tokens.TASK_DEFINITION: (("family", "family"), ("cpu", "cpu"), ("memory", "memory")),
    tokens.LOG_GROUP: (("name", "name"), ("retentionDays", "retentionInDays")),
    tokens.SECURITY_GROUP: (("name", "name"),),
    tokens.STATE_MACHINE: (
        ("name", "name"),
        ("states", "definition.States"),
        ("timeoutSeconds", "definition.TimeoutSeconds"),
    ),
    tokens.EVENT_RULE: (("name", "name"), ("schedule", "scheduleExpression"), ("state", "state")),
    tokens.EVENT_TARGET: (("rule", "rule"),),
    tokens.PARAMETER: (("name", "name"), ("value", "value")),
    tokens.TOPIC: (("name", "name"),),
    tokens.TOPIC_SUBSCRIPTION: (("protocol", "protocol"), ("endpoint", "endpoint")),
    tokens.METRIC_ALARM: (
        ("name", "name"),
        ("metric", "metricName"),
        ("threshold", "threshold"),
    ),
}
_NAME_INPUTS = ("name", "bucket", "family")
_MAX_VALUE = 120


def short_type(token: str) -> str:
    """``aws:s3/bucket:Bucket`` -> ``s3:Bucket``; components keep their own token."""
    package, _, rest = token.partition(":")
    module, _, name = rest.partition(":")
    if package in {"aws", "docker"} and name:
        return f"{module.split('/')[0]}:{name}"
    return token


def key_properties(token: str, resource_id: str | None, inputs: Mapping[str, Any]) -> dict[str, str]:
    """The properties of one resource worth showing, rendered as short strings, in a fixed order."""
    properties: dict[str, str] = {}
    paths = _KEY_INPUTS.get(token) or tuple((key, key) for key in _NAME_INPUTS if key in inputs)[:1]
    for label, path in paths:
        value = _lookup(inputs, path.split("."))
        if value not in (None, "", [], {}):
            properties[label] = _render(value)
    if resource_id and (resource_id.startswith("arn:") or not _repeats(resource_id, inputs, properties)):
        properties["id"] = resource_id  # ARNs and generated ids; not ids that merely repeat a name
    return properties


def _repeats(resource_id: str, inputs: Mapping[str, Any], properties: Mapping[str, str]) -> bool:
    """True when the id only repeats inputs: a bucket child's id is its bucket, a role policy's is ``role:name``."""
    known = {str(value) for value in inputs.values() if isinstance(value, str)} | set(properties.values())
    return all(part in known for part in resource_id.split(":"))


def render_tree(result: SynthResult) -> Tree:
    """Resources nested under their parents (components), each with its key properties."""
    resources = list(result.resources)
    urns = {resource.urn for resource in resources}
    tree = Tree(f"[bold]{escape(result.project)}[/] stack [bold]{escape(result.stack)}[/] ({len(resources)} resources)")
    branches: dict[str | None, Tree] = {None: tree}
    pending = list(resources)
    while pending:  # parents are registered before children, but do not rely on it
        placed = []
        for resource in pending:
            parent = resource.parent if resource.parent in urns else None
            if parent not in branches:
                continue
            branches[resource.urn] = branches[parent].add(_label(resource))
            placed.append(resource)
        if not placed:  # a parent cycle cannot happen in Pulumi; show leftovers at the top rather than loop forever
            for resource in pending:
                branches[resource.urn] = tree.add(_label(resource))
            break
        pending = [resource for resource in pending if resource not in placed]
    return tree


def _label(resource: SynthResource) -> str:
    kind = short_type(resource.type)
    if not resource.custom:
        return f"[bold cyan]{escape(resource.name)}[/] [dim]{escape(kind)}[/]"
    properties = key_properties(resource.type, resource.id, resource.inputs)
    details = "  ".join(f"[dim]{escape(key)}=[/]{escape(value)}" for key, value in properties.items())
    head = f"[bold]{escape(resource.name)}[/] [dim]{escape(kind)}[/]"
    return f"{head}\n{details}" if details else head


def _lookup(value: Any, path: list[str]) -> Any:
    """Follow a dotted path; ``*`` maps over a list, a number indexes one."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head == "*":
        items = value if isinstance(value, list) else [value] if value is not None else []
        found = [_lookup(item, rest) for item in items]
        return [item for item in found if item not in (None, "")]
    if isinstance(value, list) and head.isdigit():
        return _lookup(value[int(head)], rest) if int(head) < len(value) else None
    if isinstance(value, Mapping):
        return _lookup(value.get(head), rest)
    return None


def _render(value: Any) -> str:
    """Short text for a property: dict keys for mappings (e.g. state names), comma-separated lists."""
    if isinstance(value, Mapping):
        text = ", ".join(str(key) for key in value) if not _is_principal(value) else _principals(value)
    elif isinstance(value, list):
        text = ", ".join(_render(item) for item in value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # the wire form carries every number as a float
    else:
        text = str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _is_principal(value: Mapping[str, Any]) -> bool:
    return bool(value) and set(value) <= {"AWS", "Service", "Federated", "CanonicalUser"}


def _principals(value: Mapping[str, Any]) -> str:
    items: list[str] = []
    for principals in value.values():
        items.extend(principals if isinstance(principals, list) else [principals])
    return ", ".join(str(item) for item in items)
