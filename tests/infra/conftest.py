"""Synthesized dev and prod stacks, once per test session (per xdist worker).

Synthesizing both stacks costs ~3 s with imports; every infra test reads these
results instead of running the program again. Results are shared: never mutate them.
"""

from __future__ import annotations

import pytest

from dsctl.synth import SynthResult, synth


@pytest.fixture(scope="session")
def dev_stack() -> SynthResult:
    """The dev stack (owns the artifact store) as ``dsctl synth --stack dev`` sees it."""
    return synth("dev")


@pytest.fixture(scope="session")
def prod_stack() -> SynthResult:
    """The prod stack (reads dev's store through a StackReference) as ``dsctl synth --stack prod`` sees it."""
    return synth("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def any_stack(request: pytest.FixtureRequest) -> SynthResult:
    """Each stack in turn, for checks every stack must pass."""
    return synth(request.param)
