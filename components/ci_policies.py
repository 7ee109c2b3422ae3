"""The CI roles' documents: GitHub OIDC trust, the deploy role's and the preview role's policies.

Both policies are *derived* from ``policy.provider_actions`` (what the AWS provider calls per resource type, and
whether the type is CI-deployable or admin-only), never listed by hand, so a new resource type changes them in one
place and the coverage test (tests/infra/test_ci_access.py) sees a gap at once:

- the **deploy role** gets every action of the CI-deployable types, scoped to this project's named resources (or to
  the ``Project`` tag where AWS names no ARN before the resource exists), and only the *read* actions of the
  admin-only types, so ``pulumi up`` can read and diff them but never change who can access what;
  ``iam:PassRole`` is granted per workload role, each only to the one service that role is for;
- the **preview role** gets the read actions of every type only (what ``pulumi preview --refresh`` calls), plus
  ``states:ValidateStateMachineDefinition``, which the provider calls while *planning* a definition change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components import naming, policy_docs
from components.arns import StackArns
from components.policy_docs import Document, Statement
from policy import provider_actions
from policy.provider_actions import Deployer, ProviderActions

PASS_ROLE = "iam:PassRole"
VALIDATE_DEFINITION = "states:ValidateStateMachineDefinition"
_TAG_KEY = "Project"
"""The default tag every resource of the stack carries (components.provider.default_tags)."""


def oidc_provider_arn(account_id: str) -> str:
    """The ARN IAM gives the account's GitHub OIDC provider (one per issuer URL and account)."""
    return f"arn:aws:iam::{account_id}:oidc-provider/{naming.GITHUB_OIDC_URL.removeprefix('https://')}"


def pull_request_subject(repository: str) -> str:
    """The ``sub`` claim of a GitHub Actions job triggered by a pull request of ``repository``."""
    return f"repo:{repository}:pull_request"


def environment_subject(repository: str, environment: str) -> str:
    """The ``sub`` claim of a job that runs in the GitHub environment ``environment`` of ``repository``."""
    return f"repo:{repository}:environment:{environment}"


def github_oidc_trust(provider_arn: str, subject: str) -> Document:
    """Trust for GitHub Actions jobs whose token has exactly this subject and the STS audience (no wildcards)."""
    issuer = naming.GITHUB_OIDC_URL.removeprefix("https://")
    return policy_docs.document(
        {
            "Sid": "GitHubActionsAssume",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{issuer}:aud": naming.GITHUB_OIDC_AUDIENCE, f"{issuer}:sub": subject},
            },
        }
    )


@dataclass(frozen=True)
class Scope:
    """Where a type's actions apply: named ARNs, optionally only on resources carrying the project's tag."""

    resources: tuple[str, ...]
    tag: str | None = None
    """``aws:ResourceTag`` (existing resources) condition key, when AWS names no narrower ARN."""


@dataclass(frozen=True)
class ProjectArns:
    """Inputs of the scopes: the stack's ARNs and whether the account holds the artifact store."""

    arns: StackArns
    parameter_prefix: str
    owns_artifact_store: bool

    @property
    def buckets(self) -> tuple[str, ...]:
        a = self.arns
        store_name = naming.artifact_bucket(a.environment, a.account_id, a.region)
        # The store and its replica (same name, the replica's region in place of ours; every S3 type is admin-only, so
        # the CI roles only read these).
        replica = f"{policy_docs.s3_bucket_arn(naming.artifact_bucket(a.environment, a.account_id, ''))}*"
        store = (policy_docs.s3_bucket_arn(store_name), replica) if self.owns_artifact_store else ()
        return (a.input_bucket, a.output_bucket, a.audit_log_bucket, *store)

    @property
    def roles(self) -> tuple[str, ...]:
        return (
            *self.arns.bounded_roles,
            self.arns.audit_trail_role,
            self.arns.role(naming.store_replication_role(self.arns.environment)),
            self.arns.deploy_role,
            self.arns.preview_role,
        )

    @property
    def log_groups(self) -> tuple[str, ...]:
        groups = (self.arns.job_log_group, self.arns.state_machine_log_group, self.arns.audit_trail_log_group)
        return tuple(arn + suffix for arn in groups for suffix in ("", ":*"))

    def project_pattern(self, service: str, kind: str) -> str:
        """Resources this project would name ``ds-preprocessing-*`` (the audit trail and analyzer, issue 12)."""
        return f"arn:aws:{service}:{self.arns.region}:{self.arns.account_id}:{kind}/{naming.PROJECT}-*"


