"""Fixtures for the job tests: small CSVs in the demo schema and a trained model."""

from __future__ import annotations

from pathlib import Path

import pytest

from job.artifact import save_model
from job.fit import fit
from job.schema import DEFAULT_SCHEMA
from job.synthetic import write_month
from job.transform import scan_input

HEADER = "id,timestamp,amount,quantity,score,category,region,channel"

# Hand-checkable training data: amount median 20 (one empty cell), quantity 1..4, score all 2.0 (std 0 -> scale 1).
TRAIN_ROWS = [
    "1,2026-10-01T00:00:00,10,1,2.0,A,north,web",
    "2,2026-10-01T01:00:00,,2,2.0,B,south,store",
    "3,2026-10-01T02:00:00,30,3,2.0,A,north,web",
    "4,2026-10-01T03:00:00,20,4,2.0,B,north,web",
]


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    """Write ``rows`` under ``header``; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    """The four hand-checkable training rows."""
    return write_csv(tmp_path / "train.csv", TRAIN_ROWS)


@pytest.fixture
def model_dir(tmp_path: Path, train_csv: Path) -> Path:
    """A model trained on ``train_csv`` and saved (model.pkl + manifest.json)."""
    model = fit(scan_input([str(train_csv)]), DEFAULT_SCHEMA, "1.0.0")
    out = tmp_path / "model"
    save_model(model, out)
    return out


@pytest.fixture(scope="session")
def month_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20k synthetic rows with every kind of bad row mixed in (shared, read-only)."""
    return write_month(tmp_path_factory.mktemp("month") / "month.csv", 20_000, chunk_rows=5_000)
