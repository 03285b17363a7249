"""Appending to a run's ``events.jsonl`` from a chaos runner child.

The same record shape and the same single ``os.write`` on ``O_APPEND`` as the run
directory's writer (``collectors.jsonl``, which chaos may not import): lines written
by several processes never interleave.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["append_event"]


def append_event(path: str | Path, kind: str, **fields: Any) -> None:
    """Append ``{"ts", "at", "type": kind, "source": "chaos", **fields}`` to ``path``."""
    now = time.time()
    record = {
        "ts": now,
        "at": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds"),
        "type": kind,
        "source": "chaos",
        **fields,
    }
    line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
