"""The demo scenario as the team's end-to-end test (issue #5), on a smaller sample.

It goes through everything for real: ``dsctl local up`` provisions both accounts from
``dsctl synth``, the job trains in a subprocess, ``dsctl model publish/validate/promote/
rollback`` and ``dsctl run`` act through the generated profiles (prod assumes a role
into its own account), and the local runner executes the task definition's command.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dsctl import demo
from dsctl.envs import load_environment
from dsctl.local import lifecycle, provision, state

pytestmark = pytest.mark.e2e

ROWS = 3_000


@pytest.fixture
def clean_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AWS settings from the outside: the demo must bring everything it needs."""
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        state.ENV_DIR,
    ):
        monkeypatch.delenv(name, raising=False)
    yield


def test_demo_scenario_end_to_end(tmp_path: Path, clean_aws_env: None) -> None:
    lines: list[str] = []
    result = demo.run_demo(rows=ROWS, workdir=tmp_path, out=lines.append)

    dev_store = load_environment("dev")
    assert [(run.env, run.model_version) for run in result.runs] == [
        ("dev", demo.FIRST),
        ("dev", demo.FIRST),  # the same month as several files under a prefix: plan, batches, commit
        ("prod", demo.FIRST),
        ("dev", demo.SECOND),  # the gate: 1.1.0 reaches prod only after a published run in dev
        ("prod", demo.FIRST),  # after promoting 1.1.0 to prod and rolling back
    ]
    assert [run.batches for run in result.runs] == [1, 3, 1, 1, 1]  # dev's maxParallelTasks
    for run in result.runs:
        assert run.rows_in == ROWS
        assert run.rows_rejected > 0  # the sample's bad rows
        assert run.rows_out + run.rows_rejected == ROWS
        assert run.output.startswith(f"s3://{load_environment(run.env).output_bucket}/processed/{run.run_id}/")
    prod_run = result.runs[2]
    assert prod_run.model_bucket == dev_store.artifact_bucket
    assert dev_store.account_id in prod_run.model_bucket and dev_store.owns_artifact_store
    assert result.promoted == {"dev": demo.SECOND, "prod": demo.FIRST}

    assert any("[22/22]" in line for line in lines)
    assert not (tmp_path / "local").exists()  # local down removed the state directory
    assert state.ENV_DIR not in __import__("os").environ


def test_demo_takes_the_environment_down_and_exits_non_zero_when_a_step_fails(
    tmp_path: Path, clean_aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[state.LocalState] = []
    monkeypatch.setattr(lifecycle, "provision_all", lambda local, progress, detail=None: provision.ProvisionReport())

    def failing_scenario(self: demo.Demo) -> None:
        started.append(state.current())  # type: ignore[arg-type]
        raise demo.DemoFailure("step 2 broke on purpose")

    monkeypatch.setattr(demo.Demo, "scenario", failing_scenario)
    monkeypatch.setattr(demo.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "work"))
    (tmp_path / "work").mkdir()

    assert demo.main(["--rows", "10"]) == 1
    assert "step 2 broke on purpose" in capsys.readouterr().err
    assert started and started[0] is not None
    assert not state.server_answers(started[0].endpoint)
    assert not (tmp_path / "work").exists()
