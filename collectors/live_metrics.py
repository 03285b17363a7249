"""Live Prometheus metrics of the load process, built from the records it writes.

The per-request path stays lean: requests go into HDR histograms only. This
collector is fed the same interval records that go into the run directory: each
interval's histogram is counted into the Prometheus buckets as it arrives (a scrape
only copies counters: it runs on the load generator's event loop, and counting the
whole run's histogram at every scrape stalled shoppers' requests for 100+ ms). It
serves client latency histograms of every request, successful or failed (as before the
run directory kept them apart: the chaos stop condition reads them), with the slowest
traced successful request of each interval as a trace-id exemplar, request and arrival
counters, journeys in flight, each load process's CPU.
Served on 127.0.0.1 only; exemplars need the OpenMetrics format (Prometheus
negotiates it).

Two things make Prometheus' ``increase()`` over the load window count every request
(the PromQL gate, docs/promql-gate.md): the plan's endpoints are registered at zero
(``register_endpoints``), since a counter series that appears with its first value
loses that value; and each ``collect()`` (a scrape) is timed, so the load process can
wait until a scrape has seen its first zeros and its final interval
(``await_scrapes``).
"""

from __future__ import annotations

import operator
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Exemplar

from collectors.latency import decode_histogram
from slo.conventions import (
    CLIENT_LATENCY_BUCKETS_S,
    LABEL_ENDPOINT,
    LABEL_OUTCOME,
    LABEL_QUANTILE,
    LABEL_SOURCE,
    METRIC_ARRIVALS_DROPPED,
    METRIC_ARRIVALS_PLANNED,
    METRIC_ARRIVALS_SENT,
    METRIC_CLIENT_LATENCY,
    METRIC_CLIENT_REQUESTS,
    METRIC_DRIFT_LAG,
    METRIC_DRIFT_OUTSIDE,
    METRIC_DRIFT_OVERSELL,
    METRIC_DRIFT_UNDERSELL,
    METRIC_JOURNEYS_ACTIVE,
    METRIC_LOAD_CPU,
    METRIC_ORDERS_CONFIRMED,
)

__all__ = ["BUCKETS_S", "LiveMetrics", "bucket_counts"]

BUCKETS_S = CLIENT_LATENCY_BUCKETS_S  # slo.conventions: alert rules read the same bounds


