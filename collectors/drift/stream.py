"""Read a run's history files as one time-ordered stream, in one pass and bounded memory.

Several processes append to ``ledger.jsonl`` and ``stock.jsonl``, so each file is
nearly, not exactly, in time order. ``merge_by_time`` puts every record of every file
in order with one buffer that holds about ``window_s`` seconds of records (plus one
block per file): a record is released once every file has been read past it by
``window_s``, and a record more than ``window_s`` older than the newest already read
from its own file is an error naming file and line. Ties go events first, then stock,
then ledger, then file order.

Files are read in blocks, each parsed in one call, and the buffer is sorted per block
(nearly sorted input makes that a cheap merge of runs): parsing is most of the
checker's cost, so the per-record work here is kept to the minimum.
"""

from __future__ import annotations

import bisect
import io
import itertools
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.jsonl import open_stream, stream_file
from slo.errors import RunDirError

__all__ = ["STREAMS", "Entry", "Source", "merge_batches", "merge_by_time", "read_records"]

# stream name -> (time field, tie-break priority)
STREAMS: dict[str, tuple[str, int]] = {"events": ("ts", 0), "stock": ("t", 1), "ledger": ("t", 2)}

Record = dict[str, Any]
# A merged record: (t, priority, sequence, stream, record, label, line number).
Entry = tuple[float, int, int, str, Record, str, int]

_MAX_T = 1e11  # seconds: beyond the year 5138 a time is corrupt (and may not fit a float)
_BLOCK_BYTES = 1 << 20  # read from one file at a time (about 5,000 lines)
_BLOCK_LINES = 4096
_EMPTY: list[str] = []
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner


@dataclass
class Source:
    """One input: its stream name, a label for errors (the file), its lines in blocks."""

    stream: str
    label: str
    blocks: Iterable[list[str]]
    keep: Callable[[Record], bool] | None = None  # which records to yield (all: None)

    @classmethod
    def file(cls, stream: str, path: Path, keep: Callable[[Record], bool] | None = None) -> Source:
        """The lines of ``path``, read lazily (a missing file has none)."""
        return cls(stream, str(stream_file(path)), _file_blocks(path), keep)

    @classmethod
    def lines(cls, stream: str, label: str, lines: Iterable[str]) -> Source:
        """Lines already in memory (each ending in a newline)."""
        it = iter(lines)
        return cls(stream, label, iter(lambda: list(itertools.islice(it, _BLOCK_LINES)), []))


