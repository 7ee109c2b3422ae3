"""The model artifact: manifest contents, digest check before unpickling, refusal of other classes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import joblib
import pytest

from job.artifact import VERSION_PATTERN, check_version, load_model, load_model_bytes, read_manifest, sha256_file
from job.errors import ExitCode, JobError
from job.model import PreprocessingModel


def test_manifest_records_digest_schema_rows_and_libraries(model_dir: Path) -> None:
    manifest = read_manifest(model_dir)
    assert manifest["version"] == "1.0.0"
    assert manifest["sha256"] == sha256_file(model_dir / "model.pkl")
    assert manifest["training_rows"] == 4
    assert manifest["schema"]["numeric"][0] == {"name": "amount", "min": 0.0, "max": 1_000_000.0}
    assert {"python", "polars", "joblib"} <= set(manifest["libraries"])
    assert manifest["created"].endswith("+00:00")


def test_load_verifies_and_returns_the_model(model_dir: Path) -> None:
    model = load_model(model_dir / "model.pkl", read_manifest(model_dir)["sha256"])
    assert isinstance(model, PreprocessingModel) and model.version == "1.0.0"


def test_a_changed_file_is_refused_before_unpickling(model_dir: Path) -> None:
    expected = read_manifest(model_dir)["sha256"]
    path = model_dir / "model.pkl"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(JobError) as err:
        load_model(path, expected)
    assert err.value.code == ExitCode.DIGEST_MISMATCH
    assert expected in err.value.message and "dsctl model promote" in err.value.message


class Exploit:
    """Unpickling this would create a file: the loader must never get that far."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch /tmp/job-test-pwned",))


@pytest.mark.parametrize("payload", [{"not": "a model"}, Exploit()], ids=["dict", "exploit"])
def test_pickles_of_other_classes_are_refused(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "model.pkl"
    with path.open("wb") as handle:
        pickle.dump(payload, handle)
    with pytest.raises(JobError) as err:
        load_model(path, sha256_file(path))  # even with the right digest
    assert err.value.code == ExitCode.INVALID_MODEL
    assert not Path("/tmp/job-test-pwned").exists()


def test_a_scikit_learn_pipeline_pickle_is_refused(tmp_path: Path) -> None:
    from sklearn.preprocessing import StandardScaler

    path = tmp_path / "model.pkl"
    joblib.dump(StandardScaler(), path)
    with pytest.raises(JobError) as err:
        load_model(path, sha256_file(path))
    assert err.value.code == ExitCode.INVALID_MODEL and "sklearn" in err.value.message


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(JobError) as err:
        load_model(tmp_path / "nope.pkl", "0" * 64)
    assert err.value.code == ExitCode.MODEL_MISSING


@pytest.mark.parametrize("version", ["1.2.0", "0.0.1", "10.20.30"])
def test_semantic_versions_are_accepted(version: str) -> None:
    assert VERSION_PATTERN.fullmatch(version) and check_version(version) == version


@pytest.mark.parametrize("version", ["1.2", "v1.2.0", "01.2.0", "1.2.0-rc1", "latest", ""])
def test_other_versions_are_refused(version: str) -> None:
    with pytest.raises(JobError) as err:
        check_version(version)
    assert err.value.code == ExitCode.USAGE


def test_manifest_is_valid_json_written_after_the_model(model_dir: Path) -> None:
    assert json.loads((model_dir / "manifest.json").read_text())["sha256"]
    assert sorted(p.name for p in model_dir.iterdir()) == ["manifest.json", "model.pkl"]  # no temp files left


def test_a_model_pickled_before_typed_ids_and_drift_loads_with_text_ids(tmp_path: Path, model_dir: Path) -> None:
    """Models trained before these fields existed have no such attributes in their pickle: the defaults apply."""
    model = load_model(model_dir, read_manifest(model_dir)["sha256"])
    object.__delattr__(model.schema, "id_type")  # what an older job pickled: the field did not exist
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    old = load_model_bytes(buffer.getvalue(), hashlib.sha256(buffer.getvalue()).hexdigest())
    assert "id_type" not in vars(old.schema) and old.schema.id_type == "string"