def _scopes(p: ProjectArns) -> dict[str, Scope]:
    """The resources of every type's calls; a type the table gains without a row here stops the build."""
    a = p.arns
    buckets, roles, repository = Scope(p.buckets), Scope(p.roles), Scope((a.repository,))
    log_groups, rule, topic, anything = (
        Scope(p.log_groups),
        Scope((a.schedule_rule, a.model_parameter_rule, *a.alert_rules)),
        Scope((a.alarm_topic,)),
        Scope(()),
    )
    s3_types = [t for t in provider_actions.TYPES if t.startswith("aws:s3/bucket")]
    return {
        **{token: buckets for token in s3_types},
        "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock": anything,
        "aws:iam/role:Role": roles,
        "aws:iam/rolePolicy:RolePolicy": roles,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": roles,
        "aws:iam/policy:Policy": Scope((a.role_boundary, a.operator_boundary, a.promoter_boundary)),
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": Scope((oidc_provider_arn(a.account_id),)),
        # The store's key ARN holds a generated id: only keys tagged as this project's.
        # Any region: the store's replica key lives in artifactReplicaRegion (the key is admin-only: CI only reads).
        "aws:kms/key:Key": Scope((f"arn:aws:kms:*:{a.account_id}:key/*",), tag=_TAG_KEY),
        "aws:kms/alias:Alias": Scope((f"arn:aws:kms:*:{a.account_id}:alias/{naming.PROJECT}-*",)),
        "aws:ecr/repository:Repository": repository,
        "aws:ecr/lifecyclePolicy:LifecyclePolicy": repository,
        "aws:ecr/repositoryPolicy:RepositoryPolicy": repository,
        "aws:ecr/registryPolicy:RegistryPolicy": anything,
        "aws:ecr/replicationConfiguration:ReplicationConfiguration": anything,
        "docker:index/image:Image": repository,
        "aws:ecs/cluster:Cluster": Scope((a.cluster,)),
        "aws:ecs/taskDefinition:TaskDefinition": Scope((a.task_definitions,)),
        "aws:sfn/stateMachine:StateMachine": Scope((a.state_machine,)),
        "aws:cloudwatch/eventRule:EventRule": rule,
        "aws:cloudwatch/eventTarget:EventTarget": rule,
        "aws:cloudwatch/logGroup:LogGroup": log_groups,
        "aws:cloudwatch/logMetricFilter:LogMetricFilter": log_groups,
        "aws:cloudwatch/metricAlarm:MetricAlarm": Scope(tuple(a.alarms)),
        "aws:sns/topic:Topic": topic,
        "aws:sns/topicSubscription:TopicSubscription": topic,
        "aws:sns/topicPolicy:TopicPolicy": topic,
        "aws:ssm/parameter:Parameter": Scope(tuple(a.parameter_path(p.parameter_prefix)[1:])),
        # Security group ids are generated: the project's tag limits every call on an existing group.
        "aws:ec2/securityGroup:SecurityGroup": Scope((a.security_groups,), tag=_TAG_KEY),
        "aws:cloudtrail/trail:Trail": Scope((p.project_pattern("cloudtrail", "trail"),)),
        "aws:accessanalyzer/analyzer:Analyzer": Scope((p.project_pattern("access-analyzer", "analyzer"),)),
        "aws:ecr/getAuthorizationToken:getAuthorizationToken": anything,
        # A pinned stack lists its own repository's images to find the pinned digest before the task uses it.
        "aws:ecr/getImages:getImages": repository,
        "aws:ec2/getVpc:getVpc": Scope((a.vpcs,)),
        "aws:ec2/getSubnets:getSubnets": anything,
        "aws:ec2/getSubnet:getSubnet": anything,
    }


def _entries() -> tuple[ProviderActions, ...]:
    """Every entry that makes AWS calls: resource types and provider functions."""
    return tuple(e for e in (*provider_actions.TYPES.values(), *provider_actions.INVOKES.values()) if e.actions())


def _sid(token: str) -> str:
    """``aws:ecs/taskDefinition:TaskDefinition`` -> ``EcsTaskDefinition`` (statement ids are alphanumeric)."""
    module, name = token.split(":")[1].split("/")
    return module.replace("-", "").capitalize() + name[0].upper() + name[1:]