class LiveMetrics:
    """A Prometheus collector over the run's interval records (thread-safe).

    ``clock`` stamps each scrape (``collect()``): Unix seconds, as the run's events."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._scrapes: deque[float] = deque(maxlen=16)  # when the latest collects began
        self._lock = threading.Lock()
        self._scraped = threading.Condition(self._lock)
        self._buckets: dict[str, list[int]] = {}  # per endpoint: counts per bucket, +Inf last
        self._sums_s: dict[str, float] = {}
        self._requests: dict[tuple[str, str], int] = {}
        self._exemplars: dict[str, tuple[str, float]] = {}
        self._arrivals = {"planned": 0.0, "sent": 0.0, "dropped": 0.0, "confirmed": 0.0}
        self._active: dict[str, int] = {}
        self._cpu: dict[str, float] = {}  # per load process (source): its last second
        self._drift: dict[str, Any] | None = None

    def observe_drift(self, report: dict[str, Any]) -> None:
        """The latest stock-drift check of the history so far (``drift.json`` form)."""
        with self._lock:
            self._drift = report

    def registry(self) -> CollectorRegistry:
        """A fresh registry holding only this collector."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return registry

    def register_endpoints(self, endpoints: Iterable[str]) -> None:
        """Serve ``endpoints``' latency and request series at zero until they are called.

        Prometheus 2 cannot tell a counter's start: a series first scraped at 12 counts
        those 12 as its baseline, and ``increase()`` never sees them."""
        with self._lock:
            for endpoint in endpoints:
                self._buckets.setdefault(endpoint, [0] * (len(BUCKETS_S) + 1))
                self._sums_s.setdefault(endpoint, 0.0)
                for outcome in ("ok", "fail"):
                    self._requests.setdefault((endpoint, outcome), 0)

    @property
    def scraped(self) -> bool:
        """Whether anything has scraped these metrics yet."""
        with self._lock:
            return bool(self._scrapes)

    def await_scrapes(self, after: float, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` scrapes began at or after ``after`` (Unix seconds), at
        most ``timeout_s``; whether they did. Woken by the scrape itself (a condition
        on the lock: a greenlet's under Locust's monkey-patching)."""
        with self._scraped:
            return self._scraped.wait_for(
                lambda: sum(1 for began in self._scrapes if began >= after) >= count,
                timeout=timeout_s,
            )

    def observe_latency(self, record: dict[str, Any]) -> None:
        endpoint = record["endpoint"]
        histogram = decode_histogram(record["hist"])  # successful requests, as the gate judges
        counts = bucket_counts(histogram)
        interval_sum_s = _sum_us(histogram) / 1e6
        with self._lock:
            total = self._buckets.setdefault(endpoint, [0] * (len(BUCKETS_S) + 1))
            for index, count in enumerate(counts):
                total[index] += count
            self._sums_s[endpoint] = self._sums_s.get(endpoint, 0.0) + interval_sum_s
            for outcome in ("ok", "fail"):
                key = (endpoint, outcome)
                self._requests[key] = self._requests.get(key, 0) + int(record[outcome])
            if "exemplar" in record:
                ex = record["exemplar"]
                self._exemplars[endpoint] = (ex["trace_id"], float(ex["latency_s"]))

    def observe_load(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._arrivals["planned"] += float(record["arrivals_planned"])
            self._arrivals["sent"] += float(record["arrivals_sent"])
            self._arrivals["dropped"] += float(record["arrivals_dropped"])
            self._arrivals["confirmed"] += float(record["orders_confirmed"])
            source = str(record.get("source", ""))
            self._active[source] = int(record["active_max"])
            if record.get("cpu_percent") is not None:
                self._cpu[source] = float(record["cpu_percent"])

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._scrapes.append(self._clock())
            self._scraped.notify_all()
            yield self._latency_family()
            requests = CounterMetricFamily(
                METRIC_CLIENT_REQUESTS, "Requests sent by the load generator.",
                labels=[LABEL_ENDPOINT, LABEL_OUTCOME],
            )  # fmt: skip
            for (endpoint, outcome), count in sorted(self._requests.items()):
                requests.add_metric([endpoint, outcome], count)
            yield requests
            for name, key, help_text in (
                (METRIC_ARRIVALS_PLANNED, "planned", "Arrivals the load profile planned."),
                (METRIC_ARRIVALS_SENT, "sent", "Arrivals started on time."),
                (METRIC_ARRIVALS_DROPPED, "dropped", "Arrivals dropped: no free slot."),
                (METRIC_ORDERS_CONFIRMED, "confirmed", "Orders the target confirmed."),
            ):
                yield CounterMetricFamily(name, help_text, value=self._arrivals[key])
            yield from self._drift_families()
            yield GaugeMetricFamily(
                METRIC_JOURNEYS_ACTIVE, "Journeys in flight (most in the last second).",
                value=sum(self._active.values()),
            )  # fmt: skip
            cpu = GaugeMetricFamily(METRIC_LOAD_CPU, "CPU of each load process, last second "
                                    "(100: one core).", labels=[LABEL_SOURCE])  # fmt: skip
            for source, percent in sorted(self._cpu.items()):
                cpu.add_metric([source], percent)
            yield cpu

    def _drift_families(self) -> Iterator[Metric]:
        drift = self._drift
        if drift is None:
            return
        yield GaugeMetricFamily(METRIC_DRIFT_OVERSELL, "Units confirmed beyond stock, so far.",
                                value=drift["oversell_units"])  # fmt: skip
        outside = GaugeMetricFamily(
            METRIC_DRIFT_OUTSIDE, "Stock observations outside the expected interval, so far.",
            labels=[LABEL_SOURCE],
        )  # fmt: skip
        outside.add_metric(["truth"], drift["truth_outside_interval"])
        outside.add_metric(["views"], drift["views_outside_interval"])
        yield outside
        yield GaugeMetricFamily(METRIC_DRIFT_UNDERSELL, "False sold-out answers, so far.",
                                value=drift["undersell_false_sold_out"])  # fmt: skip
        lag = GaugeMetricFamily(
            METRIC_DRIFT_LAG, "Order acknowledged -> every channel view shows it (timed ones).",
            labels=[LABEL_QUANTILE],
        )  # fmt: skip
        for quantile, key in (("0.5", "lag_p50_s"), ("0.95", "lag_p95_s"), ("0.99", "lag_p99_s"),
                              ("1", "lag_worst_s")):  # fmt: skip
            if drift.get(key) is not None:
                lag.add_metric([quantile], drift[key])
        yield lag

    def _latency_family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            METRIC_CLIENT_LATENCY, "Client-side request latency, from the intended start.",
            labels=[LABEL_ENDPOINT],
        )  # fmt: skip
        for endpoint, counts in sorted(self._buckets.items()):
            family.add_metric(
                [endpoint], _cumulative(counts, self._exemplars.get(endpoint)),
                sum_value=self._sums_s[endpoint],
            )  # fmt: skip
        return family


def bucket_counts(histogram: HdrHistogram) -> list[int]:
    """Counts per Prometheus bucket (``+Inf`` last), summed from HDR's counts array in
    slices (C speed; iterating its recorded values in Python took milliseconds each)."""
    counts, last = histogram.counts, histogram.counts_len - 1
    out: list[int] = []
    start = 0
    for le in BUCKETS_S:
        end = min(histogram.get_counts_array_index(int(le * 1e6)), last) + 1
        out.append(sum(counts[start:end]) if end > start else 0)
        start = max(start, end)
    out.append(sum(counts[start:]))
    return out


_MIDPOINTS: dict[tuple[int, int], list[int]] = {}


def _sum_us(histogram: HdrHistogram) -> int:
    """Sum of the recorded values (each at its bucket's median, as HDR's mean does),
    in C-speed slices: ``get_mean_value`` walks the values in Python (~17 ms each)."""
    top = min(histogram.get_counts_array_index(histogram.get_max_value()), histogram.counts_len - 1)
    layout = (histogram.counts_len, histogram.sub_bucket_half_count_magnitude)
    mids = _MIDPOINTS.get(layout)
    if mids is None:
        mids = _MIDPOINTS[layout] = [_median(histogram, i) for i in range(histogram.counts_len)]
    return sum(map(operator.mul, histogram.counts[: top + 1], mids[: top + 1]))


def _median(histogram: HdrHistogram, index: int) -> int:
    value = histogram.get_value_from_index(index)
    low = histogram.get_lowest_equivalent_value(value)
    high = histogram.get_highest_equivalent_value(value)
    return int(low + (high - low + 1) // 2)


def _cumulative(
    counts: list[int], exemplar: tuple[str, float] | None
) -> list[tuple[str, float] | tuple[str, float, Exemplar]]:
    """Cumulative Prometheus buckets from counts per bucket (``+Inf`` last)."""
    out: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
    total = 0
    for le, count in zip((*BUCKETS_S, float("inf")), counts, strict=True):
        total += count
        bound = "+Inf" if le == float("inf") else repr(le)
        if exemplar is not None and exemplar[1] <= le:
            out.append((bound, total, Exemplar({"trace_id": exemplar[0]}, exemplar[1])))
            exemplar = None
        else:
            out.append((bound, total))
    return out
