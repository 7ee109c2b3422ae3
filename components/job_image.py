"""JobImage: the stack's ECR repository and the one image digest its task runs.

Build once, promote digests (DESIGN.md §3). Exactly one stack builds (``buildsImage``): it builds
``job/`` with pulumi-docker -- also during preview, so a broken Dockerfile fails the pull request --
pushes it under a tag that changes whenever pulumi-docker would push (``build_context.image_tag``),
and its registry replicates every push to the accounts of the other stacks. Every other stack builds
nothing: it runs the digest pinned in its stack file (``imageDigest``, written by ``dsctl image
promote``) from its own repository, and the deploy stops with the fix when that digest has not
arrived there yet.

Why replication rather than a cross-account pull: the pinned stack runs from its own registry, so a
dev-account outage or a deletion in dev cannot stop a production run (availability, blast radius);
the pinned account's lifecycle protects what it runs; pulls stay in-account (no cross-account
repository policy naming other accounts' roles); the digest is preserved; and the storage cost is a
few hundred MB per account. The cost: only pushes made after both sides are deployed replicate, so
the first deploy order is builder's replication rule + reader's registry policy, then a build.

Lifecycle: images tagged ``keep-`` (``dsctl image promote`` tags the pin and the previous pin) match
rule 1, which no lower rule may expire; rule 2 expires other images beyond a count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components import naming, policy_docs, tokens
from components.build_context import BuildInputs, image_tag, provider_version
from components.json_output import document_json
from components.settings import PROJECT_DIR

JOB_CONTEXT = Path("job")
"""Docker build context, relative to the project directory (Pulumi runs the program there)."""
PLATFORM = naming.IMAGE_PLATFORM
ECR_KEEP_IMAGES = 20
KEEP_TAG_PREFIX = "keep-"
"""Tag prefix that protects an image from expiry (``dsctl image promote`` adds it to the pins)."""
KEEP_TAGGED_MAX = 9999
"""Rule 1 must expire *something* past a count: a number no promotion history reaches."""


@dataclass(frozen=True)
class JobImageArgs:
    account_id: str
    region: str
    pinned_digest: str | None = None
    """None: this stack builds the image. Else ``sha256:…``: the digest this stack runs."""
    replicate_to: Sequence[str] = ()
    """Building stack: accounts whose registries receive every push (the other stacks')."""
    source_account_id: pulumi.Input[str] | None = None
    """Pinned stack: the building account, the only one allowed to replicate into this registry."""
    context: Path = JOB_CONTEXT
    """The build context (with its Dockerfile); tests point it elsewhere."""


class JobImage(pulumi.ComponentResource):
    """ECR repository ``ds-preprocessing`` with its protecting lifecycle, and the digest the task runs."""

    repository: aws.ecr.Repository
    image: docker.Image | None
    repository_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    image_digest: pulumi.Output[str]
    """``sha256:…``: the image's identity (passed to the job, recorded in run manifests)."""
    digest: pulumi.Output[str]
    """``repository@sha256:…``: what the task runs, so a new tag can never change a deployed task."""

    def __init__(self, name: str, args: JobImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.JOB_IMAGE_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            aws.ecr.RepositoryArgs(
                name=naming.ECR_REPOSITORY,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                force_delete=False,
            ),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repository-lifecycle",
            aws.ecr.LifecyclePolicyArgs(repository=self.repository.name, policy=json.dumps(lifecycle_policy())),
            opts=child,
        )
        self.repository_arn = self.repository.arn
        self.repository_url = self.repository.repository_url
        if args.pinned_digest is None:
            self.image = self._build(name, args)
            self.digest = self.image.repo_digest
            self.image_digest = self.digest.apply(lambda ref: ref.rsplit("@", 1)[-1])
        else:
            self.image = None
            self.image_digest = self._pinned(name, args, args.pinned_digest)
            self.digest = pulumi.Output.concat(self.repository_url, "@", self.image_digest)
        self.register_outputs(
            {"repositoryUrl": self.repository_url, "imageDigest": self.image_digest, "imageRef": self.digest}
        )

    def _build(self, name: str, args: JobImageArgs) -> docker.Image:
        """Build on preview (a PR sees a broken build), push on up (with the host's Docker credentials), and
        replicate each push to the readers."""
        context = args.context
        root = context if context.is_absolute() else PROJECT_DIR / context
        tag = image_tag(BuildInputs(root, root / "Dockerfile", PLATFORM, {}, provider_version()))
        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        if args.replicate_to:
            aws.ecr.ReplicationConfiguration(
                f"{name}-replication",
                aws.ecr.ReplicationConfigurationArgs(
                    replication_configuration=aws.ecr.ReplicationConfigurationReplicationConfigurationArgs(
                        rules=[
                            aws.ecr.ReplicationConfigurationReplicationConfigurationRuleArgs(
                                destinations=[
                                    aws.ecr.ReplicationConfigurationReplicationConfigurationRuleDestinationArgs(
                                        region=args.region, registry_id=account
                                    )
                                    for account in args.replicate_to
                                ],
                                repository_filters=[
                                    aws.ecr.ReplicationConfigurationReplicationConfigurationRuleRepositoryFilterArgs(
                                        filter=naming.ECR_REPOSITORY, filter_type="PREFIX_MATCH"
                                    )
                                ],
                            )
                        ]
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return docker.Image(
            name,
            docker.ImageArgs(
                image_name=self.repository.repository_url.apply(lambda url: f"{url}:{tag}"),
                build=docker.DockerBuildArgs(
                    context=str(context), dockerfile=str(context / "Dockerfile"), platform=PLATFORM
                ),
                build_on_preview=True,
                # The server only: pulumi-docker then pushes with the Docker client's own credentials for it
                # (`docker login` with `aws ecr get-login-password` before `pulumi up`: the deploy workflow does it),
                # so no registry password is an input, and none is kept in the stack's state, where every credential
                # that can preview (pull requests included) could decrypt it: an ECR token is a push credential for
                # 12 hours. pulumi-docker's Diff ignores username/password, so dropping them rebuilds nothing.
                registry=docker.RegistryArgs(server=token.proxy_endpoint),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _pinned(self, name: str, args: JobImageArgs, pinned: str) -> pulumi.Output[str]:
        """Let the builder replicate in, and resolve to the pin only once the repository holds it."""
        if args.source_account_id:
            aws.ecr.RegistryPolicy(
                f"{name}-registry-policy",
                aws.ecr.RegistryPolicyArgs(
                    policy=document_json(
                        policy_docs.registry_replication_policy,
                        source_account_id=args.source_account_id,
                        repository_arn=self.repository.arn,
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        images = aws.ecr.get_images_output(
            repository_name=self.repository.name,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[self.repository]),
        )
        return images.image_ids.apply(lambda ids: require_digest(pinned, [_digest_of(i) for i in ids or []]))


def _digest_of(image_id: Any) -> str:
    return str(image_id.image_digest if hasattr(image_id, "image_digest") else image_id.get("imageDigest"))


def require_digest(pinned: str, present: Sequence[str]) -> str:
    """The pin when the registry holds it; else stop the deploy saying why and what to do."""
    if pinned in present:
        return pinned
    raise pulumi.RunError(
        f"imageDigest {pinned} is not in this account's {naming.ECR_REPOSITORY} repository yet — it arrives by "
        "replication from the building stack, only for pushes made after both stacks were deployed; check the "
        "builder's replication status (aws ecr describe-image-replication-status), or re-push it by deploying the "
        "building stack, or pin a digest that is present with `dsctl image promote`"
    )


def lifecycle_policy() -> dict[str, object]:
    """Rule 1 selects the ``keep-`` tagged pins, so no lower rule may expire them; rule 2 expires the rest
    beyond a count (ECR: an image matching a higher-priority rule's tag selection is never expired by a lower one)."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "promoted and previous pins (keep-*): never expired by rule 2",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": [KEEP_TAG_PREFIX],
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_TAGGED_MAX,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the last {ECR_KEEP_IMAGES} other images (task definitions pin digests)",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": ECR_KEEP_IMAGES},
                "action": {"type": "expire"},
            },
        ]
    }
