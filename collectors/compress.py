"""Compress a finished run's closed streams: each ``name.jsonl`` replaced by ``name.jsonl.gz``.

A one-minute default rehearsal writes ~7 MB of JSON lines that gzip to ~0.6 MB, so a
soak stays practical on disk (docs/run-directory.md). Called once the gate has judged
the run; every reader (``collectors.jsonl.stream_file``) reads either form, so
``peakops gate`` on the compressed run writes the same verdict.

Kept plain: the streams something may still append to after the run, ``events.jsonl``
(the rehearsal's last events, rollbacks, ``tail -f``) and ``cleanup.jsonl``
(``peakops cleanup RUN_DIR``). Each file is replaced safely: the ``.gz`` is written
beside it under a temporary name, synced, renamed into place, and only then is the
plain file removed; a crash in between leaves the plain file, which readers prefer and
the next compression replaces. A file that cannot be compressed stays plain (it reads
the same): the outcome says which, it never changes the verdict.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.jsonl import GZIP_SUFFIX
from collectors.rundir import RunDir
from slo.runfiles import (
    LATENCY_FILE,
    LEDGER_FILE,
    LOAD_FILE,
    PROBE_DIR,
    STOCK_FILE,
    STORES_FILE,
    TRACES_DIR,
    TRACES_FILE,
    worker_traces_file,
)

__all__ = ["CLOSED_STREAMS", "Compressed", "closed_streams", "compress_closed", "compress_file"]

CLOSED_STREAMS = (LATENCY_FILE, LOAD_FILE, LEDGER_FILE, STOCK_FILE, STORES_FILE, TRACES_FILE)
"""Streams nothing appends to once the run's load, probes and target have stopped."""

_LEVEL = 6  # gzip's default: ~10-20x on these files, ~10 ms per MB


@dataclass
class Compressed:
    """What ``compress_closed`` did: files replaced, bytes before and after, failures."""

    files: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0
    failed: list[str] = field(default_factory=list)  # "name: reason", left plain

    def event_fields(self) -> dict[str, Any]:
        """The ``streams_compressed`` event's fields (docs/run-directory.md)."""
        return {
            "files": len(self.files),
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "failed": self.failed,
        }


def closed_streams(folder: Path) -> list[Path]:
    """The plain closed streams of one run directory, sorted: the fixed names, the
    Locust workers' client spans and the target's server spans (``traces/``)."""
    found = {folder / name for name in CLOSED_STREAMS}
    found.update(folder.glob(worker_traces_file("*")))
    traces = folder / TRACES_DIR
    if traces.is_dir():
        found.update(traces.glob("*.jsonl"))
    return sorted(p for p in found if p.is_file())


def compress_closed(run: RunDir) -> Compressed:
    """Replace every closed stream of ``run`` (and of its rollback probe, ``probe/``) by
    its ``.gz``; never raises for a file that cannot be compressed (module docstring)."""
    outcome = Compressed()
    folders = [run.path, run.path / PROBE_DIR]
    for path in [p for folder in folders if folder.is_dir() for p in closed_streams(folder)]:
        name = str(path.relative_to(run.path))
        try:
            before = path.stat().st_size
            after = compress_file(path).stat().st_size
        except OSError as err:
            outcome.failed.append(f"{name}: {err.strerror or err}")
            continue
        outcome.files.append(name)
        outcome.bytes_before += before
        outcome.bytes_after += after
    return outcome


def compress_file(path: Path) -> Path:
    """Replace ``path`` by ``path.gz`` (same bytes once decompressed); returns the ``.gz``.

    Deterministic output (no timestamp in the header). ``OSError`` leaves ``path`` as
    it was and no temporary file behind."""
    target = path.with_name(path.name + GZIP_SUFFIX)
    tmp = path.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with path.open("rb") as src, tmp.open("wb") as raw:
            with gzip.GzipFile(path.name, "wb", _LEVEL, raw, mtime=0) as packed:
                shutil.copyfileobj(src, packed, 1 << 20)
            raw.flush()
            os.fsync(raw.fileno())  # on disk before the plain file goes
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    path.unlink()
    return target
