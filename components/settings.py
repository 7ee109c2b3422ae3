"""Typed, validated settings of one stack, built before any resource exists.

The config schema (types and defaults) lives in ``Pulumi.yaml`` only; this module
reads it, applies the defaults, converts each value to its declared type and checks
every rule, collecting *all* problems so an operator fixes a config file in one go.
The Pulumi program (``__main__.py``) and ``dsctl`` (``load_stack_settings``) share
this one validator, so a config that ``dsctl`` accepts is the one ``pulumi up`` runs.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

from components import naming
from components.arns import StackArns
from components.schedule import schedule_expression_problem

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""Directory holding ``Pulumi.yaml`` and the ``Pulumi.<stack>.yaml`` files."""

STACK_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
"""A stack (= environment) name: it goes into bucket, role, log group and alarm names, so lowercase letters,
digits and inner hyphens only (S3 bucket names allow no capitals or underscores)."""

# CloudWatch Logs PutRetentionPolicy accepts only these values (0 = never expire is excluded on purpose).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _mib(gib: int) -> int:
    return gib * 1024


# Fargate task CPU -> allowed memory (MiB), from the ECS task-size table (Linux).
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(_mib(g) for g in range(1, 5)),
    1024: tuple(_mib(g) for g in range(2, 9)),
    2048: tuple(_mib(g) for g in range(4, 17)),
    4096: tuple(_mib(g) for g in range(8, 31)),
    8192: tuple(_mib(g) for g in range(16, 61, 4)),
    16384: tuple(_mib(g) for g in range(32, 121, 8)),
}

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_PRINCIPAL = re.compile(r"^arn:aws:iam::(\d{12}):(role|user)/[\w+=,.@/-]{1,512}$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):key/[0-9a-f-]{36}$")
_BUCKET = re.compile(r"^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}$")
_ROLE_PATTERN = re.compile(r"^[\w+=,.@*?/-]{1,64}$")
_PULUMI_ORG = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_PARAM_PREFIX = re.compile(r"^(/[a-zA-Z0-9_.-]+)+$")
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
"""An image manifest digest as ECR reports it (what a pinned stack runs)."""
_EVIDENCE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+/manifest\.json$")
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_OIDC_PROVIDER = re.compile(r"^arn:aws:iam::(\d{12}):oidc-provider/token\.actions\.githubusercontent\.com$")
# IAM Identity Center permission set names: 1-32 characters of [\w+=,.@-].
_PERMISSION_SET = re.compile(r"^[\w+=,.@-]{1,32}$")


