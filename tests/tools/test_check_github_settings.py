"""tools/check_github_settings.py against a fake ``gh`` on PATH that answers recorded REST responses.

The response shapes are GitHub's REST documentation's (list environments, deployment branch policies, repository,
organization and environment secrets, repository variables); the fake answers 404 like ``gh`` for anything else.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tools import check_github_settings

REPO = "example-org/ds-preprocessing"


def _environment(name: str, *, reviewers: bool, branch_policy: dict[str, bool] | None) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [{"id": 1, "node_id": "GA_1", "type": "wait_timer", "wait_timer": 0}]
    if reviewers:
        rules.append(
            {
                "id": 2,
                "node_id": "GA_2",
                "type": "required_reviewers",
                "prevent_self_review": True,
                "reviewers": [{"type": "Team", "reviewer": {"id": 7, "slug": "platform-admins"}}],
            }
        )
    return {
        "id": 56780428,
        "node_id": "MDExOkVudmlyb25tZW50NTY3ODA0Mjg=",
        "name": name,
        "url": f"https://api.github.com/repos/{REPO}/environments/{name}",
        "html_url": f"https://github.com/{REPO}/deployments/activity_log?environments_filter={name}",
        "created_at": "2026-11-23T22:00:40Z",
        "updated_at": "2026-11-23T22:00:40Z",
        "can_admins_bypass": False,
        "protection_rules": rules,
        "deployment_branch_policy": branch_policy,
    }


def _secrets(*names: str) -> dict[str, Any]:
    items = [{"name": n, "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"} for n in names]
    return {"total_count": len(items), "secrets": items}


def _branch_policies(*rules: tuple[str, str]) -> dict[str, Any]:
    items = [{"id": i, "node_id": f"BP_{i}", "name": name, "type": kind} for i, (kind, name) in enumerate(rules)]
    return {"total_count": len(items), "branch_policies": items}


CUSTOM = {"protected_branches": False, "custom_branch_policies": True}


def good_settings() -> dict[str, Any]:
    """Everything the shipped stacks (dev, prod production; self-managed backend) need."""
    return {
        f"repos/{REPO}": {"full_name": REPO, "default_branch": "main", "private": True},
        f"repos/{REPO}/environments?per_page=100": {
            "total_count": 2,
            "environments": [
                _environment("dev", reviewers=False, branch_policy=CUSTOM),
                _environment("prod", reviewers=True, branch_policy=CUSTOM),
            ],
        },
        f"repos/{REPO}/environments/dev/deployment-branch-policies?per_page=100": _branch_policies(("branch", "main")),
        f"repos/{REPO}/environments/prod/deployment-branch-policies?per_page=100": _branch_policies(("branch", "main")),
        f"repos/{REPO}/actions/variables?per_page=100": {
            "total_count": 1,
            "variables": [{"name": "PULUMI_BACKEND_URL", "value": "s3://state?region=us-east-1"}],
        },
        f"repos/{REPO}/actions/secrets?per_page=100": _secrets("CODECOV_TOKEN"),
        f"repos/{REPO}/actions/organization-secrets?per_page=100": _secrets(),
    }


FAKE_GH = """\
import json, os, sys
responses = json.load(open(os.environ["FAKE_GH_RESPONSES"]))
path = sys.argv[-1]
assert sys.argv[1] == "api", sys.argv
if path not in responses:
    sys.stderr.write("gh: Not Found (HTTP 404)\\n")
    sys.exit(1)
