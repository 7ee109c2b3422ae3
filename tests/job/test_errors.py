"""Exit codes are distinct, and storage/parse failures are told apart by what they mean."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

from job import s3
from job.errors import ExitCode, JobError
from job.params import read_locations
from job.process import classify_polars_error


def test_every_error_kind_has_its_own_code() -> None:
    codes = [code.value for code in ExitCode]
    assert len(codes) == len(set(codes)) and ExitCode.OK == 0 and ExitCode.UNEXPECTED == 1 and ExitCode.USAGE == 2


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("could not parse `403` as dtype `f64` at column 'amount'", ExitCode.MALFORMED_CSV),
        ("found more fields than defined in 'Schema'", ExitCode.MALFORMED_CSV),
        ("invalid utf-8 sequence", ExitCode.MALFORMED_CSV),
        ("Generic S3 error: Status: 403 Forbidden, Body: <Code>AccessDenied</Code>", ExitCode.ACCESS_DENIED),
        ("Generic S3 error: Status: 404 Not Found, Body: <Code>NoSuchKey</Code>", ExitCode.INPUT_NOT_FOUND),
        ("Generic S3 error: error sending request for url", ExitCode.UNEXPECTED),
    ],
)
def test_polars_failures_are_classified(message: str, code: ExitCode) -> None:
    error = classify_polars_error(RuntimeError(message), "s3://ds-input-dev-123456789012-us-east-1/raw/m.csv")
    assert error.code == code
    if code == ExitCode.ACCESS_DENIED:
        assert "ds-input-dev-123456789012-us-east-1" in error.message


@pytest.mark.parametrize(
    ("error", "code", "fix"),
    [
        (NoCredentialsError(), ExitCode.ACCESS_DENIED, "AWS_PROFILE"),
        (NoRegionError(), ExitCode.USAGE, "AWS_REGION"),
        (EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com/"), ExitCode.UNEXPECTED, "NAT"),
    ],
)
def test_client_setup_problems_name_their_fix(
    error: Exception, code: ExitCode, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures before any request reaches AWS are set-up problems with a fix, for S3 and for SSM alike."""
    translated = s3.translate(error, "ds-input-dev-123456789012-us-east-1", "raw/m.csv", "read")
    assert translated.code == code and fix in translated.message

    class FailingPaginator:
        def paginate(self, **_: object) -> object:
            raise error

    class FailingClient:
        def get_paginator(self, _: str) -> FailingPaginator:
            return FailingPaginator()

    monkeypatch.setattr(s3, "ssm_client", FailingClient)
    with pytest.raises(JobError) as raised:
        read_locations("/ds/preprocessing")
    assert raised.value.code == code and fix in raised.value.message and "/ds/preprocessing" in raised.value.message