class SettingsError(Exception):
    """Invalid stack config; ``errors`` lists every problem, one line each: key, value, problem, fix."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class ConfigKey:
    """One key of the ``Pulumi.yaml`` config schema."""

    name: str
    type: str  # string | integer | boolean | array
    description: str
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class ArtifactSource:
    """Where a reading stack finds the artifact store.

    By stack reference, ``bucket``/``account_id`` are known offline only when the referenced
    stack's config file is beside this one (``load_stack_settings`` fills them); the KMS key
    ARN is then known only from that stack's outputs.
    """

    stack_reference: str | None = None
    bucket: str | None = None
    kms_key_arn: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class StackSettings:
    """Everything a stack needs, validated. Components receive this and never read config themselves."""

    project: str
    stack: str
    environment: str
    account_id: str
    region: str
    production: bool
    promotes_from: str | None
    pulumi_organization: str
    owns_artifact_store: bool
    builds_image: bool
    image_digest: str | None
    """The pinned digest a non-building stack runs (None when it builds)."""
    image_digest_previous: str | None
    image_promotion_evidence: str | None
    image_promotion_evidence_previous: str | None
    """The evidence of ``image_digest_previous``: a rollback restores it with the pin."""
    artifact_reader_accounts: tuple[str, ...]
    artifact_reader_role_patterns: tuple[str, ...]
    artifact_source: ArtifactSource | None
    schedule_enabled: bool
    schedule_expression: str
    log_retention_days: int
    task_cpu: int
    task_memory: int
    task_timeout_minutes: int
    subnet_ids: tuple[str, ...]
    assign_public_ip: bool
    alarm_email: str | None
    operator_principal_arns: tuple[str, ...]
    operator_permission_set: str | None
    promoter_permission_set: str | None
    """Production stacks: whose SSO roles may assume the promoter role, the only one that changes the promoted model."""
    github_repository: str | None
    github_oidc_provider_arn: str | None
    admin_principal_arns: tuple[str, ...]
    organization_trail: bool
    data_retention_days: int
    artifact_replica_region: str | None
    """Owning stack: the region of the store's replica (None = none)."""
    """Days after which input/output objects expire; 0 = kept (always 0 in production)."""
    """The organization's trail records the account: no account trail of ours (the store's data events still)."""
    parameter_prefix: str
    input_key: str
    max_parallel_tasks: int
    """Batches (tasks at once) of a month given as a prefix: the plan's batch count and the Distributed Map's
    MaxConcurrency."""

    @property
    def arns(self) -> StackArns:
        """ARNs of this stack's own resources (``components.arns``), from the same names the program uses."""
        return StackArns(self.environment, self.account_id, self.region)

    def stack_reference(self, stack: str) -> str:
        """The fully qualified name of another stack of this project in the same Pulumi backend/organization."""
        return f"{self.pulumi_organization}/{self.project}/{stack}"

    @property
    def has_operators(self) -> bool:
        """Whether anyone may assume the operator role (named principals or an SSO permission set)."""
        return bool(self.operator_principal_arns or self.operator_permission_set)

    @property
    def has_promoter(self) -> bool:
        """Whether the stack has a promoter role: then only it may change the promoted model (the operator may not)."""
        return self.production and bool(self.promoter_permission_set)

    @property
    def promoting_role(self) -> str | None:
        """The role whose changes of the model parameters are promotions (dsctl's); anyone else's are a bypass."""
        if self.has_promoter:
            return naming.promoter_role()
        return naming.operator_role() if self.has_operators else None

    @property
    def artifact_bucket_name(self) -> str | None:
        """The store's bucket: our own when owning, else the source's (None if only known from outputs)."""
        if self.owns_artifact_store:
            return naming.artifact_bucket(self.environment, self.account_id, self.region)
        return self.artifact_source.bucket if self.artifact_source else None

    @property
    def artifact_account_id(self) -> str | None:
        """Account that owns the store (ours when owning)."""
        if self.owns_artifact_store:
            return self.account_id
        return self.artifact_source.account_id if self.artifact_source else None

    @property
    def input_bucket_name(self) -> str:
        return naming.input_bucket(self.environment, self.account_id, self.region)

    @property
    def output_bucket_name(self) -> str:
        return naming.output_bucket(self.environment, self.account_id, self.region)

    def parameter_name(self, key: str) -> str:
        """Full SSM name of one of ``naming.PARAMETER_KEYS``."""
        return naming.parameter_name(self.parameter_prefix, key)


# --------------------------------------------------------------------------- schema


@lru_cache(maxsize=4)
def _load_schema(project_file: Path) -> tuple[str, tuple[ConfigKey, ...]]:
    document = yaml.safe_load(project_file.read_text())
    keys = []
    for name, spec in (document.get("config") or {}).items():
        keys.append(
            ConfigKey(
                name=name,
                type=spec["type"],
                description=spec.get("description", ""),
                default=spec.get("default"),
                required="default" not in spec,
            )
        )
    return document["name"], tuple(keys)


def config_schema(project_dir: Path = PROJECT_DIR) -> tuple[ConfigKey, ...]:
    """The declared config keys of ``Pulumi.yaml``."""
    return _load_schema(project_dir / "Pulumi.yaml")[1]


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    """The ``name`` of ``Pulumi.yaml``."""
    return _load_schema(project_dir / "Pulumi.yaml")[0]


