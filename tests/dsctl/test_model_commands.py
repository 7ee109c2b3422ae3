"""dsctl model publish/list/validate/promote/rollback against moto with two accounts.

prod acts through its own credentials (profile ``prod``: a role assumed into 987654321098),
so every read of the store that prod's promotion makes is a real cross-account request on
moto. moto does not enforce bucket or KMS key policies: that a *denied* read is refused is
shown here with a read that fails for a reason moto does model (the object is gone), and
what the policies allow is covered by the access-matrix tests (tests/policy).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from dsctl import ssm_parameters
from dsctl.envs import client
from job import artifact
from job.synthetic import write_month
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, publish_run, train_model, two_accounts

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below


@pytest.fixture
def test_csv(tmp_path: Path) -> Path:
    """Labelled-looking monthly data in the model's schema for validation."""
    return write_month(tmp_path / "test_data.csv", 300, seed=11)


def _published(dsctl: Dsctl, tmp_path: Path, version: str, seed: int = 1) -> Path:
    directory = train_model(tmp_path, version, seed=seed)
    result = dsctl("model", "publish", "--env", "dev", version, str(directory), "--json")
    assert result.code == 0, result.err
    return directory


def _parameter(accounts: TwoAccounts, env: str, key: str) -> dict:  # type: ignore[type-arg]
    session = accounts.prod_session if env == "prod" else accounts.dev_session
    return dict(session.client("ssm").get_parameter(Name=f"/ds/preprocessing/{key}")["Parameter"])


