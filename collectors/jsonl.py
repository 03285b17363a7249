"""Append-only JSON-lines files: one ``write()`` per record, readable after a crash.

Several processes append to the same run directory (the CLI writes the timeline, the
load process writes latency). Each record is one ``os.write`` on an ``O_APPEND``
descriptor, so lines from different processes never interleave, and every record is
on disk (in the page cache) as soon as ``append`` returns: a SIGKILL loses nothing
already appended.

Reading is where a run directory meets whatever a crash (or a person) left in it, so
every reader parses each record once, here, into typed values: ``parse_jsonl`` runs a
record parser built from the field checks below (``number``, ``count``, ``text``...),
and any record that is not what its file promises becomes one ``RunDirError`` naming
file, line, field and the bad value.

A closed stream may be kept gzip-compressed (``latency.jsonl.gz``, written at the end
of a rehearsal by ``collectors.compress``): every reader here takes the plain name and
reads ``name`` while it exists, else ``name.gz`` (``stream_file``), naming the file it
read in its errors.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal, TypeVar, cast

from slo.errors import RunDirError

__all__ = [
    "GZIP_SUFFIX",
    "REQUIRED",
    "JsonlAppender",
    "RecordError",
    "count",
    "flag",
    "integer",
    "maybe_number",
    "maybe_text",
    "maybe_unix_time",
    "number",
    "open_stream",
    "parse_jsonl",
    "read_jsonl",
    "read_numbered",
    "read_stream",
    "shown",
    "stream_file",
    "stream_files",
    "text",
    "unix_time",
]

T = TypeVar("T")
Record = Mapping[str, Any]


class JsonlAppender:
    """Appends JSON records to one file, one line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


GZIP_SUFFIX = ".gz"
"""The suffix of a closed stream kept compressed: ``stock.jsonl.gz``."""

_UNREADABLE = (OSError, EOFError, zlib.error)  # gzip: BadGzipFile is an OSError


def stream_file(path: Path) -> Path:
    """The file that holds the stream ``path``: ``path`` while it exists (being written,
    or kept plain), else ``path.gz`` when the run compressed it, else ``path`` (missing).

    A leftover plain file beside its ``.gz`` (compression cut short) is read, not the
    ``.gz``: the plain file is complete, the next compression replaces it."""
    if path.name.endswith(GZIP_SUFFIX) or path.exists():
        return path
    packed = path.with_name(path.name + GZIP_SUFFIX)
    return packed if packed.exists() else path


def stream_files(folder: Path, pattern: str) -> list[Path]:
    """The files holding the streams of ``folder`` whose plain name matches ``pattern``
    (``traces-*.jsonl``), plain or compressed, one per stream, sorted by name."""
    plain = {p.name: p for p in folder.glob(pattern) if p.is_file()}
    for packed in folder.glob(pattern + GZIP_SUFFIX):
        name = packed.name.removesuffix(GZIP_SUFFIX)
        if packed.is_file() and name not in plain:
            plain[name] = packed
    return [plain[name] for name in sorted(plain)]


def open_stream(path: Path) -> BinaryIO:
    """The stream ``path`` opened for reading bytes (``stream_file``; decompressed when it
    is a ``.gz``). ``OSError`` when it cannot be opened, as ``open`` would."""
    source = stream_file(path)
    if source.name.endswith(GZIP_SUFFIX):
        return cast(BinaryIO, gzip.open(source, "rb"))
    return source.open("rb")


def read_stream(path: Path) -> bytes:
    """Every byte of the stream ``path``, decompressed (b"" when missing).

    ``RunDirError`` naming the file read when it cannot be read (a directory, no
    permission, a ``.gz`` that is not gzip or was cut short)."""
    source = stream_file(path)
    if not source.exists():
        return b""
    try:
        with open_stream(source) as fh:
            return fh.read()
    except _UNREADABLE as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise RunDirError(f"{source}: cannot read: {reason}") from err


