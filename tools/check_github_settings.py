"""Check the GitHub repository settings the CI trust model depends on, with ``gh api`` (read-only calls).

The AWS side of CI trust is code and tested (the deploy role trusts only ``repo:<repo>:environment:<stack>``); what
makes that subject safe lives in GitHub's settings, which no offline test can see. For every stack file this checks:

- the repository has a GitHub environment named like the stack (the deploy job runs in it);
- that environment may be deployed only from the default branch (custom branch policy naming exactly it), so a
  pushed branch cannot run a deploy job with the deploy role;
- a stack with ``production: true`` has required reviewers on its environment;
- no Pulumi or AWS secret exists at repository (or organization) level, where pull-request jobs could read it:
  deploy credentials belong to the stack's environment;
- the Pulumi credential each stack's deploy needs is where the workflows look for it: an environment secret
  ``PULUMI_ACCESS_TOKEN`` (Pulumi Cloud) or the repository variable ``PULUMI_BACKEND_URL`` (self-managed backend).

    python tools/check_github_settings.py            # the repository named by the stack files' githubRepository
    python tools/check_github_settings.py --repo owner/name

Needs the GitHub CLI logged in with read access to the repository's settings (``gh auth login``; a fine-grained token
with "Administration", "Environments", "Secrets" and "Variables" read). Exit 0: all good; 1: findings, one line
each with the fix; 2: cannot check (no ``gh``, no access, no repository configured).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from components.project import Project, load_project  # noqa: E402
from dsctl.workflows import SELF_MANAGED  # noqa: E402

# Secret names CI credentials go by; at repository or organization level a pull-request job can read them.
_CREDENTIAL_SECRET = re.compile(r"^(PULUMI|AWS)_", re.IGNORECASE)
EXAMPLE_REPOSITORY = "acme-data/ds-preprocessing"
"""The placeholder the shipped stack files carry: a real deployment sets its own ``githubRepository``."""


class GhError(Exception):
    """``gh`` is missing or an API call failed for a reason other than 'not found'."""


Api = Callable[[str], Any]
"""GET a REST path (``repos/o/r/environments``) and return the decoded JSON, or None when GitHub answers 404."""


def gh_api(path: str) -> Any:
    """One read-only REST call through the GitHub CLI."""
    gh = shutil.which("gh")
    if gh is None:
        raise GhError("the GitHub CLI (gh) is not on PATH; fix: install it and run gh auth login")
    result = subprocess.run(
        [gh, "api", "-H", "Accept: application/vnd.github+json", path],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode == 0:
        return json.loads(result.stdout or "null")
    if "HTTP 404" in result.stderr:
        return None
    detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
    raise GhError(f"gh api {path} failed: {detail}; fix: gh auth login with read access to the repository settings")


@dataclass(frozen=True)
class StackNeeds:
    """What one stack needs from GitHub."""

    stack: str
    production: bool
    self_managed: bool


def stack_needs(project: Project) -> list[StackNeeds]:
    return [
        StackNeeds(name, settings.production, settings.pulumi_organization == SELF_MANAGED)
        for name, settings in sorted(project.stacks.items())
    ]


def _names(document: Any, key: str) -> set[str]:
    return {item["name"] for item in (document or {}).get(key, [])}


def check(repo: str, stacks: Iterable[StackNeeds], api: Api) -> list[str]:
    """Every finding, one line each (problem; fix)."""
    repository = api(f"repos/{repo}")
    if repository is None:
        raise GhError(f"repository {repo} not found or not visible; fix: check githubRepository / --repo and gh auth")
    default = repository["default_branch"]
    environments = {
        env["name"]: env for env in (api(f"repos/{repo}/environments?per_page=100") or {}).get("environments", [])
    }
    findings = []
    for needs in stacks:
        env = environments.get(needs.stack)
        where = f"{repo} environment {needs.stack!r}"
        if env is None:
            findings.append(
                f"{needs.stack}: {repo} has no GitHub environment named {needs.stack!r} (the deploy job runs in it); "
                f"fix: create it (Settings > Environments > New environment)"
            )
            continue
        findings += _branch_findings(needs.stack, where, env, default, repo, api)
        if needs.production and not _has_reviewers(env):
            findings.append(
                f"{needs.stack}: {where} has no required reviewers although the stack is production; fix: add "
                "required reviewers to the environment"
            )
        if needs.self_managed:
            continue
        if "PULUMI_ACCESS_TOKEN" not in _names(api(f"repos/{repo}/environments/{needs.stack}/secrets"), "secrets"):
            findings.append(
                f"{needs.stack}: {where} has no secret PULUMI_ACCESS_TOKEN (Pulumi Cloud deploy token); fix: add it "
                "as an environment secret"
            )
    if any(needs.self_managed for needs in stacks) and "PULUMI_BACKEND_URL" not in _names(
        api(f"repos/{repo}/actions/variables?per_page=100"), "variables"
    ):
        findings.append(
            f"{repo} has no repository variable PULUMI_BACKEND_URL (the self-managed state bucket); fix: add it "
            "(Settings > Secrets and variables > Actions > Variables), e.g. s3://<bucket>?region=<region>"
        )
    for level, path in (("repository", "actions/secrets"), ("organization", "actions/organization-secrets")):
        for name in sorted(_names(api(f"repos/{repo}/{path}?per_page=100"), "secrets")):
            if _CREDENTIAL_SECRET.match(name):
                findings.append(
                    f"{repo}: {level} secret {name} is readable by pull-request jobs; fix: delete it and keep "
                    "deploy credentials as secrets of each stack's environment (PR jobs use OIDC)"
                )
    return findings


def _branch_findings(stack: str, where: str, env: dict[str, Any], default: str, repo: str, api: Api) -> list[str]:
    policy = env.get("deployment_branch_policy")
    fix = f"fix: Deployment branches and tags > Selected branches and tags, with the single rule {default!r}"
    if not policy:
        return [f"{stack}: {where} may be deployed from any branch; {fix}"]
    if not policy.get("custom_branch_policies"):
        return [f"{stack}: {where} may be deployed from every protected branch, not only {default!r}; {fix}"]
    rules = (api(f"repos/{repo}/environments/{stack}/deployment-branch-policies?per_page=100") or {}).get(
        "branch_policies", []
    )
    allowed = {(rule.get("type", "branch"), rule["name"]) for rule in rules}
    if allowed != {("branch", default)}:
        shown = ", ".join(f"{kind} {name!r}" for kind, name in sorted(allowed)) or "nothing"
        return [f"{stack}: {where} may be deployed from {shown}, not only the default branch {default!r}; {fix}"]
    return []


def _has_reviewers(env: dict[str, Any]) -> bool:
    return any(
        rule.get("type") == "required_reviewers" and rule.get("reviewers") for rule in env.get("protection_rules", [])
    )


def configured_repository(project: Project) -> str:
    """The one ``githubRepository`` of the stack files."""
    repositories = {s.github_repository for s in project.stacks.values() if s.github_repository}
    if len(repositories) != 1:
        shown = ", ".join(sorted(repositories)) or "none"
        raise GhError(f"the stack files name {shown} as githubRepository; fix: set one repository, or pass --repo")
    return repositories.pop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", metavar="OWNER/NAME", help="default: the stack files' githubRepository")
    args = parser.parse_args(argv)
    project = load_project()
    try:
        repo = args.repo or configured_repository(project)
        if repo == EXAMPLE_REPOSITORY and not args.repo:
            raise GhError(
                f"githubRepository is still the example {EXAMPLE_REPOSITORY}; fix: set it to your repository in "
                "every Pulumi.<stack>.yaml (an admin deploy: it changes the CI roles' trust)"
            )
        findings = check(repo, stack_needs(project), gh_api)
    except GhError as err:
        print(f"check_github_settings: error: {err}", file=sys.stderr)
        return 2
    for line in findings:
        print(line)
    if not findings:
        print(f"{repo}: environments, branch rules, reviewers and secrets are as the CI trust model needs")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
