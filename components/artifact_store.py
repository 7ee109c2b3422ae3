"""ArtifactStore (owning stack): the model bucket, its customer-managed key and the readers' grants.

Published versions are write-once by bucket policy (``policy_docs.store_immutability_statements``): nobody but
the configured administrators may write under ``models/`` without ``If-None-Match``, delete a model object or
version, or change the bucket's versioning, lifecycle, encryption, replication or policy; only they may disable,
delete or re-policy the key.

Reader accounts get GetObject on ``models/*`` and ListBucket under ``models/`` only, for
role names matching the configured patterns, and may use the key only through S3. The
grants name each account's root plus ``aws:PrincipalArn`` patterns, so they are valid
before the reader's roles exist (the reading stack is deployed after this one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import naming, policy_docs, tokens
from components.model_access import ModelStoreLocation, grant_model_read
from components.secure_bucket import SecureBucket, SecureBucketArgs


@dataclass(frozen=True)
class ArtifactStoreArgs:
    environment: str
    account_id: str
    region: str
    reader_accounts: Sequence[str]
    reader_role_patterns: Sequence[str]
    admin_principal_arns: Sequence[str] = ()
    """Who may break glass on the store (delete versions, change its policies, disable its key)."""


class ArtifactStore(pulumi.ComponentResource):
    """Bucket ``ds-artifacts-{env}-{account}-{region}`` with SSE-KMS on a rotating customer-managed key."""

    key: aws.kms.Key
    bucket: SecureBucket
    location: ModelStoreLocation

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.ARTIFACT_STORE_COMPONENT, name, None, opts)
        self._region = args.region
        child = pulumi.ResourceOptions(parent=self)
        key_policy = policy_docs.artifact_key_policy(
            args.account_id, args.region, args.reader_accounts, args.reader_role_patterns, args.admin_principal_arns
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description=f"Model artifacts of {naming.stack_label(args.environment)}; readers decrypt through S3",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=json.dumps(key_policy, sort_keys=True),
            ),
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            aws.kms.AliasArgs(name=naming.artifact_key_alias(args.environment), target_key_id=self.key.key_id),
            opts=child,
        )
        bucket_name = naming.artifact_bucket(args.environment, args.account_id, args.region)
        bucket_arn = policy_docs.s3_bucket_arn(bucket_name)
        self.bucket = SecureBucket(
            name,
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=self.key.arn,
                policy_statements=[
                    *policy_docs.store_immutability_statements(bucket_arn, args.admin_principal_arns),
                    *policy_docs.artifact_reader_statements(
                        bucket_arn, args.reader_accounts, args.reader_role_patterns
                    ),
                ],
                # Model versions are immutable (the policy above); noncurrent versions exist only after an admin's
                # break-glass change, kept a year for audits.
                noncurrent_version_days=365,
            ),
            opts=child,
        )
        self.location = ModelStoreLocation(
            bucket_name=self.bucket.bucket_name, kms_key_arn=self.key.arn, account_id=args.account_id
        )
        self.reader_principal_patterns = policy_docs.reader_principal_patterns(
            args.reader_accounts, args.reader_role_patterns
        )
        self.register_outputs(
            {"bucketName": self.bucket.bucket_name, "bucketArn": self.bucket.arn, "keyArn": self.key.arn}
        )

    def grant_read(self, name: str, role_name: pulumi.Input[str]) -> aws.iam.RolePolicy:
        """Let a role of this (owning) account read models, with the same policy readers get."""
        return grant_model_read(name, role_name, self.location, self._region, parent=self)
