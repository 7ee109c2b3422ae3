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
from components.json_output import document_json
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
    replica_region: str | None = None
    """``artifactReplicaRegion``: replicate ``models/`` into a bucket with its own key there; None = no replica."""


@dataclass(frozen=True)
class StoreReplica:
    """The store's replica: bucket, its own key and region (readers' grants on both exist from the start)."""

    bucket_name: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    region: str


class ArtifactStore(pulumi.ComponentResource):
    """Bucket ``ds-artifacts-{env}-{account}-{region}`` with SSE-KMS on a rotating customer-managed key."""

    key: aws.kms.Key
    bucket: SecureBucket
    location: ModelStoreLocation
    replica: StoreReplica | None

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.ARTIFACT_STORE_COMPONENT, name, None, opts)
        self._region = args.region
        self.key = self._key(name, args, None)
        self.bucket = self._bucket(name, args, self.key, None)
        self.location = ModelStoreLocation(
            bucket_name=self.bucket.bucket_name, kms_key_arn=self.key.arn, account_id=args.account_id
        )
        self.reader_principal_patterns = policy_docs.reader_principal_patterns(
            args.reader_accounts, args.reader_role_patterns
        )
        self.replica = self._replica(name, args, args.replica_region) if args.replica_region else None
        self.register_outputs(
            {"bucketName": self.bucket.bucket_name, "bucketArn": self.bucket.arn, "keyArn": self.key.arn}
        )

    def _key(self, name: str, args: ArtifactStoreArgs, region: str | None) -> aws.kms.Key:
        """The store's key (``region`` None) or the replica's own key in ``region``: same policy, that region's S3."""
        policy = policy_docs.artifact_key_policy(
            args.account_id,
            region or args.region,
            args.reader_accounts,
            args.reader_role_patterns,
            args.admin_principal_arns,
        )
        where = f" (replica in {region})" if region else ""
        label = naming.stack_label(args.environment)
        key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description=f"Model artifacts of {label}{where}; readers decrypt through S3",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=json.dumps(policy, sort_keys=True),
                region=region,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            # Aliases are regional, but one name per key keeps them apart wherever regions are not (the local env).
            aws.kms.AliasArgs(
                name=naming.artifact_key_alias(args.environment) + ("-replica" if region else ""),
                target_key_id=key.key_id,
                region=region,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key

    def _bucket(self, name: str, args: ArtifactStoreArgs, key: aws.kms.Key, region: str | None) -> SecureBucket:
        """The store's bucket, or its replica: the same write-once denies and reader grants on either."""
        bucket_name = naming.artifact_bucket(args.environment, args.account_id, region or args.region)
        bucket_arn = policy_docs.s3_bucket_arn(bucket_name)
        return SecureBucket(
            name,
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=key.arn,
                policy_statements=[
                    *policy_docs.store_immutability_statements(bucket_arn, args.admin_principal_arns),
                    *policy_docs.artifact_reader_statements(
                        bucket_arn, args.reader_accounts, args.reader_role_patterns
                    ),
                ],
                # Model versions are immutable (the policy above); noncurrent versions exist only after an admin's
                # break-glass change, kept a year for audits.
                noncurrent_version_days=365,
                region=region,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _replica(self, name: str, args: ArtifactStoreArgs, region: str) -> StoreReplica:
        """Bucket and key in ``region``, and S3 replication of every new ``models/`` object into them.

        One provider, resources placed by pulumi-aws 7's per-resource ``region``: the provider's account pin and
        default tags hold for the replica too. Delete markers are not replicated (a delete in the store never hides
        a model in the replica); objects are re-encrypted with the replica's own key, so losing or disabling the
        store's key leaves the replica readable. Replication copies objects written after it is on: an admin copies
        the existing versions once with S3 Batch Replication (republishing is refused: versions are write-once).
        """
        key = self._key(f"{name}-replica", args, region)
        bucket = self._bucket(f"{name}-replica", args, key, region)
        role = aws.iam.Role(
            f"{name}-replication-role",
            aws.iam.RoleArgs(
                name=naming.store_replication_role(args.environment),
                description="S3 replicates the model store's models/ into its replica",
                assume_role_policy=json.dumps(
                    policy_docs.service_trust("s3.amazonaws.com", args.account_id), sort_keys=True
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-replication-policy",
            aws.iam.RolePolicyArgs(
                role=role.name,
                name="replicate-models",
                policy=document_json(
                    policy_docs.store_replication_policy,
                    source_bucket_arn=self.bucket.arn,
                    replica_bucket_arn=bucket.arn,
                    source_key_arn=self.key.arn,
                    replica_key_arn=key.arn,
                    region=args.region,
                    replica_region=region,
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            aws.s3.BucketReplicationConfigArgs(
                bucket=self.bucket.bucket.id,
                role=role.arn,
                rules=[
                    aws.s3.BucketReplicationConfigRuleArgs(
                        id="models-to-replica",
                        status="Enabled",
                        filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=naming.MODELS_PREFIX),
                        delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                            status="Disabled"
                        ),
                        source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                            sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                                status="Enabled"
                            )
                        ),
                        destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                            bucket=bucket.arn,
                            storage_class="STANDARD",
                            encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                                replica_kms_key_id=key.arn
                            ),
                        ),
                    )
                ],
            ),
            # S3 refuses replication until both buckets are versioned and the role may act.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bucket.versioning, bucket.versioning, policy]),
        )
        return StoreReplica(bucket_name=bucket.bucket_name, kms_key_arn=key.arn, region=region)

    def grant_read(self, name: str, role_name: pulumi.Input[str]) -> aws.iam.RolePolicy:
        """Let a role of this (owning) account read models, with the same policy readers get."""
        return grant_model_read(name, role_name, self.location, self._region, parent=self)
