"""A pinned stack's deploy stops, with the fix, when its registry does not hold the pinned digest yet."""

from __future__ import annotations

import warnings
from typing import Any

import pulumi
import pulumi.runtime
import pytest

from components.job_image import JobImage, JobImageArgs, require_digest
from dsctl.synth_mocks import AwsMocks, RecordingMonitor

ACCOUNT, REGION, BUILDER = "111122223333", "eu-west-1", "444455556666"
PIN = "sha256:" + "a" * 64


def _pinned_digest(registry: tuple[str, ...]) -> str:
    """What a pinned JobImage resolves to when the account's repository holds ``registry``."""
    monitor = RecordingMonitor(AwsMocks(account_id=ACCOUNT, region=REGION, registry_digests=registry))
    pulumi.runtime.settings.reset_options(project="components", stack="alone", preview=False)
    pulumi.runtime.set_mocks(monitor.mocks, project="components", stack="alone", preview=False, monitor=monitor)
    seen: list[str] = []

    @pulumi.runtime.test
    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            image = JobImage("image", JobImageArgs(ACCOUNT, REGION, pinned_digest=PIN, source_account_id=BUILDER))
        return image.digest.apply(seen.append)

    run()
    return seen[0]


def test_a_present_pin_is_what_the_task_runs() -> None:
    assert _pinned_digest((PIN,)) == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ds-preprocessing@{PIN}"


def test_an_absent_pin_stops_the_deploy_naming_the_fix() -> None:
    with pytest.raises(Exception, match=r"not in this account's ds-preprocessing repository yet") as caught:
        _pinned_digest(("sha256:" + "b" * 64,))
    assert "dsctl image promote" in str(caught.value) and "describe-image-replication-status" in str(caught.value)


def test_require_digest_returns_the_pin_it_finds() -> None:
    assert require_digest(PIN, ["sha256:" + "0" * 64, PIN]) == PIN
    with pytest.raises(pulumi.RunError):
        require_digest(PIN, [])
