"""Stack settings: the config schema, the stack files, and one test per validation error."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pytest
import yaml

from components import naming
from components.schedule import schedule_expression_problem
from components.settings import (
    FARGATE_MEMORY,
    LOG_RETENTION_DAYS,
    PROJECT_DIR,
    SettingsError,
    StackSettings,
    config_schema,
    load_stack_settings,
    read_pulumi_config,
    settings_from_config,
    stack_config_values,
)

DEV = "123456789012"
PROD = "987654321098"
ADMINS = [f"arn:aws:iam::{DEV}:role/platform-admin"]
"""adminPrincipalArns: required where the store is (its key's and bucket policy's break-glass principals)."""
KEY_ARN = f"arn:aws:kms:us-east-1:{DEV}:key/6f33261d-ee6e-4ccd-ab20-595cf6bd022d"


def values(stack: str, **changes: Any) -> dict[str, Any]:
    """The stack's committed config with ``changes`` applied (``None`` removes a key)."""
    result = stack_config_values(stack)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def errors(stack: str, **changes: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings_from_config(stack, values(stack, **changes))
    return caught.value.errors


def only_error(stack: str, **changes: Any) -> str:
    found = errors(stack, **changes)
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------- schema and stack files


def test_every_key_is_declared_with_type_description_and_default_or_required() -> None:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert document["name"] == naming.PROJECT
    for name, spec in document["config"].items():
        assert spec["type"] in {"string", "integer", "boolean", "array"}, name
        assert spec["description"].strip(), name
        if spec["type"] == "array":
            assert spec["items"] == {"type": "string"}, name
    required = {key.name for key in config_schema() if key.required}
    assert required == {"accountId"}


def test_every_config_key_becomes_a_settings_field() -> None:
    field_names = {f.name for f in fields(StackSettings)}
    for key in config_schema():
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", key.name).lower()
        if snake.startswith("artifact_source_"):
            snake = "artifact_source"
        assert snake in field_names, key.name


def test_dev_stack_owns_the_store_with_the_seed_values() -> None:
    dev = load_stack_settings("dev")
    assert (dev.environment, dev.account_id, dev.region) == ("dev", DEV, "us-east-1")
    assert dev.owns_artifact_store and dev.artifact_reader_accounts == (PROD,)
    assert dev.artifact_bucket_name == f"ds-artifacts-dev-{DEV}-us-east-1"
    assert dev.artifact_account_id == DEV
    assert not dev.schedule_enabled
    assert dev.log_retention_days == 7
    assert dev.subnet_ids == ()  # default VPC
    assert dev.parameter_prefix == "/ds/preprocessing"
    assert dev.input_key == "raw/monthly_data.csv"


def test_prod_stack_reads_devs_store_on_a_monthly_schedule() -> None:
    prod = load_stack_settings("prod")
    dev = load_stack_settings("dev")
    assert (prod.environment, prod.account_id) == ("prod", PROD)
    assert not prod.owns_artifact_store
    assert prod.artifact_source is not None
    assert prod.artifact_source.stack_reference == "organization/ds-preprocessing/dev"
    # The reference is followed to Pulumi.dev.yaml, so dsctl knows the store without any engine.
    assert prod.artifact_bucket_name == dev.artifact_bucket_name
    assert prod.artifact_account_id == DEV
    assert prod.schedule_enabled and prod.schedule_expression == "cron(0 6 1 * ? *)"
    assert prod.log_retention_days == 30
    assert prod.task_cpu * prod.task_memory > dev.task_cpu * dev.task_memory
    assert prod.github_repository == "acme-data/ds-preprocessing" and prod.github_oidc_provider_arn is None
    assert prod.alarm_email


def test_defaults_come_from_pulumi_yaml() -> None:
    minimal = {
        "environment": "dev",
        "accountId": DEV,
        "ownsArtifactStore": True,
        "buildsImage": True,
        "adminPrincipalArns": ADMINS,
    }
    settings = settings_from_config("dev", minimal)
    assert settings.region == "us-east-1"
    assert settings.artifact_reader_role_patterns == (
        "ds-preprocessing-task-*",
        "ds-preprocessing-operator",
        "ds-preprocessing-promoter",
    )
    assert settings.schedule_expression == "cron(0 6 1 * ? *)"
    assert (settings.task_cpu, settings.task_memory) == (1024, 4096)
    assert settings.alarm_email is None and settings.github_repository is None
    assert settings.operator_permission_set is None  # admins are required on an owning stack: given here


def test_pulumi_config_text_is_converted_to_schema_types() -> None:
    class FakeConfig:
        raw = {
            "environment": "dev",
            "accountId": DEV,
            "ownsArtifactStore": "true",
            "buildsImage": "true",
            "artifactReaderAccounts": f'["{PROD}"]',
            "logRetentionDays": "14",
            "adminPrincipalArns": json.dumps(ADMINS),
        }

        def get(self, key: str) -> str | None:
            return self.raw.get(key)

    converted = read_pulumi_config(FakeConfig())
    assert converted == {
        "environment": "dev",
        "accountId": DEV,
        "ownsArtifactStore": True,
        "buildsImage": True,
        "artifactReaderAccounts": [PROD],
        "logRetentionDays": 14,
        "adminPrincipalArns": ADMINS,
    }
    assert settings_from_config("dev", converted).log_retention_days == 14


def test_explicit_artifact_source_is_accepted() -> None:
    settings = settings_from_config(
        "prod",
        values(
            "prod",
            artifactSourceBucket=f"ds-artifacts-dev-{DEV}-us-east-1",
            artifactSourceKmsKeyArn=KEY_ARN,
            artifactSourceAccountId=DEV,
        ),
    )
    assert settings.artifact_bucket_name == f"ds-artifacts-dev-{DEV}-us-east-1"
    assert settings.artifact_source is not None and settings.artifact_source.kms_key_arn == KEY_ARN


# ----------------------------------------------------------------------------- one test per error


def test_the_store_owner_needs_administrators() -> None:
    """Only admins may re-policy the store's key; KMS refuses a key policy that locks out its deployer."""
    message = only_error("dev", adminPrincipalArns=[])
    assert message.startswith("adminPrincipalArns: [] — empty on the stack that owns the artifact store")
    assert "list the role ARNs" in message


@pytest.mark.parametrize(
    ("admin", "problem"),
    [
        (f"arn:aws:iam::{DEV}:user/alice", "not an IAM role ARN"),
        (f"arn:aws:iam::{DEV}:role/admins-*", "not an IAM role ARN"),
        (f"arn:aws:iam::{PROD}:role/admin", "role is not in accountId"),
    ],
)
def test_administrators_are_named_roles_of_the_account(admin: str, problem: str) -> None:
    assert problem in only_error("dev", adminPrincipalArns=[admin])


def test_data_retention_is_refused_on_a_production_stack() -> None:
    message = only_error("prod", dataRetentionDays=30)
    assert message.startswith("dataRetentionDays: 30 — set on a production stack")
    assert "remove it (0 keeps everything)" in message
    assert "negative" in only_error("dev", dataRetentionDays=-1)
    assert load_stack_settings("dev").data_retention_days == 30
    assert load_stack_settings("prod").data_retention_days == 0


@pytest.mark.parametrize(
    ("stack", "value", "problem"),
    [
        ("prod", "us-west-2", "set on a stack that does not own the store"),
        ("dev", "us-east-1", "is the store's own region"),
        ("dev", "west", "not an AWS region name"),
    ],
)
def test_replica_region_is_another_region_of_the_owning_stack(stack: str, value: str, problem: str) -> None:
    assert problem in only_error(stack, artifactReplicaRegion=value)


def test_account_id_must_be_12_digits() -> None:
    message = only_error("dev", accountId="12345")
    assert message.startswith("accountId: '12345'")
    assert "12-digit" in message and "quoted" in message


def test_account_id_given_as_a_yaml_number_is_a_type_error() -> None:
    message = only_error("dev", accountId=123456789012)
    assert message.startswith("accountId: 123456789012") and "must be a string; quote it in YAML" in message


def test_log_retention_must_be_a_cloudwatch_value() -> None:
    message = only_error("dev", logRetentionDays=10)
    assert message.startswith("logRetentionDays: 10")
    assert "CloudWatch Logs" in message and "7, 14, 30" in message


@pytest.mark.parametrize("days", LOG_RETENTION_DAYS)
def test_every_cloudwatch_retention_is_accepted(days: int) -> None:
    assert settings_from_config("dev", values("dev", logRetentionDays=days)).log_retention_days == days


def test_environment_must_be_the_stack_name() -> None:
    message = only_error("dev", environment="qa")
    assert message.startswith("environment: 'qa'") and "differs from the stack name 'dev'" in message
    assert "remove the key, or set it to 'dev'" in message


def test_environment_is_the_stack_name_whatever_the_name() -> None:
    """Any valid name is an environment; nothing in code lists them."""
    values = {
        "accountId": "555555555555",
        "ownsArtifactStore": True,
        "buildsImage": True,
        "adminPrincipalArns": ["arn:aws:iam::555555555555:role/admin"],
    }
    for stack in ("staging", "sandbox-2", "prod-eu"):
        settings = settings_from_config(stack, values)
        assert settings.environment == stack
        assert settings.input_bucket_name == f"ds-input-{stack}-555555555555-us-east-1"
    assert settings_from_config("qa", {**values, "environment": "qa"}).environment == "qa"


@pytest.mark.parametrize("stack", ["Staging", "qa_1", "-qa", "qa-", "q", "a" * 28])
def test_stack_name_is_validated_as_a_name(stack: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings_from_config(
            stack,
            {"accountId": "555555555555", "ownsArtifactStore": True, "buildsImage": True, "adminPrincipalArns": []},
        )
    assert any(line.startswith(f"stack: {stack!r}") for line in err.value.errors)


def test_longest_stack_name_fits_every_aws_name() -> None:
    longest = "a" * 27  # ds-artifacts-<27>-<12 digits>-us-east-1 is exactly 63 characters
    settings = settings_from_config(
        longest,
        {
            "accountId": "555555555555",
            "ownsArtifactStore": True,
            "buildsImage": True,
            "adminPrincipalArns": ["arn:aws:iam::555555555555:role/a"],
        },
    )
    assert len(settings.artifact_bucket_name or "") == 63


def test_promotes_from_builds_the_stack_reference_from_the_organization() -> None:
    prod = settings_from_config("prod", values("prod", pulumiOrganization="acme"))
    assert prod.promotes_from == "dev"
    assert prod.artifact_source is not None and prod.artifact_source.stack_reference == "acme/ds-preprocessing/dev"
    assert "pulumiOrganization" in only_error("prod", pulumiOrganization="acme corp")


def test_promotes_from_cannot_name_itself() -> None:
    assert "names this stack itself" in only_error("prod", promotesFrom="prod")


def test_reading_stack_needs_an_artifact_source() -> None:
    message = only_error("prod", promotesFrom=None)
    assert message.startswith("promotesFrom: ''")
    assert "names no stack it promotes from" in message and "artifactSourceBucket" in message


def test_owning_stack_cannot_list_itself_as_reader() -> None:
    message = only_error("dev", artifactReaderAccounts=[DEV])
    assert message.startswith("artifactReaderAccounts:") and f"{DEV} is this stack's own account" in message


def test_reader_accounts_must_be_account_ids() -> None:
    message = only_error("dev", artifactReaderAccounts=["prod"])
    assert "'prod' is not a 12-digit account id" in message


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("monthly", "not a schedule expression"),
        ("cron(0 6 1 * *)", "cron needs 6 fields"),
        ("cron(0 6 1 * * *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 24 1 * ? *)", "hours value '24' is outside 0-23"),
        ("cron(0 6 1 13 ? *)", "month value '13' is outside 1-12"),
        ("cron(0 6 ? * 8 *)", "day-of-week value '8' is outside 1-7"),
        ("rate(0 days)", "rate must be at least 1"),
        ("rate(2 day)", "rate unit must be plural"),
        ("rate(1 days)", "rate unit must be singular"),
    ],
)
def test_bad_schedule_expression(expression: str, problem: str) -> None:
    message = only_error("prod", scheduleExpression=expression)
    assert message.startswith(f"scheduleExpression: {expression!r}") and problem in message
    assert "cron(0 6 1 * ? *)" in message  # the fix shows a valid example


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 6 1 * ? *)",
        "cron(0/15 8-17 ? * MON-FRI *)",
        "cron(0 6 L * ? 2030)",
        "cron(0 6 ? * 2#1 *)",
        "rate(30 days)",
    ],
)
def test_good_schedule_expressions(expression: str) -> None:
    assert schedule_expression_problem(expression) is None


