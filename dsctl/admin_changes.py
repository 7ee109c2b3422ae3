"""Which admin-only resources a change touches: a stack synthesized at a base git commit against the checked-out tree.

The CI deploy role may deploy the program's resources but not change *who can access what* (docs/infrastructure.md,
threat model): it holds no write of an admin-only type (``policy/provider_actions.py``). A push that adds, changes or
removes such a resource therefore cannot be deployed by CI: ``pulumi up`` would stop half-way with AccessDenied,
after applying whatever came first. The deploy workflow runs this check before ``pulumi up``, so such a change stops
before anything is applied, naming each resource and the admin command to run instead.

The base is synthesized with the base's own code (``git archive`` of the commit into a temporary directory, then
that tree's ``dsctl synth --json`` in a subprocess, so the base's program, components and stack files are the ones
used); the head is this process's checkout, synthesized in-process (in CI: the commit being deployed). Both use the
same offline machinery as ``dsctl synth``: no Pulumi CLI, no AWS. Resources are matched by URN and compared by their
inputs, so a renamed or re-parented admin-only resource counts as removed and added, as Pulumi would replace it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsctl.output import EXIT_USAGE, CommandError
from policy.provider_actions import TYPES, Deployer

NO_COMMIT = "0" * 40
"""What GitHub sends as ``github.event.before`` when there was no previous commit (a branch's first push)."""

_PROVIDER_PREFIX = "pulumi:providers:"
_PROVIDER_WHY = (
    "the provider's settings (default tags, account, region) apply to every resource of the stack, admin-only ones "
    "included, so a change here updates them all"
)
_UNCLASSIFIED_WHY = "no deployer class in policy/provider_actions.py: treated as admin-only until it has one"


@dataclass(frozen=True)
class AdminChange:
    """One admin-only resource that differs between base and head."""

    change: str
    """``added``, ``changed`` or ``removed``."""
    type: str
    name: str
    urn: str
    inputs: tuple[str, ...]
    """For ``changed``: the top-level inputs that differ (e.g. ``assumeRolePolicy``)."""
    why: str
    """Why the type is admin-only (from the classification table)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "inputs": list(self.inputs),
            "why": self.why,
        }


def _admin_reason(token: str) -> str | None:
    """Why a change to this type needs an admin deploy, or None when CI may make it (or no AWS call is involved)."""
    if token.startswith(_PROVIDER_PREFIX):
        return _PROVIDER_WHY
    entry = TYPES.get(token)
    if entry is None:
        return _UNCLASSIFIED_WHY
    return entry.why if entry.deployer is Deployer.ADMIN else None


def _normalized(resources: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """URN -> resource, in JSON form (so an in-process synth compares equal to one read from a subprocess), without
    lookups (a read changes nothing)."""
    document = json.loads(json.dumps(list(resources), sort_keys=True, default=str))
    return {resource["urn"]: resource for resource in document if not resource.get("options", {}).get("read")}


def compare(base: Iterable[Mapping[str, Any]], head: Iterable[Mapping[str, Any]]) -> list[AdminChange]:
    """The admin-only resources added, changed or removed from ``base`` to ``head`` (``dsctl synth --json``
    resources), in URN order."""
    before, after = _normalized(base), _normalized(head)
    changes = []
    for urn in sorted(before.keys() | after.keys()):
        old, new = before.get(urn), after.get(urn)
        resource = new or old
        assert resource is not None
        why = _admin_reason(resource["type"])
        if why is None:
            continue
        if old is None:
            change, keys = "added", ()
        elif new is None:
            change, keys = "removed", ()
        else:
            old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
            keys = tuple(
                sorted(k for k in old_inputs.keys() | new_inputs.keys() if old_inputs.get(k) != new_inputs.get(k))
            )
            if not keys:
                continue
            change = "changed"
        changes.append(AdminChange(change, resource["type"], resource["name"], urn, keys, why))
    return changes


def _git(repo_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, check=False, timeout=120)


def resolve_commit(repo_dir: Path, ref: str) -> str:
    """The full SHA of ``ref``; a clear error when this clone does not have it (a shallow checkout, a typo)."""
    result = _git(repo_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise CommandError(
            f"base {ref!r} is not a commit in this clone ({repo_dir}); fix: fetch it (git fetch origin {ref}, or "
            "actions/checkout with fetch-depth: 0) or pass another --base",
            EXIT_USAGE,
        )
    return result.stdout.decode().strip()


def synth_at_commit(repo_dir: Path, commit: str, stack: str) -> list[dict[str, Any]] | None:
    """The stack's resources as the program at ``commit`` synthesizes them (its own code and stack files), or None
    when the stack has no ``Pulumi.<stack>.yaml`` there (everything is new)."""
    with tempfile.TemporaryDirectory(prefix="dsctl-base-") as tmp:
        tree = Path(tmp)
        archive = tree / "base.tar"
        result = _git(repo_dir, "archive", "--format=tar", f"--output={archive}", commit)
        if result.returncode != 0:
            raise CommandError(f"git archive {commit} failed: {result.stderr.decode().strip()}", EXIT_USAGE)
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        archive.unlink()
        if not (tree / f"Pulumi.{stack}.yaml").is_file():
            return None
        # The base's own packages come first on sys.path (cwd for -m, and PYTHONPATH), ahead of this checkout's
        # editable install, so the base's program runs as it was.
        env = {**os.environ, "PYTHONPATH": str(tree)}
        synth = subprocess.run(
            [sys.executable, "-m", "dsctl", "synth", "--stack", stack, "--json"],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if synth.returncode != 0:
            detail = (synth.stderr.strip().splitlines() or ["no output"])[-1]
            raise CommandError(
                f"synth of {stack} at {commit[:12]} failed: {detail}; fix: compare against a commit whose program "
                "synthesizes (dsctl synth), or deploy as an administrator",
                EXIT_USAGE,
            )
        resources: list[dict[str, Any]] = json.loads(synth.stdout)["resources"]
        return resources


def admin_changes(
    stack: str, base_ref: str, head: Sequence[Mapping[str, Any]], repo_dir: Path
) -> tuple[str, bool, list[AdminChange]]:
    """(base commit, whether the stack existed there, admin-only changes from it to ``head``). A base of
    ``NO_COMMIT`` (no previous commit) is an empty stack."""
    if base_ref == NO_COMMIT:
        return NO_COMMIT, False, compare([], head)
    commit = resolve_commit(repo_dir, base_ref)
    base = synth_at_commit(repo_dir, commit, stack)
    return commit, base is not None, compare(base or [], head)
