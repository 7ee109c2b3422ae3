"""The two-account moto setup the data-path tests rely on behaves as DESIGN.md records."""

from __future__ import annotations

import boto3

from tests.conftest import DEV_ACCOUNT, PROD_ACCOUNT, REGION, AwsCredentials


def test_each_credential_set_acts_in_its_own_account(
    aws: str, dev_credentials: AwsCredentials, prod_credentials: AwsCredentials
) -> None:
    for creds, account in ((dev_credentials, DEV_ACCOUNT), (prod_credentials, PROD_ACCOUNT)):
        sts = creds.session(aws).client("sts", endpoint_url=aws)
        assert sts.get_caller_identity()["Account"] == account

    dev_ssm = dev_credentials.session(aws).client("ssm", endpoint_url=aws)
    prod_ssm = prod_credentials.session(aws).client("ssm", endpoint_url=aws)
    dev_ssm.put_parameter(Name="/ds/preprocessing/input-bucket", Value="dev-bucket", Type="String")
    prod_ssm.put_parameter(Name="/ds/preprocessing/input-bucket", Value="prod-bucket", Type="String")
    assert dev_ssm.get_parameter(Name="/ds/preprocessing/input-bucket")["Parameter"]["Value"] == "dev-bucket"
    assert prod_ssm.get_parameter(Name="/ds/preprocessing/input-bucket")["Parameter"]["Value"] == "prod-bucket"


def test_reset_gives_each_test_a_clean_state(aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name=REGION)
    assert s3.list_buckets()["Buckets"] == []
    s3.create_bucket(Bucket="left-behind")
