"""Where the local environment lives and whether it is up.

Everything ``dsctl local up`` creates sits under one directory (``.dsctl-local/``
in the project root, or ``$DSCTL_LOCAL_DIR``), so ``dsctl local down`` removes it
in one go and nothing leaks into the operator's real AWS configuration.
``current()`` is how other commands (``dsctl run``) detect local mode: a state file
whose server no longer answers is not "local mode", it is a stale leftover.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ENV_DIR = "DSCTL_LOCAL_DIR"
"""Environment variable that moves the state directory (tests and the demo use a temporary one)."""

DEFAULT_DIR_NAME = ".dsctl-local"
STATE_FILE = "state.json"
AWS_CONFIG_FILE = "aws-config"
AWS_CREDENTIALS_FILE = "aws-credentials"
SERVER_LOG_FILE = "moto.log"
RUNS_DIR = "runs"
"""One ``{run_id}.json`` per local run in progress (its job's pid), written and removed by the local runner."""

_PROJECT_DIR = Path(__file__).resolve().parents[2]


def local_dir() -> Path:
    """The state directory: ``$DSCTL_LOCAL_DIR`` if set, else ``.dsctl-local/`` in the project root."""
    configured = os.environ.get(ENV_DIR)
    return Path(configured).expanduser().resolve() if configured else _PROJECT_DIR / DEFAULT_DIR_NAME


@dataclass(frozen=True)
class LocalState:
    """What ``state.json`` records about a running local environment."""

    endpoint: str
    pid: int
    directory: str
    started_at: str
    region: str
    accounts: dict[str, str] = field(default_factory=dict)
    """Environment name -> account id, for each provisioned stack."""
    profiles: dict[str, str] = field(default_factory=dict)
    """Environment name -> AWS profile in the generated config."""
    ready: bool = False
    """True once every stack is provisioned; a running server that is not ready was interrupted mid-``up``."""

    @property
    def path(self) -> Path:
        """The state directory this state belongs to."""
        return Path(self.directory)

    @property
    def aws_config_file(self) -> Path:
        return self.path / AWS_CONFIG_FILE

    @property
    def aws_credentials_file(self) -> Path:
        return self.path / AWS_CREDENTIALS_FILE

    def exports(self) -> dict[str, str]:
        """The environment variables that point the AWS CLI, boto3, Polars and dsctl at this environment."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": str(self.aws_config_file),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.aws_credentials_file),
            "AWS_ALLOW_HTTP": "true",
            "AWS_DEFAULT_REGION": self.region,
            ENV_DIR: str(self.path),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``state.json`` and ``dsctl local up --json``)."""
        return asdict(self)


def state_file(directory: Path | None = None) -> Path:
    """Path of ``state.json`` in ``directory`` (default: ``local_dir()``)."""
    return (directory or local_dir()) / STATE_FILE


def save(state: LocalState) -> None:
    """Write ``state.json`` atomically, so a reader never sees half a file."""
    target = state_file(state.path)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2, sort_keys=True) + "\n")
    tmp.replace(target)


def load(directory: Path | None = None) -> LocalState | None:
    """The recorded state, whether or not its server still answers; None without a readable state file."""
    path = state_file(directory)
    try:
        document = json.loads(path.read_text())
        return LocalState(**document)
    except (OSError, ValueError, TypeError):
        return None


def server_answers(endpoint: str, timeout: float = 1.0) -> bool:
    """True when a moto server answers at ``endpoint`` (its cheap ``/moto-api/config`` route)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def current(directory: Path | None = None) -> LocalState | None:
    """The running local environment, or None (no state file, or its server does not answer)."""
    state = load(directory)
    if state is None or not server_answers(state.endpoint):
        return None
    return state
