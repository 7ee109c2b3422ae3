"""Lint IAM policy documents with parliament, and find every IAM document in a synthesized stack.

API (stable; reused by ``dsctl check`` and the policy pack):

- ``lint(document, *, resource_policy=False) -> list[Finding]``: parliament's findings for one document (empty when
  clean), plus two structural checks parliament lacks (a resource policy statement without ``Principal``, an identity
  policy statement with one: AWS rejects both at deploy time, which mocks never reach).
- ``iam_documents(synth) -> list[Document]``: every identity, trust and resource policy in a ``SynthResult.to_dict()``.
- ``lint_stack(synth, accepted=ACCEPTED_FINDINGS) -> list[tuple[Document, Finding]]``: both of the above over a
  whole stack, leaving out the reviewed findings in ``ACCEPTED_FINDINGS`` (each with its reason).

Why the wrapper: parliament's CLI misreads stdin when not on a terminal, so we call ``analyze_policy_string``; its
findings need ``enhance_finding`` (severity, title) and the CLI's severity filter, which we reuse rather than copy.
Resource policies (bucket, key, topic, repository, trust) name their resource with ``"Resource": "*"`` or not at all;
we supply ``"*"`` where it is missing and drop parliament's ``RESOURCE_STAR`` advice for them, which only makes sense
for identity policies. parliament crashes on a Bool condition written as a list; that crash becomes a CRITICAL
finding naming the fix instead of a traceback.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():
    # parliament imports pkg_resources and leaves its config file open at import time.
    warnings.simplefilter("ignore")
    import jsoncfg
    from parliament import analyze_policy_string, enhance_finding
    from parliament.cli import is_finding_filtered

# Findings parliament reports that are advice for identity policies only: in a resource policy "*" means "this
# resource" (a KMS key policy must say "*").
_IDENTITY_ONLY_ISSUES = frozenset({"RESOURCE_STAR", "RESOURCE_EFFECTIVELY_STAR"})

# Pulumi type token of a resource whose ``policy`` input is an IAM document -> the document's kind.
# ``aws:iam/role:Role`` is handled separately (trust policy and inline policies).
_POLICY_INPUTS: dict[str, str] = {
    "aws:iam/rolePolicy:RolePolicy": "identity",
    "aws:iam/policy:Policy": "identity",
    "aws:iam/userPolicy:UserPolicy": "identity",
    "aws:iam/groupPolicy:GroupPolicy": "identity",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket",
    "aws:kms/key:Key": "key",
    "aws:kms/keyPolicy:KeyPolicy": "key",
    "aws:sns/topic:Topic": "topic",
    "aws:sns/topicPolicy:TopicPolicy": "topic",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "repository",
}
ROLE_TYPE = "aws:iam/role:Role"

_OIDC_PROVIDER = (
    "parliament's IAM data knows no OIDC provider by ARN; this is the account's GitHub Actions provider "
    "(token.actions.githubusercontent.com), created by the same stack or named by githubOidcProviderArn."
)
_OIDC_CLAIMS = (
    "GitHub's token claims (aud, sub) are keys of the OIDC provider, which parliament does not list; they are "
    "the keys AWS documents for GitHub OIDC trust, pinned with StringEquals (tests/infra/test_ci_access.py)."
)
ACCEPTED_FINDINGS: dict[tuple[str, str], str] = {
    ("ci-preview-role", "UNKNOWN_FEDERATION_SOURCE"): _OIDC_PROVIDER,
    ("ci-deploy-role", "UNKNOWN_FEDERATION_SOURCE"): _OIDC_PROVIDER,
    ("ci-preview-role", "UNKNOWN_CONDITION_FOR_ACTION"): _OIDC_CLAIMS,
    ("ci-deploy-role", "UNKNOWN_CONDITION_FOR_ACTION"): _OIDC_CLAIMS,
    ("ci-deploy-policy", "RESOURCE_MISMATCH"): (
        "ec2:CreateSecurityGroup is authorized on the VPC the group is created in as well as on the new group (AWS "
        "Service Authorization Reference); parliament's copy lists only security-group. Statement "
        "DeployCreateSecurityGroupInVpc names the VPCs."
    ),
}
"""Findings reviewed and accepted, keyed by (resource logical name, issue), each with the reason. Keep it short."""


@dataclass(frozen=True)
class Finding:
    """One problem in one policy document, in words a reviewer can act on."""

    issue: str  # parliament's issue code, e.g. UNKNOWN_ACTION (or MISSING_PRINCIPAL / UNEXPECTED_PRINCIPAL)
    severity: str  # CRITICAL | HIGH | MEDIUM | LOW
    title: str
    detail: str
    location: str  # "Statement[1] (Sid ReadModels)" or "document"

    def __str__(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.severity} {self.issue} at {self.location} — {self.title}{detail}"


@dataclass(frozen=True)
class Document:
    """An IAM document found in a synthesized stack."""

    resource: str  # the Pulumi logical name of the resource that carries it
    type: str  # that resource's Pulumi type token
    kind: str  # identity | trust | bucket | key | topic | repository
    doc: dict[str, Any]

    @property
    def resource_policy(self) -> bool:
        """True for documents attached to a resource (they name principals), False for identity policies."""
        return self.kind != "identity"


def lint(document: Mapping[str, Any], *, resource_policy: bool = False) -> list[Finding]:
    """Return parliament's findings (severity LOW and up) for ``document``; an empty list means clean."""
    doc = _with_resource(document) if resource_policy else copy.deepcopy(dict(document))
    text = json.dumps(doc, indent=2)
    statement_lines = _statement_lines(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = analyze_policy_string(text, ignore_private_auditors=True).findings
    except Exception as err:  # parliament raises bare jsoncfg/KeyError errors on shapes it cannot read
        return [
            Finding(
                "EXCEPTION",
                "CRITICAL",
                "parliament could not analyze the document",
                f'{err}; a Bool condition written as a list crashes it: write "false", not ["false"]',
                "document",
            )
        ]
    findings: list[Finding] = []
    for finding in raw:
        enhanced = enhance_finding(finding)
        if is_finding_filtered(enhanced) or (resource_policy and enhanced.issue in _IDENTITY_ONLY_ISSUES):
            continue
        findings.append(
            Finding(
                issue=enhanced.issue,
                severity=enhanced.severity,
                title=str(enhanced.title).strip(),
                detail=_detail_text(enhanced.detail),
                location=_location_text(enhanced.location, statement_lines, doc),
            )
        )
    return findings + _principal_findings(doc, resource_policy=resource_policy)


def iam_documents(synth: Mapping[str, Any]) -> list[Document]:
    """Collect every IAM document (identity, trust, resource policies) from a ``SynthResult.to_dict()``."""
    documents: list[Document] = []
    for resource in synth["resources"]:
        token, name, inputs = resource["type"], resource["name"], resource.get("inputs") or {}
        if token == ROLE_TYPE:
            if inputs.get("assumeRolePolicy"):
                documents.append(Document(name, token, "trust", as_document(inputs["assumeRolePolicy"])))
            for inline in inputs.get("inlinePolicies") or []:
                if inline.get("policy"):
                    documents.append(Document(name, token, "identity", as_document(inline["policy"])))
        elif token in _POLICY_INPUTS and inputs.get("policy"):
            documents.append(Document(name, token, _POLICY_INPUTS[token], as_document(inputs["policy"])))
    return documents


def lint_stack(
    synth: Mapping[str, Any], *, accepted: Mapping[tuple[str, str], str] = ACCEPTED_FINDINGS
) -> list[tuple[Document, Finding]]:
    """Lint every IAM document of a synthesized stack; (document, finding) pairs, empty when clean.

    Findings listed in ``accepted`` (by resource name and issue) are left out; pass ``accepted={}`` to see them.
    """
    return [
        (document, finding)
        for document in iam_documents(synth)
        for finding in lint(document.doc, resource_policy=document.resource_policy)
        if (document.resource, finding.issue) not in accepted
    ]


def as_document(value: Any) -> dict[str, Any]:
    """A policy input as a dict: the synth engine parses documents, but accept the JSON string form too."""
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        raise ValueError(f"policy document is a {type(parsed).__name__}, expected a JSON object")
    return parsed


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's statements as a list (IAM allows a single statement object too)."""
    raw = document.get("Statement", [])
    return [raw] if isinstance(raw, dict) else list(raw)


def _with_resource(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a resource policy with ``"Resource": "*"`` where a statement names none (trust policies).

    parliament analyses every statement as if it were an identity statement, which needs a resource element.
    """
    doc = copy.deepcopy(dict(document))
    for statement in statements(doc):
        if "Resource" not in statement and "NotResource" not in statement:
            statement["Resource"] = "*"
    return doc


def _statement_lines(text: str) -> list[int]:
    """First line of each statement in ``text``, to turn parliament's line numbers into statement references."""
    try:
        parsed = jsoncfg.loads_config(text)
        node = parsed.Statement
        items = list(node) if isinstance(node, jsoncfg.config_classes.ConfigJSONArray) else [node]
        return [jsoncfg.node_location(item).line for item in items]
    except Exception:  # malformed documents are reported by parliament itself
        return []


def _location_text(location: Any, statement_lines: list[int], doc: Mapping[str, Any]) -> str:
    """Name the statement a finding points at (index and Sid), or the whole document."""
    line = location.get("line") if isinstance(location, dict) else None
    if not isinstance(line, int) or not statement_lines or line < statement_lines[0]:
        return "document"
    index = max(i for i, start in enumerate(statement_lines) if start <= line)
    items = statements(doc)
    sid = items[index].get("Sid") if index < len(items) else None
    return f"Statement[{index}]" + (f" (Sid {sid})" if sid else "")


def _detail_text(detail: Any) -> str:
    """parliament details are strings or lists of actions; render both on one line."""
    if isinstance(detail, list | tuple | set):
        return ", ".join(str(item) for item in detail)
    return str(detail or "")


def _principal_findings(doc: Mapping[str, Any], *, resource_policy: bool) -> list[Finding]:
    """Resource policies need a principal in every statement; identity policies must name none."""
    findings = []
    for index, statement in enumerate(statements(doc)):
        has_principal = "Principal" in statement or "NotPrincipal" in statement
        location = f"Statement[{index}]" + (f" (Sid {statement['Sid']})" if statement.get("Sid") else "")
        if resource_policy and not has_principal:
            findings.append(
                Finding(
                    "MISSING_PRINCIPAL",
                    "HIGH",
                    "Resource policy statement without Principal",
                    "AWS rejects it (MalformedPolicy); name the principal the statement applies to",
                    location,
                )
            )
        elif not resource_policy and has_principal:
            findings.append(
                Finding(
                    "UNEXPECTED_PRINCIPAL",
                    "HIGH",
                    "Identity policy statement with Principal",
                    "AWS rejects it; the principal is whoever the policy is attached to, remove Principal",
                    location,
                )
            )
    return findings