def coerce_config_string(raw: str, type_: str) -> Any:
    """Turn a value as ``pulumi.Config.get`` returns it (a string) into its schema type.

    Pulumi passes non-string config as JSON text; values that do not parse stay strings
    so the validator reports them with the key name instead of crashing here.
    """
    if type_ == "string":
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list) and all(isinstance(item, str) for item in v),
}
_TYPE_HINTS = {
    "string": ("a string", "quote it in YAML"),
    "integer": ("a whole number", "write digits without quotes"),
    "boolean": ("true or false", "write true or false without quotes"),
    "array": ("a list of strings", 'write a YAML list, e.g. ["a", "b"]'),
}


def _err(key: str, value: Any, problem: str, fix: str) -> str:
    shown = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return f"{key}: {shown} — {problem}; {fix}"


# --------------------------------------------------------------------------- validation


class _Checker:
    """Collects problems while reading values, so every error is reported at once."""

    def __init__(self, stack: str, values: Mapping[str, Any], schema: Sequence[ConfigKey]) -> None:
        self.stack = stack
        self.errors: list[str] = []
        self.values: dict[str, Any] = {}
        known = {key.name: key for key in schema}
        for name in values:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean {close[0]}?" if close else "declared keys are listed in Pulumi.yaml"
                self.errors.append(
                    _err(name, values[name], "unknown config key", f"remove it or fix its name ({hint})")
                )
        for key in schema:
            name_missing = key.name not in values
            if name_missing and key.required:
                self.errors.append(
                    f"{key.name}: (not set) — required; set ds-preprocessing:{key.name} in Pulumi.{stack}.yaml"
                )
                continue
            value = key.default if name_missing else values[key.name]
            if not _TYPE_CHECKS[key.type](value):
                expected, fix = _TYPE_HINTS[key.type]
                self.errors.append(_err(key.name, value, f"must be {expected}", fix))
                continue
            self.values[key.name] = value

    def has(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, fallback: Any = None) -> Any:
        return self.values.get(key, fallback)

    def add(self, key: str, problem: str, fix: str, value: Any = None) -> None:
        self.errors.append(_err(key, self.values.get(key) if value is None else value, problem, fix))


def _check_account(c: _Checker, key: str) -> None:
    value = c.get(key)
    if value and not _ACCOUNT.match(value):
        c.add(key, "not a 12-digit AWS account id", "use the account's 12 digits, quoted in YAML")


def _check_identity(c: _Checker) -> None:
    """The stack name is the environment: validated as a name, never against a list of known environments."""
    if not STACK_NAME.match(c.stack):
        c.errors.append(
            f"stack: {c.stack!r} — not a valid environment name (it goes into bucket and role names); "
            "rename Pulumi.<stack>.yaml to lowercase letters, digits and inner hyphens, e.g. Pulumi.staging.yaml"
        )
    elif c.get("accountId") and _ACCOUNT.match(c.get("accountId")) and c.has("region"):
        for name in naming.too_long_names(c.stack, c.get("accountId"), c.get("region")):
            c.errors.append(f"stack: {c.stack!r} — makes {name!r} longer than AWS allows; use a shorter stack name")
    environment = c.get("environment")
    if environment and environment != c.stack:
        c.add(
            "environment",
            f"differs from the stack name {c.stack!r} (the environment IS the stack: one name for both)",
            f"remove the key, or set it to {c.stack!r}",
        )
    if c.has("accountId") and not c.get("accountId"):
        c.add("accountId", "required", f"set ds-preprocessing:accountId in Pulumi.{c.stack}.yaml")
    _check_account(c, "accountId")
    if c.has("region") and not _REGION.match(c.get("region")):
        c.add("region", "not an AWS region name", "use a region such as us-east-1")
    promotes_from = c.get("promotesFrom")
    if promotes_from == c.stack:
        c.add("promotesFrom", "names this stack itself", "name the stack whose models and images this one takes")
    elif promotes_from and not STACK_NAME.match(promotes_from):
        c.add("promotesFrom", "not a stack name", "use the name of another Pulumi.<stack>.yaml, e.g. dev")
    if c.has("pulumiOrganization") and not _PULUMI_ORG.match(c.get("pulumiOrganization")):
        c.add(
            "pulumiOrganization",
            "not a Pulumi organization name",
            "use your Pulumi Cloud organization, or `organization` for a self-managed backend",
        )


