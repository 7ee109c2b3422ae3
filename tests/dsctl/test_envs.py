"""Environments come from the stack files; credentials are checked against the account with STS first."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsctl.envs import environment_names, load_environment, new_session, session_for, verify_account
from dsctl.output import CommandError, die
from tests.conftest import DEV_ACCOUNT, PROD_ACCOUNT, AwsCredentials
from tests.dsctl.ops_stack import OPERATOR_ROLE, Dsctl, TwoAccounts, dsctl, two_accounts, write_aws_config

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below


def test_environments_come_from_the_stack_files() -> None:
    assert environment_names() == ["dev", "prod"]
    dev, prod = load_environment("dev"), load_environment("prod")
    assert (dev.account_id, prod.account_id) == (DEV_ACCOUNT, PROD_ACCOUNT)
    assert dev.owns_artifact_store and not prod.owns_artifact_store
    # prod reads dev's store: known offline by following its stack reference to Pulumi.dev.yaml.
    assert prod.artifact_bucket == dev.artifact_bucket == f"ds-artifacts-dev-{DEV_ACCOUNT}-us-east-1"
    assert prod.artifact_account_id == DEV_ACCOUNT
    assert prod.parameter_name("model-key") == "/ds/preprocessing/model-key"
    assert prod.state_machine_arn == f"arn:aws:states:us-east-1:{PROD_ACCOUNT}:stateMachine:ds-preprocessing-pipeline"


def test_unknown_environment_names_the_known_ones() -> None:
    with pytest.raises(CommandError, match="unknown environment 'staging'; use one of dev, prod"):
        load_environment("staging")


def test_profile_named_like_the_environment_is_used(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(write_aws_config(tmp_path / "config")))
    prod = load_environment("prod")
    session = session_for(prod)
    assert session.profile_name == "prod"
    arn = verify_account(session, prod)
    assert arn.startswith(f"arn:aws:sts::{PROD_ACCOUNT}:assumed-role/ds-preprocessing-operator/")


def test_environment_variables_are_the_fallback_and_a_wrong_account_is_refused(
    aws: str, prod_credentials: AwsCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev, prod = load_environment("dev"), load_environment("prod")
    session = session_for(prod)  # no profiles: the AWS_* variables, which hold dev keys
    with pytest.raises(CommandError) as refused:
        verify_account(session, prod)
    message = refused.value.message
    assert f"belong to account {DEV_ACCOUNT}" in message
    assert f"environment prod is account {PROD_ACCOUNT}" in message
    assert "--profile" in message
    assert f"--role-arn arn:aws:iam::{PROD_ACCOUNT}:role/ds-preprocessing-operator" in message
    for name, value in prod_credentials.env().items():
        monkeypatch.setenv(name, value)
    assert verify_account(session_for(prod), prod).startswith(f"arn:aws:sts::{PROD_ACCOUNT}:")
    with pytest.raises(CommandError, match=f"belong to account {PROD_ACCOUNT}"):
        verify_account(session_for(dev), dev)


def test_role_arn_is_assumed_from_the_chosen_credentials(aws: str) -> None:
    prod = load_environment("prod")
    session = session_for(prod, role_arn=OPERATOR_ROLE)
    assert verify_account(session, prod).startswith(f"arn:aws:sts::{PROD_ACCOUNT}:assumed-role/")


def test_missing_profile_and_missing_credentials_say_how_to_fix(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    prod = load_environment("prod")
    with pytest.raises(CommandError, match="AWS profile 'nope' not found"):
        session_for(prod, profile="nope")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CommandError, match="no AWS credentials found for environment prod"):
        verify_account(session_for(prod), prod)


def test_every_command_checks_the_account_before_acting(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    before = new_session("prod").client("ssm").get_parameter(Name="/ds/preprocessing/model-key")
    for argv in (
        ["model", "promote", "--env", "prod", "--profile", "dev", "1.0.0"],
        ["model", "rollback", "--env", "prod", "--profile", "dev"],
        ["run", "--env", "prod", "--profile", "dev"],
        ["model", "list", "--env", "dev", "--profile", "prod"],
    ):
        result = dsctl(*argv)
        assert result.code == 2, argv
        assert "belong to account" in result.err and result.err.count("\n") == 1, result.err
    after = new_session("prod").client("ssm").get_parameter(Name="/ds/preprocessing/model-key")
    assert after["Parameter"]["Version"] == before["Parameter"]["Version"]


def test_a_role_arn_that_is_not_one_is_a_one_line_usage_error(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    result = dsctl("model", "rollback", "--env", "prod", "--role-arn", "notanarn")
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "'notanarn' is not an IAM role ARN" in result.err and OPERATOR_ROLE in result.err


def test_error_messages_with_embedded_newlines_still_print_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert die(CommandError("AWS said: Parameter validation failed:\nInvalid length; fix it")) == 2
    assert capsys.readouterr().err == "dsctl: error: AWS said: Parameter validation failed: Invalid length; fix it\n"


def test_promotions_into_a_production_stack_run_as_the_promoter_named_by_source_identity(
    two_accounts: TwoAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prod has promoterPermissionSet: dsctl assumes ds-preprocessing-promoter with the person's credentials and sets
    sts:SourceIdentity to the person (the session name of their role); dev (not production) keeps the operator.

    moto neither enforces the promoter's trust policy nor records SourceIdentity: the AssumeRole parameters are
    captured on the client, and tests/infra/test_access_matrix.py proves with principalmapper who may assume the role
    (and sts:SetSourceIdentity on it) and that only it may write the model parameters in prod."""
    import argparse

    from dsctl import envs

    calls: list[dict[str, object]] = []
    make = envs._core_session

    def core() -> object:
        session = make()
        session.register("provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(dict(params)))
        return session

    monkeypatch.setattr(envs, "_core_session", core)
    config = write_aws_config(two_accounts.config_file.parent / "config-ana")
    config.write_text(config.read_text() + "role_session_name = ana@example.com\n")  # the prod profile's session
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    args = argparse.Namespace(env="prod", profile=None, role_arn=None)
    conn = envs.connect_promoter(args)
    assert conn.caller_arn.startswith(f"arn:aws:sts::{PROD_ACCOUNT}:assumed-role/ds-preprocessing-promoter/dsctl-prod-")
    (call,) = [c for c in calls if str(c["RoleArn"]).endswith("role/ds-preprocessing-promoter")]
    assert call["SourceIdentity"] == "ana@example.com"  # the person behind the prod profile
    again = envs.connect_promoter(argparse.Namespace(env="prod", profile=None, role_arn=OPERATOR_ROLE))
    assert "assumed-role/ds-preprocessing-operator/" in again.caller_arn  # --role-arn: the caller's choice
    dev = envs.connect_promoter(argparse.Namespace(env="dev", profile=None, role_arn=None))
    assert "promoter" not in dev.caller_arn  # not production: the operator promotes there
    assert len([c for c in calls if str(c["RoleArn"]).endswith("role/ds-preprocessing-promoter")]) == 1


def test_source_identity_is_the_person_within_sts_limits() -> None:
    from dsctl.envs import source_identity

    assert source_identity("arn:aws:sts::1:assumed-role/AWSReservedSSO_DataScience_0a/ana@example.com") == (
        "ana@example.com"
    )
    assert source_identity("arn:aws:iam::1:user/ops/bob") == "bob"
    assert len(source_identity("arn:aws:sts::1:assumed-role/r/" + "x" * 80)) == 64
    assert source_identity("arn:aws:sts::1:assumed-role/r/a b") == "a-b"