def test_bad_cpu_memory_pair_for_fargate() -> None:
    message = only_error("dev", taskCpu=512, taskMemory=8192)
    assert message.startswith("taskMemory: 8192") and "taskCpu 512" in message
    assert "1024..4096 MiB in steps of 1024" in message


@pytest.mark.parametrize("tasks", [0, 10_001])
def test_parallel_tasks_fit_a_distributed_map(tasks: int) -> None:
    message = only_error("dev", maxParallelTasks=tasks)
    assert message.startswith(f"maxParallelTasks: {tasks}") and "1..10000" in message


def test_parallel_tasks_default_and_dev() -> None:
    assert settings_from_config("prod", values("prod")).max_parallel_tasks == 10
    assert settings_from_config("dev", values("dev")).max_parallel_tasks == 3


def test_unknown_fargate_cpu() -> None:
    message = only_error("dev", taskCpu=3000)
    assert message.startswith("taskCpu: 3000") and "256, 512, 1024" in message


def test_fargate_table_matches_aws() -> None:
    assert FARGATE_MEMORY[256] == (512, 1024, 2048)
    assert FARGATE_MEMORY[4096][0] == 8192 and FARGATE_MEMORY[4096][-1] == 30720
    assert FARGATE_MEMORY[16384][-1] == 122880


