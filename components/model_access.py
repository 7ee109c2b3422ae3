"""The identity side of reading models: one inline policy on a role, used by both stacks.

The owning stack grants its own task role (same-account read), the reading stack
grants its task role across accounts; both attach exactly this policy, built by
``policy_docs.model_read_policy``, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import policy_docs
from components.json_output import document_json


@dataclass(frozen=True)
class ModelStoreLocation:
    """Where the artifact store is: bucket name, its KMS key and owning account."""

    bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    # The store's replica (the owner's ``artifactReplica*`` outputs; each resolves to None when it has none):
    # readers are granted it in advance, so failing over (``dsctl model failover``) needs no deploy.
    replica_bucket_name: pulumi.Input[str | None] = None
    replica_kms_key_arn: pulumi.Input[str | None] = None
    replica_region: pulumi.Input[str | None] = None

    @property
    def bucket_arn(self) -> pulumi.Output[str]:
        return pulumi.Output.from_input(self.bucket_name).apply(policy_docs.s3_bucket_arn)

    def read_inputs(self) -> dict[str, pulumi.Input[Any]]:
        """The store keywords of ``policy_docs.model_read_policy`` (and the policies and boundary that reuse it)."""
        replica = pulumi.Output.all(self.replica_bucket_name, self.replica_kms_key_arn, self.replica_region).apply(
            lambda v: policy_docs.ReplicaArns(policy_docs.s3_bucket_arn(v[0]), v[1], v[2]) if all(v) else None
        )
        return {"artifact_bucket_arn": self.bucket_arn, "artifact_key_arn": self.kms_key_arn, "replica": replica}


def grant_model_read(
    name: str, role_name: pulumi.Input[str], store: ModelStoreLocation, region: str, parent: pulumi.Resource
) -> aws.iam.RolePolicy:
    """Attach the read-models policy (``models/*``, ListBucket under ``models/``, decrypt via S3) to a role.

    With a replica in ``store``, the same three grants name the replica and its key (decrypt via S3 in its region).
    """
    return aws.iam.RolePolicy(
        name,
        aws.iam.RolePolicyArgs(
            role=role_name,
            name="read-models",
            policy=document_json(
                policy_docs.model_read_policy,
                region=region,
                **store.read_inputs(),
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