def _statements(p: ProjectArns, actions_of: Callable[[ProviderActions], Iterable[str]], prefix: str) -> list[Statement]:
    """One statement per distinct scope (types sharing resources share a statement: IAM caps inline policy size)."""
    scopes = _scopes(p)
    star: set[str] = set()
    grouped: dict[Scope, tuple[str, set[str]]] = {}
    for entry in _entries():
        if entry.token not in scopes:
            raise KeyError(f"{entry.token}: no scope for the CI roles; add it to _scopes in components/ci_policies.py")
        wanted = set(actions_of(entry)) - {PASS_ROLE}
        star_only = {s.action for s in entry.star_only}
        star |= wanted & star_only
        if named := wanted - star_only:
            scope = scopes[entry.token]
            _, actions = grouped.setdefault(scope, (prefix + _sid(entry.token), set()))
            actions |= named
    statements = [
        policy_docs.statement(
            sid,
            sorted(actions),
            list(scope.resources),
            conditions={"StringEquals": {f"aws:ResourceTag/{scope.tag}": naming.PROJECT}} if scope.tag else None,
        )
        for scope, (sid, actions) in grouped.items()
    ]
    if star:
        # Every action here is one AWS authorizes only on "*"; each entry's reason is in policy/provider_actions.py.
        statements.append(policy_docs.statement(prefix + "OnlyOnStar", sorted(star), "*"))
    return statements


_REQUEST_TAGGED = frozenset({"ec2:CreateSecurityGroup"})
"""Creations whose new resource has no ARN yet: granted by ``_create_security_group`` on the request's tag."""


def _deploy_actions(entry: ProviderActions) -> Iterable[str]:
    """CI-deployable types: everything the provider calls; admin-only types: what it reads only."""
    return entry.actions() - _REQUEST_TAGGED if entry.deployer is Deployer.CI else entry.read


def _preview_actions(entry: ProviderActions) -> Iterable[str]:
    planned = {VALIDATE_DEFINITION} & entry.actions()
    return (*entry.read, *planned)


def _create_security_group(p: ProjectArns) -> list[Statement]:
    """Creating the task's group: a new id has no tag yet, so the request must carry the project's tag."""
    a = p.arns
    return [
        policy_docs.statement(
            "DeployCreateProjectSecurityGroup",
            ["ec2:CreateSecurityGroup"],
            [a.security_groups],
            conditions={"StringEquals": {f"aws:RequestTag/{_TAG_KEY}": naming.PROJECT}},
        ),
        policy_docs.statement(
            "DeployTagOnCreate",
            ["ec2:CreateTags"],
            [a.security_groups],
            conditions={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
        ),
        # A group is created inside a VPC, which the call names too; the default VPC carries no tag of ours.
        policy_docs.statement("DeployCreateSecurityGroupInVpc", ["ec2:CreateSecurityGroup"], [a.vpcs]),
    ]


def _pass_roles(a: StackArns) -> list[Statement]:
    """``iam:PassRole`` of each admin-made workload role, only to the service that role is for."""
    passes = (
        ("PassTaskRoles", [a.task_role, a.execution_role], "ecs-tasks.amazonaws.com"),
        ("PassStateMachineRole", [a.state_machine_role], "states.amazonaws.com"),
        ("PassScheduleRole", [a.schedule_role], "events.amazonaws.com"),
    )
    return [
        policy_docs.statement(
            "Deploy" + sid, [PASS_ROLE], roles, conditions={"StringEquals": {"iam:PassedToService": service}}
        )
        for sid, roles, service in passes
    ]


def deploy_role_policy(*, arns: StackArns, parameter_prefix: str, owns_artifact_store: bool) -> Document:
    """What CI's ``pulumi up`` may do: deploy the CI-deployable types, read the admin-only ones (module docstring)."""
    p = ProjectArns(arns, parameter_prefix, owns_artifact_store)
    return policy_docs.document(
        *_statements(p, _deploy_actions, "Deploy"), *_create_security_group(p), *_pass_roles(arns)
    )


def preview_role_policy(*, arns: StackArns, parameter_prefix: str, owns_artifact_store: bool) -> Document:
    """What a pull request's ``pulumi preview --refresh`` may do: read this project's resources, nothing else."""
    return policy_docs.document(
        *_statements(ProjectArns(arns, parameter_prefix, owns_artifact_store), _preview_actions, "Preview")
    )


def actions_granted(document: Document) -> set[str]:
    """Every action an Allow of ``document`` names (for the coverage tests and ``dsctl check``)."""
    granted: set[str] = set()
    for s in document["Statement"]:
        if s["Effect"] == "Allow":
            granted |= set(_as_list(s["Action"]))
    return granted


def _as_list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else [value]
