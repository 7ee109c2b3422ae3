"""CrossAccountAccess (reading stack): find the artifact store, grant roles read on it, create the deploy role.

The store's location comes from a StackReference to the owning stack or, when the
stacks live in different backends, from explicit config. The deploy role trusts only
the configured CI principal and may manage only this project's named resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import naming, policy_docs, tokens
from components.model_access import ModelStoreLocation, grant_model_read
from components.settings import ArtifactSource


@dataclass(frozen=True)
class CrossAccountAccessArgs:
    environment: str
    account_id: str
    region: str
    parameter_prefix: str
    source: ArtifactSource
    ci_principal_arn: str


def store_location(source: ArtifactSource, opts: pulumi.ResourceOptions | None = None) -> ModelStoreLocation:
    """The artifact store of ``source``: explicit values, or the owning stack's outputs."""
    if source.stack_reference:
        owner = pulumi.StackReference(source.stack_reference, opts=opts)
        return ModelStoreLocation(
            bucket_name=owner.require_output("artifactBucketName"),
            kms_key_arn=owner.require_output("artifactKmsKeyArn"),
            account_id=owner.require_output("artifactAccountId"),
        )
    assert source.bucket and source.kms_key_arn and source.account_id, "settings validate explicit sources"
    return ModelStoreLocation(bucket_name=source.bucket, kms_key_arn=source.kms_key_arn, account_id=source.account_id)


class CrossAccountAccess(pulumi.ComponentResource):
    """Task-role read grant on the other account's store, and the scoped deploy role for CI."""

    location: ModelStoreLocation
    deploy_role: aws.iam.Role

    def __init__(self, name: str, args: CrossAccountAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.CROSS_ACCOUNT_ACCESS_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._region = args.region
        self.location = store_location(args.source, child)
        self.deploy_role = aws.iam.Role(
            f"{name}-deploy-role",
            aws.iam.RoleArgs(
                name=naming.deploy_role(args.environment),
                description=f"CI deploys {naming.stack_label(args.environment)} with pulumi up; scoped, not admin",
                assume_role_policy=json.dumps(policy_docs.principal_trust(args.ci_principal_arn), sort_keys=True),
                max_session_duration=3600,
            ),
            opts=child,
        )
        deploy_policy = policy_docs.deploy_role_policy(
            environment=args.environment,
            account_id=args.account_id,
            region=args.region,
            parameter_prefix=args.parameter_prefix,
        )
        aws.iam.RolePolicy(
            f"{name}-deploy-policy",
            aws.iam.RolePolicyArgs(
                role=self.deploy_role.name, name="deploy-project", policy=json.dumps(deploy_policy, sort_keys=True)
            ),
            opts=child,
        )
        self.register_outputs({"deployRoleArn": self.deploy_role.arn, "artifactBucketName": self.location.bucket_name})

    def grant_read(self, name: str, role_name: pulumi.Input[str]) -> aws.iam.RolePolicy:
        """The identity side of the store's grant: let a role of this account read the store's models."""
        return grant_model_read(name, role_name, self.location, self._region, parent=self)
