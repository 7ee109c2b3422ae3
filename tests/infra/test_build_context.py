"""The image tag changes exactly when pulumi-docker would rebuild and push, so an immutable ECR tag never collides.

pulumi-docker's Diff compares its context digest (Dockerfile, non-ignored files' names, modes and contents), the
platform, the Dockerfile path and build args; a provider upgrade may build differently. Each of those changes must
give a new tag; anything the provider ignores (a .dockerignored file, an mtime) must keep it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from components.build_context import BuildInputs, image_tag, is_ignored, provider_version
from components.job_image import PLATFORM

JOB = Path(__file__).resolve().parents[2] / "job"

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}\.py", fullmatch=True).filter(lambda n: n not in {"bench.py", "peer.py"})
contents = st.binary(max_size=64)


@contextmanager
def context(files: dict[str, bytes]) -> Iterator[BuildInputs]:
    """A build context with a Dockerfile, a .dockerignore like job/'s, and ``files``."""
    root = Path(tempfile.mkdtemp())
    try:
        (root / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
        (root / ".dockerignore").write_text("__pycache__/\n*.pyc\nbench.py\nDockerfile\n.dockerignore\n")
        for name, body in files.items():
            (root / name).write_bytes(body)
            (root / name).chmod(0o644)
        yield BuildInputs(root, root / "Dockerfile", PLATFORM, {}, "5.2.0")
    finally:
        shutil.rmtree(root)


def _changes(build: BuildInputs, mutate: Callable[[BuildInputs], object]) -> bool:
    before = image_tag(build)
    mutated = mutate(build)  # file edits return what write_text/chmod return; input edits return new inputs
    after = mutated if isinstance(mutated, BuildInputs) else build
    return image_tag(after) != before


CHANGING: dict[str, Callable[[BuildInputs], object]] = {
    "content": lambda b: (b.context / "main.py").write_bytes((b.context / "main.py").read_bytes() + b"#"),
    "mode": lambda b: (b.context / "main.py").chmod(0o755),
    "added file": lambda b: (b.context / "added.py").write_text("x = 1\n"),
    "renamed file": lambda b: (b.context / "main.py").rename(b.context / "main2.py"),
    "dockerignore": lambda b: (b.context / ".dockerignore").write_text("__pycache__/\n"),
    "dockerfile": lambda b: (b.context / "Dockerfile").write_text("FROM scratch\n"),
    "platform": lambda b: replace(b, platform="linux/arm64"),
    "build args": lambda b: replace(b, args={"PYTHON": "3.12"}),
    "provider version": lambda b: replace(b, provider_version="5.3.0"),
}

KEEPING: dict[str, Callable[[BuildInputs], object]] = {
    "pycache": lambda b: ((b.context / "__pycache__").mkdir(), (b.context / "__pycache__" / "x.pyc").write_bytes(b"1")),
    "ignored bench.py": lambda b: (b.context / "bench.py").write_text("print('slow')\n"),
    "mtime": lambda b: os.utime(b.context / "main.py", (0, 0)),
    "nothing": lambda b: None,
}


@settings(max_examples=25, deadline=None)
@given(files=st.dictionaries(names, contents, max_size=4), body=contents, change=st.sampled_from(sorted(CHANGING)))
def test_every_input_pulumi_docker_compares_changes_the_tag(files: dict[str, bytes], body: bytes, change: str) -> None:
    with context({**files, "main.py": body}) as build:
        assert _changes(build, CHANGING[change]), change


@settings(max_examples=25, deadline=None)
@given(files=st.dictionaries(names, contents, max_size=4), body=contents, keep=st.sampled_from(sorted(KEEPING)))
def test_what_pulumi_docker_ignores_keeps_the_tag(files: dict[str, bytes], body: bytes, keep: str) -> None:
    with context({**files, "main.py": body}) as build:
        assert not _changes(build, KEEPING[keep]), keep


def test_tag_shape_and_the_real_context() -> None:
    tag = image_tag(BuildInputs(JOB, JOB / "Dockerfile", PLATFORM, {}, provider_version()))
    assert tag.startswith("src-") and len(tag) == len("src-") + 16


def test_ignore_patterns_follow_moby_rules() -> None:
    patterns = [("__pycache__", False), ("*.pyc", False), ("docs/**/*.md", False), ("docs/keep.md", True)]
    assert is_ignored("__pycache__/x.pyc", patterns)  # a directory pattern excludes what is under it
    assert is_ignored("a.pyc", patterns) and not is_ignored("sub/a.pyc", patterns)  # * stays in one directory
    assert is_ignored("docs/a/b/c.md", patterns) and is_ignored("docs/c.md", patterns)
    assert not is_ignored("docs/keep.md", patterns)  # a later exception re-includes