def _file_blocks(path: Path) -> Iterator[list[str]]:
    """The lines of the stream ``path``, plain or ``.gz`` (``stream_file``), in blocks."""
    path = stream_file(path)
    if not path.exists():
        return
    try:
        with io.TextIOWrapper(open_stream(path), "utf-8", "replace", newline="\n") as fh:
            while block := fh.readlines(_BLOCK_BYTES):
                yield block
    except (OSError, EOFError, zlib.error) as err:  # a directory, no permission, a bad .gz
        raise RunDirError(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from err


def read_records(path: Path) -> Iterator[tuple[int, Record]]:
    """Yield ``(line number, record)`` of a JSON-lines file, streaming (constant memory).

    The rules of ``collectors.jsonl.read_jsonl``: a missing file is empty, a torn last
    line (a writer killed mid-write) is skipped, any other bad line raises
    ``RunDirError`` naming file and line.
    """
    number, label = 0, str(stream_file(path))
    for block in _file_blocks(path):
        for record in _parse_block(block, label, number):
            number += 1
            if record is not None:
                yield number, record


def _parse(line: str, label: str, number: int) -> Record | None:
    """One line's record; None for a blank line or a torn last line."""
    try:
        record, end = _scan(line, 0)
    except (StopIteration, ValueError, RecursionError) as err:
        return _parse_slowly(line, label, number, err)
    if end != len(line) - 1 and line[end:].strip():
        raise RunDirError(f"{label}:{number}: corrupt record: extra data after the object")
    if type(record) is not dict:
        raise RunDirError(f"{label}:{number}: expected a JSON object, got {line[:40]!r}")
    return record


def _parse_slowly(line: str, label: str, number: int, err: Exception) -> Record | None:
    """What the fast scanner refused: leading blanks, a blank line, a torn or bad line."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        record = json.loads(stripped)
    except (ValueError, RecursionError) as second:  # not JSON, or nested too deep
        if not line.endswith("\n"):  # the last line, torn by a killed writer
            return None
        raise RunDirError(f"{label}:{number}: corrupt record: {second}") from second
    if type(record) is not dict:
        raise RunDirError(f"{label}:{number}: expected a JSON object, got {line[:40]!r}")
    return record


class _Cursor:
    """Reading position in one source, and the newest time read from it."""

    __slots__ = ("blocks", "field", "keep", "label", "newest", "number", "priority", "stream")

    def __init__(self, source: Source) -> None:
        self.stream = source.stream
        self.label = source.label
        self.field, self.priority = STREAMS[source.stream]
        self.blocks = iter(source.blocks)
        self.keep = source.keep
        self.newest = float("-inf")
        self.number = 0

    def read(self, seq: int, window_s: float, out: list[Entry]) -> int:
        """Parse up to one block onto ``out``; returns how many lines were read."""
        field, priority, stream, label = self.field, self.priority, self.stream, self.label
        number, newest, keep = self.number, self.newest, self.keep
        late = newest - window_s
        block = next(self.blocks, _EMPTY)
        for record in _parse_block(block, label, number):
            number += 1
            if record is None:
                continue
            t = record.get(field)
            if type(t) is not float and type(t) is not int:
                raise _no_time(label, number, field, t)
            if t > newest:
                if not -_MAX_T <= t <= _MAX_T:  # inf, or an int no float holds
                    raise _no_time(label, number, field, t)
                newest, late = t, t - window_s
            elif t < late:
                if t < -_MAX_T:
                    raise _no_time(label, number, field, t)
                raise _too_late(label, number, t, newest, window_s)
            elif t != t:  # NaN: neither newer nor older than anything
                raise _no_time(label, number, field, t)
            if keep is not None and not keep(record):
                continue
            out.append((t, priority, seq, stream, record, label, number))
            seq += 1
        self.number, self.newest = number, newest
        return len(block)


def _parse_block(lines: list[str], label: str, first: int) -> list[Record | None]:
    """The records of consecutive lines (None for blank or torn ones), in one parse.

    One ``json.loads`` of the block as an array is as fast per record as the scanner
    and its records share their key strings (less memory while they wait in the
    window). Anything unusual is parsed again line by line, for the exact error.
    """
    try:
        records: list[Any] = json.loads("[" + ",".join(lines) + "]") if lines else []
    except (ValueError, RecursionError):
        records = []
    if len(records) == len(lines) and set(map(type, records)) <= {dict}:
        return records
    return [_parse(line, label, number) for number, line in enumerate(lines, first + 1)]


def merge_batches(sources: Sequence[Source], window_s: float) -> Iterator[list[Entry]]:
    """Yield every record of ``sources`` in time order, in batches (module docstring)."""
    buffer: list[Entry] = []
    active = [_Cursor(source) for source in sources]
    seq = 0
    while active:
        cursor = min(active, key=_newest)
        before = len(buffer)
        if not cursor.read(seq, window_s, buffer):
            active.remove(cursor)
        seq += len(buffer) - before
        buffer.sort()  # a sorted window plus one nearly sorted block: a merge of runs
        release = min((c.newest for c in active), default=float("inf")) - window_s
        cut = bisect.bisect_right(buffer, release, key=_t)
        if cut:
            yield buffer[:cut]
            del buffer[:cut]


def merge_by_time(sources: Sequence[Source], window_s: float) -> Iterator[Entry]:
    """Every record of ``sources`` in time order, one at a time."""
    for batch in merge_batches(sources, window_s):
        yield from batch


def _newest(cursor: _Cursor) -> float:
    return cursor.newest


def _t(entry: Entry) -> float:
    return entry[0]


def _no_time(label: str, number: int, field: str, value: Any) -> RunDirError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return RunDirError(f"{label}:{number}: missing or non-numeric time field {field!r}: {shown}")


def _too_late(label: str, number: int, t: float, newest: float, window_s: float) -> RunDirError:
    return RunDirError(
        f"{label}:{number}: record at t={t} is {newest - t:.3f} s older than one already "
        f"read from this file (t={newest}): beyond the {window_s:g} s reorder window"
    )
