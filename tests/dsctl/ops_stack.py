"""Two deployed environments on moto for the operator-command tests, and a way to call dsctl.

``provision`` creates, per environment and in its own account, what the stacks create
and the operator commands touch: the buckets (the artifact store only in dev, versioned
and SSE-KMS like the real one), the six SSM parameters with their initial values, the
ECS cluster and task definition, the state machine, the job's log group and the alarms. Names come from the
stack files through ``dsctl.envs`` and ``components.naming``, as in the real stacks. It
is hand-written rather than built from ``dsctl synth`` so these tests do not depend on the
Pulumi program or its mocks; ``dsctl local up`` provisions from synth for the e2e tests.

Credentials are a real AWS config file: profile ``dev`` (static keys for the dev account)
and profile ``prod`` (``role_arn`` into 987654321098 with ``source_profile = dev``), so the
commands find them exactly as they would on an operator's machine.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from components import naming
from dsctl import cli
from dsctl.envs import Environment, client, load_environment, new_session
from tests.conftest import DEV_ACCOUNT, PROD_ACCOUNT, REGION

OPERATOR_ROLE = f"arn:aws:iam::{PROD_ACCOUNT}:role/{naming.operator_role()}"


def write_aws_config(path: Path) -> Path:
    """An AWS config with profiles ``dev`` (static) and ``prod`` (assumed role into prod, from dev)."""
    path.write_text(
        "[profile dev]\n"
        "aws_access_key_id = testing\n"
        "aws_secret_access_key = testing\n"
        f"region = {REGION}\n\n"
        "[profile prod]\n"
        f"role_arn = {OPERATOR_ROLE}\n"
        "source_profile = dev\n"
        f"region = {REGION}\n"
    )
    return path


def _bucket(s3: object, name: str) -> None:
    s3.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})  # type: ignore[attr-defined]


def provision(env: Environment, session: boto3.Session) -> None:
    """Create what ``env``'s stack creates that the operator commands use, in ``session``'s account."""
    s3 = client(session, "s3")
    for bucket in (env.input_bucket, env.output_bucket):
        _bucket(s3, bucket)
    if env.owns_artifact_store:
        key_arn = client(session, "kms").create_key(Description="artifact store")["KeyMetadata"]["Arn"]
        _bucket(s3, env.artifact_bucket)
        s3.put_bucket_encryption(
            Bucket=env.artifact_bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
    ssm = client(session, "ssm")
    initial = {
        naming.PARAM_INPUT_BUCKET: env.input_bucket,
        naming.PARAM_OUTPUT_BUCKET: env.output_bucket,
        naming.PARAM_ARTIFACT_BUCKET: env.artifact_bucket,
        naming.PARAM_INPUT_KEY: env.input_key,
        naming.PARAM_MODEL_KEY: naming.NO_MODEL_SENTINEL,
        naming.PARAM_MODEL_SHA256: naming.NO_MODEL_SENTINEL,
    }
    for key, value in initial.items():
        ssm.put_parameter(Name=env.parameter_name(key), Value=value, Type="String")
    ecs = client(session, "ecs")
    ecs.create_cluster(clusterName=naming.CLUSTER)
    ecs.register_task_definition(
        family=naming.TASK_FAMILY,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="2048",
        containerDefinitions=[
            {
                "name": naming.CONTAINER_NAME,
                "image": "ds-preprocessing:test",
                "command": ["run"],
                "essential": True,
                "memory": 2048,  # moto's RunTask sums container memory (tests start the job's task directly)
                "logConfiguration": {  # as components.pipeline_definition configures the awslogs driver
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": naming.log_group(env.name),
                        "awslogs-region": REGION,
                        "awslogs-stream-prefix": "job",
                    },
                },
            }
        ],
    )
    client(session, "logs").create_log_group(logGroupName=naming.log_group(env.name))
    role = f"arn:aws:iam::{env.account_id}:role/{naming.state_machine_role(env.name)}"
    client(session, "stepfunctions").create_state_machine(
        name=naming.STATE_MACHINE,
        roleArn=role,
        definition=json.dumps({"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}}),
    )
    cloudwatch = client(session, "cloudwatch")
    for alarm in (naming.failed_executions_alarm(env.name), naming.rejected_rows_alarm(env.name)):
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace=naming.METRIC_NAMESPACE,
            MetricName="RowsRejected",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )


@dataclass(frozen=True)
class TwoAccounts:
    """Both environments deployed on moto, with sessions acting in each account."""

    endpoint: str
    dev: Environment
    prod: Environment
    dev_session: boto3.Session
    prod_session: boto3.Session
    config_file: Path


@pytest.fixture
def two_accounts(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TwoAccounts:
    """dev (123456789012, owns the store) and prod (987654321098, reads it), with AWS profiles ``dev``/``prod``."""
    config = write_aws_config(tmp_path / "aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("DSCTL_LOCAL_DIR", str(tmp_path / "no-local-env"))  # never local mode here
    dev, prod = load_environment("dev"), load_environment("prod")
    dev_session = new_session("dev")
    prod_session = new_session("prod")
    assert client(dev_session, "sts").get_caller_identity()["Account"] == DEV_ACCOUNT
    assert client(prod_session, "sts").get_caller_identity()["Account"] == PROD_ACCOUNT
    with ThreadPoolExecutor(max_workers=2) as pool:  # the two accounts are independent
        list(pool.map(provision, (dev, prod), (dev_session, prod_session)))
    return TwoAccounts(aws, dev, prod, dev_session, prod_session, config)


@dataclass(frozen=True)
class Result:
    """Exit code and output of one dsctl invocation."""

    code: int
    out: str
    err: str

    def json(self) -> dict:  # type: ignore[type-arg]
        return dict(json.loads(self.out))


Dsctl = Callable[..., Result]


@pytest.fixture
def dsctl(capsys: pytest.CaptureFixture[str]) -> Iterator[Dsctl]:
    """Run ``dsctl ARGS`` in-process; returns its exit code, stdout and stderr."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run


