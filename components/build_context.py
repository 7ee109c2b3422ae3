"""The job image's tag: a digest of everything pulumi-docker compares before it rebuilds and pushes.

ECR refuses to push an existing tag to an IMMUTABLE repository, even for identical bytes, and
pulumi-docker 5 rebuilds and pushes whenever any of its inputs differ from the last deploy (its
``Diff``): the image name, the build's platform, Dockerfile path and args, and the context digest its
``Check`` computes (``hashContext``: the Dockerfile, then every file the ``.dockerignore`` keeps, by
slash-separated relative name, file mode and content). A content-only tag therefore collides when only
a mode (a umask), a ``.dockerignore`` line or the provider version changes. This tag hashes the same
inputs the way the provider does, plus the provider version, so "pulumi-docker will push" always comes
with "under a tag never used before", and an unchanged build keeps its tag (nothing to push).
"""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

TAG_PREFIX = "src-"


@dataclass(frozen=True)
class BuildInputs:
    """What one ``docker.Image`` build is made of (the provider's Diff keys that can change between deploys)."""

    context: Path
    dockerfile: Path
    platform: str
    args: Mapping[str, str] = field(default_factory=dict)
    provider_version: str = ""
    """pulumi-docker's version: a provider upgrade may build differently, and its Diff then rebuilds."""


def provider_version() -> str:
    """The installed pulumi-docker SDK version (it pins the provider plugin the engine runs)."""
    return version("pulumi_docker")


@lru_cache(maxsize=64)
def _pattern(pattern: str) -> re.Pattern[str]:
    """A moby ignorefile pattern as a regex over slash paths (``**`` spans directories, ``*``/``?`` do not)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        char = pattern[i]
        out += "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
        i += 1
    return re.compile(out + r"\Z")


def ignore_patterns(text: str) -> list[tuple[str, bool]]:
    """``.dockerignore`` lines as (pattern, is-exception), cleaned like moby's ignorefile reader."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        line = line.lstrip("!").strip().strip("/")
        line = re.sub(r"/+", "/", line).removeprefix("./")
        if line:
            patterns.append((line, exception))
    return patterns


def is_ignored(relative: str, patterns: Sequence[tuple[str, bool]]) -> bool:
    """Whether a slash path is excluded: the last pattern matching it or one of its parent directories wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern, exception in patterns:
        regex = _pattern(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not exception
    return ignored


def _ignore_file(context: Path, dockerfile: Path) -> Path:
    """``<Dockerfile>.dockerignore`` when it exists, else ``<context>/.dockerignore`` (the provider's rule)."""
    specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return specific if specific.is_file() else context / ".dockerignore"


def _file_entry(name: str, path: Path) -> bytes:
    """Relative name + mode string + sha256 of the content (a symlink: of its target path), NUL-terminated."""
    info = path.lstat()
    body = str(path.readlink()).encode() if stat.S_ISLNK(info.st_mode) else path.read_bytes()
    return name.encode() + stat.filemode(info.st_mode).encode() + hashlib.sha256(body).hexdigest().encode() + b"\0"


def context_digest(context: Path, dockerfile: Path | None = None) -> str:
    """SHA-256 over the Dockerfile and every non-ignored file of ``context`` (name, mode, content), sorted."""
    dockerfile = dockerfile or context / "Dockerfile"
    ignore = _ignore_file(context, dockerfile)
    patterns = ignore_patterns(ignore.read_text()) if ignore.is_file() else []
    digest = hashlib.sha256()
    if dockerfile.is_file():
        digest.update(b"Dockerfile" + hashlib.sha256(dockerfile.read_bytes()).hexdigest().encode() + b"\0")
    if context.is_dir():
        files = (p for p in context.rglob("*") if p.is_symlink() or p.is_file())
        for path in sorted(files, key=lambda p: p.relative_to(context).as_posix()):
            name = path.relative_to(context).as_posix()
            if not is_ignored(name, patterns):
                digest.update(_file_entry(name, path))
    return digest.hexdigest()


def image_tag(build: BuildInputs) -> str:
    """``src-`` plus 16 hex digits over the context digest, Dockerfile path, platform, args and provider version."""
    digest = hashlib.sha256()
    args = "\0".join(f"{key}={value}" for key, value in sorted(build.args.items()))
    for part in (
        context_digest(build.context, build.dockerfile),
        build.dockerfile.relative_to(build.context).as_posix()
        if build.dockerfile.is_relative_to(build.context)
        else build.dockerfile.as_posix(),
        build.platform,
        args,
        build.provider_version,
    ):
        digest.update(part.encode() + b"\0")
    return TAG_PREFIX + digest.hexdigest()[:16]
