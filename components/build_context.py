"""A content tag for the job image, so immutable ECR tags and ``pulumi up`` agree.

ECR refuses to push a tag twice (IMMUTABLE), and pulumi-docker pushes when the image
name changes: tagging with a digest of the build context makes an unchanged ``job/``
the same image name (nothing to push) and any change a new, never-used tag.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def context_digest(context: Path) -> str:
    """SHA-256 over the relative paths and contents of every file in ``context`` (caches ignored)."""
    digest = hashlib.sha256()
    if context.is_dir():
        for path in sorted(p for p in context.rglob("*") if p.is_file()):
            relative = path.relative_to(context)
            if _IGNORED_PARTS.intersection(relative.parts) or path.suffix == ".pyc":
                continue
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_tag(context: Path) -> str:
    """``src-`` plus the first 16 hex digits of the context digest."""
    return f"src-{context_digest(context)[:16]}"