def _check_artifact_store(c: _Checker) -> None:
    owns = c.get("ownsArtifactStore", False)
    readers: list[str] = c.get("artifactReaderAccounts", [])
    patterns: list[str] = c.get("artifactReaderRolePatterns", [])
    source_keys = ("artifactSourceBucket", "artifactSourceKmsKeyArn", "artifactSourceAccountId")
    sources = {key: c.get(key, "") for key in source_keys}
    if owns:
        for account in readers:
            if not _ACCOUNT.match(account):
                c.add("artifactReaderAccounts", f"{account!r} is not a 12-digit account id", "list 12-digit ids")
            elif account == c.get("accountId"):
                c.add(
                    "artifactReaderAccounts",
                    f"{account} is this stack's own account",
                    "list only other accounts; the owning account reads through its own IAM policies",
                )
        if len(set(readers)) != len(readers):
            c.add("artifactReaderAccounts", "lists an account twice", "list each reader account once")
        if readers and not patterns:
            c.add("artifactReaderRolePatterns", "empty while reader accounts are set", "name the reader role patterns")
        for pattern in patterns:
            if not _ROLE_PATTERN.match(pattern) or pattern.strip("*?") == "":
                c.add(
                    "artifactReaderRolePatterns",
                    f"{pattern!r} is not a role-name pattern",
                    "use a role name, optionally with * wildcards, e.g. ds-preprocessing-task-*",
                )
        for key, value in sources.items():
            if value:
                c.add(key, "set on the stack that owns the artifact store", "remove it, or set ownsArtifactStore false")
        return
    if readers:
        c.add("artifactReaderAccounts", "set on a stack that does not own the artifact store", "remove it")
    _check_artifact_source(c, sources)


def _check_artifact_source(c: _Checker, sources: dict[str, str]) -> None:
    """A reading stack finds the store through its ``promotesFrom`` stack's outputs, or by three explicit values."""
    explicit = {key: value for key, value in sources.items() if value}
    if not c.get("promotesFrom") and not explicit:
        c.add(
            "promotesFrom",
            "this stack reads the artifact store but names no stack it promotes from and no explicit store",
            "set promotesFrom to the stack it takes models from (e.g. dev), or set artifactSourceBucket, "
            "artifactSourceKmsKeyArn and artifactSourceAccountId (stacks in another Pulumi backend)",
            value="",
        )
        return
    if not explicit:
        return
    for key in sources:
        if not sources[key]:
            c.add(key, "missing while other artifactSource* values are set", "set all three", value="")
    if sources["artifactSourceBucket"] and not _BUCKET.match(sources["artifactSourceBucket"]):
        c.add("artifactSourceBucket", "not a valid S3 bucket name", "use the store's bucket name")
    _check_account(c, "artifactSourceAccountId")
    key_arn = sources["artifactSourceKmsKeyArn"]
    match = _KMS_KEY_ARN.match(key_arn) if key_arn else None
    if key_arn and not match:
        c.add("artifactSourceKmsKeyArn", "not a KMS key ARN", "use arn:aws:kms:<region>:<account>:key/<key-id>")
    elif match and sources["artifactSourceAccountId"] and match.group(2) != sources["artifactSourceAccountId"]:
        c.add("artifactSourceKmsKeyArn", "key is not in artifactSourceAccountId", "use the store account's key")


