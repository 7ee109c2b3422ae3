"""``python -m dsctl.demo`` (``make demo``): the whole cross-account workflow, end to end, on this machine.

A newcomer sees the product work with nothing but the repository, and the team gets
its end-to-end test (``tests/e2e/test_demo.py`` runs the same scenario on a smaller
sample). Every step goes through the real code paths: ``dsctl`` commands (called
in-process through ``dsctl.cli.main``, exactly as the console script does), the job's
own CLI in a subprocess, and real cross-account credentials (a reading stack's profile
assumes a role in its own account). Each step prints the shell command an operator would
type, so the output doubles as a walkthrough. Which stacks play which part comes from the
stack files (``Cast``): the store owner publishes and validates, and the production stack
furthest down its promotion chain runs on promoted models (with dev and prod: dev, then
prod). The local environment and the working directory are removed on every exit path, and any failed step or broken
expectation exits non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

DEFAULT_ROWS = 20_000
FIRST, SECOND = "1.0.0", "1.1.0"
STEPS = 22
"""Steps with a two-stack chain; each stack between the owner and the target adds its two promotions."""


class DemoFailure(Exception):
    """A step failed or a fact did not hold; the message says which and what was seen."""


@dataclass(frozen=True)
class RunSummary:
    """What one pipeline run did, read back from its run manifest."""

    env: str
    run_id: str
    model_version: str
    model_bucket: str
    rows_in: int
    rows_out: int
    rows_rejected: int
    output: str
    seconds: float
    batches: int = 1
    """Tasks the run used: 1, or the batches of a month given as a prefix (the scale-out path)."""


MONTH_PREFIX = "raw/2026-10/"
MONTH_FILES = 6
"""The multi-file month: the sample split into this many objects under MONTH_PREFIX."""


@dataclass(frozen=True)
class Cast:
    """Which stack plays which part, from the stack files: the owner, the target, the stacks between them."""

    owner: str
    """Owns the artifact store: models are published, validated and first promoted and run here."""
    target: str
    """A stack reading the owner's store (a production one if any, the furthest down the chain)."""
    between: tuple[str, ...]
    """Stacks on the target's promotion chain between owner and target, nearest the owner first."""

    @classmethod
    def from_project(cls) -> Cast:
        """Derive the parts from ``components.project``; DemoFailure when the stacks cannot play them."""
        from components.project import load_project

        project = load_project()
        owners = [name for name, settings in project.stacks.items() if settings.owns_artifact_store]
        if len(owners) != 1:
            raise DemoFailure(f"the demo needs exactly one stack owning the artifact store, found {owners or 'none'}")
        owner = owners[0]
        readers = [name for name in project.deploy_order() if owner in project.promotion_chain(name)[1:]]
        production = [name for name in readers if project.stacks[name].production]
        if not readers:
            raise DemoFailure(f"the demo needs a stack that promotes from {owner} (promotesFrom), found none")
        target = (production or readers)[-1]
        chain = project.promotion_chain(target)
        return cls(owner, target, tuple(reversed(chain[1 : chain.index(owner)])))

    @property
    def promoted_after_owner(self) -> tuple[str, ...]:
        """Where a model is promoted after the owner, in order: the stacks between, then the target."""
        return (*self.between, self.target)


@dataclass
class DemoResult:
    """Facts the demo established: each run, the promoted version per environment at the end, the store."""

    cast: Cast
    runs: list[RunSummary] = field(default_factory=list)
    promoted: dict[str, str | None] = field(default_factory=dict)
    artifact_bucket: str = ""
    artifact_account: str = ""
    sample_rows: int = 0
    seconds: float = 0.0


