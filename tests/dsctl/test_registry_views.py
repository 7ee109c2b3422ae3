"""dsctl model show / model history against moto with two accounts, from the user's side.

The records they read are written by publish/validate/promote/rollback with If-None-Match (moto enforces it). moto
does not enforce the store's bucket policy (which also refuses writes without If-None-Match and any delete): the
test below deletes records to play "promoted before the store kept records", which real AWS would refuse to all but
adminPrincipalArns (tests/infra/test_access_matrix.py proves that with principalmapper).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsctl.envs import client
from job import artifact
from job.synthetic import write_month
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, publish_run, train_model, two_accounts

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below


@pytest.fixture
def test_csv(tmp_path: Path) -> Path:
    return write_month(tmp_path / "test_data.csv", 300, seed=11)


def _publish(dsctl: Dsctl, tmp_path: Path, version: str, seed: int) -> str:
    directory = train_model(tmp_path, version, seed=seed)
    assert dsctl("model", "publish", "--env", "dev", version, str(directory)).code == 0
    return str(json.loads((directory / "manifest.json").read_text())["sha256"])


def test_show_and_history_tell_the_whole_story(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, test_csv: Path
) -> None:
    sha1 = _publish(dsctl, tmp_path, "1.0.0", seed=1)
    assert dsctl("model", "validate", "--env", "dev", "1.0.0", "--test-data", str(test_csv)).code == 0
    strict = ("--max-rejected-share", "0")
    assert dsctl("model", "validate", "--env", "dev", "1.0.0", "--test-data", str(test_csv), *strict).code == 1
    assert dsctl("model", "promote", "--env", "dev", "1.0.0", "--force", "--reason", "strict set too strict").code == 0
    publish_run(two_accounts.dev_session, two_accounts.dev, "1.0.0", sha1, "run-a")
    assert dsctl("model", "promote", "--env", "prod", "1.0.0", "--force", "--reason", "INC-1").code == 0
    sha2 = _publish(dsctl, tmp_path, "1.1.0", seed=2)
    assert dsctl("model", "validate", "--env", "dev", "1.1.0", "--test-data", str(test_csv)).code == 0
    assert dsctl("model", "promote", "--env", "dev", "1.1.0").code == 0
    publish_run(two_accounts.dev_session, two_accounts.dev, "1.1.0", sha2, "run-b")
    assert dsctl("model", "promote", "--env", "prod", "1.1.0").code == 0
    assert dsctl("model", "rollback", "--env", "prod").code == 0
    prod_promoter = "arn:aws:sts::987654321098:assumed-role/ds-preprocessing-promoter/dsctl-prod-"  # dsctl assumed it

    shown = dsctl("model", "show", "1.0.0", "--env", "prod", "--json")
    assert shown.code == 0, shown.err
    doc = shown.json()
    assert (doc["version"], doc["sha256"], doc["digest"], doc["replication"]) == ("1.0.0", sha1, "verified", None)
    lineage = doc["training_input"]
    assert lineage["rows"] == doc["training_rows"] > 0 and lineage["location"].endswith("train.csv")
    (trained_on,) = lineage["objects"]
    assert trained_on["sha256"] == artifact.sha256_file(lineage["location"])
    assert [v["passed"] for v in doc["validations"]] == [True, False] and doc["validation"] == "failed"
    assert [(p["stack"], p["action"], p["forced"]) for p in doc["promotions"]] == [
        ("dev", "promote", True),
        ("prod", "promote", True),
        ("prod", "rollback", False),
    ]
    assert doc["environments"] == ["prod"] and doc["unknown_environments"] == {}
    text = dsctl("model", "show", "1.0.0", "--env", "prod")
    assert text.code == 0 and "digest verified" in text.out and "running in: prod" in text.out
    assert "forced: INC-1" in text.out and "FAILED" in text.out

    history = dsctl("model", "history", "--env", "prod", "--json")
    assert history.code == 0, history.err
    entries = history.json()["history"]
    assert [(e["action"], e["version"], e["sha256"], e["source"]) for e in entries] == [
        ("rollback", "1.0.0", sha1, "store record"),
        ("promote", "1.1.0", sha2, "store record"),
        ("promote", "1.0.0", sha1, "store record"),
    ]
    assert all(e["by"].startswith(prod_promoter) and e["at"] for e in entries)
    assert entries[2]["reason"] == "INC-1" and entries[2]["forced"] is True
    assert entries[1]["gate"]["passed"] is True and entries[1]["gate"]["run_in_source"] == "run-b"
    assert [e["parameter_version"] for e in entries] == [4, 3, 2]

    # Someone sets the parameters by hand: the entry has no record, and says so.
    ssm = client(two_accounts.prod_session, "ssm")
    ssm.put_parameter(Name="/ds/preprocessing/model-key", Value="models/1.1.0/model.pkl", Overwrite=True)
    ssm.put_parameter(Name="/ds/preprocessing/model-sha256", Value=sha2, Overwrite=True)
    bypassed = dsctl("model", "history", "--env", "prod", "--json").json()["history"][0]
    assert (bypassed["action"], bypassed["version"], bypassed["source"]) == ("set", "1.1.0", "parameter history only")
    assert bypassed["record"] is None and bypassed["parameter_version"] == 5
    text = dsctl("model", "history", "--env", "prod")
    assert text.code == 0 and "was set outside dsctl: no promotion record, no gate" in text.out


def test_history_falls_back_to_dsctl_audit_parameter_where_the_store_has_no_record(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path
) -> None:
    """A promotion made before the store kept records is explained by dsctl's audit parameter's history."""
    _publish(dsctl, tmp_path, "2.0.0", seed=3)
    assert dsctl("model", "promote", "--env", "dev", "2.0.0", "--force", "--reason", "before records").code == 0
    s3 = client(two_accounts.dev_session, "s3")
    listed = s3.list_objects_v2(Bucket=two_accounts.dev.artifact_bucket, Prefix="models/2.0.0/promotions/")
    for item in listed["Contents"]:
        s3.delete_object(Bucket=two_accounts.dev.artifact_bucket, Key=item["Key"])
    (entry,) = dsctl("model", "history", "--env", "dev", "--json").json()["history"]
    assert (entry["version"], entry["source"], entry["reason"]) == ("2.0.0", "parameter record", "before records")
    assert entry["record"] is None


def test_show_of_an_unknown_version(two_accounts: TwoAccounts, dsctl: Dsctl) -> None:
    result = dsctl("model", "show", "9.9.9", "--env", "dev")
    assert result.code == 1 and "version 9.9.9 is not published" in result.err and "dsctl model list" in result.err
    as_json = dsctl("model", "show", "9.9.9", "--env", "dev", "--json")
    assert as_json.code == 1 and as_json.json()["error"]["fix"].startswith("pick one from dsctl model list")
