"""dsctl doctor: passes on a good setup and names the broken piece (with its fix) on a broken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from job.synthetic import write_month
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, publish_run, train_model, two_accounts

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below


@pytest.fixture
def promoted(two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path) -> TwoAccounts:
    """Both environments run a validated, promoted model 1.0.0."""
    directory = train_model(tmp_path, "1.0.0")
    data = write_month(tmp_path / "test.csv", 200, seed=3)
    assert dsctl("model", "publish", "--env", "dev", "1.0.0", str(directory)).code == 0
    assert dsctl("model", "validate", "--env", "dev", "1.0.0", "--test-data", str(data)).code == 0
    assert dsctl("model", "promote", "--env", "dev", "1.0.0").code == 0
    sha256 = json.loads((directory / "manifest.json").read_text())["sha256"]
    publish_run(two_accounts.dev_session, two_accounts.dev, "1.0.0", sha256, "run-dev")  # prod's promotion gate
    assert dsctl("model", "promote", "--env", "prod", "1.0.0").code == 0
    return two_accounts


def _checks(dsctl: Dsctl, *extra: str) -> tuple[int, dict[str, dict]]:  # type: ignore[type-arg]
    result = dsctl("doctor", "--env", "prod", "--json", *extra)
    return result.code, {check["name"]: check for check in result.json()["checks"]}


def test_doctor_passes_on_a_good_setup(promoted: TwoAccounts, dsctl: Dsctl) -> None:
    code, checks = _checks(dsctl)
    assert code == 0
    assert list(checks) == [
        "credentials and account",
        "parameters present",
        "parameters match the stack",
        "artifact store reachable",
        "promoted model readable",
        "promotion recorded",
        "KMS decrypt",
        "promoted model replicated",
        "state machine present",
        "task definition present",
    ]
    assert all(check["ok"] for check in checks.values())
    assert (
        "1.0.0" in checks["promoted model readable"]["detail"]
        and "verified" in checks["promoted model readable"]["detail"]
    )
    table = dsctl("doctor", "--env", "dev")
    assert table.code == 0 and "all checks passed" in table.out
    # moto does not replicate (and enforces no bucket policy): the object carries no ReplicationStatus, so doctor
    # names the replica dev declares and the admin step; replication itself is proven from the synthesized stack
    # (tests/infra/test_store_replica.py, the store-replicated rule).
    replicated = checks["promoted model replicated"]["detail"]
    assert "no replication status" in replicated and "us-west-2" in replicated and "Batch Replication" in replicated


def test_doctor_names_a_missing_model_and_skips_what_depends_on_it(promoted: TwoAccounts, dsctl: Dsctl) -> None:
    promoted.dev_session.client("s3").delete_object(Bucket=promoted.dev.artifact_bucket, Key="models/1.0.0/model.pkl")
    code, checks = _checks(dsctl)
    assert code == 1
    assert checks["promoted model readable"]["ok"] is False
    assert (
        "404" in checks["promoted model readable"]["detail"] or "NoSuch" in checks["promoted model readable"]["detail"]
    )
    assert "publish" in checks["promoted model readable"]["fix"]
    assert checks["KMS decrypt"]["ok"] is None  # skipped, not a second failure with the same cause
    assert checks["state machine present"]["ok"] is True
    table = dsctl("doctor", "--env", "prod")
    assert table.code == 1 and "broken: promoted model readable" in table.out


def test_doctor_names_missing_parameters_and_compute(promoted: TwoAccounts, dsctl: Dsctl) -> None:
    ssm = promoted.prod_session.client("ssm")
    ssm.delete_parameter(Name="/ds/preprocessing/input-key")
    sfn = promoted.prod_session.client("stepfunctions")
    sfn.delete_state_machine(stateMachineArn=promoted.prod.state_machine_arn)
    code, checks = _checks(dsctl)
    assert code == 1
    assert checks["parameters present"]["ok"] is False
    assert checks["parameters present"]["detail"] == "missing /ds/preprocessing/input-key"
    assert checks["parameters present"]["fix"] == "deploy the stack: pulumi up --refresh --stack prod"
    assert checks["state machine present"]["ok"] is False
    assert checks["promoted model readable"]["ok"] is True and checks["task definition present"]["ok"] is True


def test_doctor_reports_no_promoted_model(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    code, checks = _checks(dsctl)
    assert code == 1
    assert checks["promoted model readable"]["detail"] == "no model promoted yet (model-key is NONE)"
    assert checks["promoted model readable"]["fix"] == "dsctl model promote --env prod VERSION"


def test_doctor_with_wrong_credentials_fails_first_and_skips_the_rest(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    code, checks = _checks(dsctl, "--profile", "dev")
    assert code == 1
    first = checks["credentials and account"]
    assert first["ok"] is False and "belong to account 123456789012" in first["detail"]
    assert "--role-arn arn:aws:iam::987654321098:role/ds-preprocessing-operator" in first["fix"]
    skipped = [check["ok"] for name, check in checks.items() if name != "credentials and account"]
    assert len(skipped) >= 8 and set(skipped) == {None}  # every later check skipped, however many there are


def test_doctor_checks_the_store_the_job_reads_when_the_bucket_parameter_drifted(
    promoted: TwoAccounts, dsctl: Dsctl
) -> None:
    # The job reads its model from the artifact-bucket parameter, not from the stack file: doctor must not report
    # the stack's store as reachable and the model as readable while the job fails on another bucket.
    promoted.prod_session.client("ssm").put_parameter(
        Name="/ds/preprocessing/artifact-bucket", Value="ds-artifacts-gone", Type="String", Overwrite=True
    )
    code, checks = _checks(dsctl)
    assert code == 1
    assert checks["parameters match the stack"]["ok"] is False
    store = checks["artifact store reachable"]
    assert store["ok"] is False and "s3://ds-artifacts-gone/models/" in store["detail"]
    assert "artifact-bucket parameter" in store["detail"] and "pulumi up --refresh --stack prod" in store["fix"]
    assert checks["promoted model readable"]["ok"] is None and checks["KMS decrypt"]["ok"] is None


def test_doctor_with_an_unknown_profile_names_the_fix(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    code, checks = _checks(dsctl, "--profile", "nosuch")
    first = checks["credentials and account"]
    assert code == 1 and first["detail"] == "AWS profile 'nosuch' not found"
    assert first["fix"].startswith("add it to your AWS config (aws configure --profile nosuch)")


def test_doctor_with_a_bucket_parameter_missing_reports_it_instead_of_crashing(
    promoted: TwoAccounts, dsctl: Dsctl
) -> None:
    promoted.prod_session.client("ssm").delete_parameter(Name="/ds/preprocessing/input-bucket")
    code, checks = _checks(dsctl)
    assert code == 1
    assert checks["parameters present"]["detail"] == "missing /ds/preprocessing/input-bucket"
    values = checks["parameters match the stack"]
    assert values["ok"] is False and values["detail"].startswith("input-bucket is missing, expected 'ds-input-prod-")


def test_doctor_fails_a_model_replaced_without_a_stored_checksum(promoted: TwoAccounts, dsctl: Dsctl) -> None:
    """`aws s3 cp` over models/1.0.0/model.pkl with one byte changed: S3 has no SHA-256, doctor computes it."""
    s3 = promoted.dev_session.client("s3")
    bucket = promoted.dev.artifact_bucket
    original = s3.get_object(Bucket=bucket, Key="models/1.0.0/model.pkl")["Body"].read()
    s3.put_object(Bucket=bucket, Key="models/1.0.0/model.pkl", Body=original[:-1] + bytes([original[-1] ^ 1]))
    code, checks = _checks(dsctl)
    assert code == 1
    model = checks["promoted model readable"]
    assert model["ok"] is False and model["detail"].startswith("MISMATCH: ") and "(computed)" in model["detail"]
    assert "dsctl model rollback --env prod" in model["fix"]
    table = dsctl("doctor", "--env", "prod")
    assert table.code == 1 and "broken: promoted model readable" in table.out


def test_doctor_and_status_flag_a_model_set_outside_dsctl(promoted: TwoAccounts, dsctl: Dsctl) -> None:
    """A direct ssm:PutParameter (the guide's way) skips the promotion gate and leaves no record: both commands say so.

    The EventBridge rule that alerts as it happens (CloudTrail management events) cannot run on moto."""
    ssm = promoted.prod_session.client("ssm")
    current = ssm.get_parameter(Name="/ds/preprocessing/model-key")["Parameter"]["Value"]
    ssm.put_parameter(Name="/ds/preprocessing/model-key", Value=current, Overwrite=True)  # same value, by hand
    code, checks = _checks(dsctl)
    assert code == 1 and checks["promotion recorded"]["ok"] is False
    assert "has no promotion record" in checks["promotion recorded"]["detail"]
    assert "dsctl model history --env prod" in checks["promotion recorded"]["fix"]
    status = dsctl("status", "--json")
    assert status.code == 1
    (prod,) = [env for env in status.json()["environments"] if env["env"] == "prod"]
    assert "has no promotion record" in prod["model"]["unrecorded"]
