"""Security and parity rules as plain functions over synthesized resources.

One set of rules serves two callers: ``dsctl check`` (offline, over ``dsctl.synth``'s resources) and the CrossGuard
pack in ``policy/__main__.py`` (inside ``pulumi preview``/``up``). Both hand in resources in the synth format
(``{"type", "name", "urn", "parent", "inputs"}``, inputs in camelCase wire form) and a :class:`RuleContext` built from
the stack's own settings, and get back :class:`Violation` objects naming the rule, the resource, what is wrong and
what to change. Plain functions, because constructing a pulumi-policy ``PolicyPack`` starts a gRPC server.

A value the engine cannot know yet (``UNKNOWN``: an ARN of a resource not created yet, during a first preview) is
never reported as a violation; ``dsctl check`` sees every value, so it judges everything.

``WILDCARD_RESOURCE_EXCEPTIONS`` (the components' ``STAR_ONLY_ACTIONS``) is the one list of actions allowed on
``"Resource": "*"``, each with the AWS reason.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components import naming
from components.policy_docs import STAR_ONLY_ACTIONS, s3_bucket_arn
from components.tokens import (
    ACCESS_ANALYZER,
    BUCKET,
    BUCKET_LIFECYCLE,
    BUCKET_POLICY,
    BUCKET_REPLICATION,
    BUCKET_SSE,
    BUCKET_VERSIONING,
    ECR_REPOSITORY,
    ECR_REPOSITORY_POLICY,
    EVENT_RULE,
    EVENT_TARGET,
    GROUP_POLICY,
    KMS_KEY,
    KMS_KEY_POLICY,
    LOG_GROUP,
    LOG_METRIC_FILTER,
    MANAGED_POLICY,
    METRIC_ALARM,
    PARAMETER,
    POLICY_ATTACHMENT,
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    STATE_MACHINE,
    TASK_DEFINITION,
    TOPIC,
    TOPIC_POLICY,
    TRAIL,
    USER_POLICY,
)
from components.tokens import BUCKET_PUBLIC_ACCESS_BLOCK as BUCKET_PAB
from policy.iam_lint import iam_documents, statements
from policy.provider_actions import INVOKES, TYPES

if TYPE_CHECKING:
    from components.settings import StackSettings

Resource = Mapping[str, Any]
"""One synthesized resource: ``{"type", "name", "urn", "parent", "inputs"}`` (``dsctl.synth`` format)."""

UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "<unknown during preview>"})()
"""Stands for a value the engine cannot know yet; rules skip checks that depend on it."""

# ----------------------------------------------------------------------------------------------- type tokens

# Inputs that hold JSON documents; the synth engine parses them, the policy engine hands them over as strings.
JSON_INPUTS: Mapping[str, tuple[str, ...]] = {
    "*": ("policy", "assumeRolePolicy"),
    STATE_MACHINE: ("definition",),
    TASK_DEFINITION: ("containerDefinitions",),
}

# ----------------------------------------------------------------------------------------------- documented exceptions
WILDCARD_RESOURCE_EXCEPTIONS: Mapping[str, str] = STAR_ONLY_ACTIONS
"""Actions an identity policy may allow on ``"Resource": "*"``, each with the AWS reason (no resource types).

The one list lives in ``components.policy_docs`` (the document builders refuse anything else, and importing this
module from the Pulumi program would pull in parliament); the rule checks the synthesized documents against it.
In resource policies (bucket, key, topic) ``"*"`` means "this resource", so they are not subject to this list.
"""

ALLOWED_MANAGED_POLICIES: Mapping[str, str] = {
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy": (
        "ECS's own execution-role policy: pull images from ECR and write container logs, nothing else"
    ),
}
"""AWS-managed policies a role may attach; any other AWS-managed policy is too broad (AdministratorAccess,
PowerUserAccess, *FullAccess, ReadOnlyAccess read every bucket of the account)."""

READ_ACTIONS = frozenset(
    {
        "s3:getobject",
        "s3:getobjectversion",
        "s3:getobjectattributes",
        "s3:getobjecttagging",
        "s3:listbucket",
        "s3:listbucketversions",
        "s3:getbucketlocation",
        "kms:decrypt",
        "kms:describekey",
    }
)
"""The only actions another account may be granted on this stack's resources."""

_AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/"
_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")
_ROOT_USERS = ("root", "0")
_EVERYTHING = re.compile(r"^(\*|arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:\*|arn:aws[a-z-]*:s3:::\*)$")
"""A resource that names everything: "*", every resource of a service in an account (``arn:aws:ssm:r:a:*``),
or every bucket/object (``arn:aws:s3:::*``)."""


# ----------------------------------------------------------------------------------------------- data model
@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where, what is wrong and what to change."""

    rule: str
    resource: str  # the resource's logical name ("stack" for whole-stack findings)
    message: str
    fix: str
    urn: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """JSON form for ``--json`` output."""
        return {"rule": self.rule, "resource": self.resource, "message": self.message, "fix": self.fix, "urn": self.urn}


@dataclass(frozen=True)
class RuleContext:
    """What the rules need to know about the stack beyond its resources (from its settings)."""

    environment: str
    account_id: str
    region: str = "us-east-1"
    reader_accounts: tuple[str, ...] = ()
    require_failed_execution_alarm: bool = False
    operator_principal_arns: tuple[str, ...] = ()
    organization_trail: bool = False
    production: bool = False
    artifact_replica_region: str | None = None
    """Owning stack: where the store's replica must be (config ``artifactReplicaRegion``)."""
    """A production stack (config ``production``): its data is kept (no lifecycle expiry beyond scratch prefixes)."""
    """The organization's trail records the account (config ``organizationTrail``): no account trail required."""

    @property
    def artifact_bucket(self) -> str:
        """The name the artifact store has when this stack owns it (the bucket that holds models)."""
        return naming.artifact_bucket(self.environment, self.account_id, self.region)

    @property
    def model_buckets(self) -> tuple[str, ...]:
        """The store and, when configured, its replica: both hold models and carry the same protections."""
        replica = self.artifact_replica_region
        return (self.artifact_bucket,) + (
            (naming.artifact_replica_bucket(self.environment, self.account_id, replica),) if replica else ()
        )


def context_from_settings(settings: StackSettings) -> RuleContext:
    """Build the rule context from ``components.settings.StackSettings``; a production stack must alarm on
    failed runs (declared by ``production``, never inferred from the stack's name)."""
    return RuleContext(
        environment=settings.environment,
        account_id=settings.account_id,
        region=settings.region,
        reader_accounts=tuple(settings.artifact_reader_accounts),
        require_failed_execution_alarm=settings.production,
        operator_principal_arns=tuple(settings.operator_principal_arns),
        organization_trail=settings.organization_trail,
        production=settings.production,
        artifact_replica_region=settings.artifact_replica_region,
    )


