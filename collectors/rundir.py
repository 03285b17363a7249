"""The run directory: the contract between the stages of a rehearsal.

Layout (documented in docs/run-directory.md)::

    runs/<run-id>/
        run.json        header: format version, plan snapshot, git sha, host, start/end
        events.jsonl    the timeline: phases, platform events, faults, deploys
        latency.jsonl   per endpoint and per interval: HDR histogram + outcome counts
        verdict.json, junit.xml, summary.md     written by the gate

Everything but ``run.json`` is append-only JSON lines; ``run.json`` is replaced
atomically (write to a temp file, rename), so a reader never sees half a header. A
finished run keeps its closed streams gzip-compressed (``collectors.compress``):
``file`` and ``records`` find a stream in either form.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.jsonl import JsonlAppender, read_jsonl, shown, stream_file
from slo.conventions import RUN_FORMAT_VERSION
from slo.errors import RunDirError
from slo.runfiles import EVENTS_FILE, HEADER_FILE

__all__ = [
    "EventLog",
    "RunDir",
    "new_run_id",
]


def new_run_id(now: float | None = None) -> str:
    """A sortable, readable run id: ``20261122-003049-1a2b``."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RunDir:
    """One run directory on disk; cheap to build, every method does its own I/O."""

    path: Path

    @classmethod
    def create(
        cls, root: Path, run_id: str, *, plan: dict[str, Any], git_sha: str | None
    ) -> RunDir:
        """Make a new run directory and write its header."""
        path = root / run_id
        try:
            path.mkdir(parents=True, exist_ok=False)
        except OSError as err:
            raise RunDirError(f"{path}: cannot create run directory: {err.strerror}") from err
        run = cls(path)
        now = time.time()
        run.write_header(
            {
                "format_version": RUN_FORMAT_VERSION,
                "run_id": run_id,
                "plan": plan,
                "git_sha": git_sha,
                "host": socket.gethostname(),
                "started_at": _iso(now),
                "started_ts": now,
                "ended_at": None,
                "ended_ts": None,
                "status": "running",
            }
        )
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """Open an existing run directory, checking its header's format version."""
        run = cls(path)
        header = run.header()
        version = header.get("format_version")
        if "format_version" not in header:
            raise RunDirError(f"{path / HEADER_FILE}: no format_version: not a peakops header")
        if type(version) is not int or version != RUN_FORMAT_VERSION:  # not 1.0, not true
            raise RunDirError(
                f"{path / HEADER_FILE}: unsupported format_version {shown(version)} "
                f"(this peakops reads {RUN_FORMAT_VERSION})"
            )
        return run

    @property
    def run_id(self) -> str:
        """The directory's name (``peakops gate .`` inside a run names it too)."""
        return self.path.name or self.path.resolve().name

    def file(self, name: str) -> Path:
        """The path of ``name`` in the run; for a stream (``*.jsonl``) the file that holds
        it: its ``.gz`` once the run compressed it (``collectors.jsonl.stream_file``)."""
        path = self.path / name
        return stream_file(path) if name.endswith(".jsonl") else path

    # -- header -----------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        header_path = self.path / HEADER_FILE
        if not self.path.is_dir():
            raise RunDirError(f"{self.path}: no such run directory")
        try:
            data = json.loads(header_path.read_bytes())
        except FileNotFoundError as err:
            raise RunDirError(f"{header_path}: missing: not a peakops run directory") from err
        except OSError as err:  # a directory, no permission
            raise RunDirError(f"{header_path}: cannot read: {err.strerror or err}") from err
        except (ValueError, RecursionError) as err:  # not JSON, not UTF-8, nested too deep
            raise RunDirError(f"{header_path}: corrupt header: {err}") from err
        if not isinstance(data, dict):
            raise RunDirError(f"{header_path}: corrupt header: expected a JSON object")
        return data

    def plan_snapshot(self) -> dict[str, Any]:
        """The plan the run was started with (``plan`` of the header), as written."""
        header = self.header()
        where = self.path / HEADER_FILE
        if "plan" not in header:
            raise RunDirError(f"{where}: no plan snapshot (field 'plan' is missing)")
        plan = header["plan"]
        if not isinstance(plan, dict):
            raise RunDirError(f"{where}: field 'plan': expected an object, got {shown(plan)}")
        return plan

    def write_header(self, header: dict[str, Any]) -> None:
        self.write_json(HEADER_FILE, header)

    def update_header(self, **fields: Any) -> None:
        header = self.header()
        header.update(fields)
        self.write_header(header)

    def finish(self, status: str, **fields: Any) -> None:
        """Stamp the end of the run into the header (``fields``: e.g. the stopping signal)."""
        now = time.time()
        self.update_header(ended_at=_iso(now), ended_ts=now, status=status, **fields)

    def write_json(self, name: str, data: Any) -> None:
        """Replace ``name`` atomically with ``data`` as pretty, sorted JSON."""
        self.write_text(name, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def write_text(self, name: str, text: str) -> None:
        """Replace ``name`` atomically with ``text`` (a reader never sees half a file)."""
        target = self.path / name
        tmp = target.with_name(f".{name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(text)
            os.replace(tmp, target)
        except OSError as err:  # e.g. a directory where the file goes
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise RunDirError(f"{target}: cannot write: {err.strerror or err}") from err

    # -- append-only streams -------------------------------------------------------

    def appender(self, name: str) -> JsonlAppender:
        return JsonlAppender(self.path / name)

    def records(self, name: str) -> Iterator[dict[str, Any]]:
        return read_jsonl(self.path / name)

    def events(self) -> list[dict[str, Any]]:
        return list(self.records(EVENTS_FILE))


class EventLog:
    """Writes the run's timeline (``events.jsonl``), each event stamped with the time."""

    def __init__(self, run: RunDir, *, source: str) -> None:
        self._out = run.appender(EVENTS_FILE)
        self._source = source

    def emit(self, type_: str, **fields: Any) -> None:
        now = time.time()
        self._out.append(
            {"ts": now, "at": _iso(now), "type": type_, "source": self._source, **fields}
        )

    def close(self) -> None:
        self._out.close()
