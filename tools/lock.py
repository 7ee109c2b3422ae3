"""Derive the job image's requirements.txt from the project's lock, so the two cannot pin different things.

``requirements/dev.lock`` is the one resolution of every Python dependency (runtime and dev), made by
``uv pip compile`` with hashes for every platform (``make lock``). The image needs only the job's runtime
closure: the packages ``job/`` imports (``JOB_ROOTS``) and what they depend on. This script walks the lock's
own ``# via`` annotations (written by the resolver, so no network and no installed packages are needed) from
those roots and writes the same entries -- same versions, same markers, same hashes -- to
``job/requirements.txt``. It also writes ``requirements/uv.txt``, the locked uv alone, which ``make install``
installs with pip first and then uses to install the lock (uv downloads in parallel: ~30 s against pip's ~6 min).
``make lock`` runs it after resolving; the drift test runs ``derived`` and compares.

    python tools/lock.py           # rewrite the derived files from requirements/dev.lock
    python tools/lock.py --check   # exit 1 if a derived file is not what the lock gives
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.lock"

# The distributions job/'s image modules import (tests/tools/test_lock.py checks this against the imports).
JOB_ROOTS: tuple[str, ...] = ("polars", "boto3", "joblib")

# Each derived file: what it is for, and the distributions whose closure it holds.
DERIVED: dict[Path, tuple[str, tuple[str, ...]]] = {
    ROOT / "job" / "requirements.txt": ("Runtime dependencies of the job image", JOB_ROOTS),
    ROOT / "requirements" / "uv.txt": ("The installer `make install` bootstraps with pip", ("uv",)),
}
# 'name==version', then optionally ' ; marker', then the line continuation before the hashes.
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][\w.-]*)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")
_HASH = re.compile(r"^\s+--hash=(sha256:[0-9a-f]{64})")
_VIA_ONE = re.compile(r"^\s+# via (?P<parent>.+)$")
_VIA_ITEM = re.compile(r"^\s+#\s{3}(?P<parent>.+)$")


@dataclass(frozen=True)
class Pin:
    """One locked distribution: exact version, optional environment marker, its hashes and who requires it."""

    name: NormalizedName
    version: str
    marker: str | None
    hashes: tuple[str, ...]
    required_by: frozenset[str]

    def render(self) -> str:
        """The requirement as pip reads it in hash-checking mode (one hash per line)."""
        head = f"{self.name}=={self.version}" + (f" ; {self.marker}" if self.marker else "")
        return " \\\n".join([head, *(f"    --hash={h}" for h in self.hashes)]) + "\n"


def parse(text: str) -> dict[NormalizedName, Pin]:
    """Read a ``uv pip compile --generate-hashes`` output (default 'split' annotations) into pins by name."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if _PIN.match(line):
            blocks.append([line])
        elif blocks and line.startswith(" "):
            blocks[-1].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"unexpected line in the lock: {line!r}; regenerate it with `make lock`")
    pins: dict[NormalizedName, Pin] = {}
    for block in blocks:
        pin = _pin(block)
        if pin.name in pins:
            raise ValueError(f"{pin.name} is pinned twice in the lock; regenerate it with `make lock`")
        if not pin.hashes:
            raise ValueError(f"{pin.name} has no hashes in the lock; regenerate it with `make lock`")
        pins[pin.name] = pin
    return pins


def _pin(block: list[str]) -> Pin:
    """One lock entry: its requirement line, then indented hashes and '# via' annotations."""
    head = _PIN.match(block[0])
    assert head is not None  # parse() starts blocks only at requirement lines
    hashes = tuple(match[1] for line in block[1:] if (match := _HASH.match(line)))
    parents = {
        _parent_name(match["parent"].strip())
        for line in block[1:]
        if (match := _VIA_ONE.match(line) or _VIA_ITEM.match(line)) and match["parent"].strip()
    }
    return Pin(canonicalize_name(head["name"]), head["version"], head["marker"], hashes, frozenset(parents))


def _parent_name(annotation: str) -> str:
    """'boto3' -> 'boto3'; 'ds-preprocessing (pyproject.toml)' -> 'ds-preprocessing'; '-r file' stays as is."""
    if annotation.startswith("-"):
        return annotation
    return canonicalize_name(annotation.split(" ", 1)[0])


def closure(pins: dict[NormalizedName, Pin], roots: tuple[str, ...]) -> list[Pin]:
    """The roots and everything that some member requires, by the lock's annotations; sorted by name."""
    wanted = {canonicalize_name(root) for root in roots}
    missing = sorted(wanted - pins.keys())
    if missing:
        raise ValueError(f"job dependencies not in the lock: {', '.join(missing)}; add them to pyproject.toml")
    grew = True
    while grew:
        added = {name for name, pin in pins.items() if name not in wanted and pin.required_by & wanted}
        wanted |= added
        grew = bool(added)
    return [pins[name] for name in sorted(wanted)]


def render(pins: dict[NormalizedName, Pin], purpose: str, roots: tuple[str, ...]) -> str:
    """A requirements file holding the closure of ``roots``, exactly as locked."""
    header = (
        f"# {purpose}, generated by tools/lock.py from requirements/dev.lock: do not edit.\n"
        "# The versions and hashes the tests run with; `make lock` regenerates it (README: Dependencies).\n"
    )
    return header + "".join(pin.render() for pin in closure(pins, roots))


def derived(lock_text: str) -> dict[Path, str]:
    """Every derived file's expected content for this lock."""
    pins = parse(lock_text)
    return {path: render(pins, purpose, roots) for path, (purpose, roots) in DERIVED.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on drift")
    args = parser.parse_args(argv)
    drifted = 0
    for path, text in derived(LOCK.read_text()).items():
        if not args.check:
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            print(f"{path.relative_to(ROOT)} differs from the lock: run `make lock`", file=sys.stderr)
            drifted = 1
    return drifted


if __name__ == "__main__":
    sys.exit(main())
