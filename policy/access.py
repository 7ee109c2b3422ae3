"""Who can do what: principalmapper evaluation of the IAM documents of synthesized stacks.

API (stable; reused by ``dsctl check`` and the access-matrix tests):

- ``AccessModel.from_stacks(*synths)``: one model from ``SynthResult.to_dict()`` of each stack (dev and prod together,
  so cross-account grants meet both of their sides). It holds a principalmapper ``Node`` per IAM role of each stack
  (inline, attached and boundary policies, trust policy) and the resource policies of buckets, KMS keys, roles
  (trust), SNS topics and ECR repositories, each with its owning account.
- ``model.add_outsider(arn, document=ALLOW_ALL, trust=None) -> str``: a principal no stack creates (another role of
  an account, a foreign account's role, a CI principal). It gets a broad identity policy, so what a test learns about
  it is what the *resource* side allows; ``trust`` gives a role a trust policy (``policy.escalation`` models the
  administrators' roles so).
- ``model.node(arn)``, ``model.resources``, ``model.graphs()``: principalmapper's Nodes and Graphs, and the resources
  that carry a policy, for analyses that walk them (``policy.escalation``).
- ``model.can(principal_arn, action, resource_arn, condition_keys=None) -> bool``: AWS's decision for one request.
- ``model.request_context(...)``: the condition keys a real request carries (``aws:SecureTransport`` true,
  ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:ResourceAccount``,
  ``aws:RequestedRegion``, ``kms:CallerAccount`` for KMS, ``iam:PermissionsBoundary`` for changes to a role that
  has one); ``condition_keys`` add to or override them, e.g.
  ``{"aws:SecureTransport": "false"}``, ``{"s3:prefix": "models/"}`` or ``via_service("s3", region)``.
- ``via_service(service, region)``: the ``kms:ViaService`` key of a KMS call S3 makes on the caller's behalf.

Evaluation is principalmapper's ``local_check_authorization_full`` (explicit deny anywhere wins; KMS keys and role
trust need the resource policy even in the same account; across accounts both the identity and the resource side
must allow). We add only what it leaves to the caller: a resource in another account with no resource policy at all
(SSM, ECS, a bucket without policy) cannot be reached across accounts. We never evaluate policies ourselves.

AWS-managed policies attached to roles are resolved from ``MANAGED_POLICIES``; an unknown one is an error, because
silently dropping it would make "cannot" answers wrong.
"""

from __future__ import annotations

import collections
import collections.abc
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# principalmapper 1.1.5 imports Mapping/MutableMapping from `collections`, removed in Python 3.10.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

import principalmapper  # noqa: E402
from principalmapper.common import Graph, Node, Policy  # noqa: E402
from principalmapper.querying.query_interface import local_check_authorization_full  # noqa: E402

from policy.iam_lint import as_document  # noqa: E402

ALLOW_ALL: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
"""Identity policy of outsiders: whatever stops them is the resource policy."""

MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                ],
                "Resource": "*",
            }
        ],
    },
}
"""Documents of the AWS-managed policies our stacks may attach (as published by AWS)."""

# IAM actions on a role for which AWS sets ``iam:PermissionsBoundary`` to the role's boundary (for CreateRole: the
# boundary in the request, which for a role the stack defines is the one it declares).
_BOUNDARY_KEYED_ACTIONS = frozenset(
    action.lower()
    for action in (
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:PutRolePermissionsBoundary",
        "iam:DeleteRolePermissionsBoundary",
    )
)

PROVIDER_TYPE = "pulumi:providers:aws"
_ROLE = "aws:iam/role:Role"
_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
_POLICY = "aws:iam/policy:Policy"
_BUCKET = "aws:s3/bucket:Bucket"
_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
_KEY = "aws:kms/key:Key"
_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
_TOPIC = "aws:sns/topic:Topic"
_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
_REPOSITORY = "aws:ecr/repository:Repository"
_REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"


def via_service(service: str, region: str) -> dict[str, str]:
    """Condition keys of a KMS call that ``service`` (e.g. ``s3``) makes for the caller in ``region``."""
    return {"kms:ViaService": f"{service}.{region}.amazonaws.com"}


def account_of(arn: str) -> str:
    """The account field of an ARN ("" for S3 bucket/object ARNs, which have none)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN; pass a full ARN such as arn:aws:s3:::bucket/key")
    return parts[4]


@dataclass(frozen=True)
class ResourcePolicy:
    """A resource's policy document and the account that owns the resource."""

    owner: str
    document: dict[str, Any] | None


