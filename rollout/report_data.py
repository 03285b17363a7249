"""Read a run directory into the time series ``report.html`` draws, whatever state it is in.

The report is read after a clean run, after a failed gate and after a SIGKILL, so every
source here may be missing, empty, torn or corrupt. Records are checked by the same
parsers the gate uses (``collectors.records``, ``collectors.timeline``), but a bad line
is skipped and counted instead of stopping the report: the report shows what there is
and lists what is missing or unreadable in ``RunData.gaps`` (the gate, not the report,
is where a corrupt file is an error). Times are seconds after the load started (the
timeline's origin); long runs are bucketed to at most ``MAX_POINTS`` points per line.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from collectors.jsonl import open_stream
from collectors.latency import HdrDistribution, decode_histogram
from collectors.records import parse_latency, parse_load
from collectors.rundir import RunDir
from collectors.timeline import Event, RunTimeline, parse_event, read_timeline, run_timeline
from slo.conventions import ENDPOINT_PLACE_ORDER
from slo.errors import PeakopsError
from slo.release import ReleaseRecord, release_record
from slo.runfiles import EVENTS_FILE, HEADER_FILE, LATENCY_FILE, LOAD_FILE

__all__ = [
    "MAX_POINTS",
    "EndpointSeries",
    "LatencyPoint",
    "LoadPoint",
    "RunData",
    "Span",
    "read_lenient",
    "read_run",
]

MAX_POINTS = 240
"""At most this many points per line: a one-minute run keeps its seconds, a long run is
bucketed (and the report stays well under 1 MB whatever the run's length)."""

T = TypeVar("T")
Parse = Callable[[Mapping[str, Any], str], T]


@dataclass(frozen=True)
class Span:
    """A window shaded on the charts: a fault, a deploy or a rollback (seconds after start)."""

    label: str
    start: float
    end: float
    kind: str
    open_ended: bool = False
    """Its end was not recorded (then ``end`` is its lease expiry, or the end of the run)."""


@dataclass(frozen=True)
class LatencyPoint:
    """One bucket of one endpoint: successful requests' percentiles (ms) and counts."""

    t: float
    p50: float | None
    p95: float | None
    p99: float | None
    requests: int
    failures: int


@dataclass(frozen=True)
class EndpointSeries:
    """One endpoint over time, and why its requests failed (kind: count)."""

    endpoint: str
    points: tuple[LatencyPoint, ...]
    errors: Mapping[str, int]

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.points)

    @property
    def failures(self) -> int:
        return sum(p.failures for p in self.points)


@dataclass(frozen=True)
class LoadPoint:
    """One bucket of the load generator's records, summed over its processes."""

    t: float
    planned: float
    sent: int
    dropped: int
    confirmed: int
    planned_orders: float
    cpu_max: float


@dataclass
class RunData:
    """Everything the report draws from the timeline, latency and load files."""

    run_id: str
    header: dict[str, Any]
    origin: float
    bucket_s: float
    timeline: RunTimeline | None
    events: list[dict[str, Any]]
    release: ReleaseRecord
    endpoints: list[EndpointSeries]
    load: list[LoadPoint]
    windows: list[Span]
    gaps: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.header.get("status") == "completed"

    @property
    def end_s(self) -> float:
        """The last second anything was recorded, after the origin."""
        ends = [p.t + self.bucket_s for e in self.endpoints for p in e.points]
        ends += [p.t + self.bucket_s for p in self.load]
        ends += [w.end for w in self.windows]
        return max(ends, default=1.0)


