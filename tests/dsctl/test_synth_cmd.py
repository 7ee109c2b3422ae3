"""``dsctl synth``: a readable tree by default, the CONTRACTS §7 document with --json, config errors as exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsctl.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_tree_shows_components_resources_and_key_properties(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "ds-preprocessing stack dev",
        "ds:storage:ArtifactStore",
        "ds:runtime:JobImage",
        "ds:runtime:JobTask",
        "ds:runtime:Orchestration",
        "bucket=ds-artifacts-dev-123456789012-us-east-1",
        "name=/ecs/ds-preprocessing-dev  retentionDays=7",
        "family=ds-preprocessing  cpu=512  memory=2048",
        "rotation=true",
        "outputs of dev",
    ):
        assert expected in out, expected
    lines = out.splitlines()
    store = next(i for i, line in enumerate(lines) if "ds:storage:ArtifactStore" in line)
    key = next(i for i, line in enumerate(lines) if "kms:Key" in line)
    assert key > store and lines[key].index("kms:Key") > lines[store].index("ds:storage"), "key nested in the store"


def test_tree_of_prod_shows_its_schedule_and_the_store_it_reads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert "schedule=cron(0 6 1 * ? *)" in out
    assert "ds:access:CrossAccountAccess" in out
    assert "value=ds-artifacts-dev-123456789012-us-east-1" in out  # prod's artifact-bucket parameter


def test_json_is_the_contract_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--stack", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {"project", "stack", "resources", "outputs"} <= set(document)
    assert (document["project"], document["stack"]) == ("ds-preprocessing", "prod")
    for resource in document["resources"]:
        assert {"type", "name", "urn", "id", "parent", "inputs"} <= set(resource)
    roles = [r for r in document["resources"] if r["type"] == "aws:iam/role:Role"]
    assert roles and all(isinstance(r["inputs"]["assumeRolePolicy"], dict) for r in roles), "documents parsed"
    assert document["outputs"]["artifactAccountId"] == "123456789012"


def test_invalid_config_file_names_every_bad_key_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = (REPO / "Pulumi.dev.yaml").read_text()
    config = config.replace("taskCpu: 512", "taskCpu: 500").replace("logRetentionDays: 7", "logRetentionDays: 8")
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text(config)
    assert main(["synth", "--stack", "dev", "--config-file", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    errors = captured.err.strip().splitlines()
    assert len(errors) >= 2 and all(line.startswith("dsctl: error: ") for line in errors)
    assert any("taskCpu" in line for line in errors) and any("logRetentionDays" in line for line in errors)


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--stack", "prod", "--config-file", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "not found" in err


def test_a_valid_config_file_is_used_instead_of_the_stack_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = tmp_path / "Pulumi.dev.yaml"
    changed.write_text((REPO / "Pulumi.dev.yaml").read_text().replace("logRetentionDays: 7", "logRetentionDays: 14"))
    assert main(["synth", "--stack", "dev", "--config-file", str(changed), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    retention = {
        r["inputs"]["retentionInDays"] for r in document["resources"] if r["type"].endswith("logGroup:LogGroup")
    }
    assert retention == {14}


def test_help_and_unknown_stack(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["synth", "--help"])
    assert done.value.code == 0
    assert "--config-file" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["synth", "--stack", "staging"])
    assert done.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
