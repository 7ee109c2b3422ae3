"""Every IAM document both stacks would deploy passes parliament (identity, trust, bucket and key policies)."""

from __future__ import annotations

from collections import Counter

import pytest

from dsctl.synth import SynthResult
from policy.iam_lint import ACCEPTED_FINDINGS, iam_documents, lint_stack

# Resource types each of whose instances carries an IAM document, so none of them may escape the lint.
CARRIERS = (
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:kms/key:Key",
)


def test_every_document_has_no_parliament_finding(any_stack: SynthResult) -> None:
    problems = [
        f"{document.resource} ({document.kind}): {finding}" for document, finding in lint_stack(any_stack.to_dict())
    ]
    assert problems == [], "\n".join(problems)


def test_every_policy_carrier_is_linted(any_stack: SynthResult) -> None:
    linted = Counter(document.type for document in iam_documents(any_stack.to_dict()))
    for token in CARRIERS:
        assert linted[token] >= len(any_stack.of_type(token)), token
    assert linted["aws:iam/role:Role"] > 0 and linted["aws:s3/bucketPolicy:BucketPolicy"] > 0


def test_the_store_key_policy_is_linted_in_the_owning_stack(dev_stack: SynthResult) -> None:
    # The store's key and its replica's own key (artifactReplicaRegion).
    assert [d.kind for d in iam_documents(dev_stack.to_dict()) if d.type == "aws:kms/key:Key"] == ["key", "key"]


@pytest.mark.parametrize("accepted", sorted(ACCEPTED_FINDINGS), ids=lambda key: "/".join(key))
def test_accepted_findings_are_still_needed(
    accepted: tuple[str, str], dev_stack: SynthResult, prod_stack: SynthResult
) -> None:
    raised = {
        (document.resource, finding.issue)
        for stack in (dev_stack, prod_stack)
        for document, finding in lint_stack(stack.to_dict(), accepted={})
    }
    assert accepted in raised, f"{accepted} no longer occurs: remove it from policy.iam_lint.ACCEPTED_FINDINGS"