def test_unknown_key_suggests_the_declared_one() -> None:
    message = only_error("dev", logRetentionDay=7)
    assert message.startswith("logRetentionDay: 7 — unknown config key") and "did you mean logRetentionDays?" in message


def test_wrong_type_names_the_expected_type() -> None:
    message = only_error("dev", scheduleEnabled="yes")
    assert message.startswith("scheduleEnabled: 'yes'") and "true or false" in message


def test_missing_required_key_names_the_stack_file() -> None:
    message = only_error("dev", accountId=None)
    assert message == "accountId: (not set) — required; set ds-preprocessing:accountId in Pulumi.dev.yaml"


def test_reading_stack_without_source_gets_one_error() -> None:
    keys = [message.split(":", 1)[0] for message in errors("prod", promotesFrom=None)]
    assert keys == ["promotesFrom"]


@pytest.mark.parametrize("removed", ["ciPrincipalArn", "deployRoleArn"])
def test_the_removed_chaining_keys_are_refused(removed: str) -> None:
    """CI assumes the stack's own OIDC roles directly: a leftover key of the old role chaining is an error."""
    assert "unknown config key" in only_error("prod", **{removed: f"arn:aws:iam::{DEV}:role/ci"})


@pytest.mark.parametrize("bad", ["acme", "acme/", "/repo", "acme/ds preprocessing", "https://github.com/acme/ds"])
def test_github_repository_must_be_owner_slash_repo(bad: str) -> None:
    assert only_error("prod", githubRepository=bad).startswith(f"githubRepository: {bad!r} — not a GitHub owner/repo")