def read_lenient(path: Path, parse: Parse[T], gaps: list[str], *, expected: bool = True) -> list[T]:
    """Every record of a JSON-lines file that ``parse`` accepts; the rest counted in ``gaps``.

    A missing or empty file is noted when ``expected``; a torn last line (the writer was
    killed mid-write) is skipped quietly, as the gate does; other bad lines are skipped
    and the first is named.
    """
    name = path.name
    if not path.exists():
        if expected:
            gaps.append(f"{name}: missing")
        return []
    try:
        with open_stream(path) as stream:  # plain or .gz (collectors.compress)
            lines = stream.read().split(b"\n")
    except (OSError, EOFError, zlib.error) as err:
        gaps.append(f"{name}: cannot read: {getattr(err, 'strerror', None) or err}")
        return []
    out: list[T] = []
    bad, first = 0, ""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            out.append(parse(record, f"{name}:{number}"))
        except (ValueError, RecursionError, TypeError) as err:
            if number == len(lines):  # no newline after it: a torn final write
                continue
            bad += 1
            first = first or f"{name}:{number}: {err}"
    if bad:
        gaps.append(f"{name}: {bad} unreadable line(s) skipped; the first: {first}")
    if not out and expected:
        gaps.append(f"{name}: empty")
    return out


def _as_is(record: Mapping[str, Any], where: str) -> dict[str, Any]:
    return dict(record)


def read_run(run: RunDir, experiments: tuple[str, ...] = ()) -> RunData:
    """The run's timeline, windows, per-endpoint latency and load series."""
    gaps: list[str] = []
    header = _header(run, gaps)
    events = read_lenient(run.file(EVENTS_FILE), _as_is, gaps)
    timeline = _timeline(run, experiments, gaps)
    latency = read_lenient(run.file(LATENCY_FILE), parse_latency, gaps)
    load = read_lenient(run.file(LOAD_FILE), parse_load, gaps)
    origin = _origin(timeline, header, latency, load)
    span_s = max([float(r["t"]) - origin for r in (*latency, *load)] + [1.0])
    bucket_s = float(max(1, math.ceil(span_s / MAX_POINTS)))
    release = release_record(events)
    return RunData(
        run_id=run.run_id,
        header=header,
        origin=origin,
        bucket_s=bucket_s,
        timeline=timeline,
        events=events,
        release=release,
        endpoints=_endpoints(latency, origin, bucket_s, gaps),
        load=_load(load, origin, bucket_s),
        windows=_windows(timeline, release, origin, events),
        gaps=gaps,
    )


def _header(run: RunDir, gaps: list[str]) -> dict[str, Any]:
    try:
        return run.header()
    except PeakopsError as err:
        gaps.append(f"{HEADER_FILE}: {err}")
        return {}


def _timeline(run: RunDir, experiments: tuple[str, ...], gaps: list[str]) -> RunTimeline | None:
    """The gate's reading of the timeline; a lenient one when a record is corrupt."""
    try:
        return run_timeline(run, experiments)
    except PeakopsError:
        events: list[Event] = read_lenient(run.file(EVENTS_FILE), parse_event, [])
        try:
            return read_timeline(events)
        except PeakopsError as err:
            gaps.append(f"{EVENTS_FILE}: the timeline could not be read: {err}")
            return None


def _origin(
    timeline: RunTimeline | None,
    header: Mapping[str, Any],
    latency: list[dict[str, Any]],
    load: list[dict[str, Any]],
) -> float:
    """Where the report's clock starts: the load start, else the first thing recorded."""
    if timeline is not None and (timeline.load_start is not None or timeline.first_ts):
        return timeline.origin
    times = [float(r["t"]) for r in (*latency, *load)]
    if times:
        return min(times)
    started = header.get("started_ts")
    return float(started) if isinstance(started, int | float) else 0.0


def _bucket(t: float, origin: float, bucket_s: float) -> float:
    return math.floor((t - origin) / bucket_s) * bucket_s


