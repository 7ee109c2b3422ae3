"""The job image tag follows the content of job/, so immutable ECR tags never collide."""

from __future__ import annotations

from pathlib import Path

from components.build_context import context_digest, image_tag


def test_tag_changes_with_content_and_ignores_caches(tmp_path: Path) -> None:
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "run.py").write_text("print('v1')\n")
    first = image_tag(tmp_path / "job")
    assert first.startswith("src-") and len(first) == len("src-") + 16

    (tmp_path / "job" / "__pycache__").mkdir()
    (tmp_path / "job" / "__pycache__" / "run.cpython-311.pyc").write_bytes(b"\0")
    assert image_tag(tmp_path / "job") == first

    (tmp_path / "job" / "run.py").write_text("print('v2')\n")
    assert image_tag(tmp_path / "job") != first


def test_renaming_a_file_changes_the_digest(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    before = context_digest(tmp_path)
    (tmp_path / "a.py").rename(tmp_path / "b.py")
    assert context_digest(tmp_path) != before
