"""The GitHub workflows: valid against GitHub's schema (offline) and wired as issue #6 requires.

Schema validation catches typos in keys and wrong shapes; the structural assertions catch a workflow that is valid
but no longer does its job (no policy pack, a stack not deployed in its GitHub environment, no OIDC permission, ...).
The stack-dependent parts are rendered from the stack files (``dsctl workflows``); a test fails on drift.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.project import Project, load_project
from dsctl import workflows

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
SETUP_ACTION = REPO / ".github" / "actions" / "setup" / "action.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
ZIZMOR = Path(sys.executable).parent / "zizmor"
ZIZMOR_ARGS = ("--offline", "--min-severity", "low", "--no-progress", "--config", ".github/zizmor.yml")
"""The Makefile's lint-workflows flags: no network, fail on anything above informational."""
PULUMI = workflows.ACTIONS["pulumi"].repository + "@"
AWS_CREDENTIALS = workflows.ACTIONS["aws-credentials"].repository + "@"


@cache
def workflow(name: str) -> dict[str, Any]:
    """A workflow as data; PyYAML reads the ``on`` key as True, so it is renamed back."""
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)
    return document


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if str(step.get("uses", "")).startswith(action)]


def steps_with_run(job: dict[str, Any], command: str) -> dict[str, Any]:
    (step,) = [step for step in job.get("steps", []) if command in str(step.get("run", ""))]
    return step


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


PROJECT = load_project()
STACKS = PROJECT.deploy_order()


def test_committed_workflows_are_the_ones_the_stack_files_render() -> None:
    stale = workflows.stale(PROJECT, REPO)
    assert not stale, f"{', '.join(stale)} differ from the stack files; regenerate with: {workflows.REGENERATE}"


def test_drift_is_detected_and_rewritten(tmp_path: Path) -> None:
    (tmp_path / workflows.WORKFLOWS_DIR).mkdir(parents=True)
    (tmp_path / workflows.WORKFLOWS_DIR / "deploy.yml").write_text("name: deploy\n")
    generated = ["workflows/verify.yml", "workflows/pull-request.yml", "workflows/deploy.yml", workflows.SETUP_ACTION]
    assert workflows.stale(PROJECT, tmp_path) == generated
    assert workflows.write(PROJECT, tmp_path) == generated
    assert workflows.stale(PROJECT, tmp_path) == []


def test_verify_runs_tests_checks_and_diff() -> None:
    verify = workflow("verify.yml")
    assert "workflow_call" in verify["on"]
    jobs = verify["jobs"]
    assert "make test" in run_commands(jobs["test"])
    assert jobs["check"]["strategy"]["matrix"]["stack"] == STACKS
    assert 'dsctl check --stack "$STACK"' in run_commands(jobs["check"])
    assert steps_with_run(jobs["check"], "dsctl check")["env"] == {"STACK": "${{ matrix.stack }}"}
    pairs = [(s.promotes_from, s.stack) for s in PROJECT.stacks.values() if s.promotes_from]
    assert pairs, "the shipped stacks have a promotion chain to diff"
    assert sorted((e["from"], e["to"]) for e in jobs["diff"]["strategy"]["matrix"]["include"]) == sorted(pairs)
    assert 'dsctl diff "$FROM" "$TO"' in run_commands(jobs["diff"])
    assert steps_with_run(jobs["diff"], "dsctl diff")["env"] == {"FROM": "${{ matrix.from }}", "TO": "${{ matrix.to }}"}
    assert verify["permissions"] == {}
    for name, job in jobs.items():
        assert job["permissions"] == {"contents": "read"}, f"{name}: the gate needs no credentials"


def test_verify_builds_the_job_image_without_credentials() -> None:
    """A broken Dockerfile fails the pull request (forks included): the same context, Dockerfile and platform as the
    building stack's pulumi-docker build, nothing pushed, no credential step."""
    image = workflow("verify.yml")["jobs"]["image"]
    commands = run_commands(image)
    assert "docker build --platform linux/amd64 --file job/Dockerfile --tag ds-preprocessing:verify job/" in commands
    assert "push" not in commands and "id-token" not in str(image) and "configure-aws-credentials" not in str(image)


def test_pull_request_previews_each_stack_with_the_policy_pack_and_no_write_credential() -> None:
    pr = workflow("pull-request.yml")
    assert "pull_request" in pr["on"]
    assert pr["jobs"]["verify"]["uses"] == "./.github/workflows/verify.yml"
    preview = pr["jobs"]["preview"]
    assert preview["needs"] == "verify"
    assert [entry["stack"] for entry in preview["strategy"]["matrix"]["include"]] == STACKS
    # no pull-requests: write, no contents: write: the GitHub token only reads
    assert preview["permissions"] == {"contents": "read", "id-token": "write"}
    (pulumi,) = steps_using(preview, PULUMI)
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.organization }}/${{ matrix.stack }}"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["refresh"] is True, "preview against AWS as it is, like the deploy's up --refresh"
    assert "env" not in pulumi, "no stored Pulumi token: Pulumi Cloud's comes from the OIDC exchange"
    assert pulumi["with"]["cloud-url"] == "${{ matrix.backend == 'self-managed' && vars.PULUMI_BACKEND_URL || '' }}"
    text = (REPO / ".github" / "workflows" / "pull-request.yml").read_text()
    # no secret at all (PULUMI_ACCESS_TOKEN and any other), no deploy role, no chaining
    for forbidden in ("secrets.", "role/ds-preprocessing-deploy-", "role-chaining", "AWS_CI_ROLE"):
        assert forbidden not in text, forbidden