def _check_image(c: _Checker) -> None:
    """The building stack pins nothing; every other stack runs a well-formed pinned digest (refused when empty)."""
    pin_keys = ("imageDigest", "imageDigestPrevious", "imagePromotionEvidence", "imagePromotionEvidencePrevious")
    if c.get("buildsImage"):
        for key in pin_keys:
            if c.get(key):
                c.add(key, "set on the stack that builds the image (it runs what it builds)", "remove it")
        return
    digest = c.get("imageDigest")
    if c.has("imageDigest") and not digest:
        c.add(
            "imageDigest",
            "empty on a stack that does not build the image (it runs only a digest promoted to it)",
            f"run `dsctl image promote --env {c.stack}` after a successful run upstream, or set buildsImage: true "
            "on the one stack that builds",
            value="",
        )
    for key in ("imageDigest", "imageDigestPrevious"):
        value = c.get(key)
        if value and not IMAGE_DIGEST.match(value):
            c.add(key, "not an image digest", "use sha256:<64 lowercase hex> as `dsctl image promote` writes it")
    for key in ("imagePromotionEvidence", "imagePromotionEvidencePrevious"):
        evidence = c.get(key)
        if evidence and not _EVIDENCE.match(evidence):
            c.add(
                key,
                "not a run manifest location",
                "use s3://<output bucket>/processed/<run>/manifest.json as `dsctl image promote` writes it",
            )


def _check_schedule(c: _Checker) -> None:
    expression = c.get("scheduleExpression")
    if expression is not None and (problem := schedule_expression_problem(expression)):
        c.add("scheduleExpression", problem, "use e.g. cron(0 6 1 * ? *) or rate(30 days)")


MAX_MAP_CONCURRENCY = 10_000
"""The most child executions a Step Functions Distributed Map runs at once (its MaxConcurrency limit)."""


def _check_task(c: _Checker) -> None:
    retention = c.get("logRetentionDays")
    if retention is not None and retention not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(v) for v in LOG_RETENTION_DAYS)
        c.add("logRetentionDays", "not a retention CloudWatch Logs accepts", f"use one of {allowed}")
    cpu, memory = c.get("taskCpu"), c.get("taskMemory")
    if cpu is not None and cpu not in FARGATE_MEMORY:
        c.add("taskCpu", "not a Fargate CPU size", f"use one of {', '.join(map(str, FARGATE_MEMORY))}")
    elif cpu is not None and memory is not None and memory not in FARGATE_MEMORY[cpu]:
        sizes = FARGATE_MEMORY[cpu]
        c.add(
            "taskMemory",
            f"not a Fargate memory size for taskCpu {cpu}",
            f"use {sizes[0]}..{sizes[-1]} MiB in steps of {sizes[1] - sizes[0]}",
        )
    replica = c.get("artifactReplicaRegion")
    if replica and not c.get("ownsArtifactStore"):
        c.add("artifactReplicaRegion", "set on a stack that does not own the store", "set it on the owning stack")
    elif replica and not _REGION.match(replica):
        c.add("artifactReplicaRegion", "not an AWS region name", "use a region such as us-west-2")
    elif replica and replica == c.get("region"):
        c.add("artifactReplicaRegion", "is the store's own region", "use another region (a replica guards a region)")
    retention = c.get("dataRetentionDays")
    if retention is not None and retention < 0:
        c.add("dataRetentionDays", "negative", "use a number of days, or 0 to keep the data")
    elif retention and c.get("production"):
        c.add(
            "dataRetentionDays",
            "set on a production stack (production keeps its input and output data)",
            "remove it (0 keeps everything), or declare the stack production: false",
        )
    timeout = c.get("taskTimeoutMinutes")
    if timeout is not None and not 1 <= timeout <= 24 * 60:
        c.add("taskTimeoutMinutes", "out of range", "use 1..1440 minutes")
    parallel = c.get("maxParallelTasks")
    if parallel is not None and not 1 <= parallel <= MAX_MAP_CONCURRENCY:
        c.add("maxParallelTasks", "out of range", f"use 1..{MAX_MAP_CONCURRENCY} (a Distributed Map's concurrency)")


