"""dsctl image promote: a digest reaches a stack file only after it ran successfully upstream; rollback; a chain.

The evidence search runs against moto S3; the pin edits run on a temporary copy of the project's stack files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from components.job_image import KEEP_TAG_PREFIX
from components.settings import PROJECT_DIR, load_stack_settings
from dsctl.image_promotion import (
    Evidence,
    find_successful_run,
    keep_tag,
    pin_evidence_problem,
    promote_image,
    rollback_image,
)
from dsctl.output import CommandError

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
STAGE_ACCOUNT = "555555555555"


class FakeEcs:
    """The builder's current task definition runs ``digest``."""

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def describe_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/ds-preprocessing@{self.digest}"
        return {"taskDefinition": {"family": taskDefinition, "containerDefinitions": [{"image": image}]}}


def ran(stack: str, *digests: str) -> Any:
    """A ``find`` that knows successful runs of ``digests`` in ``stack``'s output bucket."""
    bucket = load_stack_settings(stack, project_dir=PROJECT_DIR).output_bucket_name if stack != "stage" else "b-stage"
    return lambda digest: (
        Evidence(f"run-{digest[7:11]}", f"s3://{bucket}/processed/run-{digest[7:11]}/manifest.json")
        if digest in digests
        else None
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """dev -> stage -> prod: a copy of the project's stack files with a third stack between dev and prod."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    (tmp_path / "Pulumi.stage.yaml").write_text(
        "# stage account: takes dev's image first\nconfig:\n"
        f'  ds-preprocessing:accountId: "{STAGE_ACCOUNT}"\n'
        "  ds-preprocessing:promotesFrom: dev\n"
        f"  ds-preprocessing:imageDigest: {D1}\n"
    )
    prod = tmp_path / "Pulumi.prod.yaml"
    prod.write_text(prod.read_text().replace("promotesFrom: dev", "promotesFrom: stage"))
    return tmp_path


def pins(project: Path, stack: str) -> tuple[str | None, str | None, str | None]:
    s = load_stack_settings(stack, project_dir=project)
    return s.image_digest, s.image_digest_previous, s.image_promotion_evidence


def test_a_chain_of_three_promotes_step_by_step_and_rolls_back(project: Path) -> None:
    # dev builds D2 and ran it: stage takes it (default digest: what dev's task definition runs)
    result = promote_image(project, "stage", None, ran("dev", D2), FakeEcs(D2))
    assert result["imageDigest"] == D2 and result["from"] == "dev"
    assert pins(project, "stage") == (D2, D1, result["imagePromotionEvidence"])
    assert "s3://ds-output-dev-123456789012-us-east-1/processed/" in result["imagePromotionEvidence"]
    # prod takes what stage runs, only once it ran in stage
    with pytest.raises(CommandError, match=r"refused to pin .* into prod: no successful run of it in stage") as err:
        promote_image(project, "prod", None, ran("stage"))
    assert "dsctl run start --env stage --wait" in err.value.message
    before = pins(project, "prod")
    promote_image(project, "prod", None, ran("stage", D2))
    assert pins(project, "prod")[:2] == (D2, before[0])
    # the edit keeps the file's comments and other keys
    text = (project / "Pulumi.prod.yaml").read_text()
    assert "# prod account:" in text and "ds-preprocessing:alarmEmail: ds-oncall@example.com" in text
    # rollback: the previous pin comes back, and the rolled-back pin becomes the previous one
    rollback_image(project, "prod")
    assert pins(project, "prod")[:2] == (before[0], D2)


def test_rollback_restores_the_previous_pin_with_its_evidence(project: Path) -> None:
    """Evidence follows its digest: promote D2 then D3 into stage, roll back to D2 with D2's upstream run, and
    forward again to D3 with D3's."""
    first = promote_image(project, "stage", D2, ran("dev", D2))["imagePromotionEvidence"]
    second = promote_image(project, "stage", D3, ran("dev", D3))["imagePromotionEvidence"]
    assert first != second
    settings = load_stack_settings("stage", project_dir=project)
    assert (settings.image_promotion_evidence, settings.image_promotion_evidence_previous) == (second, first)
    rollback_image(project, "stage")
    assert pins(project, "stage") == (D2, D3, first)
    assert load_stack_settings("stage", project_dir=project).image_promotion_evidence_previous == second
    level_free = pin_evidence_problem(
        load_stack_settings("stage", project_dir=project), load_stack_settings("dev", project_dir=project)
    )
    assert level_free is None, "the restored pin still has its upstream evidence"
    rollback_image(project, "stage")
    assert pins(project, "stage") == (D3, D2, second)
    # promoting the pin again keeps the previous pin and its evidence as they are
    promote_image(project, "stage", D3, ran("dev", D3))
    assert load_stack_settings("stage", project_dir=project).image_promotion_evidence_previous == first


def test_an_explicit_digest_without_an_upstream_run_is_refused_and_nothing_is_written(project: Path) -> None:
    before = (project / "Pulumi.stage.yaml").read_text()
    with pytest.raises(CommandError, match=r"no successful run of it in dev"):
        promote_image(project, "stage", D3, ran("dev", D2))
    assert (project / "Pulumi.stage.yaml").read_text() == before


def test_the_building_stack_and_bad_digests_are_refused(project: Path) -> None:
    with pytest.raises(CommandError, match=r"dev builds the job image itself"):
        promote_image(project, "dev", D1, ran("dev", D1))
    with pytest.raises(CommandError, match=r"not an image digest"):
        promote_image(project, "stage", "sha256:abc", ran("dev", D1))
    with pytest.raises(CommandError, match=r"no previous image pin"):
        rollback_image(project, "stage")


def test_check_rule_warns_without_evidence_and_fails_evidence_from_another_stack(project: Path) -> None:
    def problem(stack: str) -> tuple[str, str] | None:
        settings = load_stack_settings(stack, project_dir=project)
        upstream = settings.promotes_from
        return pin_evidence_problem(settings, load_stack_settings(upstream, project_dir=project) if upstream else None)

    assert problem("dev") is None
    level, message = problem("stage") or ("", "")
    assert level == "warning" and "dsctl image promote --env stage" in message
    promote_image(project, "stage", None, ran("dev", D2), FakeEcs(D2))
    assert problem("stage") is None
    wrong = yaml.safe_load((project / "Pulumi.stage.yaml").read_text())
    wrong["config"]["ds-preprocessing:imagePromotionEvidence"] = "s3://elsewhere-bucket/processed/r/manifest.json"
    (project / "Pulumi.stage.yaml").write_text(yaml.safe_dump(wrong))
    level, message = problem("stage") or ("", "")
    assert level == "error" and "is not a run of its promotesFrom stack dev" in message


def test_only_a_published_run_recording_the_digest_is_evidence(aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="ds-output-dev-123456789012-us-east-1")
    bucket = "ds-output-dev-123456789012-us-east-1"

    def run(run_id: str, digest: str | None, published: bool, finished: str) -> None:
        manifest = {"run_id": run_id, "image_digest": digest, "finished": finished}
        s3.put_object(Bucket=bucket, Key=f"processed/{run_id}/manifest.json", Body=json.dumps(manifest).encode())
        if published:
            s3.put_object(Bucket=bucket, Key=f"processed/{run_id}/_SUCCESS", Body=b"")

    run("old", D1, True, "2026-11-01T06:00:00+00:00")
    run("new", D1, True, "2026-12-01T06:00:00+00:00")
    run("claimed", D2, False, "2026-12-01T07:00:00+00:00")  # a claim without _SUCCESS: not a successful run
    run("local", None, True, "2026-12-01T08:00:00+00:00")  # not run from an image
    found = find_successful_run(s3, bucket, D1)
    assert found == Evidence("new", f"s3://{bucket}/processed/new/manifest.json")
    assert find_successful_run(s3, bucket, D2) is None and find_successful_run(s3, bucket, D3) is None


def test_promotion_tags_the_pin_so_the_lifecycle_keeps_it(aws: str, project: Path) -> None:
    ecr = boto3.client("ecr", endpoint_url=aws, region_name="us-east-1")
    ecr.create_repository(repositoryName="ds-preprocessing", imageTagMutability="IMMUTABLE")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []})
    pushed = ecr.put_image(repositoryName="ds-preprocessing", imageManifest=manifest, imageTag="src-0123456789abcdef")
    digest = pushed["image"]["imageId"]["imageDigest"]
    result = promote_image(project, "stage", digest, ran("dev", digest), ecr=ecr)
    tags = {i.get("imageTag") for i in ecr.list_images(repositoryName="ds-preprocessing")["imageIds"]}
    assert result["protected_by"] == keep_tag("stage", digest) and keep_tag("stage", digest) in tags
    assert keep_tag("stage", digest).startswith(KEEP_TAG_PREFIX)
    # promoting again (the tag exists on the immutable repository) is not an error
    assert promote_image(project, "stage", digest, ran("dev", digest), ecr=ecr)["imageDigest"] == digest
    with pytest.raises(CommandError, match=r"is not in the upstream ds-preprocessing repository"):
        promote_image(project, "stage", D3, ran("dev", D3), ecr=ecr)