ResourceCheck = Callable[[Resource, RuleContext], Iterable[tuple[str, str]]]
StackCheck = Callable[[Sequence[Resource], RuleContext], Iterable[tuple[Resource | None, str, str]]]


@dataclass(frozen=True)
class Rule:
    """A named rule. Resource rules judge one resource of ``types`` alone; stack rules need the whole stack."""

    name: str
    description: str
    types: tuple[str, ...] = ()
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None

    def check_resource(self, resource: Resource, ctx: RuleContext) -> list[Violation]:
        """Violations of this resource rule by ``resource`` (none if the rule is not about its type)."""
        if self.resource_check is None or (self.types and resource.get("type") not in self.types):
            return []
        resource = normalize(resource)
        return [
            Violation(self.name, str(resource.get("name")), message, fix, resource.get("urn"))
            for message, fix in self.resource_check(resource, ctx)
        ]

    def check_stack(self, resources: Sequence[Resource], ctx: RuleContext) -> list[Violation]:
        """Violations of this rule anywhere in the stack."""
        resources = [normalize(resource) for resource in resources]
        if self.stack_check is None:
            return [v for resource in resources for v in self.check_resource(resource, ctx)]
        return [
            Violation(
                self.name,
                str(culprit.get("name")) if culprit else "stack",
                message,
                fix,
                culprit.get("urn") if culprit else None,
            )
            for culprit, message, fix in self.stack_check(resources, ctx)
        ]


def normalize(resource: Resource) -> Resource:
    """Parse JSON-string documents (policy engine form) into dicts, as the synth engine already does."""
    inputs = resource.get("inputs") or {}
    keys = JSON_INPUTS["*"] + JSON_INPUTS.get(str(resource.get("type")), ())
    parsed = {key: _parse_json(inputs[key]) for key in keys if isinstance(inputs.get(key), str)}
    inline = inputs.get("inlinePolicies")
    if isinstance(inline, list) and any(_has_text_policy(item) for item in inline):
        parsed["inlinePolicies"] = [
            {**item, "policy": _parse_json(item["policy"])} if _has_text_policy(item) else item for item in inline
        ]
    if not parsed:
        return resource
    return {**resource, "inputs": {**inputs, **parsed}}


def _has_text_policy(item: Any) -> bool:
    return isinstance(item, Mapping) and isinstance(item.get("policy"), str)


def _parse_json(text: str) -> Any:
    """The JSON value of ``text``; the text itself when it is not JSON (rules then see a non-document)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


# ----------------------------------------------------------------------------------------------- helpers
def _inputs(resource: Resource) -> Mapping[str, Any]:
    return resource.get("inputs") or {}


def _known(value: Any) -> bool:
    return value is not UNKNOWN


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _of_type(resources: Sequence[Resource], token: str) -> list[Resource]:
    return [resource for resource in resources if resource.get("type") == token]


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(_contains_unknown(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_contains_unknown(item) for item in value)
    return False


def _bucket_name(bucket: Resource) -> Any:
    inputs = _inputs(bucket)
    return inputs.get("bucket", bucket.get("id", UNKNOWN))


def _attached(bucket: Resource, candidates: Sequence[Resource], buckets: Sequence[Resource]) -> list[Resource] | None:
    """The candidates that configure ``bucket``; None when unknown references make it impossible to tell.

    A candidate names its bucket in ``bucket``. When that is unknown (a first preview), a candidate whose parent
    component holds exactly one bucket belongs to that bucket (SecureBucket creates them together).
    """
    name = _bucket_name(bucket)
    attached: list[Resource] = []
    ambiguous = False
    for candidate in candidates:
        reference = _inputs(candidate).get("bucket", UNKNOWN)
        if _known(reference):
            if _known(name) and reference in (name, bucket.get("id")):
                attached.append(candidate)
            continue
        owners = [b for b in buckets if candidate.get("parent") and b.get("parent") == candidate.get("parent")]
        if len(owners) != 1:
            ambiguous = True
        elif owners[0] is bucket:
            attached.append(candidate)
    return None if ambiguous and not attached else attached


def _statement_label(index: int, statement: Mapping[str, Any]) -> str:
    sid = statement.get("Sid")
    return f"statement {index}" + (f" ({sid})" if sid else "")


def _allow_statements(document: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for index, statement in enumerate(statements(document)):
        if statement.get("Effect") == "Allow":
            yield index, statement


def _documents(resource: Resource) -> list[Any]:
    """iam_lint's documents of one resource, skipping documents the engine cannot know yet."""
    inputs = _inputs(resource)
    if any(_contains_unknown(inputs.get(key)) for key in ("policy", "assumeRolePolicy", "inlinePolicies")):
        return []
    return iam_documents({"resources": [resource]})


def _principal_arns(principal: Any) -> list[str]:
    """Every principal of a statement as strings ("*" for everyone)."""
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [str(p) for key, value in principal.items() if key == "AWS" for p in _as_list(value)]
    return []


def _account_of(principal: str) -> str | None:
    if re.fullmatch(r"\d{12}", principal):
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    return match.group(1) if match else None


def _condition_values(statement: Mapping[str, Any], key: str) -> list[str] | None:
    """Values of condition ``key`` under any operator (case-insensitive key), None when absent."""
    found: list[str] | None = None
    for block in (statement.get("Condition") or {}).values():
        if not isinstance(block, Mapping):
            continue
        for name, value in block.items():
            if name.lower() == key.lower():
                found = (found or []) + [str(v) for v in _as_list(value)]
    return found


# ----------------------------------------------------------------------------------------------- S3 rules
def _check_bucket_encrypted(resources: Sequence[Resource], ctx: RuleContext) -> Iterator[tuple[Resource, str, str]]:
    configs = _of_type(resources, BUCKET_SSE)
    buckets = _of_type(resources, BUCKET)
    for bucket in buckets:
        attached = _attached(bucket, configs, buckets)
        if attached is None:
            continue
        algorithms = [
            rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm")
            for config in attached
            for rule in _as_list(_inputs(config).get("rules"))
            if isinstance(rule, Mapping)
        ]
        if not any(algorithm in ("aws:kms", "aws:kms:dsse", "AES256") for algorithm in algorithms):
            yield (
                bucket,
                "bucket has no default server-side encryption",
                "add a BucketServerSideEncryptionConfiguration (sseAlgorithm aws:kms or AES256); use SecureBucket",
            )


def _check_public_access_blocked(
    resources: Sequence[Resource], ctx: RuleContext
) -> Iterator[tuple[Resource, str, str]]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    blocks = _of_type(resources, BUCKET_PAB)
    buckets = _of_type(resources, BUCKET)
    for bucket in buckets:
        attached = _attached(bucket, blocks, buckets)
        if attached is None:
            continue
        if not any(all(_inputs(block).get(flag) is True for flag in flags) for block in attached):
            yield (
                bucket,
                "public access is not fully blocked",
                f"add a BucketPublicAccessBlock with {', '.join(flags)} all true; use SecureBucket",
            )


