"""``dsctl diff``: the real dev and prod differ only as declared; injected differences are flagged."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import PROJECT_DIR, StackSettings, load_stack_settings
from dsctl import cli, stack_args
from dsctl.stackdiff import (
    DECLARED,
    IDENTITY_FIELDS,
    UNDECLARED_FIELDS,
    declared_differences,
    diff_stacks,
    normalize,
    substitutions,
)
from dsctl.synth import SynthResult, synth

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _documents() -> tuple[dict[str, Any], dict[str, Any]]:
    return copy.deepcopy(synth("dev").to_dict()), copy.deepcopy(synth("prod").to_dict())


def _find(document: dict[str, Any], token: str, name: str | None = None) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["type"] == token and name in (None, r["name"]))


def test_real_stacks_differ_only_as_declared(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "dev", "prod", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True
    reasons = {d["reason"] for d in result["differences"]}
    assert {"artifact ownership", "schedule", "log retention", "task size"} <= reasons
    only_dev = {d["resource"] for d in result["differences"] if d["kind"] == "only-left"}
    assert "aws:s3/bucket:Bucket::artifacts" in only_dev, "the artifact store exists only in the owning stack"


def test_identity_is_normalized_away() -> None:
    dev, prod = load_stack_settings("dev"), load_stack_settings("prod")
    assert normalize("ds-input-dev-123456789012-us-east-1", substitutions(dev)) == normalize(
        "ds-input-prod-987654321098-us-east-1", substitutions(prod)
    )
    # prod names dev's store by its real name; both sides call it the artifact store.
    store = "arn:aws:s3:::ds-artifacts-dev-123456789012-us-east-1/models/*"
    assert normalize(store, substitutions(dev)) == normalize(store, substitutions(prod))
    assert normalize("device", substitutions(dev)) == "device", "only whole words are environment names"


def test_injected_property_difference_is_unexpected() -> None:
    dev, prod = _documents()
    _find(prod, "aws:ecr/repository:Repository")["inputs"]["imageTagMutability"] = "MUTABLE"
    result = diff_stacks(dev, load_stack_settings("dev"), prod, load_stack_settings("prod"))
    (unexpected,) = result.unexpected
    assert unexpected.path == "imageTagMutability" and unexpected.right == "MUTABLE"
    assert unexpected.reason == "nothing declared"


def test_injected_extra_statement_is_unexpected() -> None:
    """A policy statement only prod has, that no declared difference explains, is singled out (not the list)."""
    dev, prod = _documents()
    policy = _find(prod, "aws:iam/rolePolicy:RolePolicy", "task-policy")["inputs"]["policy"]
    policy["Statement"].append({"Sid": "Sneaky", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"})
    result = diff_stacks(dev, load_stack_settings("dev"), prod, load_stack_settings("prod"))
    assert [d.path.rsplit(".", 1)[-1] for d in result.unexpected] == ["Statement[Sid=Sneaky]"]


def test_same_value_difference_is_unexpected_when_config_does_not_differ() -> None:
    """Retention may differ only because logRetentionDays differs; with equal config it is unexpected."""
    dev, prod = _documents()
    prod_settings = dataclasses.replace(load_stack_settings("prod"), log_retention_days=7)
    result = diff_stacks(dev, load_stack_settings("dev"), prod, prod_settings)
    assert {d.path for d in result.unexpected} == {"retentionInDays"}


def test_undeclared_config_difference_fails_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    config = FIXTURES / "prod-undeclared-difference.yaml"
    code = cli.main(["diff", "dev", "prod", "--right-config-file", str(config), "--unexpected-only"])
    out = capsys.readouterr().out
    assert code == 1
    assert "UNEXPECTED" in out and "1 unexpected" in out


def test_injected_synth_result_fails_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command path with a monkeypatched synth: prod's task writable root filesystem is flagged."""
    real = synth("prod")
    resources = []
    for resource in real.resources:
        if resource.type == "aws:ecs/taskDefinition:TaskDefinition":
            inputs = copy.deepcopy(resource.inputs)
            inputs["containerDefinitions"][0]["readonlyRootFilesystem"] = False
            resource = dataclasses.replace(resource, inputs=inputs)
        resources.append(resource)
    broken = dataclasses.replace(real, resources=tuple(resources))

    def fake_synth(stack: str, config_file: Path | None = None) -> SynthResult:
        return broken if stack == "prod" else synth(stack, config_file)

    monkeypatch.setattr("dsctl.synth.synth", fake_synth)
    assert cli.main(["diff", "dev", "prod", "--json"]) == 1
    unexpected = [d for d in json.loads(capsys.readouterr().out)["differences"] if not d["expected"]]
    assert [d["path"] for d in unexpected] == ["containerDefinitions[name=ds-preprocessing].readonlyRootFilesystem"]


def test_same_stack_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "dev", "dev"]) == 2
    assert "name two different stacks" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["diff", "--help"])
    assert exit_info.value.code == 0
    assert "unexpected" in capsys.readouterr().out


def _staging_file(tmp_path: Path, *, log_retention_days: int) -> Path:
    """A third, production-like stack ``staging``: prod's config in its own account, promoting from dev."""
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    document["config"]["ds-preprocessing:accountId"] = "555555555555"
    document["config"]["ds-preprocessing:logRetentionDays"] = log_retention_days
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_stack_called_staging_differs_from_prod_only_as_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The environment word is never replaced inside other text: the job's ``_staging/`` prefix stays as it is."""
    config = _staging_file(tmp_path, log_retention_days=14)
    names = stack_args.environment_names()
    monkeypatch.setattr(stack_args, "environment_names", lambda: [*names, "staging"])
    assert cli.main(["diff", "staging", "prod", "--left-config-file", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True
    assert {d["reason"] for d in result["differences"]} == {"log retention"}
    assert result["declared"] == ["log retention (logRetentionDays)"]


def test_the_environment_word_inside_other_text_is_kept(tmp_path: Path) -> None:
    staging = load_stack_settings("staging", _staging_file(tmp_path, log_retention_days=30))
    subs = substitutions(staging)
    assert normalize("_staging/", subs) == "_staging/"
    assert normalize("arn:aws:s3:::ds-output-staging-555555555555-us-east-1/_staging/*", subs) == (
        "arn:aws:s3:::ds-output-{env}-{account}-us-east-1/_staging/*"
    )
    assert normalize("staging", subs) == "{env}", "a value that is the environment is its placeholder"
    assert normalize("/ecs/ds-preprocessing-staging", subs) == "/ecs/ds-preprocessing-{env}"


def test_production_is_a_declared_difference() -> None:
    dev, prod = load_stack_settings("dev"), load_stack_settings("prod")
    assert "production" in [declared.reason for declared in declared_differences(dev, prod)]


def test_every_setting_is_identity_declared_or_listed_as_undeclared() -> None:
    """A new setting must be placed: normalized identity, a declared difference, or knowingly undeclared."""
    declared = {name for entry in DECLARED for name in entry.fields}
    placed = declared | set(IDENTITY_FIELDS) | set(UNDECLARED_FIELDS)
    assert {f.name for f in dataclasses.fields(StackSettings)} == placed
    assert not declared & (set(IDENTITY_FIELDS) | set(UNDECLARED_FIELDS))