_TRAINED: dict[tuple[str, int, int], Path] = {}


def train_model(directory: Path, version: str, seed: int = 1, rows: int = 400) -> Path:
    """A real model trained by the job on synthetic data (``python -m job train``'s code path).

    Trained once per (version, seed, rows) and process, then copied into ``directory``:
    training is deterministic, and the tests are about what happens to the files after.
    """
    from job.synthetic import write_month
    from job.train import train

    key = (version, seed, rows)
    if key not in _TRAINED:
        cache = Path(tempfile.mkdtemp(prefix="dsctl-test-model-"))
        atexit.register(shutil.rmtree, cache, True)
        train(str(write_month(cache / "train.csv", rows, seed=seed)), version, cache / "model")
        _TRAINED[key] = cache / "model"
    out = directory / f"model-{version}"
    shutil.copytree(_TRAINED[key], out)
    return out


def publish_run(session: boto3.Session, env: Environment, version: str, sha256: str, run_id: str) -> str:
    """Play a successful run of ``version`` in ``env``: the job's published output (CONTRACTS §6), as far as the
    promotion gate reads it -- ``processed/{run_id}/manifest.json`` recording the model, then ``_SUCCESS``."""
    s3 = client(session, "s3")
    manifest = {
        "run_id": run_id,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "version": version,
            "sha256": sha256,
            "bucket": env.artifact_bucket,
            "key": f"models/{version}/model.pkl",
        },
        "rows_in": 10,
        "rows_out": 10,
        "rows_rejected": 0,
    }
    prefix = f"{naming.PROCESSED_PREFIX}{run_id}/"
    s3.put_object(Bucket=env.output_bucket, Key=f"{prefix}manifest.json", Body=json.dumps(manifest).encode())
    s3.put_object(Bucket=env.output_bucket, Key=f"{prefix}_SUCCESS", Body=b"")
    return f"s3://{env.output_bucket}/{prefix}manifest.json"
