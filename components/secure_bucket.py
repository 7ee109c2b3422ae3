"""SecureBucket: the one hardened S3 bucket recipe every bucket of the project uses.

Public access blocked, ACLs disabled (BucketOwnerEnforced), default encryption (SSE-KMS
with a bucket key when a key is given, else SSE-S3), versioning, a TLS-only bucket
policy and lifecycle rules (abort stale multipart uploads, expire old versions and
per-prefix scratch data). Making it one component means no bucket can miss a setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import policy_docs, tokens
from components.json_output import document_json


@dataclass(frozen=True)
class SecureBucketArgs:
    """What differs between buckets; everything else is fixed hardening."""

    bucket_name: str
    kms_key_arn: pulumi.Input[str] | None = None
    """Customer-managed key for SSE-KMS; None = SSE-S3 (AES256)."""
    policy_statements: Sequence[policy_docs.Statement] = ()
    """Statements added after the TLS-only deny (e.g. cross-account read grants)."""
    noncurrent_version_days: int = 90
    expire_prefixes: Mapping[str, int] = field(default_factory=dict)
    """Prefix -> days after which current objects under it expire (scratch data)."""
    abort_multipart_days: int = 7
    region: str | None = None
    """Region of the bucket and its settings when not the provider's (the store's replica); None = the provider's."""
    expire_after_days: int = 0
    """Expire every current object (and noncurrent version) after this many days; 0 = keep (``dataRetentionDays``)."""


class SecureBucket(pulumi.ComponentResource):
    """A private, encrypted, versioned, TLS-only bucket with lifecycle rules."""

    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    """Exposed so replication (which S3 refuses on an unversioned bucket) can wait for it."""
    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.SECURE_BUCKET_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name, aws.s3.BucketArgs(bucket=args.bucket_name, force_destroy=False, region=args.region), opts=child
        )
        bucket_id = self.bucket.id
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                bucket=bucket_id,
                region=args.region,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            opts=child,
        )
        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            aws.s3.BucketPublicAccessBlockArgs(
                bucket=bucket_id,
                region=args.region,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            aws.s3.BucketVersioningInitArgs(
                bucket=bucket_id,
                region=args.region,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            ),
            opts=child,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms" if args.kms_key_arn is not None else "AES256",
            kms_master_key_id=args.kms_key_arn,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                bucket=bucket_id,
                region=args.region,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=encryption,
                        bucket_key_enabled=args.kms_key_arn is not None,
                    )
                ],
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(bucket=bucket_id, rules=_lifecycle_rules(args), region=args.region),
            # Noncurrent-version rules: versioning first (the provider's documented order for versioned buckets).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            aws.s3.BucketPolicyArgs(
                bucket=bucket_id,
                region=args.region,
                policy=document_json(
                    policy_docs.bucket_policy, bucket_arn=self.bucket.arn, extra=list(args.policy_statements)
                ),
            ),
            # A policy with cross-account grants is refused while the public access block is being set up.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block]),
        )
        self.versioning = versioning
        self.bucket_name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "arn": self.arn})


def _lifecycle_rules(args: SecureBucketArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    everything = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
    rules = [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-multipart-uploads",
            status="Enabled",
            filter=everything,
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=args.abort_multipart_days
            ),
        ),
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-noncurrent-versions",
            status="Enabled",
            filter=everything,
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=min(
                    args.noncurrent_version_days, args.expire_after_days or args.noncurrent_version_days
                )
            ),
        ),
    ]
    if args.expire_after_days:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-data",
                status="Enabled",
                filter=everything,
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expire_after_days),
            )
        )
    for prefix, days in sorted(args.expire_prefixes.items()):
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id=f"expire-{prefix.strip('/').replace('/', '-') or 'all'}",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
            )
        )
    return rules