def test_publish_validate_promote_rollback_flow(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    first = _published(dsctl, tmp_path, "1.0.0", seed=1)
    second = _published(dsctl, tmp_path, "1.1.0", seed=2)
    sha1 = json.loads((first / "manifest.json").read_text())["sha256"]
    sha2 = json.loads((second / "manifest.json").read_text())["sha256"]

    # Validation: local test data for one, test data in dev's input bucket (as in the guide) for the other.
    report = dsctl("model", "validate", "--env", "dev", "1.0.0", "--test-data", str(test_csv), "--json")
    assert report.code == 0, report.err
    assert report.json()["passed"] is True and report.json()["model_sha256"] == sha1
    s3 = two_accounts.dev_session.client("s3")
    s3.upload_file(str(test_csv), two_accounts.dev.input_bucket, "validation/test_data.csv")
    url = f"s3://{two_accounts.dev.input_bucket}/validation/test_data.csv"
    assert dsctl("model", "validate", "--env", "dev", "1.1.0", "--test-data", url).code == 0
    (stored,) = _history(two_accounts, "1.1.0", "validations")
    assert stored["passed"] is True and stored["test_data"] == url
    head = s3.head_object(Bucket=two_accounts.dev.input_bucket, Key="validation/test_data.csv")
    assert stored["test_data_etag"] == head["ETag"].strip('"') and stored["test_data_version_id"] == head["VersionId"]
    assert stored["test_data_sha256"] == artifact.sha256_file(test_csv) and stored["model_sha256"] == sha2
    assert stored["validated_by"] == client(two_accounts.dev_session, "sts").get_caller_identity()["Arn"]

    listing = dsctl("model", "list", "--env", "dev", "--json").json()
    assert [(v["version"], v["sha256"], v["validation"], v["environments"]) for v in listing["versions"]] == [
        ("1.0.0", sha1, "passed", []),
        ("1.1.0", sha2, "passed", []),
    ]

    assert dsctl("model", "promote", "--env", "dev", "1.0.0").code == 0
    _ran_in_dev(two_accounts, "1.0.0", sha1)
    promoted = dsctl("model", "promote", "--env", "prod", "1.0.0", "--json")
    assert promoted.code == 0, promoted.err
    assert promoted.json()["previous_key"] == "NONE" and promoted.json()["gate"]["passed"] is True
    assert dsctl("model", "promote", "--env", "dev", "1.1.0").code == 0
    _ran_in_dev(two_accounts, "1.1.0", sha2)
    assert dsctl("model", "promote", "--env", "prod", "1.1.0").code == 0
    assert _parameter(two_accounts, "prod", "model-key")["Value"] == "models/1.1.0/model.pkl"
    assert _parameter(two_accounts, "prod", "model-sha256")["Value"] == sha2
    again = dsctl("model", "promote", "--env", "prod", "1.1.0", "--json").json()
    assert again["changed"] is False  # idempotent: no new parameter version

    listing = dsctl("model", "list", "--env", "dev", "--json").json()
    assert {v["version"]: v["environments"] for v in listing["versions"]} == {"1.0.0": [], "1.1.0": ["dev", "prod"]}

    back = dsctl("model", "rollback", "--env", "prod", "--json")
    assert back.code == 0, back.err
    assert back.json()["version"] == "1.0.0" and back.json()["from_version"] == "1.1.0"
    assert _parameter(two_accounts, "prod", "model-key")["Value"] == "models/1.0.0/model.pkl"
    assert _parameter(two_accounts, "prod", "model-sha256")["Value"] == sha1

    forward = dsctl("model", "rollback", "--env", "prod", "--to", "1.1.0", "--json")
    assert forward.code == 0, forward.err
    assert _parameter(two_accounts, "prod", "model-sha256")["Value"] == sha2

    # The parameter history is the record: both parameters carry the version label on their newest version.
    ssm = two_accounts.prod_session.client("ssm")
    for name in ("/ds/preprocessing/model-key", "/ds/preprocessing/model-sha256"):
        history = ssm.get_parameter_history(Name=name)["Parameters"]
        assert history[-1]["Labels"] == ["v1.1.0"]
        assert [entry["Labels"] for entry in history[:-1]].count(["v1.0.0"]) == 1
    records = ssm_parameters.promotion_records(two_accounts.prod_session, two_accounts.prod)
    assert [(r["action"], r["version"]) for r in records] == [
        ("promote", "1.0.0"),
        ("promote", "1.1.0"),
        ("rollback", "1.0.0"),
        ("rollback", "1.1.0"),
    ]
    assert all(r["by"].startswith("arn:aws:sts::987654321098:assumed-role/") for r in records)
    # ... and the store keeps every change for good (SSM keeps 100 parameter versions), recorded with dev's credentials
    in_store = sorted(
        (r["at"], r["action"], r["version"], r["from_version"])
        for version in ("1.0.0", "1.1.0")
        for r in _history(two_accounts, version, "promotions/prod")
    )
    assert [entry[1:] for entry in in_store] == [
        ("promote", "1.0.0", None),
        ("promote", "1.1.0", "1.0.0"),
        ("rollback", "1.0.0", "1.1.0"),
        ("rollback", "1.1.0", "1.0.0"),
    ]
    (dev_record,) = _history(two_accounts, "1.0.0", "promotions/dev")
    assert dev_record["by"] == dev_record["recorded_by"] and dev_record["forced"] is False


def _ran_in_dev(accounts: TwoAccounts, version: str, sha256: str) -> str:
    """A published run of ``version`` in dev (the gate prod's promotion reads), named after the version."""
    return publish_run(accounts.dev_session, accounts.dev, version, sha256, f"run-{version.replace('.', '')}")


def _history(two_accounts: TwoAccounts, version: str, directory: str) -> list[dict[str, object]]:
    """The records under models/VERSION/DIRECTORY/ as the store holds them, oldest first."""
    from dsctl.models import ModelStore

    return ModelStore(two_accounts.dev_session, two_accounts.dev.artifact_bucket).records(version, directory)


def test_a_second_validation_keeps_the_first(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    """Re-validating on other data appends a report: the first verdict stays in the store, the latest decides.

    moto does not enforce the store's bucket policy, which also refuses any write under models/ without
    If-None-Match (so an `aws s3 cp` cannot replace a report either): tests/infra/test_access_matrix.py proves that
    with principalmapper; here the reports are written with If-None-Match, which moto does enforce."""
    _published(dsctl, tmp_path, "4.0.0")
    assert dsctl("model", "validate", "--env", "dev", "4.0.0", "--test-data", str(test_csv)).code == 0
    # the same data, judged stricter (its bad rows now fail it): a second report, and the first one stays
    strict = dsctl(
        "model", "validate", "--env", "dev", "4.0.0", "--test-data", str(test_csv), "--max-rejected-share", "0"
    )
    assert strict.code == 1, strict.err
    first, second = _history(two_accounts, "4.0.0", "validations")
    assert (first["passed"], second["passed"]) == (True, False) and first["id"] != second["id"]
    assert second["test_data_sha256"] == first["test_data_sha256"] == artifact.sha256_file(test_csv)
    listing = dsctl("model", "list", "--env", "dev", "--json").json()["versions"]
    assert {v["version"]: v["validation"] for v in listing}["4.0.0"] == "failed"


def test_publish_refuses_bad_versions_republish_and_digest_mismatch(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path
) -> None:
    directory = train_model(tmp_path, "2.0.0")
    for bad in ("v2.0.0", "2.0", "2.0.0-rc1", "../2.0.0"):
        result = dsctl("model", "publish", "--env", "dev", bad, str(directory))
        assert result.code == 2 and "not a semantic version" in result.err, (bad, result.err)
    wrong_version = dsctl("model", "publish", "--env", "dev", "2.0.1", str(directory))
    assert wrong_version.code == 2 and "is for version 2.0.0, not 2.0.1" in wrong_version.err

    assert dsctl("model", "publish", "--env", "dev", "2.0.0", str(directory)).code == 0
    republish = dsctl("model", "publish", "--env", "dev", "2.0.0", str(directory))
    assert republish.code == 2 and "already exists" in republish.err and "immutable" in republish.err

    other = train_model(tmp_path / "other", "2.1.0", seed=5)
    (other / "model.pkl").write_bytes((other / "model.pkl").read_bytes() + b"tampered")
    mismatch = dsctl("model", "publish", "--env", "dev", "2.1.0", str(other))
    assert mismatch.code == 2 and "but its manifest says" in mismatch.err
    s3 = two_accounts.dev_session.client("s3")
    listed = s3.list_objects_v2(Bucket=two_accounts.dev.artifact_bucket, Prefix="models/2.1.0/")
    assert listed.get("KeyCount", 0) == 0  # nothing was uploaded

    not_owner = dsctl("model", "publish", "--env", "prod", "2.2.0", str(directory))
    assert not_owner.code == 2 and "owned by account 123456789012" in not_owner.err
    assert "run it with --env dev" in not_owner.err


def test_republish_is_refused_by_the_conditional_write_itself(two_accounts: TwoAccounts, tmp_path: Path) -> None:
    """Even when the pre-check is raced (manifest appears after it), S3's If-None-Match refuses the write."""
    from dsctl.models import ModelStore
    from dsctl.output import CommandError

    directory = train_model(tmp_path, "2.5.0")
    store = ModelStore(two_accounts.dev_session, two_accounts.dev.artifact_bucket)
    store.publish("2.5.0", directory)
    raced = ModelStore(two_accounts.dev_session, two_accounts.dev.artifact_bucket)
    raced.get_bytes = lambda version, name: None  # type: ignore[method-assign]  # the other publisher's view
    with pytest.raises(CommandError, match="already exists"):
        raced.publish("2.5.0", directory)


def test_a_published_key_is_never_replaced_by_a_conditional_write(two_accounts: TwoAccounts, tmp_path: Path) -> None:
    """The data-path half of write-once models: S3 answers PreconditionFailed to If-None-Match on an existing key and
    keeps the original bytes.

    moto cannot enforce the other half, the store's bucket policy that denies a write WITHOUT If-None-Match (or with
    If-Match), a delete of a model version, or a change of the store's policy, versioning or lifecycle to anyone but
    adminPrincipalArns: moto ignores bucket policies. The synth test (tests/infra/test_resources.py) proves the
    statements are there, principalmapper proves AWS's answer (tests/infra/test_access_matrix.py, dsctl check's
    probes in dsctl/stackcheck.py) and the store-models-immutable rule fails a store without them.
    """
    from botocore.exceptions import ClientError

    from dsctl.envs import client
    from dsctl.models import ModelStore, object_key

    store = ModelStore(two_accounts.dev_session, two_accounts.dev.artifact_bucket)
    directory = train_model(tmp_path, "2.6.0")
    store.publish("2.6.0", directory)
    s3 = client(two_accounts.dev_session, "s3")
    key = object_key("2.6.0", "model.pkl")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=store.bucket, Key=key, Body=b"tampered", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=store.bucket, Key=key)["Body"].read() == (directory / "model.pkl").read_bytes()


def test_promote_refusals(two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path) -> None:
    unknown = dsctl("model", "promote", "--env", "prod", "9.9.9")
    assert unknown.code == 2 and "version 9.9.9 is not published" in unknown.err

    _published(dsctl, tmp_path, "3.0.0")
    unvalidated = dsctl("model", "promote", "--env", "prod", "3.0.0")
    assert (
        unvalidated.code == 2 and "3.0.0 is not validated" in unvalidated.err and "--force --reason" in unvalidated.err
    )
    assert "dsctl model validate --env dev 3.0.0" in unvalidated.err  # the store's env, not a placeholder
    no_reason = dsctl("model", "promote", "--env", "prod", "3.0.0", "--force")
    assert no_reason.code == 2 and "--force needs --reason" in no_reason.err
    assert _parameter(two_accounts, "prod", "model-key")["Value"] == "NONE"

    forced = dsctl("model", "promote", "--env", "prod", "3.0.0", "--force", "--reason", "hotfix INC-42", "--json")
    assert forced.code == 0, forced.err
    record = ssm_parameters.promotion_records(two_accounts.prod_session, two_accounts.prod)[-1]
    assert record["forced"] is True and record["reason"] == "hotfix INC-42" and record["validation"] == "not validated"

    failing = dsctl(
        "model", "validate", "--env", "dev", "3.0.0", "--test-data", str(test_csv), "--max-rejected-share", "0"
    )
    assert failing.code == 1 and "failed rejected_share" in failing.out  # which check failed, not just FAILED
    failed = dsctl("model", "promote", "--env", "dev", "3.0.0")
    assert failed.code == 2 and "validation of 3.0.0 failed" in failed.err

    wrong_account = dsctl("model", "promote", "--env", "prod", "--profile", "dev", "3.0.0")
    assert wrong_account.code == 2 and "belong to account 123456789012" in wrong_account.err


def test_validate_refuses_bad_inputs_before_storing_anything(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _published(dsctl, tmp_path, "3.5.0")
    s3 = two_accounts.dev_session.client("s3")
    report_key = "models/3.5.0/validations/"

    with pytest.raises(SystemExit) as usage:  # argparse: exit 2 with the reason, before any AWS call
        dsctl("model", "validate", "--env", "dev", "3.5.0", "--test-data", str(test_csv), "--max-rejected-share", "-3")
    assert usage.value.code == 2 and "between 0 and 1" in capsys.readouterr().err
    missing_url = f"s3://{two_accounts.dev.input_bucket}/validation/missing.csv"
    missing = dsctl("model", "validate", "--env", "dev", "3.5.0", "--test-data", missing_url)
    assert missing.code == 2 and "upload the test data" in missing.err and "publish" not in missing.err
    assert s3.list_objects_v2(Bucket=two_accounts.dev.artifact_bucket, Prefix=report_key).get("KeyCount") == 0

    assert dsctl("model", "validate", "--env", "dev", "3.5.0", "--test-data", str(test_csv)).code == 0
    (stored,) = _history(two_accounts, "3.5.0", "validations")
    assert stored["model"]["url"] == f"s3://{two_accounts.dev.artifact_bucket}/models/3.5.0/model.pkl"


def test_a_corrupt_manifest_is_reported_on_its_version_without_hiding_the_others(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path
) -> None:
    _published(dsctl, tmp_path, "3.6.0")
    two_accounts.dev_session.client("s3").put_object(
        Bucket=two_accounts.dev.artifact_bucket, Key="models/3.7.0/manifest.json", Body=b"{bad"
    )
    listed = dsctl("model", "list", "--env", "dev", "--json")
    assert listed.code == 1, listed.err  # an unusable version fails the listing (it gates CI)
    rows = {row["version"]: row for row in listed.json()["versions"]}
    assert rows["3.6.0"]["validation"] == "not validated" and rows["3.6.0"]["digest"] == "verified"
    assert rows["3.7.0"]["digest"] == "unusable"
    assert rows["3.7.0"]["validation"] == "unusable" and "not valid JSON" in rows["3.7.0"]["problem"]
    promote = dsctl("model", "promote", "--env", "prod", "3.7.0")
    assert promote.code == 1 and "models/3.7.0/manifest.json is not valid JSON" in promote.err
    assert "manifest manifest" not in promote.err and "under a new version" in promote.err


def test_promote_refuses_a_model_replaced_outside_dsctl(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    _published(dsctl, tmp_path, "4.0.0")
    assert dsctl("model", "validate", "--env", "dev", "4.0.0", "--test-data", str(test_csv)).code == 0
    # The guide's way: `aws s3 cp other.pkl s3://.../models/4.0.0/model.pkl` (no checksum kept by S3).
    two_accounts.dev_session.client("s3").put_object(
        Bucket=two_accounts.dev.artifact_bucket, Key="models/4.0.0/model.pkl", Body=b"not the trained model"
    )
    result = dsctl("model", "promote", "--env", "prod", "4.0.0")
    assert result.code == 2 and "but its manifest says" in result.err and "new version" in result.err
    assert _parameter(two_accounts, "prod", "model-key")["Value"] == "NONE"


def test_promote_refuses_when_the_target_cannot_read_the_model(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    """prod's read of the model is a real request with prod's credentials; here it fails because the object is gone.

    Real AWS would also refuse it when the store's bucket policy or KMS key policy lacks prod's grant; moto does not
    enforce those policies, so that case is covered by the access-matrix tests over the synthesized policies.
    """
    _published(dsctl, tmp_path, "5.0.0")
    assert dsctl("model", "validate", "--env", "dev", "5.0.0", "--test-data", str(test_csv)).code == 0
    two_accounts.dev_session.client("s3").delete_object(
        Bucket=two_accounts.dev.artifact_bucket, Key="models/5.0.0/model.pkl"
    )
    result = dsctl("model", "promote", "--env", "prod", "5.0.0")
    assert result.code == 2
    assert "prod credentials (arn:aws:sts::987654321098:" in result.err and "cannot read" in result.err
    assert "NoSuchKey" in result.err


def test_promote_refuses_when_the_target_reads_another_store(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    _published(dsctl, tmp_path, "5.1.0")
    assert dsctl("model", "validate", "--env", "dev", "5.1.0", "--test-data", str(test_csv)).code == 0
    two_accounts.prod_session.client("ssm").put_parameter(
        Name="/ds/preprocessing/artifact-bucket", Value="ds-artifacts-old", Type="String", Overwrite=True
    )
    result = dsctl("model", "promote", "--env", "prod", "5.1.0")
    assert result.code == 2 and "'ds-artifacts-old'" in result.err and "pulumi up --refresh --stack prod" in result.err


def test_rollback_refusals(two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path) -> None:
    nothing = dsctl("model", "rollback", "--env", "prod")
    assert nothing.code == 2 and "no earlier promoted version" in nothing.err
    _published(dsctl, tmp_path, "6.0.0")
    assert dsctl("model", "validate", "--env", "dev", "6.0.0", "--test-data", str(test_csv)).code == 0
    assert dsctl("model", "promote", "--env", "prod", "6.0.0", "--force", "--reason", "rollback test").code == 0
    only_one = dsctl("model", "rollback", "--env", "prod")
    assert only_one.code == 2 and "no earlier promoted version" in only_one.err
    never = dsctl("model", "rollback", "--env", "prod", "--to", "1.0.0")
    assert never.code == 2 and "1.0.0 was never promoted in prod" in never.err


def test_an_undeployed_environment_gives_a_one_line_error(aws: str, dsctl: Dsctl) -> None:
    """No stack deployed (no store bucket): AWS's own error, one line with the fix, exit 1, no traceback."""
    result = dsctl("model", "list", "--env", "dev")
    assert result.code == 1
    assert result.err.startswith("dsctl: error: AWS refused ListObjectsV2 (NoSuchBucket")
    assert result.err.endswith("run dsctl doctor --env dev\n") and result.err.count("\n") == 1


def test_an_interrupted_publish_is_completed_and_a_foreign_object_is_refused(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path
) -> None:
    directory = train_model(tmp_path, "7.0.0")
    s3 = two_accounts.dev_session.client("s3")
    bucket = two_accounts.dev.artifact_bucket
    # A publish that died after model.pkl: the same files complete it.
    s3.put_object(
        Bucket=bucket,
        Key="models/7.0.0/model.pkl",
        Body=(directory / "model.pkl").read_bytes(),
        ChecksumAlgorithm="SHA256",
    )
    assert dsctl("model", "publish", "--env", "dev", "7.0.0", str(directory)).code == 0
    assert s3.head_object(Bucket=bucket, Key="models/7.0.0/manifest.json")["ContentLength"] > 0
    # Something else already at the key of an unpublished version: refused, nothing overwritten.
    other = train_model(tmp_path / "other", "7.1.0", seed=3)
    s3.put_object(Bucket=bucket, Key="models/7.1.0/model.pkl", Body=b"someone else's", ChecksumAlgorithm="SHA256")
    result = dsctl("model", "publish", "--env", "dev", "7.1.0", str(other))
    assert result.code == 2 and "already exists with another content" in result.err
    assert s3.get_object(Bucket=bucket, Key="models/7.1.0/model.pkl")["Body"].read() == b"someone else's"


def test_rollback_skips_history_written_outside_dsctl(two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path) -> None:
    _published(dsctl, tmp_path, "8.0.0", seed=1)
    _published(dsctl, tmp_path, "8.1.0", seed=2)
    assert dsctl("model", "promote", "--env", "prod", "8.0.0", "--force", "--reason", "test").code == 0
    ssm = two_accounts.prod_session.client("ssm")
    # The guide's hand-typed promotion, in between.
    ssm.put_parameter(
        Name="/ds/preprocessing/model-key", Value="models/preprocessing_model.pkl", Type="String", Overwrite=True
    )
    assert dsctl("model", "promote", "--env", "prod", "8.1.0", "--force", "--reason", "test").code == 0
    back = dsctl("model", "rollback", "--env", "prod", "--json")
    assert back.code == 0, back.err
    assert back.json()["version"] == "8.0.0" and back.json()["previous_key"] == "models/8.1.0/model.pkl"


@pytest.mark.parametrize(
    "upload",
    [{}, {"ChecksumAlgorithm": "CRC32"}],  # the AWS CLI's CRC64NVME needs botocore[crt]; any non-SHA-256 will do
    ids=["no-checksum", "another-algorithm"],
)
def test_model_list_computes_the_digest_when_s3_kept_no_sha256(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, upload: dict[str, str]
) -> None:
    """`aws s3 cp` of a model with one byte changed: S3 keeps no SHA-256, so the listing computes it and fails."""
    directory = _published(dsctl, tmp_path, "2.1.0")
    s3 = two_accounts.dev_session.client("s3")
    bucket = two_accounts.dev.artifact_bucket
    original = (directory / "model.pkl").read_bytes()
    s3.put_object(Bucket=bucket, Key="models/2.1.0/model.pkl", Body=original, **upload)  # same bytes: still fine
    listed = dsctl("model", "list", "--env", "dev", "--json")
    assert listed.code == 0, listed.out
    assert listed.json()["versions"][0]["digest"] == "verified"

    changed = original[:-1] + bytes([original[-1] ^ 1])
    s3.put_object(Bucket=bucket, Key="models/2.1.0/model.pkl", Body=changed, **upload)
    listed = dsctl("model", "list", "--env", "dev", "--json")
    assert listed.code == 1
    row = listed.json()["versions"][0]
    assert row["digest"] == "MISMATCH" and "(computed)" in row["problem"] and row["sha256"] in row["problem"]
    table = dsctl("model", "list", "--env", "dev")
    assert table.code == 1 and "MISMATCH" in table.out


def test_promotion_into_prod_needs_the_version_promoted_and_run_in_dev(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    """prod promotesFrom dev: a validated version reaches prod only once dev promoted it and a dev run published with
    its digest; --force --reason passes the gate and the record says what was bypassed."""
    directory = _published(dsctl, tmp_path, "10.0.0")
    sha = json.loads((directory / "manifest.json").read_text())["sha256"]
    assert dsctl("model", "validate", "--env", "dev", "10.0.0", "--test-data", str(test_csv)).code == 0

    never = dsctl("model", "promote", "--env", "prod", "10.0.0")
    assert never.code == 2 and never.err.count("\n") == 1
    assert "10.0.0 (sha256 " in never.err and "was never promoted in dev" in never.err
    assert "dsctl model promote --env dev 10.0.0" in never.err and "--force --reason" in never.err

    assert dsctl("model", "promote", "--env", "dev", "10.0.0").code == 0
    other = _published(dsctl, tmp_path, "10.0.1", seed=4)
    _ran_in_dev(two_accounts, "10.0.1", json.loads((other / "manifest.json").read_text())["sha256"])  # another digest
    s3 = two_accounts.dev_session.client("s3")
    claimed = {"run_id": "run-claimed", "model": {"version": "10.0.0", "sha256": sha}}  # claimed, never published
    s3.put_object(
        Bucket=two_accounts.dev.output_bucket,
        Key="processed/run-claimed/manifest.json",
        Body=json.dumps(claimed).encode(),
    )
    not_run = dsctl("model", "promote", "--env", "prod", "10.0.0")
    assert not_run.code == 2 and "has no successful run in dev" in not_run.err
    assert f"s3://{two_accounts.dev.output_bucket}/processed/" in not_run.err
    assert "dsctl run --env dev --wait" in not_run.err
    assert _parameter(two_accounts, "prod", "model-key")["Value"] == "NONE"

    manifest_url = _ran_in_dev(two_accounts, "10.0.0", sha)
    promoted = dsctl("model", "promote", "--env", "prod", "10.0.0", "--json")
    assert promoted.code == 0, promoted.err
    (dev_record,) = _history(two_accounts, "10.0.0", "promotions/dev")
    gate = {
        "source": "dev",
        "promoted_in_source": dev_record["stored_at"],
        "run_in_source": "run-1000",
        "run_manifest": manifest_url,
        "passed": True,
    }
    assert promoted.json()["gate"] == gate
    (prod_record,) = _history(two_accounts, "10.0.0", "promotions/prod")
    assert prod_record["gate"] == gate and prod_record["forced"] is False
    assert dev_record["gate"] is None  # dev promotes from no stack: no gate

    forced = dsctl("model", "promote", "--env", "prod", "10.0.1", "--force", "--reason", "INC-9 hotfix", "--json")
    assert forced.code == 0, forced.err
    (record,) = _history(two_accounts, "10.0.1", "promotions/prod")
    assert record["forced"] is True and record["reason"] == "INC-9 hotfix"
    assert record["gate"]["passed"] is False and record["gate"]["promoted_in_source"] is None
    assert record["gate"]["run_in_source"] == "run-1001"  # it ran in dev, but dev never promoted it


def test_the_gate_reads_dev_parameter_history_where_no_record_exists(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path
) -> None:
    """A promotion made in dev before the store kept records (or by hand, labelled as dsctl labels) counts through
    dev's parameter history."""
    directory = _published(dsctl, tmp_path, "11.0.0")
    sha = json.loads((directory / "manifest.json").read_text())["sha256"]
    ssm = two_accounts.dev_session.client("ssm")
    for key, value in (("model-key", "models/11.0.0/model.pkl"), ("model-sha256", sha)):
        version = ssm.put_parameter(Name=f"/ds/preprocessing/{key}", Value=value, Type="String", Overwrite=True)
        ssm.label_parameter_version(
            Name=f"/ds/preprocessing/{key}", ParameterVersion=version["Version"], Labels=["v11.0.0"]
        )
    _ran_in_dev(two_accounts, "11.0.0", sha)
    promoted = dsctl("model", "promote", "--env", "prod", "11.0.0", "--force", "--reason", "not validated", "--json")
    assert promoted.code == 0, promoted.err
    assert promoted.json()["gate"]["promoted_in_source"] == "/ds/preprocessing/model-key version 2"
    assert promoted.json()["gate"]["passed"] is True


def test_a_chain_dev_stage_prod_promotes_step_by_step(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    """dev -> stage -> prod (a third account, 555555555555, between them): each stack takes a version only from the
    stack it promotes from, once promoted and run there. Unit level: the shipped stack files have no stage, so the
    chain is built from prod's settings (the e2e third-account test runs one added stack file end to end)."""
    from dataclasses import replace

    from dsctl.envs import Connection
    from dsctl.output import CommandError
    from dsctl.promotion import promote
    from tests.dsctl.ops_stack import provision

    creds = client(two_accounts.dev_session, "sts").assume_role(
        RoleArn="arn:aws:iam::555555555555:role/ds-preprocessing-operator", RoleSessionName="stage"
    )["Credentials"]
    stage_session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    stage_env = replace(
        two_accounts.prod, stack="stage", environment="stage", account_id="555555555555", promotes_from="dev"
    )
    provision(stage_env, stage_session)
    prod_env = replace(two_accounts.prod, promotes_from="stage")

    def connection(env: object, session: object) -> Connection:
        return Connection(env, session, client(session, "sts").get_caller_identity()["Arn"])  # type: ignore[arg-type]

    dev = connection(two_accounts.dev, two_accounts.dev_session)
    stage = connection(stage_env, stage_session)
    prod = connection(prod_env, two_accounts.prod_session)
    directory = _published(dsctl, tmp_path, "12.0.0")
    sha = json.loads((directory / "manifest.json").read_text())["sha256"]
    assert dsctl("model", "validate", "--env", "dev", "12.0.0", "--test-data", str(test_csv)).code == 0
    assert dsctl("model", "promote", "--env", "dev", "12.0.0").code == 0

    with pytest.raises(CommandError, match=r"12\.0\.0 .* was never promoted in stage, the stack prod promotes from"):
        promote(prod, "12.0.0", None, dev, stage)  # dev's promotion and run do not count for prod
    with pytest.raises(CommandError, match="has no successful run in dev"):
        promote(stage, "12.0.0", None, dev, dev)
    publish_run(two_accounts.dev_session, two_accounts.dev, "12.0.0", sha, "run-dev")
    assert promote(stage, "12.0.0", None, dev, dev)["gate"]["run_in_source"] == "run-dev"
    with pytest.raises(CommandError, match=r"has no successful run in stage .*dsctl run --env stage --wait"):
        promote(prod, "12.0.0", None, dev, stage)
    publish_run(stage_session, stage_env, "12.0.0", sha, "run-stage")
    result = promote(prod, "12.0.0", None, dev, stage)
    assert result["gate"]["source"] == "stage" and result["gate"]["run_in_source"] == "run-stage"
    assert _parameter(two_accounts, "prod", "model-sha256")["Value"] == sha
