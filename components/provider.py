"""The explicit AWS provider of a stack: pinned account, region, default tags, optional CI role.

Every resource gets this provider (components pass it down through ``providers``), so a
stack can never deploy into an account other than its own ``accountId``: the provider
refuses credentials for any other account before touching anything.
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
    """The stack's AWS provider; assumes ``deployRoleArn`` when set (CI deploying across accounts)."""
    assume_roles = None
    if settings.deploy_role_arn:
        assume_roles = [
            aws.ProviderAssumeRoleArgs(
                role_arn=settings.deploy_role_arn,
                session_name=naming.deploy_session(settings.environment),
            )
        ]
    return aws.Provider(
        naming.aws_provider(settings.environment),
        aws.ProviderArgs(
            region=settings.region,
            allowed_account_ids=[settings.account_id],
            default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(settings)),
            assume_roles=assume_roles,
        ),
    )


def with_provider(provider: aws.Provider, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """Resource options that route every AWS resource of a component tree through ``provider``."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"aws": provider}))