def _check_network_and_access(c: _Checker) -> None:
    for subnet in c.get("subnetIds", []):
        if not _SUBNET.match(subnet):
            c.add(
                "subnetIds",
                f"{subnet!r} is not a subnet id",
                "use ids like subnet-0123456789abcdef0, or [] for the default VPC",
            )
    email = c.get("alarmEmail")
    if email and not _EMAIL.match(email):
        c.add("alarmEmail", "not an e-mail address", "use name@example.com, or leave it empty")
    _check_operator_principals(c)
    _check_ci_access(c)
    prefix = c.get("parameterPrefix")
    if prefix is not None and not _PARAM_PREFIX.match(prefix):
        c.add("parameterPrefix", "not an SSM path", "use a path like /ds/preprocessing (leading /, no trailing /)")
    key = c.get("inputKey")
    if key is not None and (not key or key.startswith("/")):
        c.add("inputKey", "not an S3 object key", "use a key like raw/monthly_data.csv (no leading /)")


def _check_operator_principals(c: _Checker) -> None:
    """Who may assume the operator role: named IAM roles or users only (no account roots, no wildcards)."""
    key = "operatorPrincipalArns"
    principals: list[str] = c.get(key, [])
    for principal in principals:
        if not _PRINCIPAL.match(principal):
            c.add(
                key,
                "not an IAM role or user ARN (account roots and wildcards are refused: the role trusts named people)",
                "use arn:aws:iam::<account>:role/<name>, e.g. the operators' SSO role "
                "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataScience_<id>",
                value=principal,
            )
        elif principal.rsplit("/", 1)[-1] == naming.operator_role():
            c.add(key, "is the operator role itself", "list the principals that assume it", value=principal)
    if len(set(principals)) != len(principals):
        c.add(key, "lists a principal twice", "list each principal once")


def _check_ci_access(c: _Checker) -> None:
    """The repository GitHub's OIDC tokens name, the provider to trust, the admins and the operators' permission set."""
    repository = c.get("githubRepository")
    if repository and not _GITHUB_REPOSITORY.match(repository):
        c.add(
            "githubRepository",
            "not a GitHub owner/repo",
            "use the repository as owner/repo, e.g. acme/ds-preprocessing",
        )
    provider = c.get("githubOidcProviderArn")
    if provider:
        match = _OIDC_PROVIDER.match(provider)
        if not match:
            c.add(
                "githubOidcProviderArn",
                "not the ARN of a GitHub OIDC provider",
                "use arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com, or leave it empty",
            )
        elif c.get("accountId") and match.group(1) != c.get("accountId"):
            c.add(
                "githubOidcProviderArn",
                "provider is not in accountId",
                "use this account's provider, or leave it empty",
            )
        if not repository:
            c.add("githubOidcProviderArn", "set without githubRepository", "set githubRepository, or remove this key")
    admins: list[str] = c.get("adminPrincipalArns", [])
    for admin in admins:
        match = _ROLE_ARN.match(admin)
        if not match:
            c.add(
                "adminPrincipalArns",
                "not an IAM role ARN",
                "use arn:aws:iam::<account>:role/<name> (the administrators' role)",
                value=admin,
            )
        elif _ACCOUNT.match(c.get("accountId") or "") and match.group(1) != c.get("accountId"):
            c.add("adminPrincipalArns", "role is not in accountId", "list this account's admin roles", value=admin)
    if len(set(admins)) != len(admins):
        c.add("adminPrincipalArns", "lists a role twice", "list each role once")
    if c.get("ownsArtifactStore") and c.has("adminPrincipalArns") and not admins:
        c.add(
            "adminPrincipalArns",
            "empty on the stack that owns the artifact store (only admins may change its key and bucket policy, and "
            "KMS refuses a key policy that locks out the principal deploying it)",
            "list the role ARNs of the account's administrators, who deploy this stack",
        )
    for key in ("operatorPermissionSet", "promoterPermissionSet"):
        permission_set = c.get(key)
        if permission_set and not _PERMISSION_SET.match(permission_set):
            c.add(
                key,
                "not an IAM Identity Center permission set name",
                "use the permission set's name (letters, digits and +=,.@-), e.g. DataScience",
            )
    _check_promoters(c)


