"""The slowest traced requests of a run, with every span recorded for each trace.

Spans are OTLP-JSON lines (one export batch a line): the load generator's client spans
in ``traces.jsonl`` (and ``traces-worker-N.jsonl``), the embedded OMS's server spans in
``traces/*.jsonl``. The slowest client spans are the requests; a second pass picks the
spans of those traces from every file (a cheap substring test first, so a long run's
files are mostly not parsed twice). Torn or bad lines are skipped and counted.
"""

from __future__ import annotations

import heapq
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.jsonl import GZIP_SUFFIX, open_stream, stream_files
from collectors.rundir import RunDir
from slo.runfiles import TRACES_DIR, TRACES_FILE, worker_traces_file

__all__ = ["SpanRow", "TraceData", "TracedRequest", "read_traces"]

SLOWEST = 10
_MAX_SPANS = 40  # per trace shown: a retry storm should not fill the page
_CLIENT_KIND = 3


@dataclass(frozen=True)
class SpanRow:
    """One span of a trace: ms after the trace's first span started, and its length."""

    service: str
    name: str
    offset_ms: float
    duration_ms: float
    status: str
    depth: int


@dataclass(frozen=True)
class TracedRequest:
    """One slow request: its client span and the spans of its trace."""

    trace_id: str
    endpoint: str
    start: float
    duration_ms: float
    status: str
    spans: tuple[SpanRow, ...]


@dataclass
class TraceData:
    """The slowest requests; ``files`` read and ``bad_lines`` skipped say how complete."""

    requests: list[TracedRequest]
    files: list[str]
    client_spans: int
    bad_lines: int


def _files(run: RunDir) -> tuple[list[Path], list[Path]]:
    # plain or .gz (collectors.compress)
    clients = stream_files(run.path, TRACES_FILE) + stream_files(run.path, worker_traces_file("*"))
    folder = run.file(TRACES_DIR)
    servers = stream_files(folder, "*.jsonl") if folder.is_dir() else []
    return clients, servers


def _batches(path: Path, counter: list[int], needles: tuple[bytes, ...] = ()) -> Iterator[Any]:
    try:
        with open_stream(path) as fh:
            for raw in fh:
                if needles and not any(n in raw for n in needles):
                    continue
                try:
                    yield json.loads(raw)
                except (ValueError, RecursionError):
                    counter[0] += 1
    except (OSError, EOFError, zlib.error):
        counter[0] += 1


def _spans(batch: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(service name, span)`` of one OTLP-JSON export batch; anything malformed skipped."""
    if not isinstance(batch, dict):
        return
    for resource in batch.get("resourceSpans") or []:
        if not isinstance(resource, dict):
            continue
        service = _attribute(resource.get("resource"), "service.name") or "?"
        for scope in resource.get("scopeSpans") or []:
            for span in (scope.get("spans") or []) if isinstance(scope, dict) else []:
                if isinstance(span, dict) and _window(span) is not None:
                    yield service, span


def _attribute(holder: Any, key: str) -> str | None:
    attributes = holder.get("attributes") if isinstance(holder, dict) else None
    for item in attributes if isinstance(attributes, list) else []:
        if isinstance(item, dict) and item.get("key") == key:
            value = item.get("value")
            if isinstance(value, dict) and value:
                return str(next(iter(value.values())))
    return None


def _window(span: Mapping[str, Any]) -> tuple[int, int] | None:
    try:
        start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
    except (KeyError, TypeError, ValueError):
        return None
    return (start, end) if end >= start and isinstance(span.get("traceId"), str) else None


def _status(span: Mapping[str, Any]) -> str:
    code = _attribute(span, "http.response.status_code")
    status = span.get("status")
    failed = isinstance(status, dict) and status.get("code") in (2, "STATUS_CODE_ERROR")
    if code is not None:
        return f"HTTP {code}" + (" error" if failed else "")
    return "error" if failed else "ok"


def read_traces(run: RunDir, keep: int = SLOWEST) -> TraceData | None:
    """The ``keep`` slowest traced requests; None when the run recorded no span file."""
    clients, servers = _files(run)
    if not clients and not servers:
        return None
    bad = [0]
    slowest: list[tuple[int, str, int, dict[str, Any]]] = []
    seen = 0
    for path in clients:
        for batch in _batches(path, bad):
            for _service, span in _spans(batch):
                if span.get("kind") != _CLIENT_KIND or span.get("parentSpanId"):
                    continue
                seen += 1
                start, end = _window(span) or (0, 0)
                item = (end - start, span["traceId"], -seen, span)  # -seen: never a tie
                if len(slowest) < keep:
                    heapq.heappush(slowest, item)
                elif item[:3] > slowest[0][:3]:
                    heapq.heapreplace(slowest, item)
    chosen = sorted(slowest, key=lambda item: (-item[0], item[1]))
    members = _members({item[1] for item in chosen}, [*clients, *servers], bad)
    requests = [_request(span, members.get(trace_id, [])) for _, trace_id, _, span in chosen]
    names = [str(p.relative_to(run.path)).removesuffix(GZIP_SUFFIX) for p in (*clients, *servers)]
    return TraceData(requests, names, seen, bad[0])


def _members(
    trace_ids: set[str], paths: list[Path], bad: list[int]
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every span of the ``trace_ids``, from every file."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {t: [] for t in trace_ids}
    needles = tuple(t.encode() for t in sorted(trace_ids))
    if not needles:
        return found
    for path in paths:
        for batch in _batches(path, bad, needles):
            for service, span in _spans(batch):
                if span["traceId"] in found:
                    found[span["traceId"]].append((service, span))
    return found


def _request(root: Mapping[str, Any], spans: list[tuple[str, dict[str, Any]]]) -> TracedRequest:
    start, end = _window(root) or (0, 0)
    ordered = sorted(spans, key=lambda s: ((_window(s[1]) or (0, 0))[0], str(s[1].get("spanId"))))
    first = min([start, *((_window(s) or (start, 0))[0] for _, s in ordered)])
    parents = {str(s.get("spanId")): str(s.get("parentSpanId") or "") for _, s in ordered}
    rows = []
    for service, span in ordered[:_MAX_SPANS]:
        s_start, s_end = _window(span) or (first, first)
        rows.append(
            SpanRow(
                service,
                str(span.get("name", "?")),
                (s_start - first) / 1e6,
                (s_end - s_start) / 1e6,
                _status(span),
                _depth(str(span.get("spanId")), parents),
            )
        )
    return TracedRequest(
        trace_id=str(root["traceId"]),
        endpoint=str(root.get("name", "?")),
        start=start / 1e9,
        duration_ms=(end - start) / 1e6,
        status=_status(root),
        spans=tuple(rows),
    )


def _depth(span_id: str, parents: Mapping[str, str]) -> int:
    depth, seen = 0, {span_id}
    while parents.get(span_id) in parents and depth < 10:
        span_id = parents[span_id]
        if span_id in seen:
            break
        seen.add(span_id)
        depth += 1
    return depth
