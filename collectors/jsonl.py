"""Append-only JSON-lines files: one ``write()`` per record, readable after a crash.

Several processes append to the same run directory (the CLI writes the timeline, the
load process writes latency). Each record is one ``os.write`` on an ``O_APPEND``
descriptor, so lines from different processes never interleave, and every record is
on disk (in the page cache) as soon as ``append`` returns: a SIGKILL loses nothing
already appended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slo.errors import RunDirError

__all__ = ["JsonlAppender", "read_jsonl"]


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


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSON-lines file.

    A torn last line (the writer was killed mid-write) is skipped; a bad line
    anywhere else is corruption and raises ``RunDirError`` naming file and line.
    """
    if not path.exists():
        return
    with path.open("rb") as fh:
        lines = fh.read().split(b"\n")
    last = len(lines) - 1
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as err:
            if number - 1 == last:  # no trailing newline: a torn final write
                return
            raise RunDirError(f"{path}:{number}: corrupt record: {err}") from err
        if not isinstance(record, dict):
            raise RunDirError(f"{path}:{number}: expected a JSON object, got {raw[:40]!r}")
        yield record
