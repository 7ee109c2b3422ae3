"""JobImage: the job's container image and the ECR repository it is pushed to.

Scan on push, immutable tags (a tag always means the same bytes) and a lifecycle that keeps
the last images; the image is built from ``job/`` and pushed under a tag derived from the
build context's content, and the task definition pins it by digest (``digest``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components import naming, tokens
from components.build_context import image_tag
from components.settings import PROJECT_DIR

JOB_CONTEXT = Path("job")
"""Docker build context, relative to the project directory (Pulumi runs the program there)."""
ECR_KEEP_IMAGES = 20


@dataclass(frozen=True)
class JobImageArgs:
    context: Path = JOB_CONTEXT
    """The build context (with its Dockerfile); tests point it elsewhere."""


class JobImage(pulumi.ComponentResource):
    """ECR repository ``ds-preprocessing`` with its lifecycle, and the job image built and pushed into it."""

    repository: aws.ecr.Repository
    image: docker.Image
    repository_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    digest: pulumi.Output[str]
    """``repository@sha256:…``: what the task runs, so a rebuilt tag can never change a deployed task."""

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
            aws.ecr.LifecyclePolicyArgs(repository=self.repository.name, policy=json.dumps(_lifecycle())),
            opts=child,
        )
        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        context = args.context
        tag = image_tag(context if context.is_absolute() else PROJECT_DIR / context)
        self.image = docker.Image(
            name,
            docker.ImageArgs(
                image_name=self.repository.repository_url.apply(lambda url: f"{url}:{tag}"),
                build=docker.DockerBuildArgs(
                    context=str(context), dockerfile=str(context / "Dockerfile"), platform="linux/amd64"
                ),
                registry=docker.RegistryArgs(
                    server=token.proxy_endpoint,
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                ),
            ),
            opts=child,
        )
        self.repository_arn = self.repository.arn
        self.repository_url = self.repository.repository_url
        self.digest = self.image.repo_digest
        self.register_outputs({"repositoryUrl": self.repository_url, "imageDigest": self.digest})


def _lifecycle() -> dict[str, object]:
    """Expire all but the newest images: old digests are only needed while a task definition still pins them."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {ECR_KEEP_IMAGES} images (task definitions pin digests)",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": ECR_KEEP_IMAGES},
                "action": {"type": "expire"},
            }
        ]
    }