def _is_tls_deny(statement: Mapping[str, Any]) -> bool:
    actions = {str(action).lower() for action in _as_list(statement.get("Action"))}
    secure = _condition_values(statement, "aws:SecureTransport")
    return (
        statement.get("Effect") == "Deny"
        and "*" in _principal_arns(statement.get("Principal"))
        and bool(actions & {"s3:*", "*"})
        and secure is not None
        and "false" in [value.lower() for value in secure]
    )


def _check_tls_only(resources: Sequence[Resource], ctx: RuleContext) -> Iterator[tuple[Resource, str, str]]:
    policies = _of_type(resources, BUCKET_POLICY)
    buckets = _of_type(resources, BUCKET)
    for bucket in buckets:
        attached = _attached(bucket, policies, buckets)
        if attached is None or any(_contains_unknown(_inputs(p).get("policy")) for p in attached):
            continue
        documents = [_inputs(policy).get("policy") or {} for policy in attached]
        if not any(_is_tls_deny(s) for document in documents for s in statements(document)):
            yield (
                bucket,
                "bucket policy does not deny requests without TLS",
                'add a Deny for Principal "*", Action s3:*, on the bucket and bucket/*, '
                'Condition {"Bool": {"aws:SecureTransport": "false"}}; use SecureBucket',
            )


def _check_model_bucket_versioned(
    resources: Sequence[Resource], ctx: RuleContext
) -> Iterator[tuple[Resource, str, str]]:
    versionings = _of_type(resources, BUCKET_VERSIONING)
    buckets = _of_type(resources, BUCKET)
    for bucket in buckets:
        if _bucket_name(bucket) not in ctx.model_buckets:
            continue
        attached = _attached(bucket, versionings, buckets)
        if attached is None:
            continue
        statuses = [(_inputs(v).get("versioningConfiguration") or {}).get("status") for v in attached]
        if "Enabled" not in statuses:
            yield (
                bucket,
                "the model artifact bucket is not versioned (an overwritten model could not be recovered)",
                'add a BucketVersioning with versioningConfiguration.status "Enabled"; use SecureBucket',
            )


_ADMIN_EXEMPTIONS = frozenset({"arnnotlike", "arnnotequals"})
"""The only condition operators an immutability deny may carry besides its own keys: exempting named admins."""


def _denies_everyone(statement: Mapping[str, Any], action: str, resource: str, own_keys: Mapping[str, str]) -> bool:
    """A Deny for ``Principal "*"`` covering ``action`` on ``resource`` whose conditions are exactly ``own_keys``
    (operator -> key, e.g. ``Null`` -> ``s3:if-none-match``) plus, at most, an exemption of named principals."""
    if statement.get("Effect") != "Deny" or "*" not in _principal_arns(statement.get("Principal")):
        return False
    actions = {str(a).lower() for a in _as_list(statement.get("Action"))}
    if not actions & {action.lower(), f"{action.split(':')[0].lower()}:*", "*"}:
        return False
    if not any(fnmatch.fnmatchcase(resource, str(pattern)) for pattern in _as_list(statement.get("Resource"))):
        return False
    conditions = {str(op).lower(): block for op, block in (statement.get("Condition") or {}).items()}
    for operator, key in own_keys.items():
        block = conditions.pop(operator.lower(), None)
        if not isinstance(block, Mapping) or key.lower() not in {str(k).lower() for k in block}:
            return False
    return set(conditions) <= _ADMIN_EXEMPTIONS


_IMMUTABILITY_DENIES: tuple[tuple[str, str, bool, Mapping[str, str]], ...] = (
    # (what, action, on objects under models/ (else the bucket), the deny's own condition operator -> key)
    (
        "writes without If-None-Match",
        "s3:PutObject",
        True,
        {"Null": "s3:if-none-match", "Bool": "s3:ObjectCreationOperation"},
    ),
    ("writes with If-Match", "s3:PutObject", True, {"Null": "s3:if-match"}),
    ("deletes of model objects", "s3:DeleteObject", True, {}),
    ("deletes of model versions", "s3:DeleteObjectVersion", True, {}),
    ("bucket policy changes", "s3:PutBucketPolicy", False, {}),
    ("bucket policy deletion", "s3:DeleteBucketPolicy", False, {}),
    ("versioning changes", "s3:PutBucketVersioning", False, {}),
    ("lifecycle changes", "s3:PutLifecycleConfiguration", False, {}),
    ("replication changes", "s3:PutReplicationConfiguration", False, {}),
)


def _check_store_immutable(resources: Sequence[Resource], ctx: RuleContext) -> Iterator[tuple[Resource, str, str]]:
    policies = _of_type(resources, BUCKET_POLICY)
    buckets = _of_type(resources, BUCKET)
    for bucket in buckets:
        name = _bucket_name(bucket)
        if name not in ctx.model_buckets:
            continue
        attached = _attached(bucket, policies, buckets)
        if attached is None or any(_contains_unknown(_inputs(p).get("policy")) for p in attached):
            continue
        found = [s for policy in attached for s in statements(_inputs(policy).get("policy") or {})]
        store = s3_bucket_arn(name)
        model = f"{store}/{naming.MODELS_PREFIX}1.0.0/model.pkl"
        missing = [
            what
            for what, action, on_objects, keys in _IMMUTABILITY_DENIES
            if not any(_denies_everyone(s, action, model if on_objects else store, keys) for s in found)
        ]
        if missing:
            yield (
                bucket,
                f"the model store's bucket policy does not deny {', '.join(missing)} (published models could be "
                "replaced or deleted, or the protection switched off, by anyone with IAM rights on the bucket)",
                'add Deny statements for Principal "*" (exempting only adminPrincipalArns by ArnNotLike '
                "aws:PrincipalArn); components/policy_docs.store_immutability_statements builds them",
            )


# ----------------------------------------------------------------------------------------------- IAM rules
def _is_key_admin_statement(document: Any, statement: Mapping[str, Any], ctx: RuleContext) -> bool:
    """The AWS default key-policy statement: the key's own account root may administer the key."""
    return (
        document.kind == "key"
        and _principal_arns(statement.get("Principal")) == [f"arn:aws:iam::{ctx.account_id}:root"]
        and [str(a).lower() for a in _as_list(statement.get("Action"))] == ["kms:*"]
        and _as_list(statement.get("Resource")) == ["*"]
    )


WILDCARD_ACTION_EXCEPTIONS: Mapping[str, str] = {
    "kms key policy: own account root, kms:*": (
        "the AWS default key policy; without it no IAM policy in the account can grant use of the key and the key "
        "becomes unmanageable (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)"
    ),
}
"""Statements allowed to use wildcard actions (matched by ``_is_key_admin_statement``)."""


