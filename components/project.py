"""The project's stacks as a whole: which exist, how they relate, in which order they deploy.

A stack is an environment and an AWS account, and any ``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml`` is one: no
code lists environment names. What tells stacks apart is their declared config (who owns the artifact store,
who promotes from whom, which is production). This module derives what needs every stack at once: the problems
no single stack file can show (two stacks in one account, a ``promotesFrom`` naming no stack, a reader the store
does not grant) and the deploy order (the store owner first, then each stack after the one it promotes from),
which the workflows, ``dsctl check`` and the local environment all take from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components.settings import PROJECT_DIR, SettingsError, StackSettings, load_stack_settings

_STACK_FILE = re.compile(r"^Pulumi\.([^.]+)\.yaml$")


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every stack that has a ``Pulumi.<stack>.yaml`` file, sorted by name."""
    names = (_STACK_FILE.match(path.name) for path in project_dir.glob("Pulumi.*.yaml"))
    return sorted(match.group(1) for match in names if match)


@dataclass(frozen=True)
class Problem:
    """A problem across stack files: what is wrong (naming the key and stacks) and how to fix it."""

    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


@dataclass(frozen=True)
class Project:
    """Every stack's validated settings, keyed by stack name."""

    stacks: dict[str, StackSettings]

    def problems(self) -> list[Problem]:
        """What is wrong across stacks, one line each with the fix (empty when the stacks fit together)."""
        return [
            *self._account_problems(),
            *self._chain_problems(),
            *self._store_problems(),
            *self._builder_problems(),
        ]

    def _account_problems(self) -> list[Problem]:
        by_account: dict[str, list[str]] = {}
        for settings in self.stacks.values():
            by_account.setdefault(settings.account_id, []).append(settings.stack)
        return [
            Problem(
                f"accountId: {account} is used by stacks {', '.join(names)} — one stack per account (account-level "
                "resources such as the GitHub OIDC provider and the account's public access block exist once)",
                "give each stack its own account",
            )
            for account, names in sorted(by_account.items())
            if len(names) > 1
        ]

    def _chain_problems(self) -> list[Problem]:
        problems = []
        for settings in self.stacks.values():
            upstream = settings.promotes_from
            if upstream and upstream not in self.stacks:
                known = ", ".join(sorted(self.stacks))
                problems.append(
                    Problem(
                        f"promotesFrom: {upstream!r} in Pulumi.{settings.stack}.yaml — no such stack",
                        f"use one of {known} (the Pulumi.<stack>.yaml files)",
                    )
                )
        return problems

    def _store_problems(self) -> list[Problem]:
        owners = [s for s in self.stacks.values() if s.owns_artifact_store]
        if len(owners) != 1:
            named = ", ".join(s.stack for s in owners) or "none"
            return [
                Problem(
                    f"ownsArtifactStore: {len(owners)} stacks own the artifact store ({named}) — exactly one must",
                    "set ownsArtifactStore: true in one stack file only",
                )
            ]
        owner = owners[0]
        problems = []
        for settings in self.stacks.values():
            if settings.owns_artifact_store or settings.artifact_bucket_name != owner.artifact_bucket_name:
                continue
            if settings.account_id not in owner.artifact_reader_accounts:
                problems.append(
                    Problem(
                        f"artifactReaderAccounts: Pulumi.{owner.stack}.yaml does not list {settings.account_id} "
                        f"({settings.stack}), which reads the store — the store denies that stack's reads",
                        f"add {settings.account_id} to artifactReaderAccounts in Pulumi.{owner.stack}.yaml",
                    )
                )
        return problems

    def _builder_problems(self) -> list[Problem]:
        """Exactly one stack builds the image, and it is the store owner: its registry replicates every push to the
        accounts its store already trusts (``artifactReaderAccounts``), so one list says who takes what dev made."""
        builders = [s.stack for s in self.stacks.values() if s.builds_image]
        if len(builders) != 1:
            return [
                Problem(
                    f"buildsImage: {len(builders)} stacks build the job image ({', '.join(builders) or 'none'}) — "
                    "exactly one must (the others run a promoted digest)",
                    "set buildsImage: true in the stack file of the store owner only",
                )
            ]
        builder = self.stacks[builders[0]]
        if not builder.owns_artifact_store:
            return [
                Problem(
                    f"buildsImage: Pulumi.{builder.stack}.yaml builds the image but does not own the artifact store "
                    "— the image is replicated to the store's reader accounts",
                    "set buildsImage: true on the stack with ownsArtifactStore: true",
                )
            ]
        return []

    def builder(self) -> StackSettings | None:
        """The one stack that builds the job image (None while ``problems`` reports 0 or 2+)."""
        builders = [s for s in self.stacks.values() if s.builds_image]
        return builders[0] if len(builders) == 1 else None

    def deploy_order(self) -> list[str]:
        """Stacks in the order they must deploy: the store owner first, then each after its ``promotesFrom``.

        Stacks at the same depth keep name order, so the order is stable. Unknown upstream stacks are ignored
        here (``problems`` reports them).
        """

        def depth(settings: StackSettings, seen: tuple[str, ...] = ()) -> int:
            upstream = settings.promotes_from
            if settings.owns_artifact_store or not upstream or upstream not in self.stacks or upstream in seen:
                return 0 if settings.owns_artifact_store else 1
            return 1 + depth(self.stacks[upstream], (*seen, settings.stack))

        return sorted(self.stacks, key=lambda name: (depth(self.stacks[name]), name))

    def promotion_chain(self, stack: str) -> list[str]:
        """``stack`` and the stacks it promotes from, nearest first (``[prod, dev]``)."""
        chain = [stack]
        while (upstream := self.stacks[chain[-1]].promotes_from) and upstream in self.stacks and upstream not in chain:
            chain.append(upstream)
        return chain

    def store_owner(self, settings: StackSettings) -> StackSettings | None:
        """The stack whose program creates the artifact store ``settings`` reads (itself when it owns one)."""
        if settings.owns_artifact_store:
            return settings
        owners = [
            s
            for s in self.stacks.values()
            if s.owns_artifact_store and s.artifact_bucket_name == settings.artifact_bucket_name
        ]
        return owners[0] if owners else None


def load_project(project_dir: Path = PROJECT_DIR, names: Sequence[str] | None = None) -> Project:
    """Every stack's settings (or those ``names``); a stack file that does not validate raises ``SettingsError``
    naming its file."""
    stacks: dict[str, StackSettings] = {}
    errors: list[str] = []
    for name in names if names is not None else stack_names(project_dir):
        try:
            stacks[name] = load_stack_settings(name, project_dir=project_dir)
        except SettingsError as err:
            errors += [f"Pulumi.{name}.yaml: {line}" for line in err.errors]
    if errors:
        raise SettingsError(errors)
    return Project(stacks)
