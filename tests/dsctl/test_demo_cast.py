"""The demo's cast comes from the stack files: owner, target and the stacks between, for any chain."""

from __future__ import annotations

import dataclasses

import pytest

from components import project as project_module
from components.project import Project, load_project
from components.settings import StackSettings
from dsctl import demo

SHIPPED = load_project()
OWNER = next(name for name, s in SHIPPED.stacks.items() if s.owns_artifact_store)


def _use(monkeypatch: pytest.MonkeyPatch, stacks: dict[str, StackSettings]) -> None:
    monkeypatch.setattr(project_module, "load_project", lambda: Project(stacks))


def _reader(name: str, account: str, upstream: str, *, production: bool) -> StackSettings:
    """A reading stack like the shipped one, under another name and account, promoted from ``upstream``."""
    reader = next(s for s in SHIPPED.stacks.values() if not s.owns_artifact_store)
    return dataclasses.replace(
        reader, stack=name, environment=name, account_id=account, promotes_from=upstream, production=production
    )


def test_shipped_stacks_cast_dev_as_owner_and_prod_as_target() -> None:
    assert demo.Cast.from_project() == demo.Cast(owner="dev", target="prod", between=())


def test_a_chain_through_a_third_stack_promotes_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    owner = SHIPPED.stacks[OWNER]
    stacks = {
        OWNER: owner,
        "staging": _reader("staging", "555555555555", OWNER, production=False),
        "live": _reader("live", "666666666666", "staging", production=True),
    }
    _use(monkeypatch, stacks)
    cast = demo.Cast.from_project()
    assert cast == demo.Cast(owner=OWNER, target="live", between=("staging",))
    assert cast.promoted_after_owner == ("staging", "live")


def test_a_lone_owner_cannot_play_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, {OWNER: SHIPPED.stacks[OWNER]})
    with pytest.raises(demo.DemoFailure, match="promotes from"):
        demo.Cast.from_project()