class Terminated(BaseException):
    """SIGTERM/SIGHUP arrived; a BaseException so no step mistakes it for its own failure."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _signal_to_exit(signum: int, _frame: FrameType | None) -> None:
    """Turn SIGTERM/SIGHUP into an exception so every ``finally`` (server shutdown) runs."""
    raise Terminated(signum)


class Demo:
    """The scenario, step by step, with a progress line per step."""

    def __init__(self, workdir: Path, rows: int, out: Callable[[str], None], cast: Cast) -> None:
        self.workdir = workdir
        self.rows = rows
        self.out = out
        self.cast = cast
        self.steps = STEPS + 2 * len(cast.between)
        self.result = DemoResult(cast=cast, sample_rows=rows)
        self.step_number = 0
        self.last_stderr = ""

    # ------------------------------------------------------------------ plumbing

    def dsctl(self, *argv: str) -> Any:
        """Run ``dsctl ARGV --json`` in-process; return its JSON, or raise DemoFailure with its error line."""
        from dsctl.cli import main

        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main([*argv, "--json"])
            except SystemExit as exit_:  # argparse usage errors
                code = int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
        if code != 0:
            detail = stderr.getvalue().strip().splitlines()
            raise DemoFailure(f"`dsctl {' '.join(argv)}` exited {code}: {detail[-1] if detail else 'no message'}")
        self.last_stderr = stderr.getvalue()
        return json.loads(stdout.getvalue())

    def job(self, *argv: str) -> None:
        """Run the job's own CLI (``python -m job ...``) in a subprocess, as a data scientist would."""
        done = subprocess.run(
            [sys.executable, "-m", "job", *argv, "--log-format", "text"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()
            raise DemoFailure(f"`python -m job {' '.join(argv)}` exited {done.returncode}: {last[-1] if last else ''}")

    @contextlib.contextmanager
    def step(self, shell: str, what: str) -> Iterator[list[str]]:
        """Print ``[n/N] what`` with the equivalent shell command, then the step's outcome and time."""
        self.step_number += 1
        notes: list[str] = []
        started = time.monotonic()
        self.out(f"[{self.step_number:2}/{self.steps}] {what}\n        $ {shell}")
        try:
            yield notes
        except Exception as err:  # say which step broke, then let the caller clean up and report
            self.out(f"        FAILED after {time.monotonic() - started:.1f} s: {err}")
            raise
        suffix = f" — {'; '.join(notes)}" if notes else ""
        self.out(f"        ok ({time.monotonic() - started:.1f} s){suffix}")

    @staticmethod
    def expect(condition: bool, message: str) -> None:
        """Raise DemoFailure(message) unless ``condition``."""
        if not condition:
            raise DemoFailure(message)

    # ------------------------------------------------------------------ steps

    def sample(self, path: Path, seed: int) -> Path:
        from job.synthetic import write_month

        return write_month(path, self.rows, seed=seed, chunk_rows=max(self.rows, 1))

    def train(self, version: str, data: Path) -> Path:
        target = self.workdir / "models" / version
        with self.step(
            f"python -m job train --input {data.name} --version {version} --output {target.relative_to(self.workdir)}",
            f"train model {version}",
        ):
            self.job("train", "--input", str(data), "--version", version, "--output", str(target))
        return target

    def publish_validate(self, version: str, directory: Path, test_data: Path) -> None:
        owner = self.cast.owner
        with self.step(
            f"dsctl model publish --env {owner} {version} {directory.relative_to(self.workdir)}",
            f"publish {version} to {owner}'s store",
        ) as notes:
            published = self.dsctl("model", "publish", "--env", owner, version, str(directory))
            notes.append(published["model"])
        with self.step(
            f"dsctl model validate --env {owner} {version} --test-data {test_data.name}", f"validate {version}"
        ) as notes:
            report = self.dsctl("model", "validate", "--env", owner, version, "--test-data", str(test_data))
            self.expect(bool(report.get("passed")), f"validation of {version} did not pass: {report}")
            notes.append("passed")

    def promote(self, env: str, version: str) -> None:
        with self.step(f"dsctl model promote --env {env} {version}", f"promote {version} in {env}") as notes:
            result = self.dsctl("model", "promote", "--env", env, version)
            notes.append(f"{env} model-key -> models/{version}/model.pkl")
            self.expect(result.get("version", version) == version, f"promote reported {result}")

    def upload(self, env: str, data: Path) -> None:
        from dsctl.envs import connect

        conn = connect(env)
        target = f"s3://{conn.env.input_bucket}/{conn.env.input_key}"
        with self.step(f"aws s3 cp {data.name} {target} --profile {env}", f"upload the month's input to {env}"):
            conn.session.client("s3").upload_file(str(data), conn.env.input_bucket, conn.env.input_key)

    def upload_parts(self, env: str, data: Path, prefix: str, parts: int) -> None:
        """The month as ``parts`` CSV objects under ``prefix`` (each with the header), as a month of many files
        arrives."""
        from dsctl.envs import connect

        conn = connect(env)
        header, *lines = data.read_text().splitlines(keepends=True)
        size = -(-len(lines) // parts)
        target = f"s3://{conn.env.input_bucket}/{prefix}"
        with self.step(
            f"aws s3 cp --recursive month/ {target} --profile {env}", f"upload the month as {parts} files to {env}"
        ) as notes:
            client = conn.session.client("s3")
            for i in range(parts):
                body = "".join([header, *lines[i * size : (i + 1) * size]]).encode()
                client.put_object(Bucket=conn.env.input_bucket, Key=f"{prefix}part-{i:02d}.csv", Body=body)
            notes.append(f"{parts} objects of ~{size} rows")

    def run(self, env: str, what: str, input_key: str | None = None) -> RunSummary:
        from dsctl import runs
        from dsctl.envs import connect

        key_args = ["--input-key", input_key] if input_key else []
        with self.step(" ".join(["dsctl run --env", env, *key_args]), what) as notes:
            started = time.monotonic()
            result = self.dsctl("run", "--env", env, *key_args)
            seconds = time.monotonic() - started
            self.expect(result.get("mode") == "local", f"dsctl run did not use the local runner: {result}")
            said = [line for line in self.last_stderr.splitlines() if line.startswith("local runner:")]
            self.expect(bool(said), "dsctl run did not say it used the local runner")
            for line in said:
                self.out(f"        {line}")
            manifest = runs.run_manifest(connect(env), result["name"])
            self.expect(manifest is not None, f"run {result['name']} wrote no manifest")
            assert manifest is not None
            summary = RunSummary(
                env=env,
                run_id=str(manifest["run_id"]),
                model_version=str(manifest["model"]["version"]),
                model_bucket=str(manifest["model"]["bucket"]),
                rows_in=int(manifest["rows_in"]),
                rows_out=int(manifest["rows_out"]),
                rows_rejected=int(manifest["rows_rejected"]),
                output=str(result.get("output")),
                seconds=seconds,
                batches=len(manifest.get("batches") or [None]),
            )
            self.expect(
                summary.rows_in == summary.rows_out + summary.rows_rejected,
                f"{env}: rows_in {summary.rows_in} != rows_out {summary.rows_out} + rejected {summary.rows_rejected}",
            )
            self.expect(summary.rows_in == self.rows, f"{env}: read {summary.rows_in} rows, the sample has {self.rows}")
            self.expect(summary.rows_rejected > 0, f"{env}: the sample's bad rows were not rejected")
            notes.append(
                f"model {summary.model_version} from s3://{summary.model_bucket}, "
                f"{summary.rows_out} rows out, {summary.rows_rejected} rejected"
                + (f", {summary.batches} batches in parallel tasks" if summary.batches > 1 else "")
            )
        self.result.runs.append(summary)
        return summary

    def rollback(self, env: str, expected: str) -> None:
        with self.step(f"dsctl model rollback --env {env}", f"roll {env} back") as notes:
            result = self.dsctl("model", "rollback", "--env", env)
            self.expect(result.get("version") == expected, f"rollback restored {result.get('version')}, not {expected}")
            notes.append(f"{result.get('from_version')} -> {result.get('version')}")

    def final_state(self) -> None:
        from dsctl import ssm_parameters
        from dsctl.envs import connect

        for env in (self.cast.owner, *self.cast.promoted_after_owner):
            conn = connect(env)
            key, _ = ssm_parameters.current_model(conn.session, conn.env)
            self.result.promoted[env] = ssm_parameters.version_of_key(key)
            if conn.env.owns_artifact_store:
                self.result.artifact_bucket, self.result.artifact_account = (
                    conn.env.artifact_bucket,
                    conn.env.account_id,
                )

    # ------------------------------------------------------------------ the scenario

    def scenario(self) -> None:
        """Everything between ``local up`` and ``local down``."""
        with self.step(
            f"python -m job.synthetic monthly_data.csv --rows {self.rows}", "generate a sample month with bad rows"
        ) as notes:
            month = self.sample(self.workdir / "monthly_data.csv", seed=7)
            holdout = self.sample(self.workdir / "test_data.csv", seed=11)
            notes.append(f"{self.rows} rows + a {self.rows}-row validation set, ~0.6% bad rows")
        owner, target = self.cast.owner, self.cast.target
        first = self.train(FIRST, month)
        self.publish_validate(FIRST, first, holdout)
        self.promote(owner, FIRST)
        self.upload(owner, month)
        upstream = self.run(owner, f"run {owner} with {FIRST}")
        self.expect(upstream.model_version == FIRST, f"{owner} ran {upstream.model_version}, expected {FIRST}")
        self.upload_parts(owner, month, MONTH_PREFIX, MONTH_FILES)
        what = f"run {owner} on the month as {MONTH_FILES} files: plan, batches in parallel, commit"
        batched = self.run(owner, what, MONTH_PREFIX)
        self.expect(batched.batches > 1, f"the {MONTH_FILES}-file month ran as {batched.batches} batch(es)")
        self.expect(
            (batched.rows_out, batched.rows_rejected) == (upstream.rows_out, upstream.rows_rejected),
            f"the batched run published {batched.rows_out} + {batched.rows_rejected} rows, one task "
            f"{upstream.rows_out} + {upstream.rows_rejected}",
        )
        for env in self.cast.promoted_after_owner:
            self.promote(env, FIRST)
        self.upload(target, month)
        downstream = self.run(target, f"run {target} with {target}'s credentials, reading {FIRST} from {owner}'s store")
        self.expect(downstream.model_version == FIRST, f"{target} ran {downstream.model_version}, expected {FIRST}")
        self.expect(
            downstream.model_bucket == upstream.model_bucket,
            f"{target} read its model from {downstream.model_bucket}, not {owner}'s store {upstream.model_bucket}",
        )
        second = self.train(SECOND, month)
        self.publish_validate(SECOND, second, holdout)
        self.promote(owner, SECOND)
        # The gate of every stack with promotesFrom: a version goes on only after a published run where it came from.
        again = self.run(owner, f"run {owner} with {SECOND} (what goes on down the chain ran here first)")
        self.expect(again.model_version == SECOND, f"{owner} ran {again.model_version}, expected {SECOND}")
        for env in self.cast.promoted_after_owner:
            self.promote(env, SECOND)
        self.rollback(target, FIRST)
        after = self.run(target, f"run {target} after the rollback (expects {FIRST})")
        self.expect(after.model_version == FIRST, f"{target} ran {after.model_version} after rollback")
        with self.step(
            f"dsctl doctor --env {target}", f"diagnose {target} from {target}'s side (parameters, store, model, KMS)"
        ) as notes:
            report = self.dsctl("doctor", "--env", target)
            failed = [check["name"] for check in report["checks"] if check.get("ok") is False]
            self.expect(
                report.get("healthy") is True, f"dsctl doctor --env {target} found problems: {', '.join(failed)}"
            )
            notes.append(f"{sum(1 for check in report['checks'] if check.get('ok'))} checks passed")
        self.final_state()
        promoted = self.result.promoted
        self.expect(promoted.get(target) == FIRST, f"{target} ends on {promoted.get(target)}")
        self.expect(promoted.get(owner) == SECOND, f"{owner} ends on {promoted.get(owner)}")


def print_summary(result: DemoResult, out: Callable[[str], None]) -> None:
    """The final table: one row per run, then what each environment has promoted now."""
    from rich.console import Console

    from dsctl.output import table

    rows = [
        (
            run.env,
            run.model_version,
            run.model_bucket,
            run.rows_in,
            run.rows_out,
            run.rows_rejected,
            run.output,
            run.batches,
            f"{run.seconds:.1f} s",
        )
        for run in result.runs
    ]
    columns = ["env", "model", "model read from", "rows in", "rows out", "rejected", "output", "tasks", "time"]
    summary = table("pipeline runs", columns, rows)
    for column in summary.columns:
        column.overflow = "fold"  # long bucket names wrap instead of being cut: they are the point of the table
    buffer = io.StringIO()
    Console(file=buffer, width=max(Console().width, 120)).print(summary)
    out(buffer.getvalue().rstrip())
    promoted = ", ".join(f"{env} {version}" for env, version in result.promoted.items())
    owner, target = result.cast.owner, result.cast.target
    out(f"sample month: {result.sample_rows} rows; promoted now: {promoted} ({target} rolled back from {SECOND})")
    out(
        f"{target} ran with {target}'s own credentials (an assumed role in its account) and read its model from "
        f"{owner}'s store s3://{result.artifact_bucket} (account {result.artifact_account}); "
        f"demo took {result.seconds:.1f} s, everything it started is gone"
    )


def run_demo(rows: int = DEFAULT_ROWS, workdir: Path | None = None, out: Callable[[str], None] = print) -> DemoResult:
    """Run the scenario in a fresh local environment; always take it down. Raises DemoFailure on any failure."""
    from dsctl.local import lifecycle, state
    from dsctl.output import CommandError

    started = time.monotonic()
    cast = Cast.from_project()
    own_workdir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="dsctl-demo-")) if workdir is None else workdir
    saved_dir = os.environ.get(state.ENV_DIR)
    os.environ[state.ENV_DIR] = str(root / "local")
    demo = Demo(root, rows, out, cast)
    try:
        with demo.step(
            "dsctl local up", "start the local AWS, one account per stack, provisioned from `dsctl synth`"
        ) as notes:
            try:
                up = lifecycle.up(lambda line: out(f"        · {line}"))
            except CommandError as err:
                raise DemoFailure(err.message) from err
            created = len(up.report.created) if up.report else 0
            notes.append(
                f"moto at {up.state.endpoint}, accounts {', '.join(up.state.accounts.values())}, {created} resources"
            )
        with lifecycle.pointed_at(up.state):
            try:
                demo.scenario()
            except CommandError as err:
                raise DemoFailure(err.message) from err
    finally:
        down = lifecycle.down()
        out(f"cleanup: local environment stopped (pid {down.stopped_pid}) and {down.directory} removed")
        if saved_dir is None:
            os.environ.pop(state.ENV_DIR, None)
        else:
            os.environ[state.ENV_DIR] = saved_dir
        if own_workdir:
            shutil.rmtree(root, ignore_errors=True)
    demo.result.seconds = time.monotonic() - started
    return demo.result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m dsctl.demo``: run, print the summary, exit 1 on any failure."""
    parser = argparse.ArgumentParser(
        prog="python -m dsctl.demo",
        description="Show ds-preprocessing end to end on an embedded AWS with one account per stack: train, "
        "publish, validate, promote and run in the artifact store's stack, promote and run in a stack reading it "
        "(prod) across accounts, roll back. Cleans up after itself.",
    )
    parser.add_argument(
        "--rows", type=int, default=DEFAULT_ROWS, help=f"rows in the sample month (default {DEFAULT_ROWS})"
    )
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _signal_to_exit)

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        result = run_demo(args.rows, out=out)
    except DemoFailure as err:
        print(f"demo: FAILED: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; the local environment was taken down", file=sys.stderr)
        return 130
    except Terminated as err:
        print(f"demo: {err}; the local environment was taken down", file=sys.stderr)
        return 128 + err.signum
    except Exception as err:  # a bug, not an expected failure: show where, still exit non-zero
        traceback.print_exc()
        print(f"demo: FAILED with an unexpected {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print_summary(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
