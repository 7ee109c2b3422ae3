"""Shared fixtures: one moto server per test session (per xdist worker), two AWS accounts.

moto's default account is 123456789012, which is also our dev account; prod
(987654321098) credentials come from a real ``sts.assume_role`` into that account,
as DESIGN.md section 4 records. What moto does not model (bucket-policy and KMS
key-policy enforcement across accounts) is covered by the principalmapper
access-matrix tests, not here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

DEV_ACCOUNT = "123456789012"
PROD_ACCOUNT = "987654321098"
REGION = "us-east-1"


@dataclass(frozen=True)
class AwsCredentials:
    """Static credentials for one account on the moto server."""

    account_id: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        """The AWS_* environment variables that select these credentials."""
        values = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values

    def session(self, endpoint_url: str) -> boto3.Session:
        """A boto3 session with these credentials (pass ``endpoint_url`` to clients)."""
        return boto3.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            region_name=REGION,
        )


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto's server on 127.0.0.1 (free port) once per session; yield its URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto state, with the process environment pointed at it as the dev account.

    boto3 and Polars both honour AWS_ENDPOINT_URL, so code under test needs no
    test-only switches. Yields the endpoint URL.
    """
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    yield moto_endpoint


@pytest.fixture
def dev_credentials(aws: str) -> AwsCredentials:
    """Credentials acting in the dev account (moto's default account)."""
    return AwsCredentials(DEV_ACCOUNT, "testing", "testing")


@pytest.fixture
def prod_credentials(aws: str) -> AwsCredentials:
    """Credentials acting in the prod account, obtained by assuming a role into it."""
    sts = boto3.client("sts", endpoint_url=aws, region_name=REGION)
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{PROD_ACCOUNT}:role/ds-preprocessing-operator", RoleSessionName="tests"
    )["Credentials"]
    return AwsCredentials(PROD_ACCOUNT, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
