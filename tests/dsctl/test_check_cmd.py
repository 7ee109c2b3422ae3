"""``dsctl check``: both real stacks pass; a wildcard reader fails (exit 1); invalid config is a usage error (2)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import pytest

from components.project import stack_names
from dsctl import cli, stackcheck
from dsctl.stackcheck import access_probes, access_violations
from dsctl.synth import synth

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

_cached_check = functools.cache(stackcheck.check_stack)


@pytest.fixture(autouse=True)
def _one_check_per_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each (stack, config) is checked once per session: asl-validator alone costs ~1-3 s a run."""
    monkeypatch.setattr(stackcheck, "check_stack", _cached_check)


@pytest.mark.parametrize("stack", stack_names())
def test_real_stacks_pass(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--stack", stack, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["violations"] == []
    checked = report["checked"]
    assert checked["rules"] >= 13 and checked["iam documents"] > 5 and checked["state machines"] == 1
    assert checked["access probes"] > 10, "the access matrix must actually probe the model store"


def test_clean_stack_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--stack", "dev"]) == 0
    assert "dev: no violations" in capsys.readouterr().out


def test_wildcard_reader_role_pattern_fails(capsys: pytest.CaptureFixture[str]) -> None:
    """`*-*` passes settings validation (a valid pattern) but lets any hyphenated role of prod read models."""
    config = FIXTURES / "dev-wildcard-reader.yaml"
    assert cli.main(["check", "--stack", "dev", "--config-file", str(config), "--json"]) == 1
    violations = json.loads(capsys.readouterr().out)["violations"]
    rules = {v["rule"] for v in violations}
    assert {"cross-account-readers-only", "access-matrix"} <= rules
    leaks = [v for v in violations if v["rule"] == "access-matrix"]
    assert any("data-scientist" in v["resource"] and "s3:GetObject" in v["message"] for v in leaks)


def test_violations_table_names_rule_resource_and_fix(capsys: pytest.CaptureFixture[str]) -> None:
    config = FIXTURES / "dev-wildcard-reader.yaml"
    assert cli.main(["check", "--stack", "dev", "--config-file", str(config)]) == 1
    out = capsys.readouterr().out
    assert "violation(s)" in out and "cross-account" in out and "access-matrix" in out and "fix" in out


def test_wildcard_reader_account_is_rejected_by_settings(capsys: pytest.CaptureFixture[str]) -> None:
    config = FIXTURES / "dev-wildcard-reader-account.yaml"
    assert cli.main(["check", "--stack", "dev", "--config-file", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsctl: error: artifactReaderAccounts:") and "12-digit" in err


def test_a_stack_in_another_stacks_account_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """One stack per account: prod's config moved into dev's account is refused with both stacks named."""
    config = tmp_path / "Pulumi.prod.yaml"
    text = (FIXTURES.parent.parent / "Pulumi.prod.yaml").read_text()
    text = text.replace('accountId: "987654321098"', 'accountId: "123456789012"')
    config.write_text(
        text.replace("arn:aws:iam::123456789012:role/ds-preprocessing-ci", "arn:aws:iam::555555555555:role/ci")
    )
    assert cli.main(["check", "--stack", "prod", "--config-file", str(config), "--json"]) == 1
    violations = json.loads(capsys.readouterr().out)["violations"]
    (clash,) = [v for v in violations if v["rule"] == "project-stacks" and "one stack per account" in v["message"]]
    assert "123456789012 is used by stacks dev, prod" in clash["message"]
    assert clash["fix"] == "give each stack its own account"


def test_a_pin_without_upstream_evidence_warns_and_evidence_from_elsewhere_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The shipped prod pin has no recorded dev run: a warning. Evidence outside dev's output bucket: a violation."""
    assert cli.main(["check", "--stack", "prod", "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert any("no recorded successful run upstream" in w and "dsctl image promote --env prod" in w for w in warnings)
    config = tmp_path / "Pulumi.prod.yaml"
    text = (FIXTURES.parent.parent / "Pulumi.prod.yaml").read_text()
    config.write_text(
        text + "  ds-preprocessing:imagePromotionEvidence: s3://some-other-bucket/processed/r1/manifest.json\n"
    )
    assert cli.main(["check", "--stack", "prod", "--config-file", str(config), "--json"]) == 1
    (violation,) = [v for v in json.loads(capsys.readouterr().out)["violations"] if v["rule"] == "image-promoted"]
    assert "is not a run of its promotesFrom stack dev" in violation["message"]
    assert violation["fix"] == "pin a digest that ran there: dsctl image promote --env prod"


def test_missing_config_file_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["check", "--stack", "prod", "--config-file", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


def test_access_probes_follow_the_config() -> None:
    """Probes come from settings: the dev store's readers are prod's pipeline roles, prod's task and operator roles
    read (the operator role exists in prod and the store's default patterns name it)."""
    dev, prod = synth("dev"), synth("prod")
    dev_probes = access_probes(dev.settings, dev.to_dict())
    readers = {p.principal for p in dev_probes if p.expected and p.action == "s3:GetObject"}
    assert readers == {
        "arn:aws:iam::987654321098:role/ds-preprocessing-task-probe",
        "arn:aws:iam::987654321098:role/ds-preprocessing-operator",
        "arn:aws:iam::987654321098:role/ds-preprocessing-promoter",
    }
    prod_probes = access_probes(prod.settings, prod.to_dict(), dev.to_dict(), dev.settings)
    assert {p.principal for p in prod_probes if p.expected} == {
        "arn:aws:iam::987654321098:role/ds-preprocessing-task-prod",
        "arn:aws:iam::987654321098:role/ds-preprocessing-operator",
        "arn:aws:iam::987654321098:role/ds-preprocessing-promoter",  # promote reads the model as the job will
    }
    denied = {p.principal for p in prod_probes if not p.expected and p.action == "s3:GetObject"}
    assert "arn:aws:iam::987654321098:role/ds-preprocessing-sfn-prod" in denied
    assert "arn:aws:iam::111122223333:role/ds-preprocessing-task-prod" in denied
    # dev's replica (artifactReplicaRegion: us-west-2): prod's task role alone reads it, decrypting via S3 there
    replica = "arn:aws:s3:::ds-artifacts-dev-123456789012-us-west-2/"
    on_replica = [p for p in prod_probes if p.resource.startswith(replica) and p.action == "s3:GetObject"]
    prod_task = "arn:aws:iam::987654321098:role/ds-preprocessing-task-prod"
    assert {p.principal for p in on_replica if p.expected} == {prod_task}
    assert "arn:aws:iam::987654321098:role/ds-preprocessing-sfn-prod" in {p.principal for p in on_replica}
    assert any(p.expected and p.condition_keys == {"kms:ViaService": "s3.us-west-2.amazonaws.com"} for p in prod_probes)


def test_help_describes_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check", "--help"])
    assert exit_info.value.code == 0
    assert "Exit 0 when clean" in capsys.readouterr().out.replace("\n", " ")


def test_the_store_owner_is_probed_for_write_once_models() -> None:
    """dsctl check asks principalmapper whether an insider of the owning account (IAM: Allow *) can replace or delete
    a published model, or unprotect the store; dropping the store's write-once denies flips those answers."""
    dev = synth("dev")
    probes = access_probes(dev.settings, dev.to_dict())
    insider = f"arn:aws:iam::{dev.settings.account_id}:role/{stackcheck.OWNER_INSIDER_ROLE}"
    asked = {(p.action, p.expected, p.condition_keys.get("s3:if-none-match")) for p in probes if p.principal == insider}
    assert {
        ("s3:PutObject", True, "*"),
        ("s3:PutObject", False, None),
        ("s3:DeleteObjectVersion", False, None),
    } <= asked
    assert ("kms:ScheduleKeyDeletion", False, None) in asked
    assert {p.principal for p in probes if p.action == "kms:PutKeyPolicy" and p.expected} == set(
        dev.settings.admin_principal_arns
    )
    assert access_violations(probes, [dev.to_dict()]) == []

    broken = copy.deepcopy(dev.to_dict())
    for resource in broken["resources"]:
        if resource["type"] == "aws:s3/bucketPolicy:BucketPolicy":
            policy = resource["inputs"]["policy"]
            policy["Statement"] = [
                s for s in policy["Statement"] if not s["Sid"].startswith(("DenyModel", "DenyStore"))
            ]
    wrong = {(v.resource, v.message.split(" (")[0]) for v in access_violations(probes, [broken])}
    store_model = f"arn:aws:s3:::{dev.settings.artifact_bucket_name}/{stackcheck.SAMPLE_MODEL_KEY}"
    assert (insider, f"can s3:DeleteObjectVersion on {store_model}") in wrong
    assert (insider, f"can s3:PutObject on {store_model}") in wrong