def read_numbered(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` of a JSON-lines file (a missing file has none).

    ``path`` is the stream's plain name; its ``.gz`` is read when only that exists
    (``stream_file``), and errors name the file read. A torn last line (the writer was
    killed mid-write) is skipped; a bad line anywhere else is corruption and raises
    ``RunDirError`` naming file and line, and so does a file that cannot be read (a
    directory, no permission, a damaged ``.gz``).
    """
    source = stream_file(path)
    lines = read_stream(source).split(b"\n")
    last = len(lines) - 1
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError) as err:  # not JSON, not UTF-8, nested too deep
            if number - 1 == last:  # no trailing newline: a torn final write
                return
            raise RunDirError(f"{source}:{number}: corrupt record: {err}") from err
        if not isinstance(record, dict):
            raise RunDirError(f"{source}:{number}: expected a JSON object, got {shown(raw)}")
        yield number, record


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSON-lines file (the rules of ``read_numbered``)."""
    for _, record in read_numbered(path):
        yield record


def parse_jsonl(path: Path, parse: Callable[[Record, str], T]) -> Iterator[T]:
    """Yield ``parse(record, where)`` for every record (``where``: ``file:line``).

    A ``RecordError`` from ``parse`` becomes a ``RunDirError`` naming file and line.
    """
    source = stream_file(path)
    for number, record in read_numbered(source):
        where = f"{source}:{number}"
        try:
            yield parse(record, where)
        except RecordError as err:
            raise RunDirError(f"{where}: {err}") from err


# -- field checks: each returns the typed value or raises RecordError -----------------


class RecordError(ValueError):
    """A record that is JSON but not what its file holds: a field missing or mistyped.

    The message names the field and the bad value; the reader adds file and line.
    """


class _Required(Enum):
    REQUIRED = "required"


REQUIRED: Final = _Required.REQUIRED
"""The default of a field that must be present."""

_MAX_NUMBER = 1e15  # beyond any figure a run records: a corrupt value, not a measurement
_MAX_COUNT = 2**53  # counts stay exact as floats
_MAX_UNIX_TIME = 1e11  # the year 5138
_MAX_TEXT = 1_000_000  # an error message may quote a response; a histogram is longer


def shown(value: Any) -> str:
    """A bad value as an error message shows it: its repr, cut short."""
    text_ = repr(value)
    return text_ if len(text_) <= 60 else text_[:57] + "..."


def _present(record: Record, key: str, default: Any) -> tuple[bool, Any]:
    """(False, default) when ``key`` is absent and may be; (True, value) when present."""
    if key in record:
        return True, record[key]
    if default is REQUIRED:
        raise RecordError(f"missing field {key!r}")
    return False, default


def _bad(key: str, expected: str, value: Any) -> RecordError:
    return RecordError(f"field {key!r}: expected {expected}, got {shown(value)}")


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(
    record: Record,
    key: str,
    default: float | Literal[_Required.REQUIRED] = REQUIRED,
    *,
    minimum: float = -_MAX_NUMBER,
    above: float | None = None,
    maximum: float = _MAX_NUMBER,
) -> float:
    """A finite number in ``[minimum, maximum]`` (and ``> above`` when given)."""
    present, value = _present(record, key, default)
    if not present:
        return float(value)
    if not _real(value) or not (minimum <= value <= maximum):  # NaN compares false
        limits = f"between {minimum:g} and {maximum:g}"
        raise _bad(key, f"a number {limits}", value)
    if above is not None and not value > above:
        raise _bad(key, f"a number above {above:g}", value)
    return float(value)


def maybe_number(record: Record, key: str, *, minimum: float = -_MAX_NUMBER) -> float | None:
    """A finite number, or None when absent or null."""
    if record.get(key) is None:
        return None
    return number(record, key, minimum=minimum)


def unix_time(
    record: Record, key: str, default: float | Literal[_Required.REQUIRED] = REQUIRED
) -> float:
    """A moment in Unix seconds (not negative, before the year 5138)."""
    present, value = _present(record, key, default)
    if not present:
        return float(value)
    if not _real(value) or not (0 <= value <= _MAX_UNIX_TIME):
        raise _bad(key, "a Unix time in seconds", value)
    return float(value)


def maybe_unix_time(record: Record, key: str) -> float | None:
    """A Unix time, or None when absent or null."""
    if record.get(key) is None:
        return None
    return unix_time(record, key)


def count(record: Record, key: str, default: int | Literal[_Required.REQUIRED] = REQUIRED) -> int:
    """A whole number, not negative (``3.0`` reads as 3; ``true`` is not a count)."""
    present, value = _present(record, key, default)
    if not present:
        return int(value)
    if _real(value) and 0 <= value <= _MAX_COUNT and float(value).is_integer():
        return int(value)
    raise _bad(key, "a whole number, not negative", value)


def integer(record: Record, key: str, default: int | Literal[_Required.REQUIRED] = REQUIRED) -> int:
    """A whole number, possibly negative (an exit code)."""
    present, value = _present(record, key, default)
    if not present:
        return int(value)
    if _real(value) and abs(value) <= _MAX_COUNT and float(value).is_integer():
        return int(value)
    raise _bad(key, "a whole number", value)


def text(
    record: Record,
    key: str,
    default: str | Literal[_Required.REQUIRED] = REQUIRED,
    *,
    max_length: int | None = _MAX_TEXT,
) -> str:
    """A string of valid Unicode (no lone surrogates), at most ``max_length`` characters."""
    present, value = _present(record, key, default)
    if not present:
        return str(value)
    if not isinstance(value, str) or (max_length is not None and len(value) > max_length):
        raise _bad(key, f"a string of at most {max_length} characters", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise _bad(key, "valid Unicode text", value) from err
    return value


def maybe_text(record: Record, key: str) -> str | None:
    """A string, or None when absent or null."""
    if record.get(key) is None:
        return None
    return text(record, key)


def flag(record: Record, key: str, default: bool | Literal[_Required.REQUIRED] = REQUIRED) -> bool:
    """``true`` or ``false``."""
    present, value = _present(record, key, default)
    if not present:
        return bool(value)
    if not isinstance(value, bool):
        raise _bad(key, "true or false", value)
    return value
