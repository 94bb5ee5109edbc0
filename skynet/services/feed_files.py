"""Feed files read row by row: CSV with a header line, or JSON Lines (one object per line), in UTF-8.

Lines are read with a bound on their length, so a file of any size (or one that is not text at all) costs
little memory: a line longer than :data:`MAX_LINE` is a rejected row, a file whose first line is not a
header of the kind's columns (CSV) or a JSON object (JSON Lines) is refused before anything is stored.
Each row carries the byte offset where the next one starts: an import resumes there.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, NamedTuple

from skynet.errors import InvalidInputError
from skynet.services.feed_rows import FIELDS, FeedKind

MAX_LINE = 64 * 1024
"""Bytes a row may take (a checkpoint image, base64, belongs in a push or a JSON Lines row of this size)."""
SHOWN = 300
"""Characters of a rejected row's text that the report keeps."""
_CHUNK = 1 << 20


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


_SUFFIXES = {".csv": FileFormat.CSV, ".jsonl": FileFormat.JSONL, ".ndjson": FileFormat.JSONL}


class RawRow(NamedTuple):
    """One row of a file: its line number, the offset after it, and its fields or why it has none."""

    line: int
    end: int
    fields: dict[str, Any] | None
    error: str | None = None
    text: str = ""


def file_format(path: Path, given: FileFormat | None = None) -> FileFormat:
    """``given``, or the format its name says (``.csv``, ``.jsonl``, ``.ndjson``)."""
    if given is not None:
        return FileFormat(given)
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InvalidInputError(
            f"cannot tell the format of {path.name} from its name", "name it .csv or .jsonl, or give the format"
        )
    return found


class Rows:
    """The rows of an open feed file, read as iterated; a context manager that closes the file."""

    def __init__(self, file: IO[bytes], rows: Iterator[RawRow]) -> None:
        self.file, self.rows = file, rows

    def __iter__(self) -> Iterator[RawRow]:
        return self.rows

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Rows:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_rows(path: Path, fmt: FileFormat, kind: FeedKind, start: int = 0, line: int = 0) -> Rows:
    """The rows of ``path`` from byte ``start`` (0: the beginning; else an offset a row gave, with that row's
    ``line``); :class:`InvalidInputError` at once (not at the first row) when the file is not a feed file of
    ``kind``."""
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed by Rows)
    except OSError as error:
        raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None
    try:
        header, line_after_header = _first_line(file, path, fmt, kind)
        if start > file.tell():
            file.seek(start)
        else:
            line = line_after_header
    except BaseException:
        file.close()
        raise
    return Rows(file, _rows(file, fmt, header, line))


def _first_line(file: IO[bytes], path: Path, fmt: FileFormat, kind: FeedKind) -> tuple[list[str] | None, int]:
    """The CSV header (None for JSON Lines, whose first line is only checked and read again); the line count."""
    raw = file.readline(MAX_LINE + 1)
    what = f"{path.name} is not a {fmt.value.upper()} file of {kind.value} records"
    if len(raw) > MAX_LINE or b"\0" in raw:
        raise InvalidInputError(what, "its first line is not text of a sensible length")
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise InvalidInputError(what, "it is not UTF-8 text") from None
    required, optional = FIELDS[kind]
    if fmt is FileFormat.JSONL:
        try:
            if not isinstance(json.loads(text), dict):
                raise ValueError
        except ValueError:
            raise InvalidInputError(what, "its first line is not a JSON object") from None
        file.seek(0)
        return None, 0
    header = [name.strip() for name in next(csv.reader([text]), [])]
    missing = [name for name in required if name not in header]
    if missing:
        raise InvalidInputError(what, f"its header line lacks the column(s) {', '.join(missing)}")
    return header, 1


def _rows(file: IO[bytes], fmt: FileFormat, header: list[str] | None, line: int) -> Iterator[RawRow]:
    """The rows from the file's position on, read a block at a time (a line longer than :data:`MAX_LINE` is
    skipped in chunks, never held whole)."""
    offset = file.tell()
    rest = b""
    while True:
        block = file.read(_CHUNK)
        if not block:
            if rest.strip():
                yield _row(rest, line + 1, offset + len(rest), header)
            return
        lines = (rest + block).split(b"\n")
        rest = lines.pop()  # the line the next block goes on with
        for raw in lines:
            line += 1
            offset += len(raw) + 1
            if len(raw) > MAX_LINE:
                yield RawRow(line, offset, None, f"line longer than {MAX_LINE} bytes", _shown(raw))
            elif raw.strip():
                yield _row(raw, line, offset, header)
        if len(rest) > MAX_LINE:
            shown, offset = _shown(rest), offset + len(rest) + _skip_line(file)
            line, rest = line + 1, b""
            yield RawRow(line, offset, None, f"line longer than {MAX_LINE} bytes", shown)


def _row(raw: bytes, line: int, end: int, header: list[str] | None) -> RawRow:
    """The row of one line's bytes (without its newline)."""
    if b"\0" in raw:
        return RawRow(line, end, None, "line holds NUL bytes: not text", _shown(raw))
    try:
        text = raw.decode("utf-8-sig" if line == 1 else "utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return RawRow(line, end, None, "line is not UTF-8 text", _shown(raw))
    fields, error = _json(text) if header is None else _csv(text, header)
    return RawRow(line, end, fields, error, text[:SHOWN])


def _json(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"bad JSON ({error.msg} at column {error.colno})"
    except ValueError as error:  # a number too long to convert, ...
        return None, f"bad JSON ({error})"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    return value, None


def _csv(text: str, header: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    if '"' in text or "\r" in text:  # quoted fields (or a stray carriage return): the csv module's rules
        try:
            values = next(csv.reader([text]), [])
        except csv.Error as error:
            return None, f"bad CSV ({error})"
    else:  # what the csv module makes of a line without quotes, at a fraction of its cost
        values = text.split(",")
    if len(values) != len(header):
        return None, f"{len(values)} fields where the header has {len(header)}"
    return {name: value for name, value in zip(header, values, strict=True) if value != ""}, None


def _skip_line(file: IO[bytes]) -> int:
    """Read on to the end of the current line (in chunks: a line may be as long as the file); the bytes read."""
    skipped = 0
    while True:
        chunk = file.readline(_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _shown(raw: bytes) -> str:
    return raw[:SHOWN].decode("utf-8", "replace").rstrip("\r\n")
