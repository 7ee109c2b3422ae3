"""Rows with more or fewer fields than their file's header: found exactly, by a pass taken only when needed.

Polars' CSV scan has no per-row hook for the field count: a row with *more* fields
fails the whole scan ("found more fields than defined"), and a row with *fewer* fields
reads its missing trailing cells exactly like empty ones (with either setting of
``empty_string_is_null``). So the run's streaming pass stays as it is and yields a
signal instead (process.py): the scan failed on a long row, or some row's *last* cell is
empty — every short row has that, and data whose last column is always filled never
pays anything. Only then does ``find_malformed`` read the input once more, in Python:

- a block of input holding no quote character is checked with C-speed byte operations
  (delete every byte except the separator and newline, compare with the expected
  pattern); a block that differs is bisected at line ends, each half checked the same
  way, and only a differing piece of at most SPLIT_BYTES is split into lines;
- a block with quotes goes through the ``csv`` module, so quoted separators and quoted
  newlines count as the scan counts them, and the raw text of each record is kept.

The result maps each malformed record's index (0-based, over all inputs in order, as
Polars numbers the rows of the scan) to its reason, ``malformed_row:<n> fields, header
has <m>``, and its raw text; the run's second pass rejects those rows by index. A blank
line is not malformed: it stays a row and is rejected as ``empty_row``, as before.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from job import s3
from job.errors import ExitCode, JobError

log = logging.getLogger(__name__)

MALFORMED_PREFIX = "malformed_row"
BLOCK_BYTES = 1 << 23  # 8 MiB: large enough for C-speed checks, small enough to stay out of the memory budget
SPLIT_BYTES = 1 << 16  # a differing quote-free block is bisected down to this size before it is split into lines
MAX_RECORD_BYTES = 1 << 26  # a record (quoted newlines included) longer than 64 MiB is an unterminated quote
_QUOTE = b'"'
_NEWLINE = b"\n"


def malformed_reason(fields: int, header_fields: int) -> str:
    """The reject reason of a row whose field count differs from its header's."""
    return f"{MALFORMED_PREFIX}:{fields} fields, header has {header_fields}"


@dataclass
class Malformed:
    """Malformed records of the inputs: global row index -> (reason, raw text)."""

    rows: dict[int, tuple[str, str]] = field(default_factory=dict)
    records: int = 0  # data records read (header excluded), over all inputs

    def __bool__(self) -> bool:
        return bool(self.rows)