def _check_promoters(c: _Checker) -> None:
    """Who may promote into a production stack is declared apart from who operates it; elsewhere the operator does."""
    promoters = c.get("promoterPermissionSet")
    has_operators = bool(c.get("operatorPrincipalArns") or c.get("operatorPermissionSet"))
    if c.get("production") and has_operators and c.has("promoterPermissionSet") and not promoters:
        c.add(
            "promoterPermissionSet",
            "empty on a production stack with operators (who may promote a model into production is declared apart "
            "from who may publish one: the operator role cannot change the model parameters here)",
            "name the IAM Identity Center permission set of the people who approve production models, e.g. "
            "ModelApprovers (a small team may name its operatorPermissionSet deliberately)",
            value="",
        )
    elif promoters and c.has("production") and not c.get("production"):
        c.add(
            "promoterPermissionSet",
            "set on a stack that is not production (there the operator role promotes; only production stacks have "
            "a promoter role)",
            "remove it, or set production: true",
        )


def settings_from_config(stack: str, values: Mapping[str, Any], *, project_dir: Path = PROJECT_DIR) -> StackSettings:
    """Validate ``values`` (config keys without namespace) for ``stack`` and build its settings.

    Missing keys take their ``Pulumi.yaml`` default. Raises ``SettingsError`` listing every problem.
    """
    c = _Checker(stack, values, config_schema(project_dir))
    _check_identity(c)
    _check_artifact_store(c)
    _check_image(c)
    _check_schedule(c)
    _check_task(c)
    _check_network_and_access(c)
    if c.errors:
        raise SettingsError(c.errors)
    v = c.values
    source = None
    promotes_from = v["promotesFrom"] or None
    if not v["ownsArtifactStore"]:
        explicit = bool(v["artifactSourceBucket"])
        source = ArtifactSource(
            stack_reference=None
            if explicit
            else f"{v['pulumiOrganization']}/{project_name(project_dir)}/{promotes_from}",
            bucket=v["artifactSourceBucket"] or None,
            kms_key_arn=v["artifactSourceKmsKeyArn"] or None,
            account_id=v["artifactSourceAccountId"] or None,
        )
    return StackSettings(
        project=project_name(project_dir),
        stack=stack,
        environment=stack,
        account_id=v["accountId"],
        region=v["region"],
        production=v["production"],
        promotes_from=promotes_from,
        pulumi_organization=v["pulumiOrganization"],
        owns_artifact_store=v["ownsArtifactStore"],
        builds_image=v["buildsImage"],
        image_digest=v["imageDigest"] or None,
        image_digest_previous=v["imageDigestPrevious"] or None,
        image_promotion_evidence=v["imagePromotionEvidence"] or None,
        image_promotion_evidence_previous=v["imagePromotionEvidencePrevious"] or None,
        artifact_reader_accounts=tuple(v["artifactReaderAccounts"]) if v["ownsArtifactStore"] else (),
        artifact_reader_role_patterns=tuple(v["artifactReaderRolePatterns"]),
        artifact_source=source,
        schedule_enabled=v["scheduleEnabled"],
        schedule_expression=v["scheduleExpression"],
        log_retention_days=v["logRetentionDays"],
        task_cpu=v["taskCpu"],
        task_memory=v["taskMemory"],
        task_timeout_minutes=v["taskTimeoutMinutes"],
        subnet_ids=tuple(v["subnetIds"]),
        assign_public_ip=v["assignPublicIp"],
        alarm_email=v["alarmEmail"] or None,
        operator_principal_arns=tuple(v["operatorPrincipalArns"]),
        operator_permission_set=v["operatorPermissionSet"] or None,
        promoter_permission_set=v["promoterPermissionSet"] or None,
        github_repository=v["githubRepository"] or None,
        github_oidc_provider_arn=v["githubOidcProviderArn"] or None,
        admin_principal_arns=tuple(v["adminPrincipalArns"]),
        organization_trail=v["organizationTrail"],
        data_retention_days=v["dataRetentionDays"],
        artifact_replica_region=v["artifactReplicaRegion"] or None,
        parameter_prefix=v["parameterPrefix"],
        input_key=v["inputKey"],
        max_parallel_tasks=v["maxParallelTasks"],
    )


