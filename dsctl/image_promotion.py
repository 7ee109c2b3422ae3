"""Image promotion: pin a digest that already ran successfully upstream into a stack file, for a reviewed PR.

A stack that builds nothing runs ``imageDigest`` from its stack file (DESIGN.md §3). Promoting is an edit of that
file, never a deploy: the pull request that carries it is the review, and merging it deploys it. Before writing, the
digest must have a published run (``processed/<run>/manifest.json`` with ``_SUCCESS``) in the ``promotesFrom``
stack's output bucket whose manifest records that ``image_digest``: what reaches prod ran in dev. The edit keeps
the previous pin (``imageDigestPrevious``, the rollback target) and where the evidence is
(``imagePromotionEvidence``, which ``dsctl check`` reads offline, and ``imagePromotionEvidencePrevious``, the
previous pin's, so a rollback restores a pin with its evidence).

The pinned digest is tagged ``keep-<stack>-…`` in every registry that holds a copy someone relies on: the upstream
registry it is promoted from and the pinned stack's own registry, which it runs from. Tagging only upstream is not
enough: ECR documents that replication copies what is *pushed* and keeps destinations "synchronized", but not
that a tag-only ``PutImage`` of an image the destination already holds adds the tag there, so the pinned stack's
copy is tagged directly, with that stack's credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from components import naming
from components.settings import IMAGE_DIGEST, StackSettings, load_stack_settings, project_name
from dsctl.models import error_code
from dsctl.output import CommandError
from dsctl.runs import Evidence, find_published_run

PREVIOUS = "PREVIOUS"
"""``--to PREVIOUS``: roll back to the pin before the current one."""
PIN_KEYS = ("imageDigest", "imageDigestPrevious", "imagePromotionEvidence", "imagePromotionEvidencePrevious")


def find_successful_run(s3: Any, bucket: str, digest: str) -> Evidence | None:
    """The newest published run in ``bucket`` whose manifest ran the image ``digest``."""
    return find_published_run(s3, bucket, lambda manifest: manifest.get("image_digest") == digest)


def digest_of_task_definition(ecs: Any) -> str:
    """The digest the stack's current task definition runs (the building stack has no pin to read offline)."""
    definition = ecs.describe_task_definition(taskDefinition=naming.TASK_FAMILY)["taskDefinition"]
    image = str(definition["containerDefinitions"][0]["image"])
    digest = image.rsplit("@", 1)[-1]
    if not IMAGE_DIGEST.match(digest):
        raise CommandError(f"task definition {naming.TASK_FAMILY} runs {image!r}, not an image by digest; deploy it")
    return digest


def keep_tag(stack: str, digest: str) -> str:
    """The tag that protects a pin from the lifecycle's count rule (``components.job_image.KEEP_TAG_PREFIX``)."""
    return f"keep-{stack}-{digest.removeprefix('sha256:')[:12]}"


def protect(ecr: Any, digest: str, stack: str, where: str = "upstream", fix: str = "") -> str:
    """Tag ``digest`` ``keep-<stack>-…`` in ``ecr``'s repository (a new tag: allowed on an IMMUTABLE repository).

    The lifecycle's rule 1 never expires ``keep-`` images. ``where`` names the registry in the error when the digest
    is not there (``fix`` says what to do then).
    """
    tag = keep_tag(stack, digest)
    found = ecr.batch_get_image(repositoryName=naming.ECR_REPOSITORY, imageIds=[{"imageDigest": digest}])
    if not found.get("images"):
        raise CommandError(
            f"{digest} is not in the {where} {naming.ECR_REPOSITORY} repository; "
            + (fix or "promote a digest that is there (expired or never pushed; dsctl status shows what runs)")
        )
    image = found["images"][0]
    try:
        ecr.put_image(
            repositoryName=naming.ECR_REPOSITORY,
            imageManifest=image["imageManifest"],
            imageManifestMediaType=image.get("imageManifestMediaType", "application/vnd.oci.image.manifest.v1+json"),
            imageTag=tag,
            imageDigest=digest,
        )
    except ClientError as err:
        if error_code(err) not in ("ImageAlreadyExistsException", "ImageTagAlreadyExistsException"):
            raise
    return tag


def set_stack_values(path: Path, values: Mapping[str, str]) -> None:
    """Set ``<project>:<key>: value`` lines in a stack file, keeping every other line (and comment) as it is."""
    prefix = project_name(path.parent) + ":"
    lines = path.read_text().splitlines()
    for key, value in values.items():
        line = f"  {prefix}{key}: {json.dumps(value) if value == '' else value}"
        pattern = re.compile(rf"^\s+{re.escape(prefix + key)}:")
        at = next((i for i, text in enumerate(lines) if pattern.match(text)), None)
        if at is not None:
            lines[at] = line
        else:
            lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    written = (yaml.safe_load(path.read_text()) or {}).get("config", {})
    for key, value in values.items():
        assert str(written.get(prefix + key, "")) == value, f"{path}: {key} not written as {value!r}"


