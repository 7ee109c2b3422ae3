"""``local up`` / ``local down`` as functions, shared by the command, the demo and the tests.

``up`` starts the server, writes the AWS config that gives each environment its own
account, then provisions every stack from its synthesized program; if any step fails
it takes everything down again, so there is never a half-built environment to debug.
``down`` stops the server and removes only the files ``up`` created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dsctl.local import awsconfig, server, state
from dsctl.local.provision import ProvisionReport, provision_stack
from dsctl.output import CommandError

Progress = Callable[[str], None]

_OWN_FILES = (
    state.STATE_FILE,
    state.STATE_FILE.replace(".json", ".tmp"),
    state.AWS_CONFIG_FILE,
    state.AWS_CREDENTIALS_FILE,
    state.SERVER_LOG_FILE,
)
_CLEARED_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


@dataclass(frozen=True)
class UpResult:
    """The running environment, whether it was already up, and what provisioning created."""

    state: state.LocalState
    reused: bool
    report: ProvisionReport | None


@contextlib.contextmanager
def pointed_at(local: state.LocalState) -> Iterator[None]:
    """Temporarily point this process's AWS SDK at ``local`` (its exports, and no other credentials).

    Sessions resolved inside then come only from the generated profiles, whatever the
    operator's shell has exported, so a local command can never act on real AWS.
    """
    saved = {name: os.environ.get(name) for name in (*local.exports(), *_CLEARED_VARIABLES)}
    try:
        for name in _CLEARED_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(local.exports())
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _write_aws_files(directory: Path, endpoint: str) -> tuple[dict[str, str], dict[str, str], str]:
    """Write aws-config/aws-credentials for every stack, in deploy order; return accounts, profiles, the region."""
    from components.project import load_project

    project = load_project()
    if problems := project.problems():
        raise CommandError(f"the stacks do not fit together: {'; '.join(map(str, problems))}")
    stacks = [project.stacks[name] for name in project.deploy_order()]
    files = awsconfig.generate(
        [awsconfig.AccountProfile(s.stack, s.account_id, s.region, s.arns.operator_role) for s in stacks], endpoint
    )
    (directory / state.AWS_CONFIG_FILE).write_text(files.config)
    credentials = directory / state.AWS_CREDENTIALS_FILE
    credentials.write_text(files.credentials)
    credentials.chmod(0o600)
    return {s.stack: s.account_id for s in stacks}, files.profiles, stacks[0].region


def provision_all(local: state.LocalState, progress: Progress, detail: Progress | None = None) -> ProvisionReport:
    """Synthesize every stack and create its resources in its own account, through its own profile.

    ``progress`` gets a few lines per stack, ``detail`` (optional) one line per resource.
    """
    from components.settings import SettingsError
    from dsctl.envs import load_environment, session_for, verify_account
    from dsctl.synth import synth

    report = ProvisionReport()
    for name in local.accounts:
        progress(f"synthesizing stack {name} (the Pulumi program under mocks)")
        try:
            synthesized = synth(name).to_dict()
        except SettingsError as err:
            raise CommandError(f"Pulumi.{name}.yaml is invalid: {'; '.join(err.errors)}") from err
        env = load_environment(name)
        with pointed_at(local):
            session = session_for(env)
            caller = verify_account(session, env)
            progress(f"creating {name}'s resources in account {env.account_id} as {caller}")
            provision_stack(synthesized, session, local.endpoint, report, detail)
        progress(f"{name}: {report.summary(name)}")
    return report


def up(progress: Progress = lambda _: None, *, provision: bool = True, detail: Progress | None = None) -> UpResult:
    """Start (or reuse) the local environment under ``state.local_dir()``; raise CommandError on failure."""
    directory = state.local_dir()
    running = state.current()
    if running is not None and running.ready:
        return UpResult(running, reused=True, report=None)
    stale = state.load()
    if stale is not None:
        why = "was interrupted before it was ready" if running else f"no longer answers at {stale.endpoint}"
        progress(f"replacing a local environment that {why} (pid {stale.pid})")
        down()
    directory.mkdir(parents=True, exist_ok=True)
    progress("starting moto server on 127.0.0.1")
    try:
        started = server.start(directory / state.SERVER_LOG_FILE)
    except server.ServerError as err:
        raise CommandError(str(err), exit_code=1) from err
    try:
        accounts, profiles, region = _write_aws_files(directory, started.endpoint)
        local = state.LocalState(
            endpoint=started.endpoint,
            pid=started.pid,
            directory=str(directory),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            region=region,
            accounts=accounts,
            profiles=profiles,
        )
        state.save(local)  # now `local down` can stop the server even if provisioning is interrupted
        report = provision_all(local, progress, detail) if provision else None
        local = dataclasses.replace(local, ready=True)
        state.save(local)
    except BaseException:
        # Never leave a half-provisioned server behind (including on Ctrl-C).
        server.stop(started.pid)
        _remove_own_files(directory)
        raise
    return UpResult(local, reused=False, report=report)


def _remove_own_files(directory: Path) -> bool:
    """Remove what ``up`` created, then the directory if that left it empty; True if it is gone."""
    for name in _OWN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    with contextlib.suppress(OSError):  # empty unless a local run is still going: then it stays, and says so
        (directory / state.RUNS_DIR).rmdir()
    with contextlib.suppress(OSError):
        directory.rmdir()
    return not directory.exists()


@dataclass(frozen=True)
class DownResult:
    """What ``down`` found and did."""

    directory: Path
    was_running: bool
    stopped_pid: int | None
    removed: bool


def down() -> DownResult:
    """Stop the recorded server (if any) and remove the state directory's files."""
    directory = state.local_dir()
    recorded = state.load()
    stopped = None
    if recorded is not None and server.stop(recorded.pid):
        stopped = recorded.pid
    removed = _remove_own_files(directory) if directory.exists() else True
    return DownResult(directory, was_running=recorded is not None, stopped_pid=stopped, removed=removed)
