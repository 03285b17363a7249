"""Read a run directory's latency records back into the figures SLOs are judged on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.latency import (
    EncodedDistribution,
    HdrDistribution,
    RecordedEndpoint,
    combine,
    decode_histogram,
    merge,
    merge_distributions,
)
from collectors.records import bad_histogram, read_latency, read_load
from collectors.rundir import RunDir
from collectors.timeline import RunTimeline
from slo.conventions import ENDPOINT_PLACE_ORDER
from slo.errors import RunDirError
from slo.knee import Window
from slo.stats import ALL_ENDPOINTS, EndpointStats, GeneratorStats, RunStats
from slo.timeline import Second, Timeline

__all__ = [
    "EndpointSummary",
    "LoadWindow",
    "endpoint_summaries",
    "generator_stats",
    "latency_windows",
    "load_window",
    "planned_requests",
    "run_stats",
]

REPORTED_PERCENTILES = (50.0, 95.0, 99.0, 99.9)
FAILED_PERCENTILES = (50.0, 99.0)


@dataclass(frozen=True)
class LoadWindow:
    """When load was applied.

    ``complete`` is false for a flood that was interrupted (the rehearsal was stopped
    or killed) and for one that never said it ended (the load process was killed).
    """

    start: float
    end: float
    complete: bool
    interrupted: bool = False

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self.end - self.start)


def load_window(timeline: RunTimeline, latency: list[dict[str, Any]]) -> LoadWindow | None:
    """The load phase from the timeline, falling back to the recorded intervals.

    A run killed mid-flood has a ``load_started`` event but no ``load_finished``:
    its window ends with the last recorded interval.
    """
    start = timeline.load_start
    if start is None:
        return None
    if timeline.load_end is not None:
        interrupted = timeline.load_interrupted
        return LoadWindow(
            start, timeline.load_end, complete=not interrupted, interrupted=interrupted
        )
    last = max((float(r["t"]) + float(r["interval_s"]) for r in latency), default=start)
    return LoadWindow(start, max(start, last), complete=False)


def generator_stats(load: list[dict[str, Any]], window_s: float = 5.0) -> GeneratorStats | None:
    """Totals of the load generator's records, and its busiest ``window_s`` of CPU."""
    if not load:
        return None
    cpu: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for record in load:
        cpu[str(record.get("source", ""))].append(
            (float(record["t"]), float(record["cpu_percent"]))
        )
    busiest, busiest_source = 0.0, ""
    for source, samples in cpu.items():
        samples.sort()
        for i, (start, _) in enumerate(samples):
            window = [c for t, c in samples[i:] if t < start + window_s]
            if len(window) >= window_s and sum(window) / len(window) > busiest:
                busiest, busiest_source = sum(window) / len(window), source
    return GeneratorStats(
        arrivals_planned=sum(float(r["arrivals_planned"]) for r in load),
        arrivals_sent=sum(int(r["arrivals_sent"]) for r in load),
        arrivals_dropped=sum(int(r["arrivals_dropped"]) for r in load),
        busiest_cpu_percent=round(busiest, 1),
        busiest_source=busiest_source or next(iter(cpu)),
        cpu_window_s=window_s,
    )


def planned_requests(load: list[dict[str, Any]]) -> dict[str, float]:
    """Requests the load plan meant to send, per endpoint (from the generator's records)."""
    planned: dict[str, float] = defaultdict(float)
    for record in load:
        for endpoint, count in record.get("planned", {}).items():
            planned[endpoint] += float(count)
    return dict(planned)


def run_stats(run: RunDir, timeline: RunTimeline) -> tuple[RunStats, LoadWindow | None]:
    """Merge every latency interval and load record of the run into ``RunStats``.

    Besides the whole-run figures, keeps each interval (encoded) for objectives that
    judge a phase of the run and for recovery, with the run's fault windows.
    """
    located = read_latency(run)  # each record checked once (collectors.records)
    latency = [record for _, record in located]
    load = read_load(run)
    try:
        merged = merge(latency)
    except ValueError as err:  # a histogram that does not decode: name its record
        raise bad_histogram(located, err) from err
    if merged:
        merged = {**dict(sorted(merged.items())), ALL_ENDPOINTS: combine(merged.values())}
    endpoints: dict[str, EndpointStats] = {}
    for endpoint, (ok, fail, dist, failed, errors) in merged.items():
        # ``dist``: successful requests only (``failed``: the failed ones), in runs that
        # recorded ``hist_fail``; every request in older runs (``failed`` is None).
        endpoints[endpoint] = RecordedEndpoint(endpoint, ok + fail, fail, dist, failed, errors)
    window = load_window(timeline, latency)
    stats = RunStats(
        endpoints=endpoints,
        elapsed_s=window.elapsed_s if window else 0.0,
        planned=planned_requests(load),
        generator=generator_stats(load),
        load_start=window.start if window else None,
        load_end=window.end if window else None,
        timeline=_seconds(latency),
        faults=timeline.faults,
        faults_known=timeline.faults_known,
    )
    return stats, window


