"""CiAccess (every stack): the account's guard rail and the two roles GitHub Actions assumes by OIDC.

Created by the stack's first *admin* ``pulumi up`` in a fresh account (bootstrap in the same program: the
roles' policies are derived from the same table as the resources they deploy, so they can never drift from the
program; docs/infrastructure.md argues it). Every later change to any of them is an admin deploy too: each type
here is admin-only in ``policy/provider_actions.py``.

- ``aws.s3.AccountPublicAccessBlock``: no bucket of the account can be made public, whatever its own settings;
  no CI role can change it.
- The GitHub OIDC provider (or the account's existing one, ``githubOidcProviderArn``).
- The *preview* role, trusted only for ``repo:<githubRepository>:pull_request``: reads only.
- The *deploy* role, trusted only for ``repo:<githubRepository>:environment:<stack>`` (the stack's GitHub
  environment, behind its reviewers and restricted to the default branch): deploys the CI-deployable types.

CI assumes the stack's own roles in the stack's own account directly: no role chaining, no CI principal in
another account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import ci_policies, naming, tokens
from components.arns import StackArns
from components.policy_docs import Document


@dataclass(frozen=True)
class CiAccessArgs:
    arns: StackArns
    parameter_prefix: str
    owns_artifact_store: bool
    github_repository: str | None
    """``owner/repo``; None = no CI roles in this account (the public access block is still made)."""
    github_oidc_provider_arn: str | None
    """The account's existing GitHub OIDC provider; None = create it."""


class CiAccess(pulumi.ComponentResource):
    """Account public access block, GitHub OIDC provider, preview and deploy roles with their policies."""

    preview_role: aws.iam.Role | None = None
    deploy_role: aws.iam.Role | None = None

    def __init__(self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.CI_ACCESS_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.AccountPublicAccessBlock(
            f"{name}-account-public-access-block",
            aws.s3.AccountPublicAccessBlockArgs(
                account_id=args.arns.account_id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            opts=child,
        )
        outputs: dict[str, pulumi.Input[str]] = {}
        if args.github_repository:
            provider_arn, provider_opts = self._oidc_provider(name, args, child)
            env = args.arns.environment
            self.preview_role = self._role(
                f"{name}-preview",
                naming.preview_role(env),
                f"Pull requests preview {naming.stack_label(env)} (pulumi preview --refresh): reads only",
                ci_policies.github_oidc_trust(provider_arn, ci_policies.pull_request_subject(args.github_repository)),
                ci_policies.preview_role_policy(
                    arns=args.arns, parameter_prefix=args.parameter_prefix, owns_artifact_store=args.owns_artifact_store
                ),
                provider_opts,
            )
            self.deploy_role = self._role(
                f"{name}-deploy",
                naming.deploy_role(env),
                f"CI deploys {naming.stack_label(env)} from its GitHub environment: CI-deployable types only",
                ci_policies.github_oidc_trust(
                    provider_arn, ci_policies.environment_subject(args.github_repository, env)
                ),
                ci_policies.deploy_role_policy(
                    arns=args.arns, parameter_prefix=args.parameter_prefix, owns_artifact_store=args.owns_artifact_store
                ),
                provider_opts,
            )
            outputs = {"previewRoleArn": self.preview_role.arn, "deployRoleArn": self.deploy_role.arn}
        self.register_outputs(outputs)

    def _oidc_provider(
        self, name: str, args: CiAccessArgs, child: pulumi.ResourceOptions
    ) -> tuple[str, pulumi.ResourceOptions]:
        """The provider's ARN (known before it exists: IAM derives it from the URL) and options that wait for it."""
        if args.github_oidc_provider_arn:
            return args.github_oidc_provider_arn, child
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-github-oidc",
            aws.iam.OpenIdConnectProviderArgs(
                url=naming.GITHUB_OIDC_URL,
                client_id_lists=[naming.GITHUB_OIDC_AUDIENCE],
                # No thumbprint: for GitHub, IAM validates the issuer's certificate against its own trusted CAs and
                # ignores configured thumbprints (pulumi-aws OpenIdConnectProviderArgs.thumbprint_lists docs).
            ),
            opts=child,
        )
        return ci_policies.oidc_provider_arn(args.arns.account_id), pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[provider])
        )

    def _role(
        self,
        name: str,
        role_name: str,
        description: str,
        trust: Document,
        policy: Document,
        opts: pulumi.ResourceOptions,
    ) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=role_name,
                description=description,
                assume_role_policy=json.dumps(trust, sort_keys=True),
                max_session_duration=3600,
            ),
            opts=opts,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            aws.iam.RolePolicyArgs(role=role.name, name="ci", policy=json.dumps(policy, sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role