class AccessModel:
    """principalmapper nodes and resource policies of one or more synthesized stacks."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._resources: dict[str, ResourcePolicy] = {}  # resource ARN (bucket ARN for S3) -> policy and owner
        self._region = "us-east-1"

    @classmethod
    def from_stacks(cls, *synths: Mapping[str, Any]) -> AccessModel:
        """Build one model from the ``SynthResult.to_dict()`` of every stack that takes part."""
        model = cls()
        for synth in synths:
            model.add_stack(synth)
        return model

    # -- building -----------------------------------------------------------------------------------------------

    def add_stack(self, synth: Mapping[str, Any]) -> None:
        """Add the roles and resource policies of one synthesized stack."""
        stack = _StackView(synth)
        self._region = stack.region
        for arn, owner in stack.resource_owners():
            self._resources.setdefault(arn, ResourcePolicy(owner, None))
        for arn, document in stack.resource_policies():
            owner = self._resources.get(arn, ResourcePolicy(stack.account, None)).owner
            self._resources[arn] = ResourcePolicy(owner, document)
        for role in stack.roles():
            self._nodes[role.arn] = role.node()
            self._resources[role.arn] = ResourcePolicy(stack.account, role.trust)

    def add_outsider(
        self, arn: str, document: Mapping[str, Any] = ALLOW_ALL, trust: Mapping[str, Any] | None = None
    ) -> str:
        """Add a principal no stack defines (a role or user ARN) with ``document`` as its identity policy.

        ``trust`` is a role's trust policy when the question involves assuming it (default: trusts nobody).
        """
        account = account_of(arn)
        is_role = ":role/" in arn
        policy = Policy(arn, "outsider", dict(document))
        self._nodes[arn] = _make_node(arn, [policy], trust=dict(trust or {}) if is_role else None)
        if is_role and trust is not None:
            self._resources[arn] = ResourcePolicy(account, dict(trust))
        return arn

    # -- querying -----------------------------------------------------------------------------------------------

    @property
    def principals(self) -> list[str]:
        """ARNs of every principal the model knows, sorted."""
        return sorted(self._nodes)

    def node(self, arn: str) -> Node:
        """The principalmapper Node of a principal the model knows (KeyError naming the known ones otherwise)."""
        if arn not in self._nodes:
            known = ", ".join(self.principals) or "none"
            raise KeyError(f"unknown principal {arn}; known: {known}; model others with add_outsider()")
        return self._nodes[arn]

    @property
    def resources(self) -> list[str]:
        """ARNs of the resources that may carry a resource policy (buckets, keys, topics, repositories), sorted."""
        return sorted(arn for arn in self._resources if ":role/" not in arn)

    def graphs(self) -> dict[str, Graph]:
        """One principalmapper Graph per account (nodes and their policies; no edges are computed)."""
        by_account: dict[str, list[Node]] = {}
        for node in self._nodes.values():
            by_account.setdefault(account_of(node.arn), []).append(node)
        return {
            account: Graph(
                nodes=nodes,
                edges=[],
                policies=[policy for node in nodes for policy in node.attached_policies],
                groups=[],
                metadata={"account_id": account, "pmapper_version": principalmapper.__version__},
            )
            for account, nodes in by_account.items()
        }

    def resource_policy(self, resource_arn: str, action: str = "") -> ResourcePolicy:
        """The policy that governs ``resource_arn`` for ``action`` and the account owning the resource."""
        if resource_arn.startswith("arn:aws:s3:::"):
            bucket = resource_arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            found = self._resources.get(f"arn:aws:s3:::{bucket}")
            if found is None:
                raise ValueError(f"no synthesized stack creates bucket {bucket!r}; add that stack to the model")
            return found
        if ":role/" in resource_arn and not action.lower().startswith("sts:"):
            return ResourcePolicy(account_of(resource_arn), None)  # a trust policy governs only sts:AssumeRole*
        return self._resources.get(resource_arn, ResourcePolicy(account_of(resource_arn), None))

    def request_context(
        self, principal_arn: str, action: str, resource_arn: str, condition_keys: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The condition keys AWS sets on this request over TLS, overridden/extended by ``condition_keys``."""
        account = account_of(principal_arn)
        owner = self.resource_policy(resource_arn, action).owner
        context = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": principal_arn,
            "aws:PrincipalAccount": account,
            "aws:PrincipalType": "AssumedRole" if ":role/" in principal_arn else "User",
            "aws:ResourceAccount": owner,
            "aws:RequestedRegion": resource_arn.split(":")[3] or self._region,
        }
        if action.lower().startswith("kms:"):
            context["kms:CallerAccount"] = account
        node = self._nodes.get(resource_arn)
        if action.lower() in _BOUNDARY_KEYED_ACTIONS and node is not None and node.permissions_boundary is not None:
            context["iam:PermissionsBoundary"] = node.permissions_boundary.arn  # the boundary the role carries
        context.update(condition_keys or {})
        return context

    def can(
        self, principal_arn: str, action: str, resource_arn: str, condition_keys: Mapping[str, str] | None = None
    ) -> bool:
        """Whether AWS allows ``principal_arn`` to call ``action`` on ``resource_arn`` with these condition keys."""
        node = self.node(principal_arn)
        policy = self.resource_policy(resource_arn, action)
        if policy.document is None and policy.owner != account_of(principal_arn):
            return False  # nothing on the resource's side can grant another account access
        return bool(
            local_check_authorization_full(
                node,
                action,
                resource_arn,
                self.request_context(principal_arn, action, resource_arn, condition_keys),
                policy.document,
                policy.owner if policy.document is not None else None,
            )
        )


