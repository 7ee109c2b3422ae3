"""The recipe of every workload role: trusted by one AWS service, held under the workload boundary, one inline policy.

The task, execution, state machine and schedule roles are all made here, so none can miss
its permissions boundary or trust a service of another account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import policy_docs


@dataclass(frozen=True)
class ServiceRoleArgs:
    role_name: str
    service: str
    """The service principal that assumes the role, e.g. ``ecs-tasks.amazonaws.com``."""
    account_id: str
    """Trust is limited to this account's use of the service (confused-deputy conditions)."""
    description: str
    boundary_arn: pulumi.Input[str]
    policy_name: str
    policy: pulumi.Input[str]


@dataclass(frozen=True)
class ServiceRole:
    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    """Returned so a resource that needs the permissions at creation (the state machine) can depend on it."""


def service_role(name: str, args: ServiceRoleArgs, parent: pulumi.Resource) -> ServiceRole:
    """Role ``{name}-role`` and its inline policy ``{name}-policy``, both children of ``parent``."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-role",
        aws.iam.RoleArgs(
            name=args.role_name,
            description=args.description,
            assume_role_policy=json.dumps(policy_docs.service_trust(args.service, args.account_id), sort_keys=True),
            permissions_boundary=args.boundary_arn,
        ),
        opts=child,
    )
    policy = aws.iam.RolePolicy(
        f"{name}-policy",
        aws.iam.RolePolicyArgs(role=role.name, name=args.policy_name, policy=args.policy),
        opts=child,
    )
    return ServiceRole(role, policy)