def test_promotion_tags_the_pin_in_the_pinned_stacks_own_registry_too(
    aws: str, project: Path, prod_credentials: Any
) -> None:
    """The pinned stack runs its own copy (replicated, same digest): that copy gets the keep- tag as well, with the
    pinned stack's credentials; a copy not replicated yet refuses the promotion with the fix."""
    upstream = boto3.client("ecr", endpoint_url=aws, region_name="us-east-1")
    target = prod_credentials.session(aws).client("ecr", endpoint_url=aws)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []})
    for registry in (upstream, target):
        registry.create_repository(repositoryName="ds-preprocessing", imageTagMutability="IMMUTABLE")
    digest = upstream.put_image(repositoryName="ds-preprocessing", imageManifest=manifest, imageTag="src-1")["image"][
        "imageId"
    ]["imageDigest"]
    with pytest.raises(CommandError, match=r"is not in the stage's ds-preprocessing repository; it has not replicated"):
        promote_image(project, "stage", digest, ran("dev", digest), ecr=upstream, target_ecr=target)
    before = (project / "Pulumi.stage.yaml").read_text()
    assert pins(project, "stage")[0] == D1 and "src-1" not in before, "nothing written when refused"
    target.put_image(repositoryName="ds-preprocessing", imageManifest=manifest, imageTag="replicated-copy")
    result = promote_image(project, "stage", digest, ran("dev", digest), ecr=upstream, target_ecr=target)
    assert result["protected_in"] == "dev, stage"
    for registry in (upstream, target):
        tags = {i.get("imageTag") for i in registry.list_images(repositoryName="ds-preprocessing")["imageIds"]}
        assert keep_tag("stage", digest) in tags