# -- reading a synthesized stack --------------------------------------------------------------------------------


@dataclass
class _Role:
    """An IAM role of a stack with everything that decides what it may do."""

    arn: str
    trust: dict[str, Any]
    policies: list[Policy]
    boundary: Policy | None = None

    def node(self) -> Node:
        return _make_node(self.arn, self.policies, trust=self.trust, boundary=self.boundary)


class _StackView:
    """Typed access to the resources of one ``SynthResult.to_dict()``."""

    def __init__(self, synth: Mapping[str, Any]) -> None:
        self.resources: list[Mapping[str, Any]] = list(synth["resources"])
        provider = self._provider_inputs()
        self.account = _stack_account(synth, provider)
        self.region = str(provider.get("region") or "us-east-1")

    def of_type(self, token: str) -> Iterable[Mapping[str, Any]]:
        return (r for r in self.resources if r["type"] == token)

    def _provider_inputs(self) -> Mapping[str, Any]:
        providers = [r.get("inputs") or {} for r in self.of_type(PROVIDER_TYPE)]
        return providers[0] if providers else {}

    def resource_owners(self) -> Iterable[tuple[str, str]]:
        """ARNs of the resources that may carry a resource policy, with their owner (this account)."""
        for bucket in self.of_type(_BUCKET):
            yield f"arn:aws:s3:::{_physical_name(bucket, 'bucket')}", self.account
        for key in self.of_type(_KEY):
            yield self.key_arn(key), self.account
        for topic in self.of_type(_TOPIC):
            yield f"arn:aws:sns:{self.region}:{self.account}:{_physical_name(topic, 'name')}", self.account
        for repo in self.of_type(_REPOSITORY):
            yield f"arn:aws:ecr:{self.region}:{self.account}:repository/{_physical_name(repo, 'name')}", self.account

    def resource_policies(self) -> Iterable[tuple[str, dict[str, Any]]]:
        """(resource ARN, document) of every resource policy in the stack."""
        for key in self.of_type(_KEY):
            if (key.get("inputs") or {}).get("policy"):
                yield self.key_arn(key), as_document(key["inputs"]["policy"])
        keys_by_id = {str(key.get("id")): self.key_arn(key) for key in self.of_type(_KEY)}
        for resource in self.resources:
            inputs = resource.get("inputs") or {}
            arn = self._policy_target(resource["type"], inputs, keys_by_id)
            if arn is not None:
                yield arn, as_document(inputs["policy"])

    def _policy_target(self, token: str, inputs: Mapping[str, Any], keys_by_id: Mapping[str, str]) -> str | None:
        """The ARN a standalone policy resource applies to (None for other resource types)."""
        if token == _BUCKET_POLICY:
            return f"arn:aws:s3:::{inputs['bucket']}"
        if token == _KEY_POLICY:
            return keys_by_id.get(str(inputs["keyId"]), str(inputs["keyId"]))
        if token == _TOPIC_POLICY:
            return str(inputs["arn"])
        if token == _REPOSITORY_POLICY:
            return f"arn:aws:ecr:{self.region}:{self.account}:repository/{inputs['repository']}"
        return None

    def key_arn(self, key: Mapping[str, Any]) -> str:
        key_id = str(key.get("id") or "")
        if key_id.startswith("arn:"):
            return key_id
        # A key placed in another region (pulumi-aws's per-resource ``region``: the store's replica key) lives there.
        region = (key.get("inputs") or {}).get("region") or self.region
        return f"arn:aws:kms:{region}:{self.account}:key/{key_id}"

    def roles(self) -> list[_Role]:
        managed = {self._policy_arn(p): as_document(p["inputs"]["policy"]) for p in self.of_type(_POLICY)}
        managed.update({str(p.get("id")): as_document(p["inputs"]["policy"]) for p in self.of_type(_POLICY)})

        def resolve(policy_arn: str) -> Policy:
            document = managed.get(policy_arn) or MANAGED_POLICIES.get(policy_arn)
            if document is None:
                raise ValueError(
                    f"attached policy {policy_arn} is neither in the stack nor in policy.access.MANAGED_POLICIES; "
                    "add its document there"
                )
            return Policy(policy_arn, policy_arn.rsplit("/", 1)[-1], document)

        roles: dict[str, _Role] = {}
        for resource in self.of_type(_ROLE):
            inputs = resource.get("inputs") or {}
            name = _physical_name(resource, "name")
            arn = f"arn:aws:iam::{self.account}:role{inputs.get('path') or '/'}{name}"
            role = _Role(arn, as_document(inputs.get("assumeRolePolicy") or {"Statement": []}), [])
            for inline in inputs.get("inlinePolicies") or []:
                if inline.get("policy"):
                    role.policies.append(Policy(arn, str(inline.get("name", "inline")), as_document(inline["policy"])))
            role.policies.extend(resolve(policy_arn) for policy_arn in inputs.get("managedPolicyArns") or [])
            if inputs.get("permissionsBoundary"):
                role.boundary = resolve(str(inputs["permissionsBoundary"]))
            for key in {name, str(resource.get("id") or name), arn}:
                roles[key] = role
        for resource in self.of_type(_ROLE_POLICY):
            inputs = resource.get("inputs") or {}
            owner = self._role(roles, inputs.get("role"), resource)
            owner.policies.append(
                Policy(owner.arn, str(inputs.get("name") or resource["name"]), as_document(inputs["policy"]))
            )
        for resource in self.of_type(_ATTACHMENT):
            inputs = resource.get("inputs") or {}
            self._role(roles, inputs.get("role"), resource).policies.append(resolve(str(inputs["policyArn"])))
        unique: dict[str, _Role] = {role.arn: role for role in roles.values()}
        return list(unique.values())

    def _policy_arn(self, policy: Mapping[str, Any]) -> str:
        inputs = policy.get("inputs") or {}
        return f"arn:aws:iam::{self.account}:policy{inputs.get('path') or '/'}{_physical_name(policy, 'name')}"

    @staticmethod
    def _role(roles: Mapping[str, _Role], reference: Any, resource: Mapping[str, Any]) -> _Role:
        key = str(reference or "")
        role = roles.get(key) or roles.get(key.rsplit("/", 1)[-1])
        if role is None:
            raise ValueError(
                f"{resource['type']} {resource['name']} names role {key!r}, which the stack does not create"
            )
        return role


