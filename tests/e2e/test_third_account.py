"""Issue #9's proof: a third account is one stack file and one reader entry, with no code change.

The test copies the project (its git-tracked files) to a temporary directory, adds ``Pulumi.staging.yaml``
(account 555555555555, production-like, promoted from dev and reading dev's store), lists that account in
dev's ``artifactReaderAccounts``, and then runs the COPY's code in subprocesses -- ``PYTHONPATH`` entries
come before the editable install on ``sys.path``, so a code change would have to be in the copy to matter --
through everything an operator does for a new account: synth, check, diff against prod, the local
three-account AWS, and publish -> promote (dev, then staging) -> run in staging.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
THIRD, THIRD_ACCOUNT = "staging", "555555555555"
VERSION = "1.0.0"
ROWS = 2_000
PINNED = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]["ds-preprocessing:imageDigest"]
"""A new stack starts on the digest its promotesFrom chain already runs (here prod's pin), until `image promote`."""
THIRD_STACK_FILE = f"""\
# A third account: production-like, takes dev's promoted models and reads them from dev's store. Exactly the keys
# docs/infrastructure.md "Adding an account" lists; everything else keeps its default from Pulumi.yaml.
config:
  ds-preprocessing:accountId: "{THIRD_ACCOUNT}"
  ds-preprocessing:promotesFrom: dev
  ds-preprocessing:githubRepository: acme-data/ds-preprocessing
  ds-preprocessing:operatorPrincipalArns:
    - arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DataScience_0123456789abcdef
  ds-preprocessing:production: true
  ds-preprocessing:promoterPermissionSet: ModelApprovers
  ds-preprocessing:imageDigest: {PINNED}
"""


def copy_project(target: Path) -> Path:
    """The project's git-tracked files (as they are in the work tree) under ``target``: no .venv, no state, and
    ``node_modules`` linked rather than copied."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # Installed tools, not project code: `dsctl check` runs asl-validator from the project's node_modules.
    (target / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    return target


def add_third_account(project: Path) -> None:
    """The two edits "Adding an account" in docs/infrastructure.md asks for, and nothing else."""
    (project / f"Pulumi.{THIRD}.yaml").write_text(THIRD_STACK_FILE)
    owner = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(owner.read_text())
    document["config"]["ds-preprocessing:artifactReaderAccounts"].append(THIRD_ACCOUNT)
    owner.write_text(yaml.safe_dump(document, sort_keys=False))


class Copy:
    """The copied project, run as an operator would: ``python -m dsctl ...`` in its directory."""

    def __init__(self, root: Path, local_dir: Path) -> None:
        self.root = root
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AWS_") and name not in ("PYTHONPATH", "DSCTL_LOCAL_DIR")
        }
        self.env.update(PYTHONPATH=str(root), DSCTL_LOCAL_DIR=str(local_dir), NO_COLOR="1", COLUMNS="200")

    def run(self, *argv: str, module: str = "dsctl") -> subprocess.CompletedProcess[str]:
        """``python -m MODULE ARGV`` in the copy (``module=""``: ``python ARGV``)."""
        return subprocess.run(
            [sys.executable, *(["-m", module] if module else []), *argv],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def ok(self, *argv: str, module: str = "dsctl") -> str:
        done = self.run(*argv, module=module)
        assert done.returncode == 0, (
            f"`python -m {module} {' '.join(argv)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        return done.stdout

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "--json"))

    def in_one_process(self, *commands: list[str]) -> list[tuple[int, str, str]]:
        """Each ``dsctl`` command line through the copy's ``dsctl.cli.main`` (what ``python -m dsctl`` calls), in one
        subprocess: their exit codes, standard outputs and errors. One process pays the imports once and shares
        ``dsctl.synth``'s per-config cache, as an operator's shell never could, but every command still runs, and
        exits, on its own."""
        done = json.loads(self.ok("-c", _RUN_COMMANDS, json.dumps(commands), module=""))
        return [(code, out, err) for code, out, err in done]

    def ok_in_one_process(self, *commands: list[str]) -> list[str]:
        """``in_one_process``, asserting each command exits 0; their standard outputs."""
        done = self.in_one_process(*commands)
        for argv, (code, out, err) in zip(commands, done, strict=True):
            assert code == 0, f"`dsctl {' '.join(argv)}` exited {code}:\n{out}\n{err}"
        return [out for _, out, _ in done]


_RUN_COMMANDS = """\
import contextlib, io, json, sys
from dsctl.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse's usage errors exit, as they would the command's own process
            code = exit.code if isinstance(exit.code, int) else 1
    results.append((code, out.getvalue(), err.getvalue()))
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Copy:
    root = copy_project(tmp_path_factory.mktemp("project"))
    add_third_account(root)
    return Copy(root, tmp_path_factory.mktemp("local"))


def test_the_copy_runs_its_own_code(project: Copy) -> None:
    """The subprocesses import dsctl and components from the copy, not from this checkout's editable install."""
    where = project.ok("-c", "import dsctl, components; print(dsctl.__file__); print(components.__file__)", module="")
    assert all(line.startswith(str(project.root)) for line in where.split()), where


def test_synth_check_and_diff_of_the_third_stack(project: Copy) -> None:
    synthesized, *_ = project.ok_in_one_process(
        ["synth", "--stack", THIRD],
        ["check", "--stack", THIRD],  # exit 0: no policy, IAM or cross-stack finding
        ["diff", THIRD, "prod"],  # exit 0: only the differences the stack files declare
        ["diff", "dev", THIRD],  # what the regenerated verify.yml runs for the new stack
    )
    assert f"ds-input-{THIRD}-{THIRD_ACCOUNT}" in synthesized


def test_workflows_regenerate_with_the_third_stack(project: Copy) -> None:
    assert project.run("workflows", "--check").returncode == 1, "the committed workflows know no third stack yet"
    project.ok("workflows")
    deploy = yaml.safe_load((project.root / ".github" / "workflows" / "deploy.yml").read_text())
    up = deploy["jobs"][f"up-{THIRD}"]
    assert (up["needs"], up["environment"]) == ("up-dev", THIRD)
    verify = yaml.safe_load((project.root / ".github" / "workflows" / "verify.yml").read_text())
    assert THIRD in verify["jobs"]["check"]["strategy"]["matrix"]["stack"]
    project.ok("workflows", "--check")


def test_local_three_accounts_publish_promote_and_run_in_the_third(project: Copy, tmp_path: Path) -> None:
    up = project.json("local", "up")
    project.env.update(up["exports"])  # what `eval "$(dsctl local env)"` does in an operator's shell
    try:
        assert up["state"]["accounts"] == {"dev": "123456789012", "prod": "987654321098", THIRD: THIRD_ACCOUNT}
        month = tmp_path / "month.csv"
        project.ok(str(month), "--rows", str(ROWS), module="job.synthetic")
        model = tmp_path / "model"
        project.ok("train", "--input", str(month), "--version", VERSION, "--output", str(model), module="job")
        *published, refused = project.in_one_process(
            ["model", "publish", "--env", "dev", VERSION, str(model), "--json"],
            ["model", "validate", "--env", "dev", VERSION, "--test-data", str(month), "--json"],
            ["model", "promote", "--env", "dev", VERSION, "--json"],
            # The gate of a stack with promotesFrom: refused until the version ran (published) in dev, then taken.
            ["model", "promote", "--env", THIRD, VERSION],
        )
        assert all(code == 0 and json.loads(out) for code, out, _ in published), published
        assert refused[0] == 2 and "has no successful run in dev" in refused[2], refused
        with pytest.MonkeyPatch.context() as monkeypatch:
            for name, value in up["exports"].items():
                monkeypatch.setenv(name, value)
            boto3.Session(profile_name="dev").client("s3").upload_file(
                str(month), "ds-input-dev-123456789012-us-east-1", "raw/monthly_data.csv"
            )
        upstream, promoted = map(
            json.loads,
            project.ok_in_one_process(
                ["run", "--env", "dev", "--wait", "--json"], ["model", "promote", "--env", THIRD, VERSION, "--json"]
            ),
        )
        assert upstream["status"] == "SUCCEEDED", upstream
        assert promoted.get("version", VERSION) == VERSION
        assert promoted["gate"]["run_in_source"] == upstream["name"], promoted

        with pytest.MonkeyPatch.context() as monkeypatch:
            for name, value in up["exports"].items():
                monkeypatch.setenv(name, value)
            session = boto3.Session(profile_name=THIRD)
            assert session.client("sts").get_caller_identity()["Account"] == THIRD_ACCOUNT
            session.client("s3").upload_file(
                str(month), f"ds-input-{THIRD}-{THIRD_ACCOUNT}-us-east-1", "raw/monthly_data.csv"
            )
        run = project.json("run", "--env", THIRD, "--wait")
        assert run["mode"] == "local" and run["status"] == "SUCCEEDED", run
        assert run["output"].startswith(f"s3://ds-output-{THIRD}-{THIRD_ACCOUNT}-us-east-1/processed/"), run
        assert run["counts"], run
    finally:
        down = project.json("local", "down")
        assert down["removed"], down