def test_an_existing_oidc_provider_must_be_githubs_in_this_account() -> None:
    ours = f"arn:aws:iam::{PROD}:oidc-provider/token.actions.githubusercontent.com"
    assert settings_from_config("prod", values("prod", githubOidcProviderArn=ours)).github_oidc_provider_arn == ours
    other = f"arn:aws:iam::{DEV}:oidc-provider/token.actions.githubusercontent.com"
    assert "provider is not in accountId" in only_error("prod", githubOidcProviderArn=other)
    gitlab = f"arn:aws:iam::{PROD}:oidc-provider/gitlab.com"
    assert "not the ARN of a GitHub OIDC provider" in only_error("prod", githubOidcProviderArn=gitlab)
    assert "set without githubRepository" in only_error("prod", githubOidcProviderArn=ours, githubRepository="")


def test_admin_principals_are_role_arns_listed_once() -> None:
    admin = f"arn:aws:iam::{PROD}:role/platform-admin"
    assert settings_from_config("prod", values("prod", adminPrincipalArns=[admin])).admin_principal_arns == (admin,)
    assert "not an IAM role ARN" in only_error("prod", adminPrincipalArns=["platform-admin"])
    assert "lists a role twice" in only_error("prod", adminPrincipalArns=[admin, admin])


def test_operator_permission_set_is_a_name() -> None:
    assert "not an IAM Identity Center permission set name" in only_error("prod", operatorPermissionSet="Data Science")


