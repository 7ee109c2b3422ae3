"""Rows with more or fewer fields than their file's header: found exactly, by a pass taken only when needed.

Polars' CSV scan has no per-row hook for the field count: a row with *more* fields
fails the whole scan ("found more fields than defined"), and a row with *fewer* fields
reads its missing trailing cells exactly like empty ones (with either setting of
``empty_string_is_null``). So the run's streaming pass stays as it is and yields a
signal instead (process.py): the scan failed on a long row, or some row's *last* cell is
empty — every short row has that, and data whose last column is always filled never
pays anything. Only then does ``find_malformed`` read the input once more, in Python:

- the input is read into one reused buffer, in blocks of about BLOCK_BYTES cut at record ends;
- a block holding no quote character is checked with C-speed byte operations: one ``translate``
  deletes every byte except the separator and the newline, so a good line becomes exactly
  ``m - 1`` separators and a newline, and the whole block is one comparison with that pattern
  repeated. In a block that differs, the first bad line is found in the translated bytes (galloping
  then binary search, comparing slices of the pattern with ``startswith``), its field count is its
  length there, and only its raw text is looked up in the block (interpolated from the line lengths,
  corrected with one newline ``count``); the search then goes on after it. No block is re-read,
  split into lines or copied;
- a block with quotes goes through the ``csv`` module, so quoted separators and quoted
  newlines count as the scan counts them, and the raw text of each record is kept.

The result maps each malformed record's index (0-based, over all inputs in order, as
Polars numbers the rows of the scan) to its reason, ``malformed_row:<n> fields, header
has <m>``, and its raw text; the run's second pass rejects those rows by index. A blank
line (nothing, or only carriage returns, before its newline — as the ``csv`` module reads it) is not
malformed: it stays a row and is rejected as ``empty_row``, as before.
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
READ_AHEAD_BYTES = 1 << 16  # the reader's own buffer (header line); block reads bypass it
MAX_RECORD_BYTES = 1 << 26  # a record (quoted newlines included) longer than 64 MiB is an unterminated quote
_QUOTE = b'"'
_NEWLINE = b"\n"
_WALK_LINES = 32  # locating a raw line: within this many lines of it, step with find instead of guessing


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
        # a local file reads straight into the caller's buffer; an S3 body has only read(): one copy per read
        self._rest_readinto = getattr(rest, "readinto", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        if self._rest_readinto is not None:
            return int(self._rest_readinto(buffer))
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
    # a small buffer: BufferedReader serves a readinto larger than its buffer straight from the raw stream, so the
    # check's 8 MiB reads are not copied through it (the header's readline still reads ahead in 64 KiB)
    stream = io.BufferedReader(_Prefixed(head, raw), READ_AHEAD_BYTES)
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


def _fill(stream: io.BufferedIOBase, buffer: bytearray, start: int) -> int:
    """Read into ``buffer[start:]`` until it is full or the stream ends; the new end of the data."""
    with memoryview(buffer) as view:
        while start < len(buffer):
            with view[start:] as free:
                n = stream.readinto(free)
            if not n:
                break
            start += n
    return start


def _record_end(data: bytearray) -> tuple[int, bool]:
    """Offset just past the last newline of ``data`` outside quotes (0: no record ends in it), and whether the
    records before it hold a quote character (only then are quotes counted)."""
    end = data.rfind(_NEWLINE) + 1
    if data.find(_QUOTE, 0, end) < 0:
        return end, False
    odd = data.count(_QUOTE, 0, end) % 2
    while odd and end > 0:  # the last newline is inside a quoted field: back off line by line
        previous = data.rfind(_NEWLINE, 0, end - 1) + 1
        odd ^= data.count(_QUOTE, previous, end) % 2
        end = previous
    return end, True


def _blocks(stream: io.BufferedIOBase, source: str, checker: _Checker) -> Iterator[tuple[bytearray, int, bool]]:
    """Whole records in blocks of about BLOCK_BYTES, as (buffer, end, quoted): ``buffer[:end]`` is the block.

    One buffer is reused for the whole input (a fresh 8 MiB object per block costs its page faults every time):
    the block is valid only until the next one is asked for. Every block ends with a newline outside quotes;
    ``quoted`` says whether the block holds a quote character.
    """
    data = bytearray(BLOCK_BYTES)
    filled = 0
    while True:
        filled = _fill(stream, data, filled)
        last = filled < len(data)
        if last:  # the stream ended: what is left is the last block
            del data[filled:]
            if data and not data.endswith(_NEWLINE):
                data += _NEWLINE
        end, quoted = _record_end(data)
        if end:
            yield data, end, quoted
        if last:
            if end < len(data):  # a quote opened after the last record end is never closed
                raise _unterminated(source, checker.index)
            return
        if end:
            data[: filled - end] = data[end:filled]  # the partial last record moves to the front
            filled -= end
            continue
        if filled > MAX_RECORD_BYTES:
            raise _unterminated(source, checker.index)
        data += bytes(BLOCK_BYTES)  # no record ends in this data yet (a long quoted field): read on


def _raw(line: bytes | bytearray | str) -> str:
    text = line if isinstance(line, str) else line.decode("utf-8", errors="replace")
    return text.rstrip("\n").removesuffix("\r")


def _line_start(data: bytearray, start: int, stop: int, lines: int, k: int) -> int:
    """Offset of line ``k`` (0-based) of ``data[start:stop]``, which holds ``lines`` whole lines (k < lines).

    Interpolation on byte offsets (lines of a file have similar lengths), a ``count`` of newlines from the nearer
    known line start to learn which line a guess landed on, and a few ``find`` steps at the end — instead of
    splitting the block into lines.
    """
    lo, lo_line, hi, hi_line = start, 0, stop, lines
    while k - lo_line > _WALK_LINES:
        guess = lo + (hi - lo) * (k - lo_line) // (hi_line - lo_line)
        at = data.rfind(_NEWLINE, lo, guess) + 1
        if at <= lo:  # no line starts before the guess: take the next one (the range holds > 1 line, so one exists)
            at = data.find(_NEWLINE, guess, hi) + 1
        if at - lo <= hi - at:
            at_line = lo_line + data.count(_NEWLINE, lo, at)
        else:
            at_line = hi_line - data.count(_NEWLINE, at, hi)
        if at_line <= k:
            lo, lo_line = at, at_line
        else:
            hi, hi_line = at, at_line
    while lo_line < k:
        lo = data.find(_NEWLINE, lo) + 1
        lo_line += 1
    return lo


class _Checker:
    """Finds the malformed records of one file, block by block."""

    def __init__(self, header_fields: int, separator: str, first_index: int, found: dict[int, tuple[str, str]]):
        sep = separator.encode()
        if len(sep) != 1:
            raise ValueError(f"the separator must be one byte (as Polars requires), not {separator!r}")
        self.m = header_fields
        self.separator = separator
        self.index = first_index
        self.found = found
        # the translation keeps separators and newlines: a good line becomes exactly `line`, m bytes
        self._keep_only = bytes(b for b in range(256) if bytes([b]) not in (sep, _NEWLINE))
        self._line = sep * (header_fields - 1) + _NEWLINE
        self._pattern = memoryview(b"")

    def block(self, data: bytearray, end: int, quoted: bool) -> None:
        if quoted:
            self._quoted(data, end)
        else:
            self._plain(data, end)

    def _note(self, fields: int, raw: str) -> None:
        self.found[self.index] = (malformed_reason(fields, self.m), raw)

    def _lines_like(self, size: int) -> memoryview:
        """``line`` repeated to at least ``size`` bytes (kept and grown as needed), sliced without copies."""
        if len(self._pattern) < size:
            self._pattern = memoryview(self._line * (size // len(self._line) + 1))
        return self._pattern

    def _good_lines(self, shape: bytearray, start: int, stop: int) -> int:
        """How many lines from ``start`` (a line start of ``shape``) are good before the first bad one or ``stop``.

        Galloping then binary search on the translated bytes: each step compares a slice of the pattern with
        ``startswith`` (no copy), and the lines already known good are not compared again.
        """
        m = len(self._line)
        pattern = self._lines_like(stop - start)
        most = (stop - start) // m
        good, step = 0, 1
        while True:  # gallop: [0, good) known good
            step = min(step, most - good)
            if step == 0 or not shape.startswith(pattern[: step * m], start + good * m):
                break
            good += step
            step *= 2
        bad = good + step  # the first bad line is before this one (or there is none within `most`)
        while bad - good > 1:
            middle = (good + bad) // 2
            if shape.startswith(pattern[: (middle - good) * m], start + good * m):
                good = middle
            else:
                bad = middle
        return good

    def _plain(self, data: bytearray, end: int) -> None:
        """A quote-free block: translate it once, compare with the pattern, locate only the lines that differ."""
        shape = data.translate(None, self._keep_only)  # separators and newlines only (the data has no quote)
        stop = shape.rfind(_NEWLINE) + 1  # the block's lines; any bytes after belong to the next block's first line
        if shape.startswith(self._lines_like(stop)[:stop]) and stop % len(self._line) == 0:
            self.index += stop // len(self._line)
            return
        lines = shape.count(_NEWLINE, 0, stop)
        at, raw = 0, 0  # the same line's start in the translated and the raw bytes
        while at < stop:
            good = self._good_lines(shape, at, stop)
            at += good * len(self._line)
            if at == stop:
                self.index += good
                return
            line_end = shape.find(_NEWLINE, at)
            fields = line_end - at + 1  # never m: that line would have matched the pattern
            raw = _line_start(data, raw, end, lines, good)
            raw_end = data.find(_NEWLINE, raw)
            self.index += good
            line = data[raw:raw_end]
            if line.strip(b"\r"):  # a blank line stays a row (empty_row), as the csv module reads it too
                self._note(fields, _raw(line))
            self.index += 1
            lines -= good + 1
            at, raw = line_end + 1, raw_end + 1

    def _quoted(self, data: bytearray, end: int) -> None:
        consumed: list[str] = []
        with memoryview(data) as view, view[:end] as block:
            text = str(block, "utf-8", errors="replace")

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
            for data, end, quoted in _blocks(stream, source, checker):
                checker.block(data, end, quoted)
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