def stack_location(synth: Mapping[str, Any]) -> tuple[str, str]:
    """(account, region) of a synthesized stack, from its explicit AWS provider."""
    stack = _StackView(synth)
    return stack.account, stack.region


def _physical_name(resource: Mapping[str, Any], field: str) -> str:
    """The resource's physical name: its explicit name input, else its id (what AWS calls it)."""
    inputs = resource.get("inputs") or {}
    return str(inputs.get(field) or resource.get("id") or resource["name"])


def _stack_account(synth: Mapping[str, Any], provider: Mapping[str, Any]) -> str:
    """The stack's account: the provider's ``allowedAccountIds`` (DESIGN: one explicit provider per stack)."""
    allowed = provider.get("allowedAccountIds")
    if isinstance(allowed, str):
        allowed = json.loads(allowed)
    if allowed:
        return str(next(iter(allowed)))
    outputs = synth.get("outputs") or {}
    for key in ("accountId", "account_id", "account"):
        if outputs.get(key):
            return str(outputs[key])
    raise ValueError(
        f"stack {synth.get('stack')!r} names no account: give its aws provider allowedAccountIds (or export accountId)"
    )


def _make_node(
    arn: str, policies: list[Policy], *, trust: dict[str, Any] | None, boundary: Policy | None = None
) -> Node:
    """A principalmapper Node; roles need a trust-policy dict, users must have none."""
    id_value = ("AROA" if ":role/" in arn else "AIDA") + hashlib.sha256(arn.encode()).hexdigest()[:17].upper()
    return Node(
        arn=arn,
        id_value=id_value,
        attached_policies=policies,
        group_memberships=[],
        trust_policy=trust,
        instance_profile=None,
        num_access_keys=0,
        active_password=False,
        is_admin=False,
        permissions_boundary=boundary,
        has_mfa=False,
        tags={},
    )
