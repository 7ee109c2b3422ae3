"""dsctl params diff: two parameter stores side by side, expected vs unexpected differences."""

from __future__ import annotations

from pathlib import Path

from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, train_model, two_accounts

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below


def _rows(result: object) -> dict[str, dict]:  # type: ignore[type-arg]
    return {row["key"]: row for row in result.json()["rows"]}  # type: ignore[attr-defined]


def test_freshly_deployed_environments_differ_only_as_expected(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    result = dsctl("params", "diff", "dev", "prod", "--json")
    assert result.code == 0, result.err
    rows = _rows(result)
    assert rows["input-bucket"]["status"] == rows["output-bucket"]["status"] == "expected"
    assert rows["input-bucket"]["right"] == "ds-input-prod-987654321098-us-east-1"
    # prod uses dev's artifact store (the guide's "Key Point"): the same value on both sides.
    assert rows["artifact-bucket"]["status"] == "same"
    assert rows["artifact-bucket"]["right"] == "ds-artifacts-dev-123456789012-us-east-1"
    assert {rows[key]["status"] for key in ("input-key", "model-key", "model-sha256")} == {"same"}
    table = dsctl("params", "diff", "dev", "prod")
    assert table.code == 0 and "no unexpected differences" in table.out


def test_injected_mismatches_are_unexpected(two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path) -> None:
    directory = train_model(tmp_path, "1.0.0")
    assert dsctl("model", "publish", "--env", "dev", "1.0.0", str(directory)).code == 0
    assert dsctl("model", "promote", "--env", "dev", "1.0.0", "--force", "--reason", "diff test").code == 0
    prod_ssm = two_accounts.prod_session.client("ssm")
    prod_ssm.delete_parameter(Name="/ds/preprocessing/input-key")
    prod_ssm.put_parameter(
        Name="/ds/preprocessing/output-bucket", Value=two_accounts.dev.output_bucket, Type="String", Overwrite=True
    )

    result = dsctl("params", "diff", "dev", "prod", "--json")
    assert result.code == 1
    rows = _rows(result)
    assert rows["model-key"]["status"] == rows["model-sha256"]["status"] == "pending"  # the normal promotion lag
    assert "promotion pending (1.0.0 vs no model promoted)" in rows["model-key"]["note"]
    assert rows["input-key"]["status"] == "unexpected" and "missing in prod" in rows["input-key"]["note"]
    assert rows["output-bucket"]["status"] == "unexpected" and "its stack says" in rows["output-bucket"]["note"]
    assert "pulumi up --refresh --stack prod" in rows["input-key"]["note"]  # refresh: never revert a promotion
    assert "run pulumi up --refresh --stack " in rows["output-bucket"]["note"]
    assert rows["input-bucket"]["status"] == "expected"
    assert result.json()["unexpected"] == 2
    table = dsctl("params", "diff", "dev", "prod")
    assert table.code == 1 and "UNEXPECTED" in table.out and "2 unexpected difference(s)" in table.out


def test_a_pending_promotion_passes_and_a_key_digest_pair_that_disagrees_fails(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path
) -> None:
    for version, seed in (("1.0.0", 1), ("2.0.0", 2)):
        directory = train_model(tmp_path, version, seed=seed)
        assert dsctl("model", "publish", "--env", "dev", version, str(directory)).code == 0
    assert dsctl("model", "promote", "--env", "prod", "1.0.0", "--force", "--reason", "diff test").code == 0
    assert dsctl("model", "promote", "--env", "dev", "2.0.0", "--force", "--reason", "diff test").code == 0
    lag = dsctl("params", "diff", "dev", "prod", "--json")
    assert lag.code == 0, lag.out  # dev ahead of prod along the chain: CI can gate on this
    assert _rows(lag)["model-key"]["status"] == "pending" and lag.json()["unexpected"] == 0

    # prod's key changed by hand to 2.0.0 while its digest is still 1.0.0's: the job would refuse the model
    two_accounts.prod_session.client("ssm").put_parameter(
        Name="/ds/preprocessing/model-key", Value="models/2.0.0/model.pkl", Type="String", Overwrite=True
    )
    broken = dsctl("params", "diff", "dev", "prod", "--json")
    assert broken.code == 1
    pair = _rows(broken)["model-key/model-sha256 in prod"]
    assert pair["status"] == "unexpected" and "key and digest disagree" in pair["note"]
    assert "dsctl model promote --env prod 2.0.0" in pair["note"]


def test_each_side_uses_its_own_checked_credentials(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    wrong = dsctl("params", "diff", "dev", "prod", "--profile", "prod=dev")
    assert wrong.code == 2 and "environment prod is account 987654321098" in wrong.err
    malformed = dsctl("params", "diff", "dev", "prod", "--profile", "dev")
    assert malformed.code == 2 and "is not ENV=VALUE" in malformed.err
    elsewhere = dsctl("params", "diff", "dev", "prod", "--profile", "staging=x")  # would be silently ignored
    assert elsewhere.code == 2 and "staging, which is not compared here" in elsewhere.err
    same = dsctl("params", "diff", "prod", "prod")
    assert same.code == 2 and "two different environments" in same.err