def _endpoints(
    latency: list[dict[str, Any]], origin: float, bucket_s: float, gaps: list[str]
) -> list[EndpointSeries]:
    hists: dict[tuple[str, float], HdrDistribution] = defaultdict(HdrDistribution)
    counts: dict[tuple[str, float], list[int]] = defaultdict(lambda: [0, 0])
    errors: dict[str, dict[str, int]] = defaultdict(dict)
    bad = 0
    for record in latency:
        key = (str(record["endpoint"]), _bucket(float(record["t"]), origin, bucket_s))
        try:
            hists[key].add(decode_histogram(record["hist"]))
        except ValueError:
            bad += 1  # its counts still count; its latencies are lost
        counts[key][0] += int(record["ok"]) + int(record["fail"])
        counts[key][1] += int(record["fail"])
        for kind, n in record.get("errors", {}).items():
            errors[key[0]][kind] = errors[key[0]].get(kind, 0) + int(n)
    if bad:
        gaps.append(
            f"{LATENCY_FILE}: {bad} histogram(s) would not decode; their latency is left out"
        )
    series = []
    for endpoint in sorted({name for name, _ in counts}):
        points = tuple(
            _latency_point(t, hists.get((endpoint, t)), *counts[(endpoint, t)])
            for t in sorted(t for name, t in counts if name == endpoint)
        )
        series.append(EndpointSeries(endpoint, points, dict(sorted(errors[endpoint].items()))))
    return series


def _latency_point(
    t: float, dist: HdrDistribution | None, requests: int, failures: int
) -> LatencyPoint:
    if dist is None or dist.total_count == 0:
        return LatencyPoint(t, None, None, None, requests, failures)
    p50, p95, p99 = (dist.value_at_percentile(p) for p in (50.0, 95.0, 99.0))
    return LatencyPoint(t, p50, p95, p99, requests, failures)


def _load(load: list[dict[str, Any]], origin: float, bucket_s: float) -> list[LoadPoint]:
    sums: dict[float, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    cpu: dict[float, float] = defaultdict(float)
    for record in load:
        t = _bucket(float(record["t"]), origin, bucket_s)
        row = sums[t]
        row["planned"] += float(record["arrivals_planned"])
        row["sent"] += int(record["arrivals_sent"])
        row["dropped"] += int(record["arrivals_dropped"])
        confirmed = record.get("orders_confirmed")
        row["confirmed"] += confirmed if isinstance(confirmed, int) and confirmed >= 0 else 0
        row["orders"] += float(record["planned"].get(ENDPOINT_PLACE_ORDER, 0.0))
        cpu[t] = max(cpu[t], float(record["cpu_percent"]))
    return [
        LoadPoint(
            t,
            row["planned"],
            int(row["sent"]),
            int(row["dropped"]),
            int(row["confirmed"]),
            row["orders"],
            cpu[t],
        )
        for t, row in sorted(sums.items())
    ]


def _windows(
    timeline: RunTimeline | None,
    release: ReleaseRecord,
    origin: float,
    events: list[dict[str, Any]],
) -> list[Span]:
    """Faults, the deploy and every rollback, in seconds after the origin."""
    spans: list[Span] = []
    for fault in timeline.spans if timeline is not None else ():
        spans.append(
            Span(
                fault.name,
                fault.start - origin,
                fault.end - origin,
                "fault",
                open_ended=fault.stopped is None,
            )
        )
    last = max((float(e["ts"]) for e in events if _is_time(e.get("ts"))), default=origin)
    if release.deploy_started is not None:
        end = release.deploy_finished
        label = f"deploy {release.deployed_version or ''}".strip()
        spans.append(
            Span(
                label,
                release.deploy_started - origin,
                (end if end is not None else last) - origin,
                "deploy",
                open_ended=end is None,
            )
        )
    for rollback in release.rollbacks:
        if rollback.refused is not None:
            continue
        end = rollback.finished
        spans.append(
            Span(
                "rollback",
                rollback.started - origin,
                (end if end is not None else last) - origin,
                "rollback",
                open_ended=end is None,
            )
        )
    return sorted(spans, key=lambda s: (s.start, s.label))


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
