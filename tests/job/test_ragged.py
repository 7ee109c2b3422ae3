"""Malformed rows are rows: too few or too many fields are rejected one by one, never the whole run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from job import ragged
from job.cli import main
from job.ragged import find_malformed, malformed_reason
from tests.job.conftest import HEADER, TRAIN_ROWS, write_csv


def run(*args: object) -> int:
    return main(["run", *map(str, args), "--log-format", "json"])


def published(out: Path, run_id: str) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "processed" / run_id / "manifest.json").read_text())  # type: ignore[no-any-return]


SHORT = "7,2026-10-01T00:00:00,5,1,2.0,A,north"  # 7 fields: channel missing
LONG = "8,2026-10-01T00:00:00,5,1,2.0,A,north,web,surplus"  # 9 fields
QUOTED = '9,2026-10-01T00:00:00,5,1,2.0,"A",north,"we\nb, or not"'  # quoted newline and separator: 8 fields
TRAILING_EMPTY = "10,2026-10-01T00:00:00,5,1,2.0,A,north,"  # 8 fields, the last one empty: a row, not malformed


def test_short_long_and_quoted_multiline_rows_in_one_file(tmp_path: Path, model_dir: Path) -> None:
    data = write_csv(tmp_path / "in.csv", [TRAIN_ROWS[0], SHORT, LONG, QUOTED, "", TRAILING_EMPTY, TRAIN_ROWS[1]])
    out = tmp_path / "out"
    assert run("--input", data, "--model", model_dir, "--output", out, "--run-id", "m") == 0
    manifest = published(out, "m")
    assert manifest["rows_in"] == 7 == manifest["rows_out"] + manifest["rows_rejected"]
    assert manifest["rejected_by_reason"] == {
        "empty_row": 1,  # a blank line is still a row
        "malformed_row:7 fields, header has 8": 1,
        "malformed_row:9 fields, header has 8": 1,
    }
    valid = pl.read_parquet(out / "processed/m/part-00000.parquet")
    assert valid["id"].to_list() == [1, 9, 10, 2]
    assert valid.filter(pl.col("id") == 9)["channel__web"].to_list() == [False]  # "we\nb, or not" is one value
    rejected = pl.read_parquet(out / "processed/m/rejected/part-00000.parquet").filter(
        pl.col("reject_reason").str.starts_with("malformed_row")
    )
    assert sorted(rejected["raw_record"].to_list()) == sorted([SHORT, LONG])  # the raw text, as it was
    assert "field_count_check_s" in manifest["timings"]


def test_a_well_formed_file_takes_no_second_look(tmp_path: Path, model_dir: Path) -> None:
    """No row with an empty last cell and no surplus field: the exact check does not run at all."""
    data = write_csv(tmp_path / "in.csv", TRAIN_ROWS)
    out = tmp_path / "out"
    assert run("--input", data, "--model", model_dir, "--output", out, "--run-id", "w") == 0
    assert "field_count_check_s" not in published(out, "w")["timings"]


def test_malformed_rows_across_files_keep_their_own_row_numbers(tmp_path: Path, model_dir: Path) -> None:
    write_csv(tmp_path / "in" / "a.csv", [TRAIN_ROWS[0], SHORT])
    body = "\n".join([HEADER, LONG, TRAIN_ROWS[2]]) + "\n"
    (tmp_path / "in" / "b.csv.gz").write_bytes(gzip.compress(body.encode()))
    out = tmp_path / "out"
    assert run("--input", tmp_path / "in", "--model", model_dir, "--output", out, "--run-id", "f") == 0
    manifest = published(out, "f")
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (4, 2, 2)
    valid = pl.read_parquet(out / "processed/f/part-00000.parquet")
    assert valid["id"].to_list() == [1, 3]


@pytest.mark.parametrize("block", [16, 64, 1 << 20])
def test_find_malformed_at_any_block_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """Blocks end on record boundaries: a quoted newline is never split, whatever the block size."""
    monkeypatch.setattr(ragged, "BLOCK_BYTES", block)
    rows = ["1,2,3", "4,5", '"6\n6",7,"8,8"', "", "9,10,11,12", "a,b,c", '"x",y', "\r", "1,2,3"]
    data = tmp_path / "in.csv"
    data.write_bytes(("a,b,c\r\n" + "\r\n".join(rows)).encode())  # CRLF, no newline at the end
    found = find_malformed([str(data)])
    assert found.records == len(rows)
    assert found.rows == {
        1: (malformed_reason(2, 3), "4,5"),
        4: (malformed_reason(4, 3), "9,10,11,12"),
        6: (malformed_reason(2, 3), '"x",y'),
    }


@pytest.mark.parametrize("split", [8, 256, 1 << 16])
def test_a_differing_plain_block_is_bisected_to_its_malformed_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: int
) -> None:
    """Quote-free blocks with bad lines first, last, adjacent and in the middle: each found once, with its index."""
    monkeypatch.setattr(ragged, "SPLIT_BYTES", split)
    rows = [f"{i},{i},{i}" for i in range(3000)]
    bad = {0: "0,0", 1499: "1499,1499,1499,1499", 1500: "1500", 2999: "2999,2999,2999,x,y"}
    for index, line in bad.items():
        rows[index] = line
    data = tmp_path / "in.csv"
    data.write_text("a,b,c\n" + "\n".join(rows) + "\n")
    found = find_malformed([str(data)])
    assert found.records == len(rows)
    assert found.rows == {i: (malformed_reason(line.count(",") + 1, 3), line) for i, line in bad.items()}


def test_an_unterminated_quote_fails_naming_the_row(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text('a,b\n1,2\n3,"4\n5,6\n')
    with pytest.raises(ragged.JobError, match=r"data row 2 \(or soon after\) is never closed"):
        find_malformed([str(data)])
