"""``dsctl model failover`` against moto with two accounts: prod reads dev's store, then its replica, then back.

moto does not replicate: the test creates dev's replica bucket (``artifactReplicaRegion: us-west-2``) and seeds it with
the promoted model itself. moto enforces neither bucket nor KMS key policies: that prod's task and promoter roles may
read the replica (and only its ``models/*``), and that only the promoter role may write ``artifact-bucket``, is proven
by the access-matrix rows over the synthesized stacks (tests/infra/test_access_matrix.py) and ``dsctl check``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import job.s3 as job_s3
from job.model_source import fetch_model
from job.params import read_locations
from tests.dsctl.ops_stack import Dsctl, TwoAccounts, dsctl, train_model, two_accounts

__all__ = ["dsctl", "two_accounts"]  # fixtures used by the tests below

REPLICA = "ds-artifacts-dev-123456789012-us-west-2"  # naming.artifact_replica_bucket of dev's store
MODEL = "models/7.0.0/model.pkl"


def _artifact_bucket(accounts: TwoAccounts) -> str:
    ssm = accounts.prod_session.client("ssm")
    return str(ssm.get_parameter(Name="/ds/preprocessing/artifact-bucket")["Parameter"]["Value"])


def _job_reads_model(accounts: TwoAccounts, monkeypatch: pytest.MonkeyPatch) -> str:
    """What prod's job does first: read its parameters, then load the promoted model by digest from artifact-bucket."""
    monkeypatch.setattr(job_s3, "ssm_client", lambda: accounts.prod_session.client("ssm"))
    monkeypatch.setattr(job_s3, "s3_client", lambda: accounts.prod_session.client("s3"))
    where = read_locations("/ds/preprocessing")
    loaded = fetch_model(f"s3://{where.artifact_bucket}/{where.model_key}", where.model_sha256, artifact_store=True)
    assert loaded.sha256 == where.model_sha256
    return where.artifact_bucket


def test_failover_to_the_replica_and_back(
    two_accounts: TwoAccounts, dsctl: Dsctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = train_model(tmp_path, "7.0.0", seed=7)
    assert dsctl("model", "publish", "--env", "dev", "7.0.0", str(directory)).code == 0
    sha = json.loads((directory / "manifest.json").read_text())["sha256"]
    forced = dsctl("model", "promote", "--env", "prod", "7.0.0", "--force", "--reason", "failover test")
    assert forced.code == 0, forced.err
    primary = two_accounts.dev.artifact_bucket

    owner = dsctl("model", "failover", "--env", "dev", "--to", "replica")
    assert owner.code == 2 and "dev owns the store" in owner.err and owner.err.count("\n") == 1

    # The replica exists but the promoted model has not reached it: refused, with the fix, nothing changed.
    replica_s3 = two_accounts.dev_session.client("s3", region_name="us-west-2")
    replica_s3.create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    missing = dsctl("model", "failover", "--env", "prod", "--to", "replica")
    assert missing.code == 2 and f"s3://{REPLICA}/{MODEL} does not exist" in missing.err
    assert "Batch Replication" in missing.err and _artifact_bucket(two_accounts) == primary

    # A different object under the key (a bad copy): the digest check refuses it.
    replica_s3.put_object(Bucket=REPLICA, Key=MODEL, Body=b"not the promoted model")
    mismatch = dsctl("model", "failover", "--env", "prod", "--to", "replica")
    assert mismatch.code == 2 and f"expected {sha}" in mismatch.err and _artifact_bucket(two_accounts) == primary

    # What S3 replication would have written (moto does not replicate): the promoted model itself.
    replica_s3.copy_object(Bucket=REPLICA, Key=MODEL, CopySource={"Bucket": primary, "Key": MODEL})
    over = dsctl("model", "failover", "--env", "prod", "--to", "replica", "--json")
    assert over.code == 0, over.err
    assert over.json() | {"parameter_version": None} == {
        "env": "prod",
        "to": "replica",
        "artifact_bucket": REPLICA,
        "previous_bucket": primary,
        "changed": True,
        "parameter_version": None,
        "version": "7.0.0",
        "sha256": sha,
        "check": over.json()["check"],
    }
    assert over.json()["check"].startswith("digest verified")
    assert _job_reads_model(two_accounts, monkeypatch) == REPLICA
    again = dsctl("model", "failover", "--env", "prod", "--to", "replica")
    assert again.code == 0 and "no change" in again.out

    # While failed over, promotions are refused (prod's artifact-bucket is not its stack's store): fail back first.
    blocked = dsctl("model", "promote", "--env", "prod", "7.0.0", "--force", "--reason", "x")
    assert blocked.code == 2 and f"is {REPLICA!r} but Pulumi.prod.yaml names the store" in blocked.err

    back = dsctl("model", "failover", "--env", "prod", "--to", "primary")
    assert back.code == 0, back.err
    assert "failed over" in back.out and _artifact_bucket(two_accounts) == primary
    assert _job_reads_model(two_accounts, monkeypatch) == primary