def test_pull_requests_get_only_a_read_only_team_token_from_pulumi_cloud() -> None:
    """Pulumi Cloud: the job's GitHub OIDC token is exchanged for a token of the preview team (stack permission Read:
    no state writes); never an organization or personal token, which cannot be scoped down."""
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    (auth,) = steps_using(preview, workflows.ACTIONS["pulumi-auth"].repository + "@")
    assert auth["if"] == "matrix.backend == 'pulumi-cloud'"
    assert auth["with"] == {
        "organization": "${{ matrix.organization }}",
        "requested-token-type": "urn:pulumi:token-type:access_token:team",
        "scope": f"team:{workflows.PREVIEW_TEAM}",
    }
    names = [step.get("name") or step["uses"] for step in preview["steps"]]
    (pulumi,) = steps_using(preview, PULUMI)
    assert names.index(auth["name"]) < names.index(pulumi["name"])
    for entry in preview["strategy"]["matrix"]["include"]:
        expected = "self-managed" if entry["organization"] == workflows.SELF_MANAGED else "pulumi-cloud"
        assert entry["backend"] == expected, entry


def test_pull_requests_assume_only_each_stacks_preview_role() -> None:
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    (credentials,) = steps_using(preview, AWS_CREDENTIALS)
    assert credentials["with"]["role-to-assume"] == "${{ matrix.preview-role }}"
    roles = {entry["stack"]: entry["preview-role"] for entry in preview["strategy"]["matrix"]["include"]}
    for name, settings in PROJECT.stacks.items():
        assert roles[name] == settings.arns.preview_role, f"{name}: the preview role its program creates"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"]), "no long-lived keys"


def test_fork_pull_requests_skip_the_aws_preview_with_a_notice() -> None:
    jobs = workflow("pull-request.yml")["jobs"]
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["preview"]["if"] == same_repo
    notice = jobs["fork-notice"]
    assert notice["if"] == same_repo.replace("==", "!=")
    assert notice["permissions"] == {}
    assert "::notice::" in run_commands(notice)


def test_every_checkout_leaves_no_credential_behind() -> None:
    for name in ("pull-request.yml", "deploy.yml", "verify.yml"):
        for job in workflow(name)["jobs"].values():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, name


def test_deploy_ups_every_stack_in_order_each_in_its_github_environment() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["verify"]["uses"] == "./.github/workflows/verify.yml"
    assert [name for name in jobs if name != "verify"] == [f"up-{stack}" for stack in STACKS]
    for stack, settings in PROJECT.stacks.items():
        job = jobs[f"up-{stack}"]
        upstream = settings.promotes_from or ("" if settings.owns_artifact_store else PROJECT.store_owner(settings))
        assert job["needs"] == (f"up-{upstream}" if upstream else "verify")
        assert job["environment"] == stack, "reviewers and environment settings attach to the stack's name"
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        (credentials,) = steps_using(job, AWS_CREDENTIALS)
        assert credentials["with"]["role-to-assume"] == settings.arns.deploy_role, "the stack's own role, no chain"
        (pulumi,) = steps_using(job, PULUMI)
        assert pulumi["with"]["command"] == "up"
        names = [step.get("name") or step["uses"] for step in job["steps"]]
        admin = steps_with_run(job, "dsctl admin-changes")
        assert admin["run"] == '.venv/bin/dsctl admin-changes --env "$STACK" --base "$BASE"'
        assert admin["env"] == {"STACK": stack, "BASE": "${{ github.event.before }}"}
        assert names.index(admin["name"]) < names.index(credentials["name"]), "checked before any credential"
        (checkout,) = steps_using(job, "actions/checkout@")
        assert checkout["with"]["fetch-depth"] == 0, "the base commit must be in the clone"
        logins = [step for step in job["steps"] if "docker login" in str(step.get("run", ""))]
        if settings.builds_image:  # pulumi-docker pushes with the Docker client's login: no password in the state
            (login,) = logins
            assert names.index(credentials["name"]) < names.index(login["name"]) < names.index(pulumi["name"])
            assert login["env"] == {"REGISTRY": f"{settings.account_id}.dkr.ecr.{settings.region}.amazonaws.com"}
            assert "aws ecr get-login-password" in login["run"] and "--password-stdin" in login["run"]
        else:
            assert logins == [], f"{stack} builds nothing and pushes nothing"
        assert pulumi["with"]["stack-name"] == f"{settings.pulumi_organization}/{stack}"
        assert pulumi["with"]["policyPacks"] == "policy"
        # model-key/model-sha256 have ignore_changes=["value"]: without a refresh, an update of any other property
        # sends the value from Pulumi's state and silently reverts a promotion made by `dsctl model promote`.
        assert pulumi["with"]["refresh"] is True, f"{stack}: pulumi up must refresh first (--refresh)"
        assert deploy_backend(pulumi, settings.pulumi_organization) is True
    assert deploy["concurrency"]["cancel-in-progress"] is False, "never cancel a deployment half-way"


