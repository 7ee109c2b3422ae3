"""CrossAccountAccess (reading stack): find the artifact store and grant roles read on it.

The store's location comes from a StackReference to the owning stack or, when the
stacks live in different backends, from explicit config. (CI's roles are in every stack's
own account: components/ci_access.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import tokens
from components.model_access import ModelStoreLocation, grant_model_read
from components.settings import ArtifactSource


@dataclass(frozen=True)
class CrossAccountAccessArgs:
    region: str
    source: ArtifactSource


def store_location(source: ArtifactSource, opts: pulumi.ResourceOptions | None = None) -> ModelStoreLocation:
    """The artifact store of ``source``: explicit values, or the owning stack's outputs."""
    if source.stack_reference:
        owner = pulumi.StackReference(source.stack_reference, opts=opts)
        return ModelStoreLocation(
            bucket_name=owner.require_output("artifactBucketName"),
            kms_key_arn=owner.require_output("artifactKmsKeyArn"),
            account_id=owner.require_output("artifactAccountId"),
            # Optional outputs: None when the owner declares no artifactReplicaRegion.
            replica_bucket_name=owner.get_output("artifactReplicaBucketName"),
            replica_kms_key_arn=owner.get_output("artifactReplicaKmsKeyArn"),
            replica_region=owner.get_output("artifactReplicaRegion"),
        )
    assert source.bucket and source.kms_key_arn and source.account_id, "settings validate explicit sources"
    return ModelStoreLocation(bucket_name=source.bucket, kms_key_arn=source.kms_key_arn, account_id=source.account_id)


class CrossAccountAccess(pulumi.ComponentResource):
    """Task-role read grant on the other account's store."""

    location: ModelStoreLocation

    def __init__(self, name: str, args: CrossAccountAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.CROSS_ACCOUNT_ACCESS_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._region = args.region
        self.location = store_location(args.source, child)
        self.register_outputs({"artifactBucketName": self.location.bucket_name})

    def grant_read(self, name: str, role_name: pulumi.Input[str]) -> aws.iam.RolePolicy:
        """The identity side of the store's grant: let a role of this account read the store's models."""
        return grant_model_read(name, role_name, self.location, self._region, parent=self)
