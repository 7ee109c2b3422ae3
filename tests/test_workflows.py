"""The GitHub workflows: valid against GitHub's schema (offline) and wired as issue #6 requires.

Schema validation catches typos in keys and wrong shapes; the structural assertions catch a workflow that is valid
but no longer does its job (no policy pack, prod not behind an environment, no OIDC permission, ...).
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
SETUP_ACTION = REPO / ".github" / "actions" / "setup" / "action.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


@cache
def workflow(name: str) -> dict[str, Any]:
    """A workflow as data; PyYAML reads the ``on`` key as True, so it is renamed back."""
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)
    return document


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if str(step.get("uses", "")).startswith(action)]


def run_commands(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job.get("steps", []))


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", sorted(WORKFLOWS.glob("*.yml"))),
        ("vendor.github-actions", [SETUP_ACTION]),
    ],
    ids=["workflows", "setup-action"],
)
def test_files_match_githubs_schema(schema: str, files: list[Path]) -> None:
    assert files, "no files to validate"
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    """The validator really validates: a job without runs-on/steps is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  nothing:\n    name: no steps\n")
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1


def test_verify_runs_tests_checks_and_diff() -> None:
    verify = workflow("verify.yml")
    assert "workflow_call" in verify["on"]
    jobs = verify["jobs"]
    assert "make test" in run_commands(jobs["test"])
    assert jobs["check"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "dsctl check --stack ${{ matrix.stack }}" in run_commands(jobs["check"])
    assert "dsctl diff dev prod" in run_commands(jobs["diff"])
    assert verify["permissions"] == {"contents": "read"}, "the gate needs no credentials"


def test_pull_request_previews_each_stack_with_policy_pack_and_comment() -> None:
    pr = workflow("pull-request.yml")
    assert "pull_request" in pr["on"]
    assert pr["jobs"]["verify"]["uses"] == "./.github/workflows/verify.yml"
    preview = pr["jobs"]["preview"]
    assert preview["needs"] == "verify"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    (pulumi,) = steps_using(preview, "pulumi/actions@v6")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"].endswith("${{ matrix.stack }}")
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["refresh"] is True, "preview against AWS as it is, like the deploy's up --refresh"
    assert "PULUMI_ACCESS_TOKEN" in pulumi["env"]


def test_credentials_come_from_oidc_roles_in_repository_variables() -> None:
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    credentials = steps_using(preview, "aws-actions/configure-aws-credentials@v4")
    assert [step["with"]["role-to-assume"] for step in credentials] == [
        "${{ vars.AWS_CI_ROLE_ARN }}",
        "${{ vars.AWS_PROD_DEPLOY_ROLE_ARN }}",
    ]
    assert credentials[1]["if"] == "matrix.stack == 'prod'" and credentials[1]["with"]["role-chaining"] is True
    for step in credentials:
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(step["with"]), "no long-lived keys"


def test_deploy_ups_dev_then_prod_behind_protected_environment() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["verify"]["uses"] == "./.github/workflows/verify.yml"
    assert jobs["up-dev"]["needs"] == "verify"
    assert jobs["up-prod"]["needs"] == "up-dev"
    assert jobs["up-prod"]["environment"] == "production"
    for name, stack in (("up-dev", "dev"), ("up-prod", "prod")):
        job = jobs[name]
        assert job["permissions"]["id-token"] == "write"
        (pulumi,) = steps_using(job, "pulumi/actions@v6")
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["stack-name"] == f"organization/{stack}"
        assert pulumi["with"]["policyPacks"] == "policy"
        # model-key/model-sha256 have ignore_changes=["value"]: without a refresh, an update of any other property
        # sends the value from Pulumi's state and silently reverts a promotion made by `dsctl model promote`.
        assert pulumi["with"]["refresh"] is True, f"{name}: pulumi up must refresh first (--refresh)"
    assert deploy["concurrency"]["cancel-in-progress"] is False, "never cancel a deployment half-way"


def test_referenced_local_paths_exist() -> None:
    assert (REPO / "policy" / "PulumiPolicy.yaml").is_file(), "policyPacks: policy needs the pack's project file"
    for name in ("pull-request.yml", "deploy.yml", "verify.yml"):
        for job in workflow(name)["jobs"].values():
            for step in job.get("steps", []):
                uses = str(step.get("uses", ""))
                if uses.startswith("./"):
                    assert (REPO / uses / "action.yml").is_file(), uses
            if str(job.get("uses", "")).startswith("./"):
                assert (REPO / job["uses"]).is_file(), job["uses"]
