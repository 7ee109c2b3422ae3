"""Privilege escalation: which roles each role of the stacks can come to act as, or widen, and by which path.

The threat model (docs/infrastructure.md) allows exactly one way for CI to gain another role's power: deploying the
job runs code as the job's roles. Everything else -- rewriting a trust policy, editing a role's or a resource's
policy, passing a role to a service outside the documented deploy path -- is an escalation. This module finds them
over the principalmapper Graph that ``policy.access.AccessModel`` builds from the synthesized stacks:

1. **principalmapper's own analysis, unchanged.** ``gathering.update_admin_status`` marks a role that can edit its
   own inline policy, attach ``AdministratorAccess`` to itself, create a role with any policy, or write a new version
   of its own managed policy (each is administrator power); then every edge checker of
   ``edge_identification.checker_map`` runs offline (no session, no resources listed): IAM
   (``iam:UpdateAssumeRolePolicy`` on a role: rewrite its trust to trust yourself; access keys and passwords of
   users), STS (``sts:AssumeRole`` that
   the trust and the identity policy both allow), and the service checkers (EC2, SSM, SageMaker, Lambda,
   CloudFormation, CodeBuild, AutoScaling: pass a role to a service that runs your code), plus the cross-account STS
   edges between the accounts' graphs (``cross_account_edges``).
2. **Edges principalmapper does not model, added here** (``_pass_edges``, ``_start_edges``, ``_policy_edges``,
   ``_resource_policy_edges``). Each permission is decided by principalmapper's authorization check
   (``AccessModel.can`` -> ``local_check_authorization_full``), and whether a role's trust admits a service by
   principalmapper's ``resource_policy_authorization``; nothing is evaluated by hand:

   - ``ecs-pass``: ``iam:PassRole`` on R with ``iam:PassedToService = ecs-tasks.amazonaws.com`` and
     ``ecs:RegisterTaskDefinition`` (or ``ecs:RunTask``) on a task family of the account, R trusting ECS tasks. The
     container runs with R's credentials and whoever registers (or runs with overrides) a task definition chooses the
     image and command: code of the caller's choosing runs as R.
   - ``states-pass``: ``iam:PassRole`` on R to ``states.amazonaws.com`` and ``states:CreateStateMachine`` or
     ``states:UpdateStateMachine`` on a machine, R trusting Step Functions. A definition can call almost any AWS API
     through the SDK integrations, as R.
   - ``states-start``: ``states:StartExecution`` on a machine whose role is R. The execution acts as R, though only
     within the machine's definition; counted as reaching R, because what the definition does next (pass the task
     role, run the task) follows.
   - ``events-pass``: ``iam:PassRole`` on R to ``events.amazonaws.com`` and ``events:PutTargets`` on a rule of the
     stack, R trusting EventBridge: the target is invoked as R.
   - ``pass-only``: ``iam:PassRole`` on R to a service R trusts, without the second half. Not a path yet (it is not
     followed), but reported unless the full edge is expected: it is the half a role never needs unless it deploys.
   - ``policy-edit``: ``iam:PutRolePolicy``, ``iam:AttachRolePolicy`` (``AdministratorAccess``),
     ``iam:PutRolePermissionsBoundary`` or ``iam:DeleteRolePermissionsBoundary`` on R, or ``iam:CreatePolicyVersion``/
     ``iam:SetDefaultPolicyVersion`` on a managed policy attached to R or bounding it: widens what R may do for
     whoever acts as R. Not followed (the editor does not become R), always reported.
   - ``resource-policy-edit``: ``s3:PutBucketPolicy``/``s3:DeleteBucketPolicy``/``s3:PutBucketAcl`` on a bucket,
     ``kms:PutKeyPolicy``/``kms:CreateGrant`` on a key, ``ecr:SetRepositoryPolicy``/``ecr:DeleteRepositoryPolicy``
     on a repository, ``sns:AddPermission`` on a topic: grants anyone (the editor included) access to the resource;
     the resource's own policy is part of the decision (the store's bucket policy denies it to non-admins).

Reachability is the transitive closure of the edges a role can *follow* (all but ``pass-only``, ``policy-edit`` and
``resource-policy-edit``). Every edge must match a row of ``EXPECTED_PATHS`` (source kind, target kind, edge); any
other edge, and any role principalmapper calls an administrator, is a finding, reported with the path from a role
people or CI hold (deploy, preview, operator) down to the edge. Known limits: ``sns:SetTopicAttributes`` can set
the alarm topic's policy but AWS has no condition key to separate that attribute from the others the provider
writes, so the topic is only checked for ``sns:AddPermission``; and the state-machine role's ``logs:PutResourcePolicy``
(required by Step Functions logging, authorized only on ``*``) is a role action, not an edge: it can let AWS
services write log events, not read data.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.arns import StackArns
from policy.access import AccessModel, account_of, stack_location

# isort: split
# principalmapper after policy.access, which aliases collections.Mapping for it on Python 3.10+.
from principalmapper.common import Edge as PmEdge
from principalmapper.common import Node
from principalmapper.graphing import cross_account_edges, edge_identification, gathering
from principalmapper.querying.local_policy_simulation import ResourcePolicyEvalResult, resource_policy_authorization

# -- role kinds ----------------------------------------------------------------------------------------------------
DEPLOY, PREVIEW, OPERATOR = "deploy", "preview", "operator"
TASK, EXECUTION, STATE_MACHINE, SCHEDULE = "task", "execution", "state-machine", "schedule"
ADMINISTRATOR = "administrator"
ENTRY_KINDS = (DEPLOY, PREVIEW, OPERATOR)
"""Roles that people or CI hold: where an escalation starts."""

# -- edge kinds ----------------------------------------------------------------------------------------------------
ECS_PASS, STATES_PASS, STATES_START, EVENTS_PASS = "ecs-pass", "states-pass", "states-start", "events-pass"
PASS_ONLY, POLICY_EDIT, RESOURCE_POLICY_EDIT = "pass-only", "policy-edit", "resource-policy-edit"
TRUST_EDIT, ASSUME_ROLE, SELF_ADMIN = "trust-edit", "assume-role", "self-admin"
_NOT_FOLLOWED = frozenset({PASS_ONLY, POLICY_EDIT, RESOURCE_POLICY_EDIT})

PASS_ROLE = "iam:PassRole"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"

# The service a role is passed to, the edge that passing it opens, and the actions that complete it (any one).
_ECS_TASKS, _STATES, _EVENTS = "ecs-tasks.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"
_PASS_EDGES: dict[str, tuple[str, tuple[str, ...]]] = {
    _ECS_TASKS: (ECS_PASS, ("ecs:RegisterTaskDefinition", "ecs:RunTask")),
    _STATES: (STATES_PASS, ("states:CreateStateMachine", "states:UpdateStateMachine")),
    _EVENTS: (EVENTS_PASS, ("events:PutTargets",)),
}

_ROLE_POLICY_EDITS = (
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
)
_MANAGED_POLICY_EDITS = ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion")
_RESOURCE_POLICY_EDITS: dict[str, tuple[str, ...]] = {
    "s3": ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketAcl"),
    "kms": ("kms:PutKeyPolicy", "kms:CreateGrant"),
    "ecr": ("ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy"),
    "sns": ("sns:AddPermission",),
}


@dataclass(frozen=True)
class ExpectedPath:
    """An edge the design intends: from a role of one kind to a role of another, by one mechanism, and why."""

    source: str
    target: str
    via: str
    why: str


EXPECTED_PATHS: tuple[ExpectedPath, ...] = (
    ExpectedPath(
        DEPLOY,
        TASK,
        ECS_PASS,
        "deploying the job registers the task definition that names the task role: deploying runs code as the "
        "task role (the documented deploy path)",
    ),
    ExpectedPath(DEPLOY, EXECUTION, ECS_PASS, "the same task definition names the execution role (image pull, logs)"),
    ExpectedPath(
        DEPLOY, STATE_MACHINE, STATES_PASS, "deploying the orchestration creates/updates the machine naming its role"
    ),
    ExpectedPath(DEPLOY, SCHEDULE, EVENTS_PASS, "deploying the schedule puts the target naming the events role"),
    ExpectedPath(SCHEDULE, STATE_MACHINE, STATES_START, "the schedule starts the pipeline"),
    ExpectedPath(OPERATOR, STATE_MACHINE, STATES_START, "`dsctl run` starts the pipeline"),
    ExpectedPath(STATE_MACHINE, TASK, ECS_PASS, "the pipeline's ecs:runTask.sync step runs the job's task"),
    ExpectedPath(STATE_MACHINE, EXECUTION, ECS_PASS, "the same step: ECS pulls the image as the execution role"),
)
"""Every edge the design allows; docs/infrastructure.md shows this table. Anything else is a finding."""


def role_kinds(arns: StackArns) -> dict[str, str]:
    """The kind of each role a stack creates, by ARN (names come from ``components.naming``)."""
    return {
        arns.deploy_role: DEPLOY,
        arns.preview_role: PREVIEW,
        arns.operator_role: OPERATOR,
        arns.task_role: TASK,
        arns.execution_role: EXECUTION,
        arns.state_machine_role: STATE_MACHINE,
        arns.schedule_role: SCHEDULE,
    }


@dataclass(frozen=True)
class Edge:
    """One way ``source`` comes to act as ``target`` (a role) or to change who may use ``target``."""

    source: str
    target: str
    via: str
    actions: str
    """The permissions that make the edge, e.g. ``iam:PassRole to ecs-tasks.amazonaws.com + ecs:RunTask``."""
    note: str = ""
    """What else to know (principalmapper's reason, the missing half of a pass)."""

    @property
    def detail(self) -> str:
        return f"{self.actions} ({self.note})" if self.note else self.actions

    @property
    def followed(self) -> bool:
        """Whether the source then acts as the target (reachability follows it)."""
        return self.via not in _NOT_FOLLOWED

    def describe(self) -> str:
        return f"{short_name(self.source)} -> {short_name(self.target)} [{self.via}: {self.detail}]"


@dataclass(frozen=True)
class Finding:
    """An edge no row of ``EXPECTED_PATHS`` allows (or a role that administers itself), with the path to it."""

    edge: Edge
    path: tuple[Edge, ...]
    """From a role people or CI hold down to (and including) ``edge``."""

    @property
    def start(self) -> str:
        return self.path[0].source

    def message(self) -> str:
        if self.edge.via == SELF_ADMIN:
            return f"{short_name(self.edge.source)} can change its own permissions ({self.edge.detail})"
        route = " -> ".join([short_name(self.start), *(_hop(e) for e in self.path)])
        return f"{short_name(self.start)} escalates by a path the design does not expect: {route}"

    def fix(self) -> str:
        return (
            f"remove {self.edge.actions} from {short_name(self.edge.source)}'s policy (access changes are admin "
            "deploys); if the path is intended, add it to EXPECTED_PATHS in policy/escalation.py with the reason"
        )


def _hop(edge: Edge) -> str:
    return f"[{edge.via}: {edge.detail}] {short_name(edge.target)}"


def short_name(arn: str) -> str:
    """``…:role/ds-preprocessing-task-prod`` -> ``ds-preprocessing-task-prod``; buckets and keys keep their kind."""
    if ":role/" in arn:
        return arn.rsplit("/", 1)[-1]
    if arn.startswith("arn:aws:s3:::"):
        return "bucket " + arn.removeprefix("arn:aws:s3:::")
    return arn.split(":", 5)[-1]


@dataclass
class Analysis:
    """Every edge between the stacks' roles (and to their resources), the roles' kinds, and the findings."""

    edges: list[Edge]
    kinds: dict[str, str]
    admins: list[Edge] = field(default_factory=list)
    """Roles principalmapper finds can change their own permissions (``self-admin`` edges onto themselves)."""

    def is_expected(self, edge: Edge) -> bool:
        source, target = self.kinds.get(edge.source), self.kinds.get(edge.target)
        if source is None or target is None or account_of(edge.source) != account_of(edge.target):
            return False
        vias = {edge.via} if edge.via != PASS_ONLY else {via for via, _ in _PASS_EDGES.values()}
        return any(p.source == source and p.target == target and p.via in vias for p in EXPECTED_PATHS)

    def reachable(self, source: str) -> dict[str, tuple[Edge, ...]]:
        """Every role ``source`` comes to act as, each with a shortest path (transitive closure of followed edges)."""
        paths: dict[str, tuple[Edge, ...]] = {source: ()}
        queue = collections.deque([source])
        while queue:
            current = queue.popleft()
            for edge in sorted(self._followed_from(current), key=lambda e: (e.target, e.via)):
                if edge.target not in paths:
                    paths[edge.target] = (*paths[current], edge)
                    queue.append(edge.target)
        del paths[source]
        return paths

    def findings(self) -> list[Finding]:
        """The unexpected edges and self-administering roles, each with the path from a role people or CI hold."""
        entries = sorted(arn for arn, kind in self.kinds.items() if kind in ENTRY_KINDS)
        to_source: dict[str, tuple[Edge, ...]] = {}
        for entry in entries:
            for target, path in {entry: (), **self.reachable(entry)}.items():
                if target not in to_source or len(path) < len(to_source[target]):
                    to_source[target] = path
        unexpected = [edge for edge in self.edges if not self.is_expected(edge)]
        return [Finding(edge, (*to_source.get(edge.source, ()), edge)) for edge in [*self.admins, *unexpected]]

    def _followed_from(self, source: str) -> Iterator[Edge]:
        return (edge for edge in self.edges if edge.source == source and edge.followed)


# -- building the analysis ---------------------------------------------------------------------------------------


def analyse(stacks: Sequence[tuple[StackArns, Mapping[str, Any]]], admin_roles: Iterable[str] = ()) -> Analysis:
    """The escalation analysis of these synthesized stacks (``SynthResult.to_dict()``) taken together.

    ``admin_roles`` are the administrators' roles (``adminPrincipalArns``): modelled as trusting their whole account
    (the worst case: only the caller's own policy decides), so an edge to one is found wherever an identity policy
    would allow it.
    """
    model = AccessModel.from_stacks(*(synth for _, synth in stacks))
    kinds: dict[str, str] = {}
    for arns, _ in stacks:
        kinds.update({arn: kind for arn, kind in role_kinds(arns).items() if arn in model.principals})
    for admin in admin_roles:
        account = account_of(admin)
        root = {"AWS": f"arn:aws:iam::{account}:root"}
        trust = {"Statement": [{"Effect": "Allow", "Principal": root, "Action": "sts:AssumeRole"}]}
        model.add_outsider(admin, trust=trust)
        model.node(admin).is_admin = True  # principalmapper's convention: an admin reaches everything, no edges
        kinds[admin] = ADMINISTRATOR
    analysis = Analysis(edges=[], kinds=kinds)
    graphs = model.graphs()
    ours = [model.node(arn) for arn in model.principals if kinds.get(arn) != ADMINISTRATOR]
    gathering.update_admin_status(ours)
    analysis.admins = [
        Edge(n.arn, n.arn, SELF_ADMIN, _SELF_ADMIN_ACTIONS, _SELF_ADMIN_NOTE) for n in ours if n.is_admin
    ]
    for graph in graphs.values():
        analysis.edges += [_from_principalmapper(e) for e in _principalmapper_edges(graph.nodes)]
    accounts = sorted(graphs)
    for i, first in enumerate(accounts):
        for second in accounts[i + 1 :]:
            found = cross_account_edges.get_edges_between_graphs(graphs[first], graphs[second])
            analysis.edges += [_from_principalmapper(e) for e in found]
    sources = [n.arn for n in ours if not n.is_admin]
    resources = _Resources.of(synth for _, synth in stacks)
    analysis.edges += _pass_edges(model, sources, resources)
    analysis.edges += _start_edges(model, sources, resources)
    analysis.edges += _policy_edges(model, sources)
    analysis.edges += _resource_policy_edges(model, sources)
    return analysis


_SELF_ADMIN_ACTIONS = "iam:PutRolePolicy / iam:AttachRolePolicy / iam:CreateRole / iam:CreatePolicyVersion on itself"
_SELF_ADMIN_NOTE = (
    "principalmapper: it may edit its own inline policy, attach AdministratorAccess to itself, create a role with "
    "any policy, or write a new version of its own managed policy"
)


def _principalmapper_edges(nodes: list[Node]) -> list[PmEdge]:
    """Every principalmapper edge checker, offline: no session, so no resources are listed (none exist to list)."""
    return list(edge_identification.obtain_edges(None, list(edge_identification.checker_map), nodes))


def _from_principalmapper(edge: PmEdge) -> Edge:
    """principalmapper's edge in our terms (its reason is kept as the note)."""
    reason = str(edge.reason)
    if edge.short_reason == "IAM" and ":role/" in edge.destination.arn:
        via, actions = TRUST_EDIT, "iam:UpdateAssumeRolePolicy"
    elif edge.short_reason in ("AssumeRole", "STS"):
        via, actions = ASSUME_ROLE, "sts:AssumeRole"
    else:  # a service checker's edge: its reason names the service calls (e.g. iam:PassRole + lambda:CreateFunction)
        via, actions = str(edge.short_reason).lower(), f"iam:PassRole to {str(edge.short_reason).lower()} and its use"
    return Edge(edge.source.arn, edge.destination.arn, via, actions, reason)


@dataclass(frozen=True)
class _Resources:
    """What the added edges act on, per account: task families, clusters, machines (with role), schedule rules."""

    task_definitions: dict[str, list[str]]
    clusters: dict[str, list[str]]
    machines: dict[str, list[tuple[str, str]]]
    rules: dict[str, list[str]]

    @classmethod
    def of(cls, synths: Iterable[Mapping[str, Any]]) -> _Resources:
        found = cls({}, {}, {}, {})
        for synth in synths:
            account, region = stack_location(synth)
            regional = f"{region}:{account}"
            for resource in synth["resources"]:
                inputs, token = resource.get("inputs") or {}, resource["type"]
                if token == "aws:ecs/taskDefinition:TaskDefinition":
                    # any revision number matches a family grant (``family:*``); revision 1 stands for them all
                    arn = f"arn:aws:ecs:{regional}:task-definition/{inputs['family']}:1"
                    found.task_definitions.setdefault(account, []).append(arn)
                elif token == "aws:ecs/cluster:Cluster":
                    name = inputs.get("name") or resource.get("id")
                    found.clusters.setdefault(account, []).append(f"arn:aws:ecs:{regional}:cluster/{name}")
                elif token == "aws:sfn/stateMachine:StateMachine":
                    machine = f"arn:aws:states:{regional}:stateMachine:{inputs.get('name') or resource.get('id')}"
                    found.machines.setdefault(account, []).append((machine, str(inputs.get("roleArn"))))
                elif token == "aws:cloudwatch/eventRule:EventRule":
                    name = inputs.get("name") or resource.get("id")
                    found.rules.setdefault(account, []).append(f"arn:aws:events:{regional}:rule/{name}")
        return found

    def completing(self, service: str, account: str) -> Iterator[tuple[str, str, dict[str, str]]]:
        """(action, resource, condition keys) of each request that completes a pass of a role to ``service``."""
        if service == _ECS_TASKS:
            for task_definition in self.task_definitions.get(account, []):
                yield "ecs:RegisterTaskDefinition", task_definition, {}
                for cluster in self.clusters.get(account, []):
                    yield "ecs:RunTask", task_definition, {"ecs:cluster": cluster}
        elif service == _STATES:
            for machine, _ in self.machines.get(account, []):
                yield "states:CreateStateMachine", machine, {}
                yield "states:UpdateStateMachine", machine, {}
        elif service == _EVENTS:
            for rule in self.rules.get(account, []):
                yield "events:PutTargets", rule, {}


def _trusted_services(model: AccessModel, role: str) -> list[str]:
    """The services (among those a pass edge is known for) that the role's trust policy lets assume it."""
    node = model.node(role)
    if not node.trust_policy:
        return []
    account = account_of(role)
    return [
        service
        for service in _PASS_EDGES
        if resource_policy_authorization(
            service, account, node.trust_policy, "sts:AssumeRole", role, {"aws:SourceAccount": account}
        )
        is ResourcePolicyEvalResult.SERVICE_MATCH
    ]


def _pass_edges(model: AccessModel, sources: Sequence[str], resources: _Resources) -> list[Edge]:
    """``ecs-pass``, ``states-pass``, ``events-pass`` and, where the second half is missing, ``pass-only``."""
    edges = []
    for role in model.principals:
        account = account_of(role)
        for service in _trusted_services(model, role):
            via, _ = _PASS_EDGES[service]
            for source in (s for s in sources if account_of(s) == account and s != role):
                if not model.can(source, PASS_ROLE, role, {"iam:PassedToService": service}):
                    continue
                completes = sorted(
                    {
                        action
                        for action, resource, keys in resources.completing(service, account)
                        if model.can(source, action, resource, keys)
                    }
                )
                passes = f"{PASS_ROLE} to {service}"
                if completes:
                    edges.append(Edge(source, role, via, f"{passes} + {' / '.join(completes)}"))
                else:
                    edges.append(
                        Edge(source, role, PASS_ONLY, passes, f"without {' or '.join(_PASS_EDGES[service][1])}")
                    )
    return edges


def _start_edges(model: AccessModel, sources: Sequence[str], resources: _Resources) -> list[Edge]:
    """``states-start``: starting a machine makes its role act (within the machine's definition)."""
    edges = []
    for account, machines in resources.machines.items():
        for machine, role in machines:
            if role not in model.principals:
                continue
            for source in (s for s in sources if account_of(s) == account and s != role):
                if model.can(source, "states:StartExecution", machine):
                    edges.append(Edge(source, role, STATES_START, f"states:StartExecution on {short_name(machine)}"))
    return edges


def _policy_edges(model: AccessModel, sources: Sequence[str]) -> list[Edge]:
    """``policy-edit``: changing what another role may do (its inline, attached or boundary policies)."""
    edges = []
    for role in model.principals:
        node = model.node(role)
        if node.trust_policy is None or node.is_admin:
            continue  # users, and administrators (who may do anything already)
        managed = [p.arn for p in node.attached_policies if ":policy/" in p.arn and ":aws:policy/" not in p.arn]
        if node.permissions_boundary is not None:
            managed.append(node.permissions_boundary.arn)
        for source in (s for s in sources if s != role):
            granted = [
                action
                for action in _ROLE_POLICY_EDITS
                if model.can(source, action, role, {"iam:PolicyARN": ADMINISTRATOR_ACCESS})
            ]
            granted += [
                f"{a} on {short_name(p)}" for p in managed for a in _MANAGED_POLICY_EDITS if model.can(source, a, p)
            ]
            if granted:
                edges.append(Edge(source, role, POLICY_EDIT, ", ".join(granted)))
    return edges


def _resource_policy_edges(model: AccessModel, sources: Sequence[str]) -> list[Edge]:
    """``resource-policy-edit``: rewriting who may use a bucket, key, repository or topic."""
    edges = []
    for resource in model.resources:
        service = resource.split(":", 3)[2]
        for source in sources:
            granted = [a for a in _RESOURCE_POLICY_EDITS.get(service, ()) if model.can(source, a, resource)]
            if granted:
                edges.append(Edge(source, resource, RESOURCE_POLICY_EDIT, ", ".join(granted)))
    return edges


DOC_BEGIN = "<!-- expected-paths:begin (generated by policy.escalation.render_markdown; do not edit) -->"
DOC_END = "<!-- expected-paths:end -->"


def render_markdown() -> str:
    """The expected-paths table for docs/infrastructure.md, between DOC_BEGIN and DOC_END (a test keeps them equal)."""
    header = "| from (role) | to (role) | edge | why it is allowed |\n|---|---|---|---|"
    rows = [f"| {p.source} | {p.target} | `{p.via}` | {p.why} |" for p in EXPECTED_PATHS]
    return "\n".join((DOC_BEGIN, header, *rows, DOC_END))
