"""The roles people assume through dsctl: ``ds-preprocessing-operator`` and, in production, ``-promoter``.

OperatorRole (each stack, when it has operators): the role ``dsctl`` runs as. Trusted only by the configured
``operatorPrincipalArns`` and, by an ``aws:PrincipalArn`` pattern that survives re-provisioning, by the roles of the
``operatorPermissionSet`` (IAM Identity Center) in this account; allowed exactly what dsctl calls in this account
(``policy_docs.operator_policy``). In the owning account that includes publishing to the store's ``models/*``; in a
reading account it is the identity side of the store's cross-account grant, which already names this role (default
``artifactReaderRolePatterns``).

PromoterRole (production stacks with ``promoterPermissionSet``): the only role that may change the promoted model
(``model-key``/``model-sha256``); the operator role loses that right there, so who publishes a model and who puts it
into production are different people unless the team names the same permission set on purpose. dsctl assumes it
for ``model promote``/``rollback`` into such a stack; an EventBridge rule alerts on changes by anyone else
(``components.model_watch``).

Each role's permissions boundary is a managed policy of its own holding the same document (CI's deploy role cannot
change either: both are admin-only, see components/ci_access.py). Both trusts allow ``sts:SetSourceIdentity``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import naming, policy_docs, tokens
from components.arns import StackArns
from components.json_output import document_json
from components.model_access import ModelStoreLocation


@dataclass(frozen=True)
class OperatorRoleArgs:
    environment: str
    account_id: str
    region: str
    parameter_prefix: str
    principal_arns: Sequence[str]
    permission_set: str | None
    owns_artifact_store: bool
    store: ModelStoreLocation
    promotes: bool = True
    """False in a stack with a promoter role: the operator may not change the model parameters there."""


@dataclass(frozen=True)
class _PersonRole:
    """One role people assume: its name, trust, policy (also its boundary) and descriptions."""

    role_name: str
    boundary_name: str
    description: str
    boundary_description: str
    trust: policy_docs.Document
    policy: pulumi.Output[str]
    policy_name: str


def _person_role(parent: pulumi.ComponentResource, name: str, spec: _PersonRole) -> aws.iam.Role:
    """The role with its inline policy and a permissions boundary holding the same document."""
    child = pulumi.ResourceOptions(parent=parent)
    boundary = aws.iam.Policy(
        f"{name}-boundary",
        aws.iam.PolicyArgs(name=spec.boundary_name, description=spec.boundary_description, policy=spec.policy),
        opts=child,
    )
    role = aws.iam.Role(
        f"{name}-role",
        aws.iam.RoleArgs(
            name=spec.role_name,
            description=spec.description,
            assume_role_policy=json.dumps(spec.trust, sort_keys=True),
            permissions_boundary=boundary.arn,
            max_session_duration=3600,
        ),
        opts=child,
    )
    aws.iam.RolePolicy(
        f"{name}-policy",
        aws.iam.RolePolicyArgs(role=role.name, name=spec.policy_name, policy=spec.policy),
        opts=child,
    )
    return role


class OperatorRole(pulumi.ComponentResource):
    """Role ``ds-preprocessing-operator`` with its policy and its own permissions boundary."""

    role: aws.iam.Role

    def __init__(self, name: str, args: OperatorRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.OPERATOR_ROLE_COMPONENT, name, None, opts)
        policy = document_json(
            policy_docs.operator_policy,
            arns=StackArns(args.environment, args.account_id, args.region),
            parameter_prefix=args.parameter_prefix,
            **args.store.read_inputs(),
            owns_artifact_store=args.owns_artifact_store,
            promotes=args.promotes,
        )
        what = "promote, run, inspect" if args.promotes else "publish, run, inspect (the promoter role promotes)"
        self.role = _person_role(
            self,
            name,
            _PersonRole(
                role_name=naming.operator_role(),
                boundary_name=naming.operator_boundary(args.environment),
                description=f"Operators run dsctl for {naming.stack_label(args.environment)}: {what}",
                boundary_description="Permissions boundary of the operator role: exactly what dsctl does here",
                trust=policy_docs.operator_trust(
                    args.principal_arns, account_id=args.account_id, permission_set=args.permission_set
                ),
                policy=policy,
                policy_name="operate-pipeline",
            ),
        )
        self.register_outputs({"roleArn": self.role.arn})


@dataclass(frozen=True)
class PromoterRoleArgs:
    environment: str
    account_id: str
    region: str
    parameter_prefix: str
    permission_set: str
    owns_artifact_store: bool
    store: ModelStoreLocation


class PromoterRole(pulumi.ComponentResource):
    """Role ``ds-preprocessing-promoter``: changes a production stack's promoted model, nothing else."""

    role: aws.iam.Role

    def __init__(self, name: str, args: PromoterRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.PROMOTER_ROLE_COMPONENT, name, None, opts)
        policy = document_json(
            policy_docs.promoter_policy,
            arns=StackArns(args.environment, args.account_id, args.region),
            parameter_prefix=args.parameter_prefix,
            **args.store.read_inputs(),
            owns_artifact_store=args.owns_artifact_store,
        )
        self.role = _person_role(
            self,
            name,
            _PersonRole(
                role_name=naming.promoter_role(),
                boundary_name=naming.promoter_boundary(args.environment),
                description=f"Promoters put models into {naming.stack_label(args.environment)}: dsctl model promote",
                boundary_description="Permissions boundary of the promoter role: exactly what a promotion does",
                trust=policy_docs.operator_trust(
                    (),
                    account_id=args.account_id,
                    permission_set=args.permission_set,
                    sid="PromoterPermissionSetAssumes",
                ),
                policy=policy,
                policy_name="promote-models",
            ),
        )
        self.register_outputs({"roleArn": self.role.arn})
