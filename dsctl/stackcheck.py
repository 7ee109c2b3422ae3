"""Everything ``dsctl check`` verifies about one synthesized stack, as one list of violations.

Five independent checkers over the same offline synth (``dsctl.synth``), each answering a different question:

- the rules (``policy.rules``, shared with the CrossGuard pack): is every resource configured securely?
- parliament (``policy.iam_lint``): is every IAM document well-formed and free of known mistakes?
- asl-validator (``policy.asl``): is the state machine definition valid Amazon States Language?
- the access matrix (``policy.access``, principalmapper): does AWS's evaluation of the documents give exactly the
  access the stack's config declares? The configured readers' roles can read ``models/*`` of the artifact store
  and nothing else of it; no other principal of another account can read it; in the owning account nobody but the
  administrators can replace or delete a published model, unprotect the store or disable its key.
- the escalation analysis (``policy.escalation``, principalmapper's edge checkers plus the pass/start/policy-edit
  edges it adds): can any role come to act as another role, or rewrite a policy, by a path that
  ``EXPECTED_PATHS`` does not document? The preview role reaches nothing; the deploy role reaches the job's roles only
  through the deploy path; no role rewrites a trust, role or resource policy.

The probes of the access matrix are derived from the stack's settings, not written by hand, so changing the reader
accounts or role patterns changes what is verified.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components import naming, policy_docs, tokens
from components.project import Project, load_project
from components.settings import StackSettings
from dsctl.image_promotion import pin_evidence_problem
from policy.rules import BUCKET_SSE, RULES, STATE_MACHINE, Violation, context_from_settings, evaluate

if TYPE_CHECKING:
    from dsctl.synth import SynthResult

SAMPLE_MODEL_KEY = f"{naming.MODELS_PREFIX}1.0.0/model.pkl"
"""An object every configured reader must be able to read."""
OUTSIDE_MODELS_KEY = "private/notes.txt"
"""An object of the store outside ``models/`` that no reader may read."""
ROLE_TYPE = tokens.ROLE
FOREIGN_ACCOUNT = "111122223333"
"""An account that is nobody's reader."""
OUTSIDER_ROLE_NAMES = ("Admin", "data-scientist", "intruder")
"""Roles an account may well have that are not the pipeline's: they must never read models across accounts."""
OWNER_INSIDER_ROLE = "data-scientist"
"""A role of the owning account with broad IAM rights that is no administrator: the store's policies must bind it."""
CREATES_OBJECT = {"s3:ObjectCreationOperation": "true"}
"""Request context of a PutObject/CopyObject/CompleteMultipartUpload (an UploadPart carries ``false``)."""


@dataclass(frozen=True)
class Probe:
    """One access question with the answer the config implies."""

    principal: str
    action: str
    resource: str
    expected: bool
    why: str
    condition_keys: Mapping[str, str] = field(default_factory=dict)
    fix: str | None = None
    """What to change when the answer is wrong (default: the readers' grants)."""

    def violation(self) -> Violation:
        """The violation reported when AWS's evaluation gives the other answer."""
        verb = "can" if not self.expected else "cannot"
        fix = self.fix or (
            "narrow the artifact store's bucket/key policy or the role's policy"
            if not self.expected
            else "grant it in the artifact store's bucket and key policy and the reader role's policy"
        )
        return Violation(
            rule="access-matrix",
            resource=self.principal,
            message=f"{verb} {self.action} on {self.resource} ({self.why})",
            fix=fix,
        )


