"""OperatorRole (each stack, when it has operators): the role ``dsctl`` runs as, ``ds-preprocessing-operator``.

Trusted only by the configured ``operatorPrincipalArns`` and, by an ``aws:PrincipalArn`` pattern that survives
re-provisioning, by the roles of the ``operatorPermissionSet`` (IAM Identity Center) in this account; allowed
exactly what dsctl calls in this account (``policy_docs.operator_policy``).
In the owning account that includes publishing to the
store's ``models/*``; in a reading account it is the identity side of the store's cross-account
grant, which already names this role (default ``artifactReaderRolePatterns``). Its permissions
boundary is a managed policy of its own holding the same document (CI's deploy role cannot change either: both are
admin-only, see components/ci_access.py).
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


class OperatorRole(pulumi.ComponentResource):
    """Role ``ds-preprocessing-operator`` with its policy and its own permissions boundary."""

    role: aws.iam.Role
    boundary: aws.iam.Policy

    def __init__(self, name: str, args: OperatorRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.OPERATOR_ROLE_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = document_json(
            policy_docs.operator_policy,
            arns=StackArns(args.environment, args.account_id, args.region),
            parameter_prefix=args.parameter_prefix,
            artifact_bucket_arn=args.store.bucket_arn,
            artifact_key_arn=args.store.kms_key_arn,
            owns_artifact_store=args.owns_artifact_store,
        )
        self.boundary = aws.iam.Policy(
            f"{name}-boundary",
            aws.iam.PolicyArgs(
                name=naming.operator_boundary(args.environment),
                description="Permissions boundary of the operator role: exactly what dsctl does in this account",
                policy=policy,
            ),
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=naming.operator_role(),
                description=f"Operators run dsctl for {naming.stack_label(args.environment)}: promote, run, inspect",
                assume_role_policy=json.dumps(
                    policy_docs.operator_trust(
                        args.principal_arns, account_id=args.account_id, permission_set=args.permission_set
                    ),
                    sort_keys=True,
                ),
                permissions_boundary=self.boundary.arn,
                max_session_duration=3600,
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            aws.iam.RolePolicyArgs(role=self.role.name, name="operate-pipeline", policy=policy),
            opts=child,
        )
        self.register_outputs({"roleArn": self.role.arn})
