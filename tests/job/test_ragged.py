"""Malformed rows are rows: too few or too many fields are rejected one by one, never the whole run."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def fixed_width(index: int, fields: int) -> str:
    """Line ``index`` with ``fields`` fields, always 14 bytes with its newline: block boundaries fall between lines."""
    cells = {1: [f"{index:013d}"], 2: [f"{index:06d}", "000000"], 3: [f"{index:05d}", "00000", "0"]}
    line = ",".join(cells.get(fields, [f"{index:04d}", *(["0"] * (fields - 1))]))
    return line + "0" * (13 - len(line))


@pytest.mark.parametrize("block", [14 * 10, 14 * 1000, 1 << 23])
def test_bad_lines_at_block_edges_adjacent_and_filling_a_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """With 10 lines a block: bad lines first and last in a block, right after a boundary, adjacent, a whole block."""
    monkeypatch.setattr(ragged, "BLOCK_BYTES", block)
    bad = {0: 2, 9: 4, 10: 1, 19: 5, 25: 2, 26: 4, 27: 2, **{i: 2 for i in range(40, 50)}, 2999: 4}
    rows = [fixed_width(i, bad.get(i, 3)) for i in range(3000)]
    assert {len(row) for row in rows} == {13}
    data = tmp_path / "in.csv"
    data.write_text("a,b,c\n" + "\n".join(rows) + "\n")
    found = find_malformed([str(data)])
    assert found.records == len(rows)
    assert found.rows == {i: (malformed_reason(fields, 3), rows[i]) for i, fields in bad.items()}


@pytest.mark.parametrize("block", [64, 4096, 1 << 23])
def test_bad_lines_are_located_among_lines_of_uneven_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Short lines then long ones, CRLF ends and blank lines: the raw text of each bad line is found exactly."""
    monkeypatch.setattr(ragged, "BLOCK_BYTES", block)
    rows = [f"{i},{i},{i}" for i in range(2000)] + [f"{i},{'x' * 200},{i}" for i in range(2000, 2500)]
    bad = {1: "1,1", 777: "777", 1999: "a,b,c,d", 2000: "2000,,,", 2001: "x", 2498: " ", 2499: "y,y,y,y,y"}
    for index, line in bad.items():
        rows[index] = line
    for blank in (5, 6, 2200):  # a blank line is a row, not a malformed one
        rows[blank] = "" if blank != 6 else "\r"
    data = tmp_path / "in.csv"
    data.write_bytes(("a,b,c\r\n" + "\r\n".join(rows) + "\r\n").encode())
    found = find_malformed([str(data)])
    assert found.records == len(rows)
    assert found.rows == {i: (malformed_reason(line.count(",") + 1, 3), line) for i, line in bad.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=400), st.data())
def test_line_start_finds_any_line_whatever_the_lengths(lengths: list[int], data: st.DataObject) -> None:
    text = bytearray(b"".join(b"x" * (n - 1) + b"\n" for n in lengths))
    k = data.draw(st.integers(0, len(lengths) - 1))
    assert ragged._line_start(text, 0, len(text), len(lengths), k) == sum(lengths[:k])


QUOTED_CELL = st.text(alphabet='a,\n"', max_size=4).map(lambda cell: '"' + cell.replace('"', '""') + '"')
CELL = st.one_of(st.text(alphabet="ab1 ;", max_size=3), QUOTED_CELL)
ROW: st.SearchStrategy[list[str]] = st.one_of(st.lists(CELL, min_size=1, max_size=5), st.just([]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 4),
    st.lists(ROW, max_size=60),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([16, 64, 512, 1 << 23]),
    st.booleans(),
)
def test_find_malformed_agrees_with_the_csv_module(
    header_fields: int, rows: list[list[str]], newline: str, block: int, gzipped: bool
) -> None:
    """Any mix of quote-free and quoted blocks, at any block size, plain or gzip: the csv module's field counts."""
    text = newline.join([",".join(f"h{i}" for i in range(header_fields)), *(",".join(row) for row in rows)])
    text += newline
    records = list(csv.reader(io.StringIO(text, newline=""), strict=False))[1:]
    assert len(records) == len(rows)
    expected = {
        i: (malformed_reason(len(record), header_fields), ",".join(rows[i]))
        for i, record in enumerate(records)
        if record and len(record) != header_fields
    }
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(ragged, "BLOCK_BYTES", block):
        path = Path(tmp) / "in.csv"
        path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
        found = find_malformed([str(path)])
    assert (found.records, found.rows) == (len(rows), expected)


class ReadOnlyBody:
    """An S3 body as botocore gives it: ``read(n)`` only, no ``readinto``."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def close(self) -> None:
        self._stream.close()


@pytest.mark.parametrize("compress", [False, True])
def test_an_s3_body_without_readinto_is_read_through_read(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    body = ("a,b\n" + "1,2\n" * 50 + "3\n" + "4,5\n").encode()

    class Client:
        def get_object(self, Bucket: str, Key: str) -> dict[str, ReadOnlyBody]:
            assert (Bucket, Key) == ("bucket", "in.csv")
            return {"Body": ReadOnlyBody(gzip.compress(body) if compress else body)}

    monkeypatch.setattr(ragged.s3, "s3_client", Client)
    monkeypatch.setattr(ragged, "BLOCK_BYTES", 64)
    found = find_malformed(["s3://bucket/in.csv"])
    assert (found.records, found.rows) == (52, {50: (malformed_reason(1, 2), "3")})


def test_a_record_longer_than_a_block_grows_the_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ragged, "BLOCK_BYTES", 16)
    long_quoted = '"' + "x,\n" * 40 + '",1'
    data = tmp_path / "in.csv"
    data.write_text("a,b\n1,2\n" + long_quoted + "\n" + "y" * 100 + "\n3,4\n")
    found = find_malformed([str(data)])
    assert (found.records, found.rows) == (4, {2: (malformed_reason(1, 2), "y" * 100)})


def test_a_record_longer_than_the_limit_is_an_unterminated_quote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ragged, "BLOCK_BYTES", 16)
    monkeypatch.setattr(ragged, "MAX_RECORD_BYTES", 100)
    data = tmp_path / "in.csv"
    data.write_text('a,b\n1,2\n3,"' + "x\n" * 100 + '"\n')
    with pytest.raises(ragged.JobError, match=r"data row 2 \(or soon after\) is never closed"):
        find_malformed([str(data)])


def test_an_unterminated_quote_fails_naming_the_row(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text('a,b\n1,2\n3,"4\n5,6\n')
    with pytest.raises(ragged.JobError, match=r"data row 2 \(or soon after\) is never closed"):
        find_malformed([str(data)])
