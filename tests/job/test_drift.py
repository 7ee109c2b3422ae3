"""Drift in the same pass: PSI per feature against training, one shifted feature flagged and no other."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import polars as pl
import pytest

from job.artifact import load_model, read_manifest, sha256_file
from job.cli import main
from job.drift import psi
from job.errors import ExitCode
from job.synthetic import chunk, write_month
from job.validate import validate_model


def run(*args: object) -> int:
    return main(["run", *map(str, args), "--log-format", "json"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on 8k demo rows (with its drift baseline)."""
    base = tmp_path_factory.mktemp("drift")
    train = write_month(base / "train.csv", 8_000, seed=3)
    assert main(["train", "--input", str(train), "--version", "1.0.0", "--output", str(base / "model")]) == 0
    return base / "model"


def month(path: Path, shift_score: float = 0.0) -> Path:
    """8k fresh demo rows (another seed), with ``score`` shifted by ``shift_score`` training deviations."""
    frame = chunk(0, 8_000, seed=99, bad_rows=False)
    score = pl.col("score").cast(pl.Float64) + shift_score
    frame.with_columns(score.round(6).cast(pl.String).alias("score")).write_csv(path)
    return path


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.9, 0.1])
    assert psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1]) < 1  # an empty training bucket stays finite


def test_one_shifted_feature_is_flagged_and_no_other(tmp_path: Path, trained: Path) -> None:
    out = tmp_path / "out"
    assert run("--input", month(tmp_path / "same.csv"), "--model", trained, "--output", out, "--run-id", "s") == 0
    same = json.loads((out / "processed/s/manifest.json").read_text())["drift"]
    assert same["available"] and same["drifted_features"] == [] and same["max_psi"] < 0.05

    shifted = month(tmp_path / "shifted.csv", shift_score=1.0)
    assert run("--input", shifted, "--model", trained, "--output", out, "--run-id", "d") == 0  # still publishes
    drift = json.loads((out / "processed/d/manifest.json").read_text())["drift"]
    assert drift["drifted_features"] == ["score"]
    assert drift["features"]["score"]["psi"] >= drift["threshold"] == 0.2
    assert all(f["psi"] < 0.05 for name, f in drift["features"].items() if name != "score")
    assert drift["features"]["region"]["unseen_share"] == 0.0


def test_fail_on_drift_publishes_nothing(tmp_path: Path, trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    shifted = month(tmp_path / "shifted.csv", shift_score=1.0)
    args = ["--input", shifted, "--model", trained, "--output", out, "--run-id", "f", "--fail-on-drift"]
    assert run(*args) == ExitCode.DRIFT
    assert "score PSI" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (out / "processed" / "f").exists() and not list(out.rglob("*.parquet"))


def test_a_model_without_a_baseline_reports_drift_unavailable(tmp_path: Path, trained: Path) -> None:
    """A model trained before drift statistics: its params lack edges/shares, the run says so and publishes."""
    model = load_model(trained, read_manifest(trained)["sha256"])
    for params in (*model.numeric, *model.categorical):
        object.__delattr__(params, "shares")  # what an older job pickled
    old = tmp_path / "old"
    old.mkdir()
    joblib.dump(model, old / "model.pkl")
    out = tmp_path / "out"
    args = ["--input", month(tmp_path / "m.csv"), "--model", old / "model.pkl", "--output", out, "--run-id", "o"]
    assert run(*args, "--model-sha256", sha256_file(old / "model.pkl"), "--fail-on-drift") == 0
    drift = json.loads((out / "processed/o/manifest.json").read_text())["drift"]
    assert drift["available"] is False and "retrain" in drift["reason"]


def test_validate_reports_drift_against_the_test_data(tmp_path: Path, trained: Path) -> None:
    report = validate_model(str(trained), str(month(tmp_path / "t.csv", shift_score=1.0)))
    assert report["passed"] and report["drift"]["drifted_features"] == ["score"]


def test_the_report_is_self_contained_and_shows_every_feature(tmp_path: Path, trained: Path) -> None:
    """report.html beside the manifest: accounting, rejected rows by reason with samples, a chart per feature."""
    from html.parser import HTMLParser

    data = month(tmp_path / "m.csv", shift_score=1.0)
    with data.open("a") as handle:
        handle.write("77,2026-10-02T00:00:00,1.0,2,0.5,A,north\n")  # a short row: malformed, with its raw text
        handle.write("78,not-a-date,1.0,2,0.5,A,north,web\n")
    out = tmp_path / "out"
    assert run("--input", data, "--model", trained, "--output", out, "--run-id", "r") == 0
    page = (out / "processed/r/report.html").read_text()
    manifest = json.loads((out / "processed/r/manifest.json").read_text())

    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.features: list[str] = []
            self.ids: list[str] = []
            self.urls: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)
            values = dict(attrs)
            if values.get("data-feature"):
                self.features.append(str(values["data-feature"]))
            if values.get("id"):
                self.ids.append(str(values["id"]))
            self.urls += [str(v) for k, v in attrs if k in ("src", "href") and v]

    parsed = Collect()
    parsed.feed(page)
    assert parsed.ids == ["accounting", "rejected", "drift"]
    assert parsed.features == ["amount", "quantity", "score", "category", "region", "channel"]
    assert parsed.tags.count("svg") == 6 and "script" not in parsed.tags and parsed.urls == []
    assert "http" not in page.lower() and "url(" not in page and "@import" not in page  # nothing fetched at view time
    for reason in manifest["rejected_by_reason"]:
        assert f"<code>{reason}</code>" in page
    assert "77,2026-10-02T00:00:00,1.0,2,0.5,A,north" in page  # the malformed row's raw text
    assert '<span class="bad">drifted</span>' in page and page.count("drifted</span>") == 1
