"""``dsctl admin-changes``: a change CI may not deploy is named before ``pulumi up``; one it may deploy passes.

The comparison is tested on copies of the session's dev synth (no extra synth); the git side once, end to end: a
temporary repository whose base commit differs from this checkout in an operator trust setting and the task size,
synthesized at that commit by its own code in a subprocess (one synth of one stack).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dsctl import cli
from dsctl.admin_changes import NO_COMMIT, admin_changes, compare
from dsctl.synth import synth

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev() -> list[dict[str, Any]]:
    return [resource.to_dict() for resource in synth("dev").resources]


def _edited(resources: list[dict[str, Any]], token: str, name: str, key: str, value: Any) -> list[dict[str, Any]]:
    """A copy of ``resources`` with one input of one resource replaced."""
    edited = copy.deepcopy(resources)
    (resource,) = [r for r in edited if r["type"] == token and r["name"] == name]
    assert key in resource["inputs"], f"{name} has no input {key}"
    resource["inputs"][key] = value
    return edited


def _one(resources: list[dict[str, Any]], token: str) -> dict[str, Any]:
    (resource,) = [r for r in resources if r["type"] == token]
    return resource


def test_the_same_stack_has_no_admin_change(dev: list[dict[str, Any]]) -> None:
    assert compare(dev, dev) == []


def test_a_ci_deployable_change_is_not_reported(dev: list[dict[str, Any]]) -> None:
    """Task size, a parameter's description: the deploy role's own business."""
    task = _one(dev, "aws:ecs/taskDefinition:TaskDefinition")
    base = _edited(dev, task["type"], task["name"], "cpu", "4096")
    parameter = next(r for r in dev if r["type"] == "aws:ssm/parameter:Parameter")
    base = _edited(base, parameter["type"], parameter["name"], "description", "before")
    assert compare(base, dev) == []


def test_trust_bucket_policy_and_new_admin_resources_are_reported(dev: list[dict[str, Any]]) -> None:
    role = next(r for r in dev if r["type"] == "aws:iam/role:Role" and "operator" in r["name"])
    bucket_policy = next(r for r in dev if r["type"] == "aws:s3/bucketPolicy:BucketPolicy")
    oidc = _one(dev, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    base = _edited(dev, role["type"], role["name"], "assumeRolePolicy", {"Version": "2012-10-17", "Statement": []})
    base = _edited(base, bucket_policy["type"], bucket_policy["name"], "policy", {"Statement": []})
    base = [r for r in base if r["urn"] != oidc["urn"]]
    got = {(c.change, c.type, c.name, c.inputs) for c in compare(base, dev)}
    assert got == {
        ("changed", role["type"], role["name"], ("assumeRolePolicy",)),
        ("changed", bucket_policy["type"], bucket_policy["name"], ("policy",)),
        ("added", oidc["type"], oidc["name"], ()),
    }
    removed = compare(dev, base)
    assert ("removed", oidc["urn"]) in {(c.change, c.urn) for c in removed}


def test_a_type_with_no_deployer_class_counts_as_admin_only(dev: list[dict[str, Any]]) -> None:
    unknown = {"type": "aws:new/thing:Thing", "name": "x", "urn": "urn:x", "inputs": {}, "options": {}}
    (change,) = compare(dev, [*dev, unknown])
    assert (change.change, change.type) == ("added", "aws:new/thing:Thing")
    assert "policy/provider_actions.py" in change.why


def test_no_previous_commit_means_every_admin_resource_is_new(dev: list[dict[str, Any]]) -> None:
    commit, existed, changes = admin_changes("dev", NO_COMMIT, dev, REPO)
    assert (commit, existed) == (NO_COMMIT, False)
    assert {c.change for c in changes} == {"added"} and any(c.type == "aws:iam/role:Role" for c in changes)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def test_base_commit_synthesized_by_its_own_code_in_a_temporary_repository(
    tmp_path: Path, dev: list[dict[str, Any]]
) -> None:
    """Base: this project with another operator permission set (the operator role's trust) and task size; head: this
    checkout. Only the trust change is reported (by the role's name and input), not the task size."""
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], check=True, capture_output=True, timeout=60
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        if (REPO / name).is_file() and not name.startswith(("tests/", "docs/")):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tmp_path / name)
    stack_file = tmp_path / "Pulumi.dev.yaml"
    config = yaml.safe_load(stack_file.read_text())
    config["config"]["ds-preprocessing:operatorPermissionSet"] = "FormerTeam"
    config["config"]["ds-preprocessing:taskCpu"] = 1024
    stack_file.write_text(yaml.safe_dump(config))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")

    commit, existed, changes = admin_changes("dev", "HEAD", dev, tmp_path)

    assert existed and len(commit) == 40
    operator = next(r for r in dev if r["type"] == "aws:iam/role:Role" and "operator" in r["name"])
    assert ("changed", operator["urn"], ("assumeRolePolicy",)) in {(c.change, c.urn, c.inputs) for c in changes}
    assert all(c.type.startswith("aws:iam/") for c in changes), [c.type for c in changes]
    assert not any(c.type == "aws:ecs/taskDefinition:TaskDefinition" for c in changes)


def test_a_base_missing_from_the_clone_fails_before_synthesizing(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["admin-changes", "--env", "dev", "--base", "no-such-ref-here"]) == 2
    err = capsys.readouterr().err
    assert "'no-such-ref-here' is not a commit in this clone" in err and "fetch-depth: 0" in err
