"""Fit and transform against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from job.errors import ExitCode, JobError
from job.fit import fit, imputed_moments
from job.schema import DEFAULT_SCHEMA, CategoricalFeature, NumericFeature, Schema, schema_from_dict
from job.transform import OUTPUT_SCHEMA_VERSION, REJECT_REASON, build_plan, output_schema, scan_input
from tests.job.conftest import write_csv


def fitted(train_csv: Path, schema: Schema = DEFAULT_SCHEMA):  # type: ignore[no-untyped-def]
    return fit(scan_input([str(train_csv)]), schema, "1.0.0")


def test_fit_learns_medians_scaling_and_vocabularies(train_csv: Path) -> None:
    model = fitted(train_csv)
    amount, quantity, score = model.numeric
    # amount: present 10, 30, 20 -> median 20; imputed column 10, 20, 30, 20 -> mean 20, pop. var 50
    assert (amount.median, amount.mean) == (20.0, 20.0)
    assert amount.scale == pytest.approx(math.sqrt(50))
    # quantity 1..4: median 2.5, mean 2.5, pop. var 1.25
    assert (quantity.median, quantity.mean, quantity.scale) == (2.5, 2.5, pytest.approx(math.sqrt(1.25)))
    assert score.scale == 1.0  # constant column: no division by zero
    assert [c.categories for c in model.categorical] == [("A", "B"), ("north", "south"), ("store", "web")]
    assert model.training_rows == 4


def test_transform_scales_imputes_and_one_hot_encodes(tmp_path: Path, train_csv: Path) -> None:
    model = fitted(train_csv)
    rows = ["9,2026-10-05T12:00:00,,4,2.0,C,south,web"]  # amount empty -> median; category C unknown -> all zero
    plan = build_plan(scan_input([str(write_csv(tmp_path / "in.csv", rows))]), model)
    out = plan.valid.collect().row(0, named=True)
    assert out["amount"] == 0.0
    assert out["quantity"] == pytest.approx((4 - 2.5) / math.sqrt(1.25))
    assert (out["category__A"], out["category__B"]) == (0, 0)
    assert (out["region__north"], out["region__south"], out["channel__web"]) == (0, 1, 1)
    assert out["timestamp"].isoformat() == "2026-10-05T12:00:00"
    assert plan.valid.collect_schema()["category__A"] == pl.Boolean
    assert plan.valid.collect_schema().names() == model.output_columns


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",2026-10-01T00:00:00,1,1,1,A,north,web", "missing_id"),
        ("5,,1,1,1,A,north,web", "missing_timestamp"),
        ("5,yesterday,1,1,1,A,north,web", "unparseable_timestamp"),
        ("5,2026-13-01T00:00:00,1,1,1,A,north,web", "unparseable_timestamp"),
        ("5,2026-10-01T00:00:00,ten,1,1,A,north,web", "not_a_number:amount"),
        ("5,2026-10-01T00:00:00,1,1,inf,A,north,web", "not_finite:score"),
        ("5,2026-10-01T00:00:00,1,1,NaN,A,north,web", "not_finite:score"),
        ("5,2026-10-01T00:00:00,-0.01,1,1,A,north,web", "out_of_bounds:amount"),
        ("5,2026-10-01T00:00:00,1,10001,1,A,north,web", "out_of_bounds:quantity"),
        ("5,yesterday,ten,1,1,A,north,web", "unparseable_timestamp"),  # first broken rule wins
    ],
)
def test_invalid_rows_are_rejected_with_their_reason(tmp_path: Path, train_csv: Path, row: str, reason: str) -> None:
    plan = build_plan(scan_input([str(write_csv(tmp_path / "in.csv", [row]))]), fitted(train_csv))
    assert plan.valid.collect().height == 0
    rejected = plan.rejected.collect()
    assert rejected[REJECT_REASON].to_list() == [reason]
    raw = tuple(v or None for v in row.split(","))  # empty cells read as null
    assert rejected.row(0) == (*raw, reason, None)  # the cells are kept for the operator (raw_record: malformed only)


def test_unknown_category_can_reject(tmp_path: Path, train_csv: Path) -> None:
    schema = Schema("id", "timestamp", (NumericFeature("amount"),), (CategoricalFeature("region", unknown="reject"),))
    model = fitted(train_csv, schema)
    rows = ["7,2026-10-01T00:00:00,1,1,1,A,west,web", "8,2026-10-01T00:00:00,1,1,1,A,,web"]
    plan = build_plan(scan_input([str(write_csv(tmp_path / "in.csv", rows))]), model)
    assert plan.rejected.collect()[REJECT_REASON].to_list() == ["unknown_category:region"] * 2


def test_other_schemas_work_without_id_or_timestamp(tmp_path: Path) -> None:
    schema = schema_from_dict({"numeric": [{"name": "x", "max": 5}], "categorical": ["c"], "timestamp_column": None})
    data = write_csv(tmp_path / "t.csv", ["1,u", "3,v", "9,u"], header="x,c")
    model = fit(scan_input([str(data)]), schema, "0.1.0")
    assert (model.numeric[0].median, model.training_rows) == (2.0, 2)  # x=9 is out of bounds: not trained on
    plan = build_plan(scan_input([str(data)]), model)
    assert plan.valid.collect_schema().names() == ["x", "c__u", "c__v"]


def test_max_categories_keeps_the_most_frequent(tmp_path: Path) -> None:
    schema = schema_from_dict({"numeric": ["x"], "categorical": [{"name": "c", "max_categories": 2}]})
    data = write_csv(tmp_path / "t.csv", ["1,a", "1,b", "1,b", "1,c", "1,c", "1,c"], header="x,c")
    assert fit(scan_input([str(data)]), schema, "0.1.0").categorical[0].categories == ("b", "c")


def test_training_without_valid_rows_is_refused(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "t.csv", ["1,nope,1,1,1,A,north,web"])
    with pytest.raises(JobError) as err:
        fit(scan_input([str(data)]), DEFAULT_SCHEMA, "1.0.0")
    assert err.value.code == ExitCode.USAGE and "no valid rows" in err.value.message


def test_schema_errors_are_reported_together() -> None:
    with pytest.raises(JobError) as err:
        schema_from_dict(
            {"numeric": [{"name": "a", "min": 3, "max": 1}], "categorical": [{"name": "b", "unknown": "x"}]}
        )
    assert err.value.code == ExitCode.USAGE
    assert "min 3 > max 1" in err.value.message and "unknown='x'" in err.value.message


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    st.integers(0, 10),
)
def test_imputed_moments_equal_numpy_on_the_imputed_column(values: list[float], nulls: int) -> None:
    present = np.array(values)
    median = float(np.median(present))
    column = np.concatenate([present, np.full(nulls, median)])
    mean, var = imputed_moments(len(column), nulls, median, float(present.mean()), float(present.var()))
    assert mean == pytest.approx(column.mean(), rel=1e-12, abs=1e-9)
    assert var == pytest.approx(column.var(), rel=1e-9, abs=1e-9)


def test_the_output_schema_is_versioned_and_matches_the_written_parquet(tmp_path: Path, train_csv: Path) -> None:
    model = fitted(train_csv)
    described = output_schema(model)
    assert described["version"] == OUTPUT_SCHEMA_VERSION
    plan = build_plan(scan_input([str(train_csv)]), model)
    plan.valid.sink_parquet(tmp_path / "out.parquet")
    written = pl.read_parquet_schema(tmp_path / "out.parquet")
    assert described["columns"] == {name: str(dtype) for name, dtype in written.items()}
    assert written["id"] == pl.Int64 and written["amount"] == pl.Float64 and written["channel__web"] == pl.Boolean
