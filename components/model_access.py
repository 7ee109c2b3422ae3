"""The identity side of reading models: one inline policy on a role, used by both stacks.

The owning stack grants its own task role (same-account read), the reading stack
grants its task role across accounts; both attach exactly this policy, built by
``policy_docs.model_read_policy``, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def bucket_arn(self) -> pulumi.Output[str]:
        return pulumi.Output.from_input(self.bucket_name).apply(policy_docs.s3_bucket_arn)


def grant_model_read(
    name: str, role_name: pulumi.Input[str], store: ModelStoreLocation, region: str, parent: pulumi.Resource
) -> aws.iam.RolePolicy:
    """Attach the read-models policy (``models/*``, ListBucket under ``models/``, decrypt via S3) to a role."""
    return aws.iam.RolePolicy(
        name,
        aws.iam.RolePolicyArgs(
            role=role_name,
            name="read-models",
            policy=document_json(
                policy_docs.model_read_policy,
                region=region,
                artifact_bucket_arn=store.bucket_arn,
                artifact_key_arn=store.kms_key_arn,
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