def _check_no_wildcard_actions(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for document in _documents(resource):
        for index, statement in _allow_statements(document.doc):
            if "NotAction" in statement:
                yield (
                    f"{document.kind} policy {_statement_label(index, statement)} allows NotAction (everything else)",
                    "list the actions the role needs in Action instead of NotAction",
                )
                continue
            broad = [a for a in _as_list(statement.get("Action")) if "*" in str(a)]
            if broad and not _is_key_admin_statement(document, statement, ctx):
                yield (
                    f"{document.kind} policy {_statement_label(index, statement)} allows wildcard actions "
                    f"{', '.join(map(str, broad))}",
                    "list the exact actions needed (e.g. s3:GetObject), not service:* or *",
                )


def _check_no_wildcard_resources(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for document in _documents(resource):
        if document.kind != "identity":
            continue
        for index, statement in _allow_statements(document.doc):
            resources = [str(r) for r in _as_list(statement.get("Resource"))]
            if "NotResource" in statement:
                yield (
                    f"identity policy {_statement_label(index, statement)} uses NotResource (everything else)",
                    "name the resources in Resource instead",
                )
                continue
            if not any(_EVERYTHING.match(r) for r in resources):
                continue
            actions = [str(a) for a in _as_list(statement.get("Action"))]
            outside = [a for a in actions if a not in WILDCARD_RESOURCE_EXCEPTIONS]
            if outside:
                yield (
                    f"identity policy {_statement_label(index, statement)} allows {', '.join(outside)} on "
                    f"{', '.join(r for r in resources if _EVERYTHING.match(r))}",
                    "name the resource ARNs; only the actions in components/policy_docs.py STAR_ONLY_ACTIONS "
                    'may use "*"',
                )


def _managed_policy_arns(resource: Resource) -> list[Any]:
    inputs = _inputs(resource)
    if resource.get("type") == ROLE:
        return _as_list(inputs.get("managedPolicyArns"))
    return _as_list(inputs.get("policyArn"))


def _check_no_broad_managed_policies(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for arn in _managed_policy_arns(resource):
        if isinstance(arn, str) and arn.startswith(_AWS_MANAGED_POLICY) and arn not in ALLOWED_MANAGED_POLICIES:
            yield (
                f"attaches the AWS-managed policy {arn.removeprefix(_AWS_MANAGED_POLICY)}, broader than the role needs",
                "replace it with an inline policy naming the actions and resources the role uses",
            )


def _reader_pattern_problem(pattern: str, ctx: RuleContext) -> str | None:
    """Why a cross-account ``aws:PrincipalArn`` pattern is too broad (None when it names this project's roles)."""
    account = _account_of(pattern)
    if account is None or account not in ctx.reader_accounts:
        return f"{pattern} is not a role of a configured reader account ({', '.join(ctx.reader_accounts) or 'none'})"
    name = pattern.split(":", 5)[-1].removeprefix("role/")
    literal = re.split(r"[*?]", name, maxsplit=1)[0]
    if not literal.startswith(f"{naming.PROJECT}-"):
        return f"{pattern} matches roles outside {naming.PROJECT} (it must start with role/{naming.PROJECT}-)"
    return None


def _check_cross_account(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for document in _documents(resource):
        if document.kind == "identity":
            continue
        for index, statement in _allow_statements(document.doc):
            label = f"{document.kind} policy {_statement_label(index, statement)}"
            principals = _principal_arns(statement.get("Principal"))
            if "*" in principals:
                yield (
                    f"{label} allows everyone (Principal *)",
                    "name the principals: account roots of configured readers with an aws:PrincipalArn condition",
                )
                continue
            foreign = [p for p in principals if _account_of(p) not in (None, ctx.account_id)]
            if not foreign:
                continue
            if document.kind == "trust":
                # Only the operator role trusts another account's principals (the configured operators); CI assumes
                # its roles by OIDC in this very account, so no other role trusts anyone outside it.
                operator = _inputs(resource).get("name") == naming.operator_role()
                allowed = set(ctx.operator_principal_arns) if operator else set()
                unexpected = [p for p in foreign if p not in allowed]
                if unexpected:
                    fix = (
                        "trust only the configured operatorPrincipalArns across accounts"
                        if operator
                        else "trust no other account (CI assumes its roles by GitHub OIDC in this account)"
                    )
                    yield (f"{label} lets {', '.join(unexpected)} assume the role from another account", fix)
                continue
            yield from _cross_account_read_problems(label, statement, foreign, ctx)


def _cross_account_read_problems(
    label: str, statement: Mapping[str, Any], foreign: list[str], ctx: RuleContext
) -> Iterator[tuple[str, str]]:
    strangers = sorted({str(_account_of(p)) for p in foreign} - set(ctx.reader_accounts))
    if strangers:
        yield (
            f"{label} grants account(s) {', '.join(strangers)}, not configured readers",
            "grant only the accounts in artifactReaderAccounts",
        )
    actions = [str(a) for a in _as_list(statement.get("Action"))]
    writes = [a for a in actions if a.lower() not in READ_ACTIONS]
    if writes:
        yield (
            f"{label} grants another account {', '.join(writes)} (not read-only)",
            f"grant other accounts only {', '.join(sorted(READ_ACTIONS))}",
        )
    object_resources = [str(r) for r in _as_list(statement.get("Resource")) if "/" in str(r)]
    outside = [r for r in object_resources if not r.split("/", 1)[1].startswith(naming.MODELS_PREFIX)]
    if outside:
        yield (
            f"{label} lets another account read {', '.join(outside)}, outside {naming.MODELS_PREFIX}",
            f"limit object resources to <bucket-arn>/{naming.MODELS_PREFIX}*",
        )
    patterns = _condition_values(statement, "aws:PrincipalArn")
    if patterns is None:
        yield (
            f"{label} grants whole accounts (no aws:PrincipalArn condition), so any role there can read",
            "add ArnLike aws:PrincipalArn with the reader role patterns (artifactReaderRolePatterns)",
        )
        return
    for pattern in patterns:
        problem = _reader_pattern_problem(pattern, ctx)
        if problem:
            yield (
                f"{label}: {problem}",
                f"set artifactReaderRolePatterns to this project's role names (e.g. {naming.PROJECT}-task-*)",
            )


# ----------------------------------------------------------------------------------------------- operations rules
def _check_log_retention(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    days = _inputs(resource).get("retentionInDays")
    # The policy engine passes numbers as floats (protobuf Struct), the synth engine as ints.
    if _known(days) and not (isinstance(days, int | float) and not isinstance(days, bool) and days > 0):
        yield ("log group keeps logs forever (no retentionInDays)", "set retention_in_days from logRetentionDays")


def _check_ecr(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    inputs = _inputs(resource)
    if (inputs.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        yield ("images are not scanned on push", "set image_scanning_configuration scan_on_push=True")
    if inputs.get("imageTagMutability") != "IMMUTABLE":
        yield (
            f"image tags are mutable ({inputs.get('imageTagMutability') or 'MUTABLE by default'})",
            'set image_tag_mutability="IMMUTABLE" so a deployed tag always means the same image',
        )


def _is_root_user(user: Any) -> bool:
    if not isinstance(user, str) or not user.strip():
        return True
    return user.split(":", 1)[0].strip() in _ROOT_USERS


def _check_task_hardening(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    containers = _inputs(resource).get("containerDefinitions")
    if not isinstance(containers, list):
        return
    for container in containers:
        if not isinstance(container, Mapping) or _contains_unknown(container.get("user")):
            continue
        name = container.get("name", "?")
        if _is_root_user(container.get("user")):
            yield (
                f"container {name} runs as root (user {container.get('user') or 'not set'})",
                'set "user" to a non-root uid:gid (e.g. "1000:1000") that the image\'s Dockerfile creates',
            )
        if container.get("readonlyRootFilesystem") is not True:
            yield (
                f"container {name} has a writable root filesystem",
                'set "readonlyRootFilesystem": true and mount a volume for scratch space',
            )
        if container.get("privileged") is True:
            yield (f"container {name} is privileged", 'remove "privileged": true')


def _walk_states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every state of a definition, those of Map item processors (and their Maps) included."""
    for name, state in (definition.get("States") or {}).items():
        if not isinstance(state, Mapping):
            continue
        yield name, state
        for inner in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(inner), Mapping):
                yield from _walk_states(state[inner])


def _check_state_machine_bounded(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    definition = _inputs(resource).get("definition")
    if not isinstance(definition, Mapping):
        return
    for name, state in _walk_states(definition):
        waits = state.get("Type") == "Task" and str(state.get("Resource", "")).endswith(".sync")
        if waits and "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
            yield (
                f"task state {name} waits for its job with no TimeoutSeconds (a hung task runs until the execution's "
                "own limit, unnotified)",
                "set TimeoutSeconds from taskTimeoutMinutes",
            )
        processor = state.get("ItemProcessor") or {}
        config = processor.get("ProcessorConfig") or {} if isinstance(processor, Mapping) else {}
        if state.get("Type") != "Map" or config.get("Mode") != "DISTRIBUTED":
            continue
        bound = state.get("MaxConcurrency")
        if _known(bound) and not (isinstance(bound, int | float) and not isinstance(bound, bool) and bound > 0):
            yield (
                f"Distributed Map {name} has no MaxConcurrency: it may start up to 10,000 tasks at once",
                "set MaxConcurrency from maxParallelTasks",
            )
        if state.get("ToleratedFailureCount", 0) != 0 or state.get("ToleratedFailurePercentage", 0) != 0:
            yield (
                f"Distributed Map {name} tolerates failed items: a run could be published with batches missing",
                "set ToleratedFailureCount 0 (and no ToleratedFailurePercentage)",
            )
        inner = [s for _, s in _walk_states(processor) if str(s.get("Resource", "")).endswith(".sync")]
        if inner and config.get("ExecutionType") != "STANDARD":
            yield (
                f"Distributed Map {name} runs .sync tasks in {config.get('ExecutionType')} child workflows, "
                "which support no .sync integration",
                'set ProcessorConfig ExecutionType "STANDARD"',
            )
        if not state.get("Catch"):
            yield (
                f"Distributed Map {name} has no Catch: a batch failing for good ends the run unnotified, its "
                "staged batches left behind",
                "add a Catch that abandons the run (commit --abandon) and notifies",
            )


def _check_kms_rotation(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    if _inputs(resource).get("enableKeyRotation") is not True:
        yield ("customer-managed key does not rotate", "set enable_key_rotation=True")


def _alarm_metrics(inputs: Mapping[str, Any]) -> set[tuple[Any, Any]]:
    """(namespace, metric name) of every metric an alarm watches, directly or in metric math queries."""
    metrics = {(inputs.get("namespace"), inputs.get("metricName"))}
    for query in _as_list(inputs.get("metricQueries")):
        metric = query.get("metric") if isinstance(query, Mapping) else None
        if isinstance(metric, Mapping):
            metrics.add((metric.get("namespace"), metric.get("metricName")))
    return metrics


def _check_failed_execution_alarm(
    resources: Sequence[Resource], ctx: RuleContext
) -> Iterator[tuple[Resource | None, str, str]]:
    if not ctx.require_failed_execution_alarm:
        return
    for alarm in _of_type(resources, METRIC_ALARM):
        inputs = _inputs(alarm)
        if ("AWS/States", "ExecutionsFailed") in _alarm_metrics(inputs) and _as_list(inputs.get("alarmActions")):
            return
    yield (
        None,
        f"the {ctx.environment} stack has no alarm on failed state machine executions",
        "add a MetricAlarm on AWS/States ExecutionsFailed (dimension StateMachineArn) with an SNS alarm action",
    )


# ----------------------------------------------------------------------------------------------- audit
def _field_values(selector: Mapping[str, Any], field: str, operator: str) -> list[str] | None:
    """Values of one advanced event selector field under ``operator`` (``equals``, ``startsWiths``), None if absent."""
    for item in _as_list(selector.get("fieldSelectors")):
        if isinstance(item, Mapping) and item.get("field") == field:
            return [str(v) for v in _as_list(item.get(operator))]
    return None


def _logs_management_events(trail: Mapping[str, Any]) -> bool:
    """A trail logs management events: no selectors at all (the default), or an advanced selector for them."""
    selectors = _as_list(trail.get("advancedEventSelectors"))
    if not selectors and not trail.get("eventSelectors"):
        return True
    return any("Management" in (_field_values(s, "eventCategory", "equals") or []) for s in selectors)


def _logs_store_objects(trail: Mapping[str, Any], bucket: str) -> bool:
    """A trail records reads and writes of every object under the store's ``models/`` (advanced selectors)."""
    models = f"{s3_bucket_arn(bucket)}/{naming.MODELS_PREFIX}"
    for selector in _as_list(trail.get("advancedEventSelectors")):
        if "Data" not in (_field_values(selector, "eventCategory", "equals") or []):
            continue
        if "AWS::S3::Object" not in (_field_values(selector, "resources.type", "equals") or []):
            continue
        if _field_values(selector, "readOnly", "equals") is not None:
            continue  # only reads or only writes
        arns = _field_values(selector, "resources.ARN", "startsWiths")
        if arns is None or any(models.startswith(prefix) for prefix in arns):
            return True
    return False


def _trail_problems(trail: Resource, resources: Sequence[Resource]) -> list[str]:
    inputs = _inputs(trail)
    problems = [
        what
        for what, ok in (
            ("not multi-region", inputs.get("isMultiRegionTrail") is True),
            ("no log file validation", inputs.get("enableLogFileValidation") is True),
            ("logging disabled", inputs.get("enableLogging", True) is not False),
            ("no global service events (IAM, STS)", inputs.get("includeGlobalServiceEvents", True) is not False),
            ("no management events", _logs_management_events(inputs)),
        )
        if not ok
    ]
    bucket_name = inputs.get("s3BucketName", UNKNOWN)
    all_buckets = _of_type(resources, BUCKET)
    buckets = [b for b in all_buckets if _bucket_name(b) == bucket_name]
    if not _known(bucket_name):
        return problems
    if not buckets:
        return [*problems, "its log bucket is not a bucket of this stack"]
    lifecycles = _attached(buckets[0], _of_type(resources, BUCKET_LIFECYCLE), all_buckets)
    policies = _attached(buckets[0], _of_type(resources, BUCKET_POLICY), all_buckets)
    if lifecycles is None or policies is None or _contains_unknown([_inputs(p) for p in policies]):
        return problems
    if not any(rule.get("expiration") for lc in lifecycles for rule in _as_list(_inputs(lc).get("rules"))):
        problems.append("its log bucket has no lifecycle expiration")
    trail_writes = [
        s
        for policy in policies
        for s in statements(_inputs(policy).get("policy") or {})
        if s.get("Effect") == "Allow"
        and "cloudtrail.amazonaws.com" in _as_list((s.get("Principal") or {}).get("Service"))
        and "s3:putobject" in {str(a).lower() for a in _as_list(s.get("Action"))}
    ]
    if not trail_writes or not all(_condition_values(s, "aws:SourceArn") for s in trail_writes):
        problems.append("its log bucket lets CloudTrail write without an aws:SourceArn condition naming the trail")
    return problems


def _check_audit_trail(resources: Sequence[Resource], ctx: RuleContext) -> Iterator[tuple[Resource | None, str, str]]:
    if ctx.organization_trail:
        return
    trails = _of_type(resources, TRAIL)
    if any(_contains_unknown(_inputs(t)) for t in trails):
        return
    found = {str(t.get("name")): _trail_problems(t, resources) for t in trails}
    if any(not problems for problems in found.values()):
        return
    detail = "; ".join(f"{name}: {', '.join(problems)}" for name, problems in found.items()) or "no trail"
    yield (
        None,
        f"the {ctx.environment} account has no complete CloudTrail trail ({detail})",
        "add components.audit.Audit (a multi-region trail with log file validation into a SecureBucket with the "
        "CloudTrail policy and a lifecycle), or set organizationTrail: true if the organization's trail records it",
    )


def _store_bucket(resources: Sequence[Resource], ctx: RuleContext) -> Resource | None:
    """The artifact store's bucket when this stack owns it."""
    return next((b for b in _of_type(resources, BUCKET) if _bucket_name(b) == ctx.artifact_bucket), None)


def _check_store_data_events(
    resources: Sequence[Resource], ctx: RuleContext
) -> Iterator[tuple[Resource | None, str, str]]:
    store = _store_bucket(resources, ctx)
    trails = _of_type(resources, TRAIL)
    if store is None or any(_contains_unknown(_inputs(t)) for t in trails):
        return
    if any(
        _inputs(t).get("enableLogging", True) is not False and _logs_store_objects(_inputs(t), ctx.artifact_bucket)
        for t in trails
    ):
        return
    yield (
        store,
        "no trail records the model store's S3 data events (reads and writes under models/): who read or wrote a "
        "model could not be told",
        "add an advanced event selector {eventCategory: Data, resources.type: AWS::S3::Object, resources.ARN "
        'startsWith "arn:aws:s3:::<store>/models/"} to a logging trail (components.audit does)',
    )


def _check_access_analyzer(resources: Sequence[Resource], ctx: RuleContext) -> Iterator[tuple[None, str, str]]:
    types = [_inputs(a).get("type", "ACCOUNT") for a in _of_type(resources, ACCESS_ANALYZER)]
    if not any(t in ("ACCOUNT", "ORGANIZATION", UNKNOWN) for t in types):
        yield (
            None,
            f"the {ctx.environment} stack has no IAM Access Analyzer (nobody is told of access shared outside the "
            "account)",
            'add an aws.accessanalyzer.Analyzer with type "ACCOUNT" (components.audit does)',
        )


def _pattern(rule: Resource) -> Mapping[str, Any]:
    pattern = _inputs(rule).get("eventPattern")
    parsed = _parse_json(pattern) if isinstance(pattern, str) else pattern
    return parsed if isinstance(parsed, Mapping) else {}


def _rules_to_topics(resources: Sequence[Resource]) -> list[Mapping[str, Any]]:
    """Event patterns of the rules that have an SNS topic as a target."""
    to_topic = {
        _inputs(t).get("rule") for t in _of_type(resources, EVENT_TARGET) if ":sns:" in str(_inputs(t).get("arn"))
    }
    return [_pattern(r) for r in _of_type(resources, EVENT_RULE) if _inputs(r).get("name", r.get("id")) in to_topic]


def _alerts_on(patterns: Sequence[Mapping[str, Any]], event: str, match: Callable[[Mapping[str, Any]], bool]) -> bool:
    return any(event in _as_list((p.get("detail") or {}).get("eventName")) and match(p) for p in patterns)


def _missing_store_alerts(resources: Sequence[Resource], bucket: str) -> list[str]:
    patterns = _rules_to_topics(resources)

    def on_bucket(pattern: Mapping[str, Any]) -> bool:
        return bucket in _as_list(((pattern.get("detail") or {}).get("requestParameters") or {}).get("bucketName"))

    def on_key(pattern: Mapping[str, Any]) -> bool:
        return bool(_as_list(((pattern.get("detail") or {}).get("resources") or {}).get("ARN")))

    missing = [f"{event} of the store" for event in _STORE_BUCKET_ALERTS if not _alerts_on(patterns, event, on_bucket)]
    missing += [f"{event} of its key" for event in _STORE_KEY_ALERTS if not _alerts_on(patterns, event, on_key)]
    filters = [
        _inputs(f)
        for f in _of_type(resources, LOG_METRIC_FILTER)
        if bucket in str(_inputs(f).get("pattern")) and "AccessDenied" in str(_inputs(f).get("pattern"))
    ]
    metrics = {
        ((f.get("metricTransformation") or {}).get("namespace"), (f.get("metricTransformation") or {}).get("name"))
        for f in filters
    }
    alarmed = [
        a
        for a in _of_type(resources, METRIC_ALARM)
        if _alarm_metrics(_inputs(a)) & metrics and _as_list(_inputs(a).get("alarmActions"))
    ]
    if not alarmed:
        missing.append("denied access to the store (a metric filter on the trail's log group and an alarm)")
    topic_policies = [_inputs(p).get("policy") or {} for p in _of_type(resources, TOPIC_POLICY)]
    if patterns and not any(
        "events.amazonaws.com" in _as_list((s.get("Principal") or {}).get("Service"))
        and _condition_values(s, "aws:SourceArn")
        for policy in topic_policies
        for s in statements(policy)
    ):
        missing.append("a topic policy letting the alert rules (aws:SourceArn) publish")
    return missing


_STORE_BUCKET_ALERTS = ("PutBucketPolicy", "DeleteBucketPolicy", "PutBucketReplication", "DeleteBucketReplication")
_STORE_KEY_ALERTS = ("PutKeyPolicy", "DisableKey", "ScheduleKeyDeletion")


_MODEL_PARAMETER_ALERTS = ("PutParameter", "DeleteParameter", "LabelParameterVersion")


def _pattern_parameter_names(pattern: Mapping[str, Any]) -> set[str]:
    """The parameter names a CloudTrail SSM pattern matches (``name``/``names``, directly or in a ``$or``)."""
    request = (pattern.get("detail") or {}).get("requestParameters") or {}
    branches = [request, *(b for b in _as_list(request.get("$or")) if isinstance(b, Mapping))]
    return {str(n) for b in branches for key in ("name", "names") for n in _as_list(b.get(key))}


def _check_model_parameter_alert(
    resources: Sequence[Resource], ctx: RuleContext
) -> Iterator[tuple[Resource | None, str, str]]:
    if _contains_unknown([_inputs(r) for r in _of_type(resources, EVENT_RULE)]):
        return
    patterns = _rules_to_topics(resources)
    for parameter in _of_type(resources, PARAMETER):
        name = str(_inputs(parameter).get("name", ""))
        if name.rsplit("/", 1)[-1] not in naming.PROMOTED_PARAMETER_KEYS:
            continue
        naming_it = [p for p in patterns if name in _pattern_parameter_names(p)]
        missing = [event for event in _MODEL_PARAMETER_ALERTS if not _alerts_on(naming_it, event, lambda _: True)]
        if missing:
            yield (
                parameter,
                f"nobody is alerted when {name} is changed outside dsctl ({', '.join(missing)})",
                "add an EventBridge rule on those CloudTrail events naming the parameter, by anyone but the promoting "
                "role, targeting the alarm topic; components.audit builds it",
            )


def _check_store_alerts(resources: Sequence[Resource], ctx: RuleContext) -> Iterator[tuple[Resource | None, str, str]]:
    store = _store_bucket(resources, ctx)
    if store is None or _contains_unknown([_inputs(r) for r in _of_type(resources, EVENT_RULE)]):
        return
    if missing := _missing_store_alerts(resources, ctx.artifact_bucket):
        yield (
            store,
            f"nobody is alerted on {', '.join(missing)}",
            "add EventBridge rules on those CloudTrail events targeting the alarm topic (with a topic policy for "
            "events.amazonaws.com by aws:SourceArn) and the denied-access alarm; components.audit builds them",
        )


def _replication_problems(config: Mapping[str, Any], replica: str, store_key: Any) -> list[str]:
    """What a replication configuration of the store lacks for the replica to be a recovery copy."""
    rules = [r for r in _as_list(config.get("rules")) if isinstance(r, Mapping) and r.get("status") == "Enabled"]
    models = [
        r
        for r in rules
        if naming.MODELS_PREFIX.startswith(str((r.get("filter") or {}).get("prefix", r.get("prefix", ""))))
        and (r.get("destination") or {}).get("bucket") == s3_bucket_arn(replica)
    ]
    if not models:
        return [f"no enabled rule replicating models/ to {replica}"]
    rule = models[0]
    problems = []
    if (rule.get("deleteMarkerReplication") or {}).get("status") != "Disabled":
        problems.append("delete markers are replicated (a delete in the store would hide the replica's model)")
    criteria = (rule.get("sourceSelectionCriteria") or {}).get("sseKmsEncryptedObjects") or {}
    key = ((rule.get("destination") or {}).get("encryptionConfiguration") or {}).get("replicaKmsKeyId")
    if criteria.get("status") != "Enabled" or not key:
        problems.append("SSE-KMS objects are not replicated with a replica key (the store's objects are all SSE-KMS)")
    elif key == store_key:
        problems.append("the replica uses the store's own key (losing that key would lose both)")
    return problems


def _check_store_replicated(
    resources: Sequence[Resource], ctx: RuleContext
) -> Iterator[tuple[Resource | None, str, str]]:
    store = _store_bucket(resources, ctx)
    if store is None or not ctx.artifact_replica_region:
        return
    (replica,) = ctx.model_buckets[1:]
    configs = _attached(store, _of_type(resources, BUCKET_REPLICATION), _of_type(resources, BUCKET))
    if configs is None or _contains_unknown([_inputs(c) for c in configs]):
        return
    store_keys = [
        ((rule.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId"))
        for sse in (_attached(store, _of_type(resources, BUCKET_SSE), _of_type(resources, BUCKET)) or [])
        for rule in _as_list(_inputs(sse).get("rules"))
    ]
    problems = [p for c in configs for p in _replication_problems(_inputs(c), replica, next(iter(store_keys), None))]
    if not configs or problems or not any(_bucket_name(b) == replica for b in _of_type(resources, BUCKET)):
        found = problems or [f"no replication configuration on the store, or no bucket {replica}"]
        yield (
            store,
            f"the model store is not replicated to {ctx.artifact_replica_region} as configured: {'; '.join(found)}",
            "replicate models/ to the replica bucket with its own KMS key, delete markers not replicated "
            "(components.artifact_store builds it from artifactReplicaRegion)",
        )


SCRATCH_PREFIXES: Mapping[str, str] = {
    naming.STAGING_PREFIX: "a run's work in progress, removed by the job; leftovers of crashed runs expire",
    naming.AUDIT_TRAIL_LOG_PREFIX: "the audit trail's log files (not data), kept a year",
}
"""The only prefixes a production stack's lifecycle may expire, with the reason."""


def _check_production_keeps_data(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    if not ctx.production:
        return
    for rule in _as_list(_inputs(resource).get("rules")):
        if not isinstance(rule, Mapping) or not rule.get("expiration") or rule.get("status") == "Disabled":
            continue
        prefix = (rule.get("filter") or {}).get("prefix", "") if isinstance(rule.get("filter"), Mapping) else ""
        if _known(prefix) and prefix not in SCRATCH_PREFIXES:
            yield (
                f"lifecycle rule {rule.get('id')!r} expires objects under {prefix or 'the whole bucket'!r} in a "
                "production stack (production keeps its data)",
                "remove dataRetentionDays from the production stack's config (expiry is for non-production data)",
            )


# ----------------------------------------------------------------------------------------------- registry
_IAM_TYPES = (
    ROLE,
    ROLE_POLICY,
    MANAGED_POLICY,
    USER_POLICY,
    GROUP_POLICY,
    BUCKET_POLICY,
    KMS_KEY,
    KMS_KEY_POLICY,
    TOPIC,
    TOPIC_POLICY,
    ECR_REPOSITORY_POLICY,
)

_ADMIN_WRITES = frozenset(a.lower() for e in TYPES.values() if e.admin_only for a in e.writes()) - {"iam:passrole"}
"""Every write of an admin-only type (policy/provider_actions.py); CI's deploy role may hold none of them."""
_READS = frozenset(a.lower() for e in (*TYPES.values(), *INVOKES.values()) for a in e.read) | {
    # the provider validates a changed state-machine definition while planning (no change is made)
    "states:validatestatemachinedefinition"
}
"""What ``pulumi preview --refresh`` calls: the preview role's whole allowance."""


def _matching(pattern: str, actions: Iterable[str]) -> list[str]:
    """The actions an IAM action pattern (``service:Name``, ``*`` and ``?`` wildcards) grants, case-insensitively."""
    regex = re.compile(re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", "."))
    return sorted(a for a in actions if regex.fullmatch(a))


def _check_ci_role_policies(resource: Resource, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    """The deploy role changes no access (no admin-only write); the preview role only reads."""
    role = _inputs(resource).get("role")
    deploy, preview = naming.deploy_role(ctx.environment), naming.preview_role(ctx.environment)
    if role not in (deploy, preview):
        return
    for document in _documents(resource):
        for index, statement in _allow_statements(document.doc):
            label = f"{role} statement {_statement_label(index, statement)}"
            for pattern in (str(a) for a in _as_list(statement.get("Action"))):
                if role == deploy and (found := _matching(pattern, _ADMIN_WRITES)):
                    yield (
                        f"{label} grants {pattern}, an admin-only write ({', '.join(found[:3])})",
                        "remove it: access changes are admin deploys (policy/provider_actions.py classifies the type)",
                    )
                if role == preview and set(_matching(pattern, _READS)) != {pattern.lower()}:
                    yield (
                        f"{label} grants {pattern}, which pull-request previews never call",
                        "give the preview role only the provider's read actions (components/ci_policies.py)",
                    )


RULES: tuple[Rule, ...] = (
    Rule(
        "ci-roles-change-no-access",
        "CI's deploy role holds no write of an admin-only type; the preview role holds only the provider's reads.",
        (ROLE_POLICY,),
        resource_check=_check_ci_role_policies,
    ),
    Rule("s3-bucket-encrypted", "S3 buckets have default server-side encryption.", stack_check=_check_bucket_encrypted),
    Rule(
        "s3-public-access-blocked",
        "S3 buckets block every kind of public access.",
        stack_check=_check_public_access_blocked,
    ),
    Rule("s3-tls-only", "S3 bucket policies deny requests without TLS.", stack_check=_check_tls_only),
    Rule(
        "s3-models-versioned",
        "The bucket that holds models is versioned.",
        stack_check=_check_model_bucket_versioned,
    ),
    Rule(
        "store-models-immutable",
        "The model store's bucket policy makes published models write-once for all but the administrators.",
        stack_check=_check_store_immutable,
    ),
    Rule(
        "iam-no-wildcard-actions",
        "No IAM statement allows '*' or 'service:*' actions.",
        _IAM_TYPES,
        resource_check=_check_no_wildcard_actions,
    ),
    Rule(
        "iam-no-wildcard-resources",
        "Identity policies allow '*' resources only for the documented AWS exceptions.",
        _IAM_TYPES,
        resource_check=_check_no_wildcard_resources,
    ),
    Rule(
        "iam-no-broad-managed-policies",
        "No AdministratorAccess or other broad AWS-managed policy is attached.",
        (ROLE, ROLE_POLICY_ATTACHMENT, POLICY_ATTACHMENT),
        resource_check=_check_no_broad_managed_policies,
    ),
    Rule(
        "cross-account-readers-only",
        "Other accounts are only the configured readers, with read actions on models/* by named roles.",
        _IAM_TYPES,
        resource_check=_check_cross_account,
    ),
    Rule("log-group-retention", "Every log group has a retention.", (LOG_GROUP,), resource_check=_check_log_retention),
    Rule(
        "ecr-scan-immutable",
        "ECR repositories scan on push and have immutable tags.",
        (ECR_REPOSITORY,),
        resource_check=_check_ecr,
    ),
    Rule(
        "task-non-root-read-only",
        "Task containers run as non-root with a read-only root filesystem.",
        (TASK_DEFINITION,),
        resource_check=_check_task_hardening,
    ),
    Rule("kms-key-rotation", "Customer-managed KMS keys rotate.", (KMS_KEY,), resource_check=_check_kms_rotation),
    Rule(
        "state-machine-bounded",
        "State machine tasks that wait for a job time out; a Distributed Map is bounded (MaxConcurrency), "
        "all-or-nothing (no tolerated failures), STANDARD for .sync children, and caught.",
        (STATE_MACHINE,),
        resource_check=_check_state_machine_bounded,
    ),
    Rule(
        "store-replicated",
        "With artifactReplicaRegion, the store's models/ replicate to a replica with its own key (no delete markers).",
        stack_check=_check_store_replicated,
    ),
    Rule(
        "production-keeps-data",
        "A production stack's buckets expire nothing but scratch prefixes (dataRetentionDays is for other stacks).",
        (BUCKET_LIFECYCLE,),
        resource_check=_check_production_keeps_data,
    ),
    Rule(
        "audit-trail",
        "Every account is recorded by a multi-region trail with log file validation into a hardened log bucket.",
        stack_check=_check_audit_trail,
    ),
    Rule(
        "store-data-events",
        "A trail records every read and write of the model store's models/ objects (S3 data events).",
        stack_check=_check_store_data_events,
    ),
    Rule(
        "store-alerts",
        "Changes to the store's bucket policy, replication and key, and denied access to it, notify the alarm topic.",
        stack_check=_check_store_alerts,
    ),
    Rule(
        "model-parameter-alert",
        "A change of the promoted model's parameters outside dsctl (e.g. a direct ssm:PutParameter) notifies the "
        "alarm topic.",
        stack_check=_check_model_parameter_alert,
    ),
    Rule(
        "access-analyzer",
        "Every account has an IAM Access Analyzer.",
        stack_check=_check_access_analyzer,
    ),
    Rule(
        "production-failed-executions-alarm",
        "A production stack (config `production: true`) alarms on failed state machine executions.",
        stack_check=_check_failed_execution_alarm,
    ),
)
"""Every rule, in report order."""


def rule_names() -> list[str]:
    """Names of all rules (stable identifiers used in reports and the policy pack)."""
    return [rule.name for rule in RULES]


def evaluate(resources: Sequence[Resource], ctx: RuleContext, rules: Sequence[Rule] = RULES) -> list[Violation]:
    """Run ``rules`` over a stack's resources; an empty list means the stack complies."""
    return [violation for rule in rules for violation in rule.check_stack(resources, ctx)]
