"""The per-environment run lease (job.lease) on moto's S3, which enforces If-None-Match/If-Match like S3."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from job import s3
from job.errors import ExitCode, JobError
from job.lease import Lease, lease_key, take_lease
from tests.job.test_run_s3 import OUTPUT, container_run, env

__all__ = ["env"]  # fixture used below

BUCKET = "ds-lease-test"


@pytest.fixture
def bucket(aws: str) -> str:
    s3.reset_clients()
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def _holder(bucket: str, environment: str = "dev") -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=bucket, Key=lease_key(environment))["Body"].read()
    return dict(json.loads(body))


def test_one_run_holds_the_lease_its_batches_share_it_others_are_refused(bucket: str) -> None:
    first = take_lease(bucket, "dev", "run-a")
    try:
        assert _holder(bucket)["run_id"] == "run-a"
        with pytest.raises(JobError) as refused:
            take_lease(bucket, "dev", "run-b")
        assert refused.value.code == ExitCode.RUN_IN_PROGRESS and "run run-a holds the dev lease" in str(refused.value)
        sibling = take_lease(bucket, "dev", "run-a")  # another batch of the same run
        sibling.release()
        first.renew()  # the sibling released it: the first batch takes it again at its next renewal
        assert _holder(bucket)["run_id"] == "run-a"
        other_env = take_lease(bucket, "prod", "run-b")  # one run per environment, not per bucket
        other_env.release()
    finally:
        first.release()
    take_lease(bucket, "dev", "run-b").release()  # released: the next run may start


def test_an_expired_lease_of_a_killed_run_is_taken_over(bucket: str) -> None:
    dead = Lease(bucket, "dev", "run-killed", ttl=-1.0)  # as if its renewals stopped long ago (SIGKILL, OOM)
    dead.take()
    assert _holder(bucket)["expires"] < time.time()
    later = take_lease(bucket, "dev", "run-next")
    try:
        assert _holder(bucket)["run_id"] == "run-next"
        dead.release()  # a late release of the dead run must not delete the new holder's lease
        assert _holder(bucket)["run_id"] == "run-next"
    finally:
        later.release()


def test_the_job_refuses_to_start_while_another_run_holds_the_lease(env: dict[str, Any], month_csv: Path) -> None:
    env["s3"].put_object(
        Bucket=OUTPUT,
        Key=lease_key("dev"),
        Body=json.dumps({"run_id": "scheduled-run", "expires": time.time() + 600}).encode(),
    )
    assert container_run() == ExitCode.RUN_IN_PROGRESS
    assert not env["s3"].list_objects_v2(Bucket=OUTPUT, Prefix="processed/").get("Contents")
    record = json.loads(env["s3"].get_object(Bucket=OUTPUT, Key="runs/exec-1.json")["Body"].read())
    assert record["status"] == "FAILED" and record["error"] == "RUN_IN_PROGRESS"
    assert "scheduled-run" in record["message"]
    env["s3"].delete_object(Bucket=OUTPUT, Key=lease_key("dev"))
    assert container_run() == 0
    assert "Contents" not in env["s3"].list_objects_v2(Bucket=OUTPUT, Prefix="leases/")  # released at the end