@dataclass
class CheckReport:
    """The outcome of ``check_stack``: every violation and how much was checked."""

    stack: str
    violations: list[Violation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Worth a look but not failing the check (e.g. an image pin without recorded upstream evidence)."""

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``dsctl check --json``."""
        return {
            "stack": self.stack,
            "ok": self.ok,
            "checked": self.counts,
            "violations": [violation.to_dict() for violation in self.violations],
            "warnings": self.warnings,
        }


def check_stack(stack: str, config_file: Path | None = None) -> CheckReport:
    """Synthesize ``stack`` and run every checker; raises ``SettingsError`` on invalid config."""
    from dsctl.synth import synth  # imported here: pulls in Pulumi (~1.5 s)

    result = synth(stack, config_file)
    document = result.to_dict()
    resources: list[Mapping[str, Any]] = document["resources"]
    report = CheckReport(stack)

    report.violations += evaluate(resources, context_from_settings(result.settings))
    report.violations += project_violations(result.settings)
    report.violations += image_pin_violations(result.settings, report.warnings)
    report.counts["rules"] = len(RULES)
    report.counts["resources"] = len(resources)

    lint_violations, documents = iam_lint_violations(document)
    report.violations += lint_violations
    report.counts["iam documents"] = documents

    machines = [r for r in resources if r["type"] == STATE_MACHINE]
    report.violations += asl_violations(machines)
    report.counts["state machines"] = len(machines)

    owner = _owning_stack(result.settings)
    owner_document = owner.to_dict() if owner else None
    probes = access_probes(result.settings, document, owner_document, owner.settings if owner else None)
    report.violations += access_violations(probes, [document] + ([owner_document] if owner_document else []))
    report.counts["access probes"] = len(probes)

    escalations, edges = escalation_violations(
        result.settings, document, owner_document, owner.settings if owner else None
    )
    report.violations += escalations
    report.counts["escalation edges"] = edges
    return report


def project_violations(settings: StackSettings) -> list[Violation]:
    """What is wrong between this stack and the project's other stacks (one account each, one store owner, ...).

    The stack under check replaces its committed file's settings, so a changed config is judged with the rest.
    """
    project = load_project()
    stacks = {**project.stacks, settings.stack: settings}
    return [
        Violation("project-stacks", f"Pulumi.{settings.stack}.yaml", problem.message, problem.fix)
        for problem in Project(stacks).problems()
    ]


def image_pin_violations(settings: StackSettings, warnings: list[str]) -> list[Violation]:
    """A pinned digest must have run successfully upstream (offline: the evidence ``dsctl image promote`` recorded)."""
    upstream = load_project().stacks.get(settings.promotes_from or "")
    found = pin_evidence_problem(settings, upstream)
    if found is None:
        return []
    level, message = found
    if level == "warning":
        warnings.append(message)
        return []
    fix = f"pin a digest that ran there: dsctl image promote --env {settings.stack}"
    return [Violation("image-promoted", f"Pulumi.{settings.stack}.yaml", message, fix)]


# ----------------------------------------------------------------------------------------------- parliament, ASL
def iam_lint_violations(document: Mapping[str, Any]) -> tuple[list[Violation], int]:
    """parliament's findings on every IAM document of the stack (less ``iam_lint.ACCEPTED_FINDINGS``), and how many
    documents there are."""
    from policy.iam_lint import iam_documents, lint_stack

    violations = [
        Violation(
            rule=f"iam-lint:{finding.issue}",
            resource=doc.resource,
            message=f"{doc.kind} policy {finding.location}: {finding.title}"
            + (f" ({finding.detail})" if finding.detail else ""),
            fix=f"correct the document where components/policy_docs.py builds it (parliament {finding.severity})",
        )
        for doc, finding in lint_stack(document)
    ]
    return violations, len(iam_documents(document))


def asl_violations(machines: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """asl-validator's errors for each state machine definition (raises ``AslValidatorMissing``)."""
    from policy.asl import validate_definition

    violations = []
    for machine in machines:
        definition = (machine.get("inputs") or {}).get("definition")
        if not isinstance(definition, Mapping):
            violations.append(
                Violation("asl-valid", machine["name"], "definition is not a JSON object", "build it as a dict")
            )
            continue
        violations += [
            Violation("asl-valid", machine["name"], error, "fix the state machine definition (Amazon States Language)")
            for error in validate_definition(definition)
        ]
    return violations


# ----------------------------------------------------------------------------------------------- access matrix
def _object_arn(bucket: str, key: str) -> str:
    """The ARN of one object (``arn:aws:s3:::bucket/key``), from the same helper the policies use."""
    return f"{policy_docs.s3_bucket_arn(bucket)}/{key}"


def _owning_stack(settings: StackSettings) -> SynthResult | None:
    """The synth of the stack that owns the artifact store, when this stack reads it from a local stack."""
    source = settings.artifact_source
    if settings.owns_artifact_store or source is None or not source.stack_reference:
        return None
    owner = load_project().store_owner(settings)
    if owner is None:
        return None
    from dsctl.synth import synth

    return synth(owner.stack)


def example_role(pattern: str) -> str:
    """A concrete role name a reader role pattern matches (``ds-preprocessing-task-*`` -> ``…-task-probe``)."""
    return pattern.replace("*", "probe").replace("?", "x")


def _store_key_arn(store: Mapping[str, Any], bucket: str) -> str | None:
    """The KMS key that encrypts the store's objects (its SSE configuration names it)."""
    for resource in store["resources"]:
        inputs = resource.get("inputs") or {}
        if resource["type"] == BUCKET_SSE and inputs.get("bucket") == bucket:
            for rule in inputs.get("rules") or []:
                key = (rule.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
                if isinstance(key, str) and key.startswith("arn:aws:kms:"):
                    return key
    return None


def _reads(principal: str, bucket: str, key_arn: str | None, region: str, expected: bool, why: str) -> Iterator[Probe]:
    """Probes for reading a model: the object through S3, and its key through S3."""
    from policy.access import via_service

    yield Probe(principal, "s3:GetObject", _object_arn(bucket, SAMPLE_MODEL_KEY), expected, why)
    if key_arn:
        yield Probe(principal, "kms:Decrypt", key_arn, expected, why, via_service("s3", region))


def _reader_limits(principal: str, bucket: str, key_arn: str | None) -> Iterator[Probe]:
    """What a reader must not be able to do with the store: only models/*, only read, the key only via S3."""
    why = "readers may only read models/*"
    yield Probe(principal, "s3:GetObject", _object_arn(bucket, OUTSIDE_MODELS_KEY), False, why)
    yield Probe(principal, "s3:PutObject", _object_arn(bucket, SAMPLE_MODEL_KEY), False, why)
    yield Probe(principal, "s3:DeleteObject", _object_arn(bucket, SAMPLE_MODEL_KEY), False, why)
    yield Probe(principal, "s3:ListBucket", policy_docs.s3_bucket_arn(bucket), False, why, {"s3:prefix": "private/"})
    if key_arn:
        yield Probe(principal, "kms:Decrypt", key_arn, False, "readers may use the key only through S3")
        yield Probe(principal, "kms:Encrypt", key_arn, False, "readers may only decrypt")


def access_probes(
    settings: StackSettings,
    document: Mapping[str, Any],
    owner: Mapping[str, Any] | None = None,
    owner_settings: StackSettings | None = None,
) -> list[Probe]:
    """The access questions the stack's config implies, with their expected answers.

    Owning stack: a role for each configured reader pattern in each reader account reads models and nothing else;
    other roles of reader accounts and the project's roles in a foreign account read nothing. Reading stack (with
    the owning stack's synth): its task role (and its operator role, when the owner's patterns name it) reads models
    and nothing else; its roles that the owner's reader patterns do not name, and outsiders, read nothing.
    """
    store = document if settings.owns_artifact_store else owner
    store_settings = settings if settings.owns_artifact_store else owner_settings
    bucket = settings.artifact_bucket_name
    if store is None or store_settings is None or bucket is None:
        return []
    key_arn = _store_key_arn(store, bucket)
    account = settings.account_id
    if settings.owns_artifact_store:
        reader_accounts = settings.artifact_reader_accounts
        readers = [
            policy_docs.role_arn(reader, example_role(pattern))
            for reader in reader_accounts
            for pattern in settings.artifact_reader_role_patterns
        ]
    else:
        reader_accounts = (account,)
        readers = [policy_docs.role_arn(account, naming.task_role(settings.environment))]
        own = {_role_arn(account, r) for r in document["resources"] if r["type"] == ROLE_TYPE}
        for person in (naming.operator_role(), naming.promoter_role()):
            role = policy_docs.role_arn(account, person)
            if role in own and _named_by(role, store_settings.artifact_reader_role_patterns):
                readers.append(role)  # dsctl's roles read models as the task role does (promote checks it)
    outsiders = [policy_docs.role_arn(reader, name) for reader in reader_accounts for name in OUTSIDER_ROLE_NAMES]
    if not settings.owns_artifact_store:
        patterns = store_settings.artifact_reader_role_patterns
        own_roles = [_role_arn(account, r) for r in document["resources"] if r["type"] == ROLE_TYPE]
        outsiders += [arn for arn in own_roles if not _named_by(arn, patterns)]
    outsiders.append(policy_docs.role_arn(FOREIGN_ACCOUNT, naming.task_role(settings.environment)))
    probes: list[Probe] = []
    if settings.owns_artifact_store:
        probes += _immutability_probes(settings, bucket, key_arn)
    for reader in readers:
        probes += _reads(reader, bucket, key_arn, settings.region, True, "a configured reader reads models")
        probes += _reader_limits(reader, bucket, key_arn)
    for outsider in outsiders:
        probes += _reads(outsider, bucket, key_arn, settings.region, False, "not a configured reader")
    if not settings.owns_artifact_store:
        probes += _replica_probes(settings, store, store_settings, outsiders)
    return probes


def _replica_probes(
    settings: StackSettings, store: Mapping[str, Any], store_settings: StackSettings, outsiders: Sequence[str]
) -> Iterator[Probe]:
    """Reading stack, owner with ``artifactReplicaRegion``: its task role reads the replica's models (granted in
    advance, so ``dsctl model failover`` needs no deploy) and nothing else there; outsiders read nothing."""
    region = store_settings.artifact_replica_region
    if not region:
        return
    replica = naming.artifact_replica_bucket(store_settings.environment, store_settings.account_id, region)
    key_arn = _store_key_arn(store, replica)
    task = policy_docs.role_arn(settings.account_id, naming.task_role(settings.environment))
    yield from _reads(task, replica, key_arn, region, True, "the task role reads the replica it may fail over to")
    yield from _reader_limits(task, replica, key_arn)
    for outsider in outsiders:
        yield from _reads(outsider, replica, key_arn, region, False, "not a configured reader")


def _immutability_probes(settings: StackSettings, bucket: str, key_arn: str | None) -> Iterator[Probe]:
    """The store is write-once for everyone in its account but the administrators (``adminPrincipalArns``).

    The insider is a role of the owning account whose own IAM policy allows everything (``add_outsider``), so what
    stops it is the bucket and key policy alone: the answer AWS gives a direct ``aws s3 cp`` or a console click.
    """
    model = _object_arn(bucket, SAMPLE_MODEL_KEY)
    store = policy_docs.s3_bucket_arn(bucket)
    insider = policy_docs.role_arn(settings.account_id, OWNER_INSIDER_ROLE)
    why = "published models are write-once: only adminPrincipalArns may replace, delete or unprotect them"
    fix = (
        "keep policy_docs.store_immutability_statements in the store's bucket policy and the admins-only "
        "statement in its key policy (components/artifact_store.py)"
    )
    creates_once = {**CREATES_OBJECT, "s3:if-none-match": "*"}
    replaces = {**CREATES_OBJECT, "s3:if-match": '"etag"'}
    yield Probe(
        insider, "s3:PutObject", model, True, "a conditional write creates a new version", creates_once, fix=fix
    )
    yield Probe(insider, "s3:PutObject", model, False, why, CREATES_OBJECT, fix=fix)
    yield Probe(insider, "s3:PutObject", model, False, why, replaces, fix=fix)
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
        yield Probe(insider, action, model, False, why, fix=fix)
    for action in ("s3:PutBucketPolicy", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration"):
        yield Probe(insider, action, store, False, why, fix=fix)
    if key_arn:
        for action in ("kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"):
            yield Probe(insider, action, key_arn, False, why, fix=fix)
    for admin in settings.admin_principal_arns:
        yield Probe(admin, "s3:DeleteObjectVersion", model, True, "an administrator may break glass", fix=fix)
        yield Probe(admin, "s3:PutBucketPolicy", store, True, "an administrator deploys the store's policy", fix=fix)
        if key_arn:
            yield Probe(admin, "kms:PutKeyPolicy", key_arn, True, "an administrator deploys the key's policy", fix=fix)


def _named_by(role_arn: str, patterns: Sequence[str]) -> bool:
    """Whether a reader role pattern of the owning stack names this role (then it is an intended reader)."""
    return any(fnmatch.fnmatchcase(role_arn.rsplit("/", 1)[-1], pattern) for pattern in patterns)


def _role_arn(account: str, role: Mapping[str, Any]) -> str:
    inputs = role.get("inputs") or {}
    return policy_docs.role_arn(
        account, f"{(inputs.get('path') or '/').lstrip('/')}{inputs.get('name') or role.get('id')}"
    )


def access_violations(probes: Sequence[Probe], documents: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """Evaluate each probe with principalmapper over the stacks' documents; report wrong answers."""
    if not probes:
        return []
    from policy.access import AccessModel

    model = AccessModel.from_stacks(*documents)
    known = set(model.principals)
    for principal in {probe.principal for probe in probes} - known:
        model.add_outsider(principal)
    return [
        probe.violation()
        for probe in probes
        if model.can(probe.principal, probe.action, probe.resource, dict(probe.condition_keys)) != probe.expected
    ]


# ----------------------------------------------------------------------------------------------- escalation
def escalation_violations(
    settings: StackSettings,
    document: Mapping[str, Any],
    owner: Mapping[str, Any] | None = None,
    owner_settings: StackSettings | None = None,
) -> tuple[list[Violation], int]:
    """Every escalation path from this stack's roles that ``policy.escalation.EXPECTED_PATHS`` does not allow.

    The owning stack (when this stack reads its store) takes part, so edges between the accounts are seen; only
    findings that start in, or lead out of or into, this stack's account are reported here. Returns the violations
    and how many edges the analysis found (expected ones included).
    """
    from policy.access import account_of
    from policy.escalation import analyse, short_name

    stacks = [(settings.arns, document)]
    admins = list(settings.admin_principal_arns)
    if owner is not None and owner_settings is not None:
        stacks.append((owner_settings.arns, owner))
        admins += owner_settings.admin_principal_arns
    analysis = analyse(stacks, admins)
    account = settings.account_id
    violations = [
        Violation("privilege-escalation", short_name(finding.start), finding.message(), finding.fix())
        for finding in analysis.findings()
        if account in {account_of(finding.start), account_of(finding.edge.source), account_of(finding.edge.target)}
    ]
    return violations, len(analysis.edges)
