"""The explicit AWS provider of a stack: pinned account, region, default tags.

Every resource gets this provider (components pass it down through ``providers``), so a
stack can never deploy into an account other than its own ``accountId``: the provider
refuses credentials for any other account before touching anything.

The provider never assumes a role itself: whoever runs ``pulumi`` already holds the right credentials for the
stack's own account (an administrator's SSO session, or CI's OIDC session of the stack's deploy or preview role,
see components/ci_access.py). One role-chaining mechanism: none.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components import naming
from components.settings import StackSettings


def default_tags(settings: StackSettings) -> dict[str, str]:
    """Tags every taggable resource of the stack carries (cost reports, ownership, drift checks)."""
    return {"Project": naming.PROJECT, "Environment": settings.environment, "ManagedBy": "pulumi"}


def aws_provider(settings: StackSettings) -> aws.Provider:
    """The stack's AWS provider, pinned to ``accountId`` and ``region``, with the default tags."""
    return aws.Provider(
        naming.aws_provider(settings.environment),
        aws.ProviderArgs(
            region=settings.region,
            allowed_account_ids=[settings.account_id],
            default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(settings)),
        ),
    )


def with_provider(provider: aws.Provider, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """Resource options that route every AWS resource of a component tree through ``provider``."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"aws": provider}))