def test_a_production_stack_with_operators_names_its_promoters_apart() -> None:
    """promoterPermissionSet: required where production and operators meet, refused where nothing is production."""
    prod = load_stack_settings("prod")
    assert prod.has_promoter and prod.promoting_role == "ds-preprocessing-promoter"
    assert prod.promoter_permission_set != prod.operator_permission_set  # the shipped default keeps them apart
    missing = only_error("prod", promoterPermissionSet=None)
    assert missing.startswith("promoterPermissionSet: '' — empty on a production stack with operators"), missing
    assert "operatorPermissionSet deliberately" in missing
    same = settings_from_config("prod", values("prod", promoterPermissionSet="DataScience"))  # a small team, on purpose
    assert same.has_promoter and same.promoter_permission_set == same.operator_permission_set
    assert "set on a stack that is not production" in only_error("dev", promoterPermissionSet="ModelApprovers")
    assert "not an IAM Identity Center permission set name" in only_error(
        "prod", promoterPermissionSet="Model Approvers"
    )
    dev = load_stack_settings("dev")
    assert not dev.has_promoter and dev.promoting_role == "ds-preprocessing-operator"


SSO_OPERATOR = f"arn:aws:iam::{DEV}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataScience_0123456789abcdef"


def test_both_stacks_trust_the_operators_permission_set() -> None:
    for stack in ("dev", "prod"):
        settings = load_stack_settings(stack)
        assert settings.operator_permission_set == "DataScience" and settings.operator_principal_arns == ()
        assert settings.has_operators


def test_no_operators_means_no_operator_role_and_is_valid() -> None:
    assert not settings_from_config("prod", values("prod", operatorPermissionSet=None)).has_operators


@pytest.mark.parametrize(
    "bad",
    [
        "DataScience",  # a name, not an ARN
        f"arn:aws:iam::{DEV}:root",  # a whole account: anyone there with sts:AssumeRole
        f"arn:aws:iam::{DEV}:role/*",  # wildcards are not principals
        "arn:aws:iam::1234:role/ops",  # not a 12-digit account
        f"arn:aws:sts::{DEV}:assumed-role/ops/ana",  # a session, not a role
    ],
)
def test_operator_principals_must_be_named_roles_or_users(bad: str) -> None:
    message = only_error("prod", operatorPrincipalArns=[SSO_OPERATOR, bad])
    assert message.startswith(f"operatorPrincipalArns: {bad!r} — not an IAM role or user ARN"), message
    assert "; use arn:aws:iam::<account>:role/<name>" in message and "\n" not in message


def test_every_bad_operator_principal_is_reported() -> None:
    found = errors("dev", operatorPrincipalArns=["a", "b", SSO_OPERATOR])
    assert [m.split(" — ")[0] for m in found] == ["operatorPrincipalArns: 'a'", "operatorPrincipalArns: 'b'"]


def test_operator_principals_are_unique_and_not_the_role_itself() -> None:
    assert "lists a principal twice" in only_error("prod", operatorPrincipalArns=[SSO_OPERATOR, SSO_OPERATOR])
    itself = f"arn:aws:iam::{PROD}:role/ds-preprocessing-operator"
    assert only_error("prod", operatorPrincipalArns=[itself]).startswith(
        f"operatorPrincipalArns: {itself!r} — is the operator role itself"
    )


def test_operator_principals_must_be_a_list() -> None:
    assert "must be a list of strings" in only_error("prod", operatorPrincipalArns=SSO_OPERATOR)
