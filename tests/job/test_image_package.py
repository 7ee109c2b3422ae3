"""The package as the image holds it: the build context minus .dockerignore, without dev-only libraries.

No image can be built here, so this runs ``python -m job`` from a copy laid out like
``/app/job`` with numpy, pandas, scikit-learn and pyarrow made unimportable: train,
run and validate must work with the pinned runtime requirements alone.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

from tests.job.conftest import TRAIN_ROWS, write_csv

JOB = Path(__file__).resolve().parents[2] / "job"
BLOCK = ("numpy", "pandas", "sklearn", "pyarrow")
LAUNCH = (
    "import runpy, sys\n"
    f"for name in {BLOCK!r}: sys.modules[name] = None  # import fails as if not installed\n"
    "import job\n"
    "sys.stderr.write('package ' + job.__file__ + '\\n')\n"
    "sys.argv = ['job', *sys.argv[1:]]\n"
    "runpy.run_module('job', run_name='__main__', alter_sys=True)\n"
)


def image_copy(app: Path) -> Path:
    """Copy job/ to app/job the way `COPY . /app/job` would with .dockerignore applied."""
    ignored = [p.rstrip("/") for p in (JOB / ".dockerignore").read_text().split() if not p.startswith("#")]

    def skip(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if any(fnmatch.fnmatch(n, pattern) for pattern in ignored)}

    shutil.copytree(JOB, app / "job", ignore=skip)
    return app


def job(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], cwd=app, capture_output=True, text=True, check=False)


def test_train_run_validate_with_runtime_dependencies_only(tmp_path: Path) -> None:
    app = image_copy(tmp_path / "app")
    assert not (app / "job" / "bench.py").exists() and (app / "job" / "__main__.py").exists()
    data = write_csv(tmp_path / "data.csv", TRAIN_ROWS)
    model = tmp_path / "model"
    trained = job(app, "train", "--input", str(data), "--version", "1.0.0", "--output", str(model))
    assert trained.returncode == 0, trained.stderr
    ran = job(
        app, "run", "--input", str(data), "--model", str(model), "--output", str(tmp_path / "out"), "--run-id", "i"
    )
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "out/processed/i/_SUCCESS").exists()
    assert f"package {app / 'job' / '__init__.py'}" in ran.stderr  # the copy ran, not the work tree
    validated = job(app, "validate", "--model", str(model), "--test-data", str(data))
    assert validated.returncode == 0, validated.stderr
