"""The lock ties everything: pyproject's ranges, the tests' virtualenv and the job image pin the same distributions.

All offline and fast: the derived files are regenerated from the committed lock and compared, the lock is checked
against pyproject.toml, the installed environment and the job's imports.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from tools import lock

PINS = lock.parse(lock.LOCK.read_text())
JOB_REQUIREMENTS = lock.ROOT / "job" / "requirements.txt"


def applies(marker: str | None) -> bool:
    """Whether a lock entry's marker holds here (CI and developers run the same Linux, Python 3.11 machines)."""
    return marker is None or Marker(marker).evaluate()


def test_derived_files_are_what_the_lock_gives() -> None:
    for path, expected in lock.derived(lock.LOCK.read_text()).items():
        assert path.read_text() == expected, f"{path.relative_to(lock.ROOT)} drifted from the lock: run `make lock`"


def test_job_requirements_pin_the_locked_versions_and_hashes() -> None:
    job = lock.parse(JOB_REQUIREMENTS.read_text())
    assert set(job) >= {canonicalize_name(root) for root in lock.JOB_ROOTS}
    for name, pin in job.items():
        assert name in PINS, f"{name} is in job/requirements.txt but not in the lock"
        assert (pin.version, pin.marker, pin.hashes) == (PINS[name].version, PINS[name].marker, PINS[name].hashes)


def test_the_lock_satisfies_pyproject_ranges() -> None:
    project = tomllib.loads((lock.ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    for requirement in declared:
        pin = PINS.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is declared in pyproject.toml but not locked: run `make lock`"
        assert requirement.specifier.contains(pin.version, prereleases=True), f"{pin.name}=={pin.version} {requirement}"


def test_the_virtualenv_holds_the_locked_versions() -> None:
    for name, pin in PINS.items():
        if applies(pin.marker):
            assert importlib.metadata.version(name) == pin.version, f"{name}: run `make install`"


def requirement_closure(roots: tuple[str, ...]) -> set[NormalizedName]:
    """The roots' dependency closure from the installed distributions' own metadata (no extras)."""
    found: set[NormalizedName] = set()
    todo = [canonicalize_name(root) for root in roots]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return found


def test_job_closure_from_annotations_matches_package_metadata() -> None:
    """The generator walks the resolver's '# via' notes; the packages' own Requires-Dist must give the same set."""
    job = lock.parse(JOB_REQUIREMENTS.read_text())
    assert {name for name, pin in job.items() if applies(pin.marker)} == requirement_closure(lock.JOB_ROOTS)


def image_modules() -> list[Path]:
    """The job's modules that go into the image (the build context minus .dockerignore)."""
    ignored = [p.rstrip("/") for p in (lock.ROOT / "job" / ".dockerignore").read_text().split() if p[0] != "#"]
    return [p for p in sorted((lock.ROOT / "job").glob("*.py")) if not any(fnmatch.fnmatch(p.name, i) for i in ignored)]


def runtime_imports(module: Path) -> set[str]:
    """Top-level names a module imports at run time (imports under ``if TYPE_CHECKING:`` are not)."""
    tree = ast.parse(module.read_text())
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and ast.unparse(branch.test).endswith("TYPE_CHECKING")
        for statement in branch.body
        for node in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "job"}


def test_job_roots_are_what_the_image_modules_import() -> None:
    distributions = importlib.metadata.packages_distributions()
    imported = {name for module in image_modules() for name in runtime_imports(module)}
    unknown = sorted(name for name in imported if name not in distributions)
    assert not unknown, f"job imports modules no installed distribution provides: {unknown}"
    needed = {canonicalize_name(dist) for name in imported for dist in distributions[name]}
    job = set(lock.parse(JOB_REQUIREMENTS.read_text()))
    assert needed <= job, f"job imports {sorted(needed - job)} but the image does not install them: extend JOB_ROOTS"
    roots = {canonicalize_name(root) for root in lock.JOB_ROOTS}
    assert roots <= needed, f"JOB_ROOTS lists {sorted(roots - needed)}, which no image module imports"


def test_the_parser_refuses_a_lock_it_cannot_trust() -> None:
    with pytest.raises(ValueError, match="no hashes"):
        lock.parse("polars==2.1.0\n    # via ds-preprocessing (pyproject.toml)\n")
    with pytest.raises(ValueError, match="unexpected line"):
        lock.parse("polars>=2\n")
    with pytest.raises(ValueError, match="not in the lock"):
        lock.closure(PINS, ("no-such-distribution",))


def test_check_reports_a_drifted_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "requirements.txt"
    stale.write_text("polars==2.1.0\n")
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    monkeypatch.setattr(lock, "DERIVED", {stale: ("Test", ("polars",))})
    assert lock.main(["--check"]) == 1
    assert lock.main([]) == 0 and lock.main(["--check"]) == 0
    assert stale.read_text().startswith("# Test, generated by tools/lock.py")