class _Prefixed(io.RawIOBase):
    """A byte stream with its first bytes (already read to sniff gzip) put back in front."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_bytes(url: str) -> io.BufferedIOBase:
    """The decompressed bytes of a local or S3 input (gzip recognised by its magic number, as Polars does)."""
    if s3.is_s3(url):
        bucket, key = s3.split_s3(url)
        raw: Any = s3.s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    else:
        raw = open(url, "rb")  # noqa: SIM115 - closed by the caller through the returned stream
    head = raw.read(2)
    stream = io.BufferedReader(_Prefixed(head, raw), BLOCK_BYTES)
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream)
    return stream


def _header_fields(stream: io.BufferedIOBase, separator: str) -> int:
    """Number of fields in the header record (read up to its end: a quoted header may span lines)."""
    text = b""
    while True:
        line = stream.readline()
        text += line
        if not line or text.count(_QUOTE) % 2 == 0:
            break
    fields = next(csv.reader(io.StringIO(text.decode("utf-8", errors="replace")), delimiter=separator), [])
    return len(fields)


def _unterminated(source: str, record: int) -> JobError:
    return JobError(
        ExitCode.MALFORMED_CSV,
        f"input {source} is not valid CSV: a quoted field opened in data row {record + 1} (or soon after) is never "
        "closed — fix the quoting or re-export the file",
    )


def _blocks(stream: io.BufferedIOBase, source: str, checker: _Checker) -> Iterator[bytes]:
    """Whole records in blocks of about BLOCK_BYTES: every block ends with a newline outside quotes."""
    rest = b""
    while True:
        chunk = stream.read(BLOCK_BYTES)
        data = rest + chunk
        if not chunk:
            if data.count(_QUOTE) % 2:
                raise _unterminated(source, checker.index)
            if data:
                yield data if data.endswith(_NEWLINE) else data + _NEWLINE
            return
        end = data.rfind(_NEWLINE) + 1
        odd = data.count(_QUOTE, 0, end) % 2
        while odd and end > 0:  # the last newline is inside a quoted field: back off line by line
            previous = data.rfind(_NEWLINE, 0, end - 1) + 1
            odd ^= data.count(_QUOTE, previous, end) % 2
            end = previous
        if end == 0:
            if len(data) > MAX_RECORD_BYTES:
                raise _unterminated(source, checker.index)
            rest = data  # no record ends in this data yet (a long quoted field): read on
            continue
        rest = data[end:]
        yield data[:end]


def _raw(line: bytes | str) -> str:
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    return text.rstrip("\n").removesuffix("\r")


class _Checker:
    """Finds the malformed records of one file, block by block."""

    def __init__(self, header_fields: int, separator: str, first_index: int, found: dict[int, tuple[str, str]]):
        self.m = header_fields
        self.separator = separator
        self.index = first_index
        self.found = found
        sep = separator.encode()
        self._keep_only = bytes(b for b in range(256) if bytes([b]) not in (sep, _NEWLINE))
        self._line = sep * (header_fields - 1) + _NEWLINE

    def block(self, data: bytes) -> None:
        if _QUOTE in data:
            self._quoted(data)
        else:
            self._plain(data)

    def _note(self, fields: int, raw: str) -> None:
        self.found[self.index] = (malformed_reason(fields, self.m), raw)

    def _plain(self, data: bytes) -> None:
        lines = data.count(_NEWLINE)
        if data.translate(None, self._keep_only) == self._line * lines:  # every line has m - 1 separators
            self.index += lines
            return
        middle = data.find(_NEWLINE, len(data) // 2) + 1
        if len(data) > SPLIT_BYTES and 0 < middle < len(data):
            # bisect: only the halves holding a malformed line go on, instead of a Python loop over the block's
            # ~100k lines (measured on a month with a bad line in every block: ~7 % less CPU for the whole check)
            self._plain(data[:middle])
            self._plain(data[middle:])
            return
        sep = self.separator.encode()
        for line in data.split(_NEWLINE)[:-1]:
            fields = line.count(sep) + 1
            if fields != self.m and line not in (b"", b"\r"):  # a blank line stays a row (empty_row)
                self._note(fields, _raw(line))
            self.index += 1

    def _quoted(self, data: bytes) -> None:
        consumed: list[str] = []
        text = data.decode("utf-8", errors="replace")

        def lines() -> Iterator[str]:
            for line in text.split("\n")[:-1]:
                consumed.append(line + "\n")
                yield line + "\n"

        for fields in csv.reader(lines(), delimiter=self.separator, quotechar='"', strict=False):
            raw = "".join(consumed)
            consumed.clear()
            if fields and len(fields) != self.m:  # [] is a blank line: a row, rejected as empty_row
                self._note(len(fields), _raw(raw))
            self.index += 1


def find_malformed(sources: Sequence[str], separator: str = ",") -> Malformed:
    """Every record of ``sources`` (in order) whose field count differs from its own file's header."""
    result = Malformed()
    for source in sources:
        with open_bytes(source) as stream:
            header_fields = _header_fields(stream, separator)
            if header_fields == 0:
                continue
            checker = _Checker(header_fields, separator, result.records, result.rows)
            for data in _blocks(stream, source, checker):
                checker.block(data)
            result.records = checker.index
    return result


def first_undecodable_line(source: str) -> int | None:
    """The 1-based line number of the first line that is not UTF-8 (error path only: reads line by line)."""
    with open_bytes(source) as stream:
        for number, line in enumerate(stream, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None
