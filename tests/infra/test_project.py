"""The project's stacks as a whole (components/project.py): cross-stack problems and the derived deploy order."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from components.project import Project, load_project, stack_names
from components.settings import PROJECT_DIR, SettingsError, StackSettings


@pytest.fixture(scope="module")
def shipped() -> Project:
    return load_project()


def project_dir_with(tmp_path: Path, **stack_files: dict[str, object]) -> Path:
    """A copy of Pulumi.yaml and the shipped stack files, plus ``stack_files`` (name -> config values)."""
    for path in PROJECT_DIR.glob("Pulumi*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    for name, values in stack_files.items():
        config = {f"ds-preprocessing:{key}": value for key, value in values.items()}
        (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


def with_reader(project_dir: Path, account: str) -> None:
    """Add ``account`` to the store owner's readers in the copied dev stack file."""
    path = project_dir / "Pulumi.dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["ds-preprocessing:artifactReaderAccounts"].append(account)
    path.write_text(yaml.safe_dump(document))


def test_the_shipped_stacks_fit_together(shipped: Project) -> None:
    assert stack_names() == ["dev", "prod"]
    assert shipped.problems() == []
    assert shipped.deploy_order() == ["dev", "prod"]
    assert shipped.promotion_chain("prod") == ["prod", "dev"]
    owner = shipped.store_owner(shipped.stacks["prod"])
    assert owner is not None and owner.stack == "dev"


def test_a_third_stack_is_data_only(tmp_path: Path) -> None:
    staging = {
        "accountId": "555555555555",
        "production": True,
        "promotesFrom": "dev",
        "imageDigest": "sha256:" + "1" * 64,
    }
    project_dir = project_dir_with(tmp_path, staging=staging)
    with_reader(project_dir, "555555555555")
    project = load_project(project_dir)
    assert project.problems() == []
    assert project.deploy_order() == ["dev", "prod", "staging"]
    assert project.stacks["staging"].artifact_bucket_name == project.stacks["dev"].artifact_bucket_name


def test_a_chain_deploys_in_promotion_order(tmp_path: Path) -> None:
    """dev -> aa-stage -> prod: each stack after the one it promotes from, whatever the names' order."""
    stage = {"accountId": "555555555555", "promotesFrom": "dev", "imageDigest": "sha256:" + "1" * 64}
    project_dir = project_dir_with(tmp_path, **{"aa-stage": stage})
    prod = yaml.safe_load((project_dir / "Pulumi.prod.yaml").read_text())
    prod["config"]["ds-preprocessing:promotesFrom"] = "aa-stage"
    (project_dir / "Pulumi.prod.yaml").write_text(yaml.safe_dump(prod))
    with_reader(project_dir, "555555555555")
    project = load_project(project_dir)
    assert project.deploy_order() == ["dev", "aa-stage", "prod"]
    assert project.promotion_chain("prod") == ["prod", "aa-stage", "dev"]
    # prod finds the store through aa-stage's outputs, which re-export dev's store
    assert project.stacks["prod"].artifact_bucket_name == project.stacks["dev"].artifact_bucket_name


def test_two_stacks_in_one_account_are_refused(shipped: Project) -> None:
    clash = replace(shipped.stacks["prod"], stack="prod2", environment="prod2")
    (problem,) = Project({**shipped.stacks, "prod2": clash}).problems()
    assert problem.message.startswith("accountId: 987654321098 is used by stacks prod, prod2")
    assert "one stack per account" in problem.message and problem.fix == "give each stack its own account"


def test_a_reader_the_store_does_not_grant_is_reported(shipped: Project) -> None:
    reader = replace(shipped.stacks["prod"], stack="qa", environment="qa", account_id="555555555555")
    (problem,) = Project({**shipped.stacks, "qa": reader}).problems()
    assert "does not list 555555555555 (qa)" in problem.message
    assert problem.fix == "add 555555555555 to artifactReaderAccounts in Pulumi.dev.yaml"


def test_promotes_from_an_unknown_stack_and_two_owners_are_reported(shipped: Project) -> None:
    stray: StackSettings = replace(shipped.stacks["prod"], promotes_from="qa")
    second_owner = replace(shipped.stacks["dev"], stack="dev2", environment="dev2", account_id="555555555555")
    problems = [
        p.message for p in Project({"dev": shipped.stacks["dev"], "prod": stray, "dev2": second_owner}).problems()
    ]
    assert any(m.startswith("promotesFrom: 'qa' in Pulumi.prod.yaml — no such stack") for m in problems)
    assert any(m.startswith("ownsArtifactStore: 2 stacks own the artifact store (dev, dev2)") for m in problems)


def test_a_promotion_cycle_is_refused(tmp_path: Path) -> None:
    project_dir = project_dir_with(tmp_path)
    dev = yaml.safe_load((project_dir / "Pulumi.dev.yaml").read_text())
    dev["config"]["ds-preprocessing:ownsArtifactStore"] = False
    dev["config"]["ds-preprocessing:promotesFrom"] = "prod"
    dev["config"].pop("ds-preprocessing:artifactReaderAccounts")
    dev["config"].pop("ds-preprocessing:artifactReplicaRegion")  # an owning stack's key
    (project_dir / "Pulumi.dev.yaml").write_text(yaml.safe_dump(dev))
    with pytest.raises(SettingsError, match="a cycle"):
        load_project(project_dir)


def test_an_invalid_stack_file_is_named(tmp_path: Path) -> None:
    project_dir = project_dir_with(tmp_path, Bad_Name={"accountId": "555555555555", "ownsArtifactStore": True})
    with pytest.raises(SettingsError) as err:
        load_project(project_dir)
    assert any(line.startswith("Pulumi.Bad_Name.yaml: stack: 'Bad_Name'") for line in err.value.errors)