def deploy_backend(pulumi: dict[str, Any], organization: str) -> bool:
    """The deploy step reaches the stack's state the way its backend needs: the state bucket with the deploy role's
    credentials (self-managed), else Pulumi Cloud with the token from the stack's GitHub environment secrets."""
    if organization == workflows.SELF_MANAGED:
        assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}" and "env" not in pulumi
    else:
        assert "cloud-url" not in pulumi["with"]
        assert pulumi["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}
    return True


def test_a_third_stack_gets_checked_previewed_and_deployed_after_its_upstream() -> None:
    """What `dsctl workflows` makes of a chain it has not seen: data in, jobs out."""
    third = dataclasses.replace(
        PROJECT.stacks["prod"], stack="qa", environment="qa", account_id="555555555555", pulumi_organization="acme"
    )
    project = Project({**PROJECT.stacks, "qa": dataclasses.replace(third, promotes_from="prod")})
    rendered = {Path(name).name: yaml.safe_load(text) for name, text in workflows.render(project).items()}
    assert "qa" in rendered["verify.yml"]["jobs"]["check"]["strategy"]["matrix"]["stack"]
    assert {"from": "prod", "to": "qa"} in rendered["verify.yml"]["jobs"]["diff"]["strategy"]["matrix"]["include"]
    up = rendered["deploy.yml"]["jobs"]["up-qa"]
    assert (up["needs"], up["environment"]) == ("up-prod", "qa")
    (credentials,) = steps_using(up, AWS_CREDENTIALS)
    assert credentials["with"]["role-to-assume"] == "arn:aws:iam::555555555555:role/ds-preprocessing-deploy-qa"
    (pulumi,) = steps_using(up, PULUMI)
    assert deploy_backend(pulumi, "acme"), "a Pulumi Cloud stack beside self-managed ones"
    qa = next(
        e
        for e in rendered["pull-request.yml"]["jobs"]["preview"]["strategy"]["matrix"]["include"]
        if e["stack"] == "qa"
    )
    assert (qa["organization"], qa["backend"]) == ("acme", "pulumi-cloud")


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


GENERATED = [*sorted(WORKFLOWS.glob("*.yml")), SETUP_ACTION]
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>\s+#.*)?$")


def test_every_third_party_action_is_pinned_by_commit_sha_from_the_generator_table() -> None:
    """A tag can be moved to other code; a full commit SHA cannot. The pins live in dsctl/workflows.py's ACTIONS,
    each with its release in a trailing comment."""
    pins = {f"{a.repository}@{a.sha}": a.version for a in workflows.ACTIONS.values()}
    seen = set()
    for path in GENERATED:
        for line in path.read_text().splitlines():
            if not (match := _USES.match(line)) or match["ref"].startswith("./"):
                continue
            ref = match["ref"]
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref} is not pinned by commit"
            assert ref in pins, f"{path.name}: {ref} is not in dsctl/workflows.py ACTIONS"
            assert (match["comment"] or "").strip() == f"# {pins[ref]}", f"{path.name}: {ref} needs '# {pins[ref]}'"
            seen.add(ref)
    assert seen == set(pins), f"pins no workflow uses: {set(pins) - seen}"


def test_every_job_holds_only_the_token_scopes_it_declares() -> None:
    """Top level grants nothing, so a job that declares nothing gets nothing; no job may write to the repository."""
    for name in ("pull-request.yml", "deploy.yml", "verify.yml"):
        document = workflow(name)
        assert document["permissions"] == {}, name
        for job_name, job in document["jobs"].items():
            assert "permissions" in job, f"{name}: {job_name} declares no permissions"
            scopes = job["permissions"]
            assert set(scopes.values()) <= {"read", "write"}
            writes = {scope for scope, level in scopes.items() if level == "write"}
            assert writes <= {"id-token"}, f"{name}: {job_name} may write {writes}"


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZIZMOR), *ZIZMOR_ARGS, "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_zizmor_finds_nothing_above_informational_in_github_dir() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert f"zizmor {' '.join(ZIZMOR_ARGS)}" in makefile and "test: lint lint-workflows" in makefile
    result = zizmor(REPO / ".github")
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_fails_an_action_pinned_by_tag(tmp_path: Path) -> None:
    """The audit really audits: the committed verify workflow with its checkout pinned by tag instead of SHA."""
    text = (WORKFLOWS / "verify.yml").read_text()
    checkout = str(workflows.ACTIONS["checkout"])
    assert checkout in text
    (tmp_path / "verify.yml").write_text(text.replace(checkout, "actions/checkout@v4"))
    result = zizmor(tmp_path / "verify.yml")
    assert result.returncode != 0
    assert {finding["ident"] for finding in json.loads(result.stdout)} == {"unpinned-uses"}