print(json.dumps(responses[path]))
"""


@pytest.fixture
def fake_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``gh`` executable on PATH answering from the JSON file this fixture returns (write it before use)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(f"#!{sys.executable}\n{FAKE_GH}")
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}")
    responses = tmp_path / "responses.json"
    monkeypatch.setenv("FAKE_GH_RESPONSES", str(responses))
    return responses


def run(responses: Path, settings: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    responses.write_text(json.dumps(settings))
    code = check_github_settings.main(["--repo", REPO])
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip().splitlines()


def test_settings_as_the_trust_model_needs_pass(fake_gh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(fake_gh, good_settings(), capsys)
    assert (code, lines) == (
        0,
        [f"{REPO}: environments, branch rules, reviewers and secrets are as the CI trust model needs"],
    )


def test_each_weakened_setting_is_one_finding_with_its_fix(fake_gh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = good_settings()
    settings[f"repos/{REPO}/environments?per_page=100"]["environments"] = [
        _environment(
            "dev", reviewers=False, branch_policy={"protected_branches": True, "custom_branch_policies": False}
        ),
        _environment("prod", reviewers=False, branch_policy=CUSTOM),
    ]
    settings[f"repos/{REPO}/environments/prod/deployment-branch-policies?per_page=100"] = _branch_policies(
        ("branch", "main"), ("branch", "release/*")
    )
    settings[f"repos/{REPO}/actions/secrets?per_page=100"] = _secrets("PULUMI_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY")
    settings[f"repos/{REPO}/actions/organization-secrets?per_page=100"] = _secrets("PULUMI_ORG_TOKEN")
    del settings[f"repos/{REPO}/actions/variables?per_page=100"]
    code, lines = run(fake_gh, settings, capsys)
    assert code == 1
    expected = [
        "dev: .* may be deployed from every protected branch, not only 'main'; fix: .*'main'",
        "prod: .* may be deployed from branch 'main', branch 'release/\\*', not only the default branch 'main'; fix",
        "prod: .* has no required reviewers although the stack is production; fix: add required reviewers",
        "has no repository variable PULUMI_BACKEND_URL .*; fix: add it",
        "repository secret AWS_SECRET_ACCESS_KEY is readable by pull-request jobs; fix: delete it",
        "repository secret PULUMI_ACCESS_TOKEN is readable by pull-request jobs; fix: delete it",
        "organization secret PULUMI_ORG_TOKEN is readable by pull-request jobs; fix: delete it",
    ]
    assert len(lines) == len(expected), lines
    for pattern, line in zip(expected, lines, strict=True):
        assert re.search(pattern, line), (pattern, line)


def test_a_missing_environment_and_an_unrestricted_one(fake_gh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = good_settings()
    settings[f"repos/{REPO}/environments?per_page=100"]["environments"] = [
        _environment("dev", reviewers=False, branch_policy=None)
    ]
    code, lines = run(fake_gh, settings, capsys)
    assert code == 1
    assert lines == [
        "dev: example-org/ds-preprocessing environment 'dev' may be deployed from any branch; fix: Deployment "
        "branches and tags > Selected branches and tags, with the single rule 'main'",
        "prod: example-org/ds-preprocessing has no GitHub environment named 'prod' (the deploy job runs in it); fix: "
        "create it (Settings > Environments > New environment)",
    ]


def test_a_pulumi_cloud_stack_needs_its_deploy_token_in_its_environment(
    fake_gh: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = [check_github_settings.StackNeeds("dev", production=False, self_managed=False)]
    monkeypatch.setattr(check_github_settings, "stack_needs", lambda project: cloud)
    settings = good_settings()
    code, lines = run(fake_gh, settings, capsys)
    assert code == 1 and len(lines) == 1 and "environment 'dev' has no secret PULUMI_ACCESS_TOKEN" in lines[0]
    settings[f"repos/{REPO}/environments/dev/secrets"] = _secrets("PULUMI_ACCESS_TOKEN")
    assert run(fake_gh, settings, capsys)[0] == 0


def test_cannot_check_without_gh_or_with_the_example_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert check_github_settings.main(["--repo", REPO]) == 2
    assert "gh) is not on PATH" in capsys.readouterr().err
    assert check_github_settings.main([]) == 2, "the shipped stack files carry the example repository"
    assert "still the example acme-data/ds-preprocessing" in capsys.readouterr().err
