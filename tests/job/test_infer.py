"""Schema inference (``train`` without ``--schema``) on data it has never seen, bad rows mixed in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from job.artifact import read_manifest
from job.cli import main
from job.errors import ExitCode, JobError
from job.infer import infer_schema, large_majority, looks_like_id, time_named
from job.run import RunOptions, RunSpec, run_job
from job.schema import DEFAULT_SCHEMA, Schema, schema_from_dict
from tests.job.conftest import HEADER, TRAIN_ROWS, write_csv

EXAMPLE = [
    "c1,2026-01-03,10.5,red,1",
    "c2,2026-01-04,,blue,2",
    "c3,2026-13-01,3,red,3",
    "c4,2026-01-05,abc,green,4",
    "c5,2026-01-06,7,,5",
    ",2026-01-07,1,red,6",
]


def frame(columns: dict[str, list[str | None]]) -> pl.DataFrame:
    """A text sample, as the job reads it (empty cells are null)."""
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def infer(columns: dict[str, list[str | None]]) -> Schema:
    return infer_schema(frame(columns)).schema


def roles(schema: Schema) -> dict[str, Any]:
    return {
        "id": schema.id_column,
        "timestamp": schema.timestamp_column,
        "numeric": [f.name for f in schema.numeric],
        "categorical": [f.name for f in schema.categorical],
        "passthrough": list(schema.passthrough),
    }


def json_logs(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_example_with_bad_rows_trains_and_runs_with_exact_rejections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(tmp_path / "events.csv", EXAMPLE, header="customer_id,event_date,price,color,qty")
    out = tmp_path / "m"
    assert (
        main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(out), "--log-format", "json"]) == 0
    )
    schema = schema_from_dict(read_manifest(out)["schema"])
    assert roles(schema) == {
        "id": "customer_id",
        "timestamp": "event_date",
        "numeric": ["price", "qty"],
        "categorical": ["color"],
        "passthrough": [],
    }
    assert schema.timestamp_format == "%Y-%m-%d"
    summary = [e for e in json_logs(capsys.readouterr().err) if e["message"].startswith("inferred schema")]
    assert len(summary) == 1 and "--schema" in summary[0]["message"] and "manifest.json" in summary[0]["message"]
    assert summary[0]["numeric"] == ["price", "qty"] and summary[0]["timestamp_format"] == "%Y-%m-%d"

    result = run_job(RunSpec(str(data), str(out), str(tmp_path / "out")), RunOptions(run_id="r"))
    assert result.manifest is not None
    assert (result.manifest["rows_in"], result.manifest["rows_out"], result.manifest["rows_rejected"]) == (6, 3, 3)
    rejected = pl.read_parquet(tmp_path / "out/processed/r/rejected/part-00000.parquet")
    assert sorted(zip(rejected["event_date"], rejected["price"], rejected["reject_reason"], strict=True)) == [
        ("2026-01-05", "abc", "not_a_number:price"),
        ("2026-01-07", "1", "missing_id"),
        ("2026-13-01", "3", "unparseable_timestamp"),
    ]
    valid = pl.read_parquet(tmp_path / "out/processed/r/part-00000.parquet")
    assert valid["customer_id"].to_list() == ["c1", "c2", "c5"]
    assert valid.columns == ["customer_id", "event_date", "price", "qty", "color__blue", "color__red"]


def test_the_manifest_schema_is_a_template_for_schema(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "events.csv", EXAMPLE, header="customer_id,event_date,price,color,qty")
    assert main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(tmp_path / "a")]) == 0
    template = read_manifest(tmp_path / "a")["schema"]
    template["numeric"] = [f for f in template["numeric"] if f["name"] != "qty"]
    template["categorical"].append({"name": "qty"})  # the data scientist's override wins over inference
    (tmp_path / "schema.json").write_text(json.dumps(template))
    args = ["train", "--input", str(data), "--version", "0.2.0", "--output", str(tmp_path / "b")]
    assert main([*args, "--schema", str(tmp_path / "schema.json")]) == 0
    schema = read_manifest(tmp_path / "b")["schema"]
    assert [c["name"] for c in schema["categorical"]] == ["color", "qty"] and schema["timestamp_format"] == "%Y-%m-%d"


def test_numeric_with_a_few_bad_cells_stays_numeric() -> None:
    values: list[str | None] = [str(i * 1.5) for i in range(97)] + ["n/a", "abc", "inf"]
    schema = infer({"id": [str(i) for i in range(100)], "amount": values, "band": ["lo", "hi"] * 50})
    assert roles(schema)["numeric"] == ["amount"]
    too_many_bad: list[str | None] = [str(i) for i in range(80)] + ["x"] * 20  # 80 % numbers: text, not numeric
    schema = infer({"k": too_many_bad, "band": ["lo", "hi"] * 50})
    assert "k" not in roles(schema)["numeric"]


def test_large_majority_rule() -> None:
    assert large_majority(90, 100) and not large_majority(89, 100)
    assert large_majority(4, 5) and large_majority(3, 4) and not large_majority(2, 3) and not large_majority(3, 5)
    assert not large_majority(0, 0) and large_majority(1, 1)


def test_id_detected_by_uniqueness_only_with_enough_values() -> None:
    refs: list[str | None] = [f"r{i:04d}" for i in range(30)]
    schema = infer({"ref": refs, "size": [str(i % 7) for i in range(30)], "colour": ["red", "blue", "green"] * 10})
    assert roles(schema) == {
        "id": "ref",
        "timestamp": None,
        "numeric": ["size"],
        "categorical": ["colour"],
        "passthrough": [],
    }
    # five distinct values prove nothing: a tiny file's categorical is not mistaken for an id
    small = infer({"colour": ["red", "blue", "green", "black", "white"], "v": ["1", "2", "3", "4", "5"]})
    assert small.id_column is None and roles(small)["categorical"] == ["colour"]
    # a mostly empty unique column (comments) is not an id: its empty cells would reject most rows
    notes: list[str | None] = [f"note {i}" for i in range(12)] + [None] * 88
    sparse = infer({"note": notes, "v": [str(i) for i in range(100)]})
    assert sparse.id_column is None and "note" in sparse.passthrough
    # free text (whitespace) is never an id, however distinct: passthrough
    comments: list[str | None] = [f"said thing {i}" for i in range(30)]
    text = infer({"comment": comments, "ref": refs, "v": [str(i % 3) for i in range(30)]})
    assert (text.id_column, text.passthrough) == ("ref", ("comment",))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("id", True),
        ("ID", True),
        ("customer_id", True),
        ("Customer ID", True),
        ("order-id", True),
        ("customerId", True),
        ("customerID", True),
        ("paid", False),
        ("PAID", False),
        ("valid", False),
        ("idea", False),
    ],
)
def test_id_names(name: str, expected: bool) -> None:
    assert looks_like_id(name) is expected


def test_one_id_column_others_with_id_names_are_passthrough() -> None:
    schema = infer(
        {
            "store_id": ["s1", "s1", "s2", "s2"],
            "order_id": ["o1", "o2", "o3", "o4"],
            "v": ["1", "2", "3", "4"],
        }
    )
    assert schema.id_column == "order_id" and schema.passthrough == ("store_id",)  # the unique id-named one
    assert infer({"user_id": ["1", "2"], "id": ["1", "1"], "v": ["1", "2"]}).id_column == "id"  # `id` itself first


def test_high_cardinality_text_is_passthrough() -> None:
    n = 150
    schema = infer(
        {
            "id": [str(i) for i in range(n)],
            "product": [f"product {i % 120}" for i in range(n)],  # 120 distinct > max_categories (100)
            "channel": ["web", "store", "app"] * (n // 3),
        }
    )
    assert roles(schema)["passthrough"] == ["product"] and roles(schema)["categorical"] == ["channel"]
    # nearly unique in a small sample: free text, not a category
    names: list[str | None] = [f"name {i}" for i in range(19)] + ["name 0"]
    nearly = infer({"id": [str(i) for i in range(20)], "name": names, "v": ["1"] * 20})
    assert nearly.passthrough == ("name",)


def test_all_empty_column_is_passthrough_and_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "t.csv", ["1,,3.5,red", "2,,4.5,blue", "3,,1.0,red"], header="id,notes,size,colour")
    assert main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(tmp_path / "m")]) == 0
    assert read_manifest(tmp_path / "m")["schema"]["passthrough"] == ["notes"]
    messages = [e["message"] for e in json_logs(capsys.readouterr().err)]
    assert any("notes: empty in all 3 sampled rows -> passthrough" in m for m in messages)


def test_timestamp_ties_prefer_time_names_then_the_first() -> None:
    days: list[str | None] = ["2026-01-01", "2026-01-02", "2026-01-03"]
    base: dict[str, list[str | None]] = {"v": ["1", "2", "3"]}
    by_name = infer({"created": days, "shipped": days, "event_ts": days, **base})
    assert by_name.timestamp_column == "event_ts" and by_name.passthrough == ("created", "shipped")
    first = infer({"start_date": days, "end_date": days, **base})
    assert first.timestamp_column == "start_date" and first.passthrough == ("end_date",)
    neither = infer({"a": days, "b": days, **base})
    assert neither.timestamp_column == "a" and neither.passthrough == ("b",)
    assert time_named("eventTs") and time_named("UpdateTime") and not time_named("counts")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2026-01-01", "2026-01-02", "2026-02-28"], "%Y-%m-%d"),
        (["2026-01-01 10:00:00", "2026-01-02 11:30:00", "2026-01-03 00:00:00"], "%Y-%m-%d %H:%M:%S"),
        (["2026-01-01T10:00:00", "2026-01-02T11:30:00", "2026-01-03T00:00:00"], "%Y-%m-%dT%H:%M:%S"),
        (["2026-01-01T10:00:00.5", "2026-01-02T11:30:00", "2026-01-03T00:00:00.25"], "%Y-%m-%dT%H:%M:%S%.f"),
        (["2026-01-01 10:00", "2026-01-02 11:30", "2026-01-03 00:00"], "%Y-%m-%d %H:%M"),
        (["2026-01-01T10:00:00Z", "2026-01-02T11:30:00+02:00", "2026-01-03T00:00:00-05:30"], "%Y-%m-%dT%H:%M:%S%#z"),
        (["2026-01-01T10:00:00.000Z", "2026-01-02T11:30:00.5Z", "2026-01-03T00:00:00Z"], "%Y-%m-%dT%H:%M:%S%.f%#z"),
    ],
)
def test_timestamp_formats(values: list[str | None], expected: str) -> None:
    schema = infer({"when": values, "v": ["1", "2", "3"]})
    assert (schema.timestamp_column, schema.timestamp_format) == ("when", expected)


def test_date_and_datetime_formats_end_to_end(tmp_path: Path) -> None:
    for name, stamp, fmt in (("d", "2026-01-0{}", "%Y-%m-%d"), ("dt", "2026-01-0{} 10:00:00", "%Y-%m-%d %H:%M:%S")):
        rows = [f"{i},{stamp.format(i)},{i}.5,{'ab'[i % 2]}" for i in range(1, 8)] + ["8,2026-02-30,1,a"]
        data = write_csv(tmp_path / f"{name}.csv", rows, header="id,day,size,kind")
        model = tmp_path / f"m-{name}"
        assert main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(model)]) == 0
        schema = read_manifest(model)["schema"]
        assert (schema["timestamp_column"], schema["timestamp_format"]) == ("day", fmt)
        result = run_job(RunSpec(str(data), str(model), str(tmp_path / "out")), RunOptions(run_id=name))
        assert result.manifest is not None
        assert result.manifest["rejected_by_reason"] == {"unparseable_timestamp": 1}
        assert result.manifest["rows_out"] == 7
        day = pl.read_parquet(tmp_path / f"out/processed/{name}/part-00000.parquet")["day"]
        assert day.dtype == pl.Datetime("us") and day.null_count() == 0


def test_demo_columns_keep_the_demo_schema(tmp_path: Path) -> None:
    sample = pl.read_csv(write_csv(tmp_path / "demo.csv", TRAIN_ROWS), infer_schema=False)
    assert sample.columns == HEADER.split(",")
    inference = infer_schema(sample.with_columns(pl.lit("x").alias("extra")))
    assert inference.demo and inference.schema == DEFAULT_SCHEMA


def test_nothing_to_learn_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(JobError) as excinfo:
        infer({"id": ["1", "2"], "when": ["2026-01-01", "2026-01-02"], "blank": [None, None]})
    assert excinfo.value.code == ExitCode.USAGE and "--schema" in str(excinfo.value)
    header_only = write_csv(tmp_path / "h.csv", [], header="a,b")
    assert main(["train", "--input", str(header_only), "--version", "0.1.0", "--output", str(tmp_path / "m")]) == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["train", "--input", str(empty), "--version", "0.1.0", "--output", str(tmp_path / "m")]) == 2


def test_schema_columns_missing_from_the_training_input(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "t.csv", ["1,2"], header="a,b")
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"numeric": ["a", "c"]}))
    args = ["train", "--input", str(data), "--version", "0.1.0", "--output", str(tmp_path / "m")]
    assert main([*args, "--schema", str(schema)]) == ExitCode.MISSING_COLUMNS


def test_zoned_timestamps_end_to_end_are_utc(tmp_path: Path) -> None:
    stamps = ["2026-01-01T10:00:00.000Z", "2026-01-01T12:00:00.250+02:00", "2026-01-01T04:30:00-05:30"] * 3
    rows = [f"{i},{stamp},{i}.5,{'ab'[i % 2]}" for i, stamp in enumerate(stamps, 1)] + ["10,2026-01-01T10:00:00,1,a"]
    data = write_csv(tmp_path / "z.csv", rows, header="id,when,size,kind")
    model = tmp_path / "m"
    assert main(["train", "--input", str(data), "--version", "0.1.0", "--output", str(model)]) == 0
    schema = read_manifest(model)["schema"]
    assert (schema["timestamp_column"], schema["timestamp_format"]) == ("when", "%Y-%m-%dT%H:%M:%S%.f%#z")
    result = run_job(RunSpec(str(data), str(model), str(tmp_path / "out")), RunOptions(run_id="z"))
    assert result.manifest is not None and result.manifest["rejected_by_reason"] == {"unparseable_timestamp": 1}
    when = pl.read_parquet(tmp_path / "out/processed/z/part-00000.parquet")["when"]
    assert when.dtype == pl.Datetime("us", "UTC")
    assert {t.isoformat() for t in when.to_list()} == {
        "2026-01-01T10:00:00+00:00",
        "2026-01-01T10:00:00.250000+00:00",
    }


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["1", "2", "30", "-4"], "integer"),
        (["001", "002", "003", "004"], "string"),  # zero-padded: Int64 would lose the padding
        (["1", "2", "3", "A-4"], "string"),  # one text id: a text column, no row rejected for it
        (["1", "2", "3", "4.0"], "string"),
        (["1", "2", "3", "99999999999999999999"], "string"),  # beyond Int64
    ],
)
def test_integer_ids_are_inferred_only_when_every_sampled_id_is_one(ids: list[str], expected: str) -> None:
    schema = infer({"order_id": ids, "price": ["1", "2", "3", "4"], "color": ["a", "b", "a", "b"]})
    assert schema.id_column == "order_id" and schema.id_type == expected


def test_typed_ids_are_int64_and_a_text_id_rejects_its_row_only(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ["1,10,red", "2,20,blue", "3,30,red"], header="order_id,price,color")
    assert main(["train", "--input", str(train), "--version", "1.0.0", "--output", str(tmp_path / "m")]) == 0
    assert read_manifest(tmp_path / "m")["schema"]["id_type"] == "integer"
    data = write_csv(
        tmp_path / "in.csv", ["7,10,red", "x8,20,blue", "9.0,5,red", "-3,1,blue"], header="order_id,price,color"
    )
    result = run_job(RunSpec(str(data), str(tmp_path / "m"), str(tmp_path / "out")), RunOptions(run_id="r"))
    assert result.manifest is not None and result.manifest["rejected_by_reason"] == {"not_an_integer:order_id": 2}
    valid = pl.read_parquet(tmp_path / "out/processed/r/part-00000.parquet")
    assert valid.schema["order_id"] == pl.Int64 and valid["order_id"].to_list() == [7, -3]
    rejected = pl.read_parquet(tmp_path / "out/processed/r/rejected/part-00000.parquet")
    assert rejected["order_id"].to_list() == ["x8", "9.0"]  # rejected rows keep the text as it came


def test_id_type_in_a_schema_file_is_checked() -> None:
    with pytest.raises(JobError) as err:
        schema_from_dict({"id_type": "float", "numeric": ["a"]})
    assert "id_type: 'float'" in err.value.message
    with pytest.raises(JobError) as err:
        schema_from_dict({"id_type": "integer", "numeric": ["a"]})
    assert "needs an id_column" in err.value.message
    assert schema_from_dict({"id_column": "k", "id_type": "integer", "numeric": ["a"]}).id_type == "integer"