def _seconds(latency: list[dict[str, Any]]) -> Timeline:
    by_endpoint: dict[str, list[Second]] = defaultdict(list)
    for record in latency:
        ok, fail = int(record["ok"]), int(record["fail"])
        # ``hist`` holds the successful requests; before ``hist_fail`` existed, all of them.
        samples = ok if "hist_fail" in record else ok + fail
        by_endpoint[str(record["endpoint"])].append(
            Second(
                t=float(record["t"]),
                interval_s=float(record["interval_s"]),
                requests=ok + fail,
                failures=fail,
                latency=EncodedDistribution(str(record["hist"]), samples),
            )
        )
    for seconds in by_endpoint.values():
        seconds.sort(key=lambda s: s.t)
    return Timeline(seconds=dict(by_endpoint), merge=merge_distributions)


@dataclass(frozen=True)
class EndpointSummary:
    """The per-endpoint line of a report: counts and the usual percentiles in ms.

    The percentiles and ``max_ms`` are of successful requests (of every request in runs
    recorded before failures were kept apart); ``failed_ms`` holds the failed requests'
    p50 and p99 (None when none failed or the run did not keep them apart), ``errors``
    why they failed (exception type or ``HTTP <status>``: count).
    """

    endpoint: str
    requests: int
    failures: int
    planned: float | None
    percentiles_ms: Mapping[float, float]
    max_ms: float
    failed_ms: Mapping[float, float] | None = None
    errors: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "endpoint": self.endpoint,
            "requests": self.requests,
            "failures": self.failures,
            "max_ms": round(self.max_ms, 3),
        }
        if self.planned is not None:
            data["planned"] = round(self.planned, 1)
        for pct, value in self.percentiles_ms.items():
            data[f"p{pct:g}_ms"] = round(value, 3)
        for pct in FAILED_PERCENTILES:
            failed = self.failed_ms.get(pct) if self.failed_ms is not None else None
            data[f"failed_p{pct:g}_ms"] = round(failed, 3) if failed is not None else None
        data["errors"] = dict(sorted(self.errors.items()))
        return data


def endpoint_summaries(stats: RunStats) -> list[EndpointSummary]:
    """One summary per endpoint (the all-endpoints line last)."""
    names = sorted(n for n in stats.endpoints if n != ALL_ENDPOINTS)
    if ALL_ENDPOINTS in stats.endpoints:
        names.append(ALL_ENDPOINTS)
    out = []
    for name in names:
        es = stats.endpoints[name]
        dist = es.latency
        # No successful request: 0, as reports always showed an empty distribution.
        pcts = {p: dist.value_at_percentile(p) if dist.total_count else 0.0
                for p in REPORTED_PERCENTILES}  # fmt: skip
        max_ms = dist.max_ms if isinstance(dist, HdrDistribution) else pcts[99.9]
        failed = es.failed_latency if isinstance(es, RecordedEndpoint) else None
        failed_ms = (
            {p: failed.value_at_percentile(p) for p in FAILED_PERCENTILES}
            if failed is not None and failed.total_count > 0
            else None
        )
        errors = es.errors if isinstance(es, RecordedEndpoint) else {}
        planned = stats.planned.get(name)
        out.append(
            EndpointSummary(
                name, es.requests, es.failures, planned, pcts, max_ms, failed_ms, errors
            )
        )
    return out


def latency_windows(
    run: RunDir, endpoint: str, percentile: float, *, window_s: float = 5.0
) -> list[Window]:
    """Per ``window_s`` slice: offered orders/min (planned) and the endpoint's percentile (ms)."""
    buckets: dict[int, HdrDistribution] = defaultdict(HdrDistribution)
    for where, record in read_latency(run):
        if endpoint in (ALL_ENDPOINTS, record["endpoint"]):
            try:
                histogram = decode_histogram(record["hist"])
            except ValueError as err:
                raise RunDirError(f"{where}: field 'hist': {err}") from err
            buckets[int(record["t"] // window_s)].add(histogram)
    offered: dict[int, float] = defaultdict(float)
    for record in read_load(run):
        orders = record["planned"].get(ENDPOINT_PLACE_ORDER, 0.0)
        offered[int(record["t"] // window_s)] += orders * 60.0 / window_s
    if not buckets:
        return []
    first = min(buckets)
    return [
        Window(
            (index - first) * window_s,
            offered.get(index, 0.0),
            dist.value_at_percentile(percentile),
        )
        for index, dist in sorted(buckets.items())
        if dist.total_count > 0
    ]