def _target(project_dir: Path, stack: str) -> tuple[StackSettings, str]:
    """The stack to pin and the stack it promotes from; refused when it builds or promotes from nothing."""
    settings = load_stack_settings(stack, project_dir=project_dir)
    if settings.builds_image:
        raise CommandError(f"{stack} builds the job image itself; promote into a stack that promotes from it")
    if not settings.promotes_from:
        raise CommandError(f"{stack} has no promotesFrom stack to promote an image from; set promotesFrom")
    return settings, settings.promotes_from


def upstream_digest(project_dir: Path, upstream: str, ecs: Any) -> str:
    """What the upstream stack runs now: its pin, or (the builder) its task definition's digest."""
    settings = load_stack_settings(upstream, project_dir=project_dir)
    return digest_of_task_definition(ecs) if settings.builds_image else str(settings.image_digest)


def promote_image(
    project_dir: Path,
    stack: str,
    digest: str | None,
    find: Callable[[str], Evidence | None],
    ecs: Any = None,
    ecr: Any = None,
    target_ecr: Any = None,
) -> dict[str, str]:
    """Pin ``digest`` (default: what upstream runs) into ``Pulumi.<stack>.yaml`` after checking it ran upstream.

    ``find`` searches the upstream output bucket (``find_successful_run`` bound to its client and bucket); with
    ``ecr`` (the upstream registry) and ``target_ecr`` (the pinned stack's own) the digest is tagged
    ``keep-<stack>-…`` in each, so no lifecycle rule expires it there.
    """
    settings, upstream = _target(project_dir, stack)
    if digest is None:
        digest = upstream_digest(project_dir, upstream, ecs)
    if not IMAGE_DIGEST.match(digest):
        raise CommandError(f"{digest!r} is not an image digest; use sha256:<64 hex> (dsctl status shows them)")
    evidence = find(digest)
    if evidence is None:
        raise CommandError(
            f"refused to pin {digest} into {stack}: no successful run of it in {upstream} (no published "
            f"processed/<run>/manifest.json recording it); run it there first (dsctl run start --env {upstream} "
            "--wait), then promote again"
        )
    protected = protect(ecr, digest, stack) if ecr is not None else ""
    if target_ecr is not None:
        replication = (
            f"it has not replicated into {stack}'s registry yet: deploy {stack} once (its registry policy lets "
            f"{upstream} replicate), then push again upstream, and promote when it is there"
        )
        protected = protect(target_ecr, digest, stack, where=f"{stack}'s", fix=replication)
    current = settings.image_digest or ""
    moved = current != digest
    values = {
        "imageDigest": digest,
        "imageDigestPrevious": current if moved else settings.image_digest_previous or "",
        "imagePromotionEvidence": evidence.url,
        "imagePromotionEvidencePrevious": (
            (settings.image_promotion_evidence or "") if moved else settings.image_promotion_evidence_previous or ""
        ),
    }
    set_stack_values(project_dir / f"Pulumi.{stack}.yaml", values)
    registries = ", ".join(r for r, c in ((upstream, ecr), (stack, target_ecr)) if c is not None)
    return {
        "env": stack,
        "from": upstream,
        "run_id": evidence.run_id,
        "protected_by": protected,
        "protected_in": registries,
        **values,
    }


def rollback_image(project_dir: Path, stack: str) -> dict[str, str]:
    """Swap the pin and the previous pin, each with its evidence (the restored pin keeps the upstream run that
    justified it; it was protected by its keep- tag when it was promoted, and tags never move)."""
    settings, _ = _target(project_dir, stack)
    previous = settings.image_digest_previous
    if not previous:
        raise CommandError(f"{stack} has no previous image pin (imageDigestPrevious) to roll back to; pin a DIGEST")
    values = {
        "imageDigest": previous,
        "imageDigestPrevious": settings.image_digest or "",
        "imagePromotionEvidence": settings.image_promotion_evidence_previous or "",
        "imagePromotionEvidencePrevious": settings.image_promotion_evidence or "",
    }
    set_stack_values(project_dir / f"Pulumi.{stack}.yaml", values)
    return {"env": stack, "rolled_back_from": settings.image_digest or "", **values}


def pin_evidence_problem(settings: StackSettings, upstream: StackSettings | None) -> tuple[str, str] | None:
    """(level, message) when a pinned stack's pin has no recorded upstream success; None when it has or builds.

    Offline: the evidence ``image promote`` wrote next to the pin. A missing record is a warning (the pin may
    predate the record, e.g. after a rollback); evidence from another bucket than upstream's output is an error.
    """
    stack = settings.stack
    if settings.builds_image or not settings.image_digest:
        return None
    if settings.image_promotion_evidence is None:
        return (
            "warning",
            f"{stack}: imageDigest {settings.image_digest[:19]}… has no recorded successful run upstream; "
            f"pin it with dsctl image promote --env {stack}",
        )
    if upstream is not None and not settings.image_promotion_evidence.startswith(
        f"s3://{upstream.output_bucket_name}/"
    ):
        return (
            "error",
            f"{stack}: imagePromotionEvidence {settings.image_promotion_evidence} is not a run of its promotesFrom "
            f"stack {upstream.stack} (s3://{upstream.output_bucket_name}/); pin with dsctl image promote --env {stack}",
        )
    return None