# --------------------------------------------------------------------------- files


def stack_config_values(
    stack: str, config_file: Path | None = None, *, project_dir: Path = PROJECT_DIR
) -> dict[str, Any]:
    """The project's values from ``Pulumi.<stack>.yaml`` (or ``config_file``), keys without namespace."""
    path = config_file or project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise SettingsError([f"config file: {str(path)!r} — not found; create it or pass an existing --config-file"])
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError([f"config file: {str(path)!r} — not valid YAML ({exc}); fix the syntax"]) from exc
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError([f"config file: {str(path)!r} — `config` is not a mapping; use key: value lines"])
    prefix = project_name(project_dir) + ":"
    values: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and "secure" in value:
            raise SettingsError([f"{key}: (secret) — encrypted values are not supported here; use a plain value"])
        if key.startswith(prefix):
            values[key[len(prefix) :]] = value
        elif ":" not in key:
            values[key] = value
    return values


def load_stack_settings(
    stack: str, config_file: Path | None = None, *, project_dir: Path = PROJECT_DIR
) -> StackSettings:
    """Settings of ``stack`` from ``Pulumi.yaml`` + ``Pulumi.<stack>.yaml``, with no Pulumi engine.

    A reading stack's store is found by following ``promotesFrom`` to the stack that owns it (each stack
    re-exports the store it reads), so the bucket and account are known offline when those stack files are here.
    """
    return _load_resolved(stack, config_file, project_dir, ())


def _load_resolved(stack: str, config_file: Path | None, project_dir: Path, seen: tuple[str, ...]) -> StackSettings:
    if stack in seen:
        chain = " -> ".join((*seen, stack))
        raise SettingsError([f"promotesFrom: {chain} — a cycle; the chain must end at the stack owning the store"])
    values = stack_config_values(stack, config_file, project_dir=project_dir)
    settings = settings_from_config(stack, values, project_dir=project_dir)
    source = settings.artifact_source
    upstream = settings.promotes_from
    if source is None or not source.stack_reference or not upstream:
        return settings
    if not (project_dir / f"Pulumi.{upstream}.yaml").is_file():
        return settings
    above = _load_resolved(upstream, None, project_dir, (*seen, stack))
    resolved = ArtifactSource(
        stack_reference=source.stack_reference,
        bucket=above.artifact_bucket_name,
        kms_key_arn=above.artifact_source.kms_key_arn if above.artifact_source else None,
        account_id=above.artifact_account_id,
    )
    return replace(settings, artifact_source=resolved)


class _ConfigReader(Protocol):
    def get(self, key: str) -> str | None: ...


def read_pulumi_config(config: _ConfigReader) -> dict[str, Any]:
    """The declared keys that ``pulumi.Config`` holds, converted to their schema types.

    The Pulumi engine hands every value over as text; this is the one place that turns
    it back into the typed values ``settings_from_config`` validates.
    """
    values: dict[str, Any] = {}
    for key in config_schema():
        raw = config.get(key.name)
        if raw is not None:
            values[key.name] = coerce_config_string(raw, key.type)
    return values
