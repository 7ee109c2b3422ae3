"""The provider-actions table covers every synthesized type, names only real IAM actions, and matches the docs.

A new resource type in the program fails here until it is classified (CI-deployable or admin-only) in
``policy/provider_actions.py``. Action names and "only on *" claims are checked against parliament's copy of the AWS
IAM definitions, so a typo or a wrong claim about resource-level permissions cannot slip into the deploy role.
"""

from __future__ import annotations

import re
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components.project import stack_names
from dsctl.synth import synth
from dsctl.synth_mocks import _CALL_HANDLERS
from policy import provider_actions
from policy.provider_actions import DOC_BEGIN, DOC_END, INVOKES, TYPES, Deployer, entry_for, render_markdown

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources at import time
    import parliament

ENTRIES = (*TYPES.values(), *INVOKES.values())
DOC = Path(__file__).resolve().parents[2] / "docs" / "infrastructure.md"
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


@cache
def _privileges() -> dict[str, dict[str, Any]]:
    """parliament's IAM definitions by exact ``service:Action`` name."""
    return {
        f"{service['prefix']}:{privilege['privilege']}": privilege
        for service in parliament.iam_definition
        for privilege in service["privileges"]
    }


def _star_only_per_parliament(action: str) -> bool:
    return all(not rt["resource_type"] for rt in _privileges()[action]["resource_types"])


@pytest.mark.parametrize("stack", stack_names())
def test_every_synthesized_type_has_a_class(stack: str) -> None:
    types = {resource.type for resource in synth(stack).resources}
    missing = sorted(types - TYPES.keys())
    assert not missing, (
        f"stack {stack}: resource types {missing} have no deployer class: add them to TYPES in "
        "policy/provider_actions.py (actions, CI-deployable or admin-only, and why)"
    )


def test_every_invoke_the_synth_mocks_answer_has_an_entry() -> None:
    # The mocks refuse an invoke they do not know, so their table is the program's complete list of invokes.
    missing = sorted(_CALL_HANDLERS.keys() - INVOKES.keys())
    assert not missing, f"invokes {missing} have no entry: add them to INVOKES in policy/provider_actions.py"


def test_a_new_type_is_refused_naming_the_type_and_the_file() -> None:
    with pytest.raises(KeyError, match=r"aws:new/thing:Thing.*policy/provider_actions\.py"):
        entry_for("aws:new/thing:Thing")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.token)
def test_actions_are_single_service_actions_without_wildcards(entry: provider_actions.ProviderActions) -> None:
    bad = sorted(a for a in entry.actions() | {s.action for s in entry.star_only} if not _ACTION.match(a))
    assert not bad, f"{entry.token}: {bad} are not service:Action names (no wildcards)"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.token)
def test_action_names_are_known_to_the_iam_definitions(entry: provider_actions.ProviderActions) -> None:
    unknown = sorted(a for a in entry.actions() if a not in _privileges())
    assert not unknown, f"{entry.token}: {unknown} are not IAM actions (parliament's definitions; check spelling)"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.token)
def test_star_only_claims_match_the_iam_definitions(entry: provider_actions.ProviderActions) -> None:
    claimed = {s.action for s in entry.star_only}
    assert claimed <= entry.actions(), f"{entry.token}: star-only {sorted(claimed - entry.actions())} never called"
    actual = {a for a in entry.actions() if _star_only_per_parliament(a)}
    assert claimed == actual, (
        f"{entry.token}: only-on-* actions per the IAM definitions are {sorted(actual)}, the table says "
        f"{sorted(claimed)}"
    )
    assert all(s.reason for s in entry.star_only)


@pytest.mark.parametrize("entry", [e for e in TYPES.values() if e.admin_only], ids=lambda e: e.token)
def test_every_admin_only_type_has_a_write_action(entry: provider_actions.ProviderActions) -> None:
    assert entry.writes(), f"{entry.token} is admin-only but lists no write action to withhold from CI"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.token)
def test_classification_is_consistent(entry: provider_actions.ProviderActions) -> None:
    assert entry.why
    if entry.deployer is Deployer.NONE:
        assert not entry.actions(), f"{entry.token} makes no AWS call, so it lists no action"
    elif entry.token.startswith("aws:"):
        assert entry.read, f"{entry.token}: refresh and preview read it, so it needs read actions"
        assert entry.source, f"{entry.token}: name the provider source file the actions come from"


def test_the_issue_named_admin_only_types_are_admin_only() -> None:
    admin = {
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
        "aws:kms/key:Key",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:ecr/registryPolicy:RegistryPolicy",
        "aws:ecr/replicationConfiguration:ReplicationConfiguration",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    }
    assert {token for token in admin if not TYPES[token].admin_only} == set()


def test_no_ci_deployable_type_calls_an_access_changing_action() -> None:
    access = {
        "iam:UpdateAssumeRolePolicy",
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:PutRolePolicy",
        "iam:PutRolePermissionsBoundary",
        "iam:CreatePolicyVersion",
        "iam:AttachRolePolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketVersioning",
        "s3:PutLifecycleConfiguration",
        "s3:PutEncryptionConfiguration",
        "kms:PutKeyPolicy",
        "logs:PutResourcePolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:PutRegistryPolicy",
        "ecr:PutReplicationConfiguration",
    }
    found = {e.token: sorted(e.actions() & access) for e in ENTRIES if e.deployer is Deployer.CI}
    assert {token: actions for token, actions in found.items() if actions} == {}


def test_state_machine_updates_validate_the_definition() -> None:
    machine = TYPES["aws:sfn/stateMachine:StateMachine"]
    assert "states:ValidateStateMachineDefinition" in machine.update
    assert "states:ValidateStateMachineDefinition" in {s.action for s in machine.star_only}


def test_docs_carry_the_rendered_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = text.find(DOC_BEGIN), text.find(DOC_END)
    assert begin >= 0 and end > begin, f"{DOC.name} lacks the provider-actions markers; paste render_markdown()"
    assert text[begin : end + len(DOC_END)] == render_markdown(), (
        f"{DOC.name} is out of date: replace the block between the markers with "
        "`python -c 'from policy.provider_actions import render_markdown; print(render_markdown())'`"
    )
