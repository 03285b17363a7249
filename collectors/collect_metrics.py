"""The peak-day collector's Prometheus metrics: their HELP, families and server.

Names and labels come from the one conventions module (``slo.conventions``), the lag
buckets too (``COLLECT_LAG_BUCKETS_S``: a ``convergence_lag`` SLO alerts from the bucket
at its threshold). Each collector builds its own families in its own
``CollectorRegistry``, every label child created up front so that a series exists (at
zero) before anything happened.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from slo import conventions as n
from slo.conventions import COLLECT_BOUNDS, COLLECT_CALLS, COLLECT_ERROR_KINDS
from slo.conventions import COLLECT_LAG_BUCKETS_S as LAG_BUCKETS_S

__all__ = [
    "CALL_BUCKETS_S",
    "HELP",
    "LAG_BUCKETS_S",
    "CollectMetrics",
    "MetricsServer",
    "family",
    "serve_metrics",
]

M = TypeVar("M", Counter, Gauge, Histogram)

CALL_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the probe and canary latency histograms."""

HELP = {
    n.METRIC_COLLECT_VIEW_DRIFT: "Units the channel view lies outside the truth's range within "
    "the staleness allowance: the largest over SKU x location, each as last probed.",
    n.METRIC_COLLECT_VIEW_OBSERVATIONS: "View observations judged against the staleness allowance.",
    n.METRIC_COLLECT_VIEW_OUTSIDE: "View observations outside the staleness allowance.",
    n.METRIC_COLLECT_VIEW_UNJUDGED: "View observations not judged (no truth read old enough, "
    "or the closing truth read unanswered).",
    n.METRIC_COLLECT_LAG: "Observed truth change -> the channel view shows it: lower (proved) "
    "and upper bound of each timed lag.",
    n.METRIC_COLLECT_LAG_PENDING: "Age (at least) of the oldest observed truth change the "
    "channel view does not show yet.",
    n.METRIC_COLLECT_LAG_UNTIMED: "Changes a view caught up with, bracketed too widely to time.",
    n.METRIC_COLLECT_NEGATIVE: "Stock observations below zero (source: truth or the channel).",
    n.METRIC_COLLECT_PROBE_ERRORS: "Adapter calls that failed: unanswered (the OMS could not "
    "answer) or adapter_bug (probing, or the canary, stops).",
    n.METRIC_COLLECT_PROBE_FAILED: "1 once an adapter call raised a bug and probing stopped.",
    n.METRIC_COLLECT_PROBE_DURATION: "Adapter read latency, answered or not.",
    n.METRIC_COLLECT_LAST_PROBE: "Unix time the last probe (truth, views, truth) finished.",
    n.METRIC_COLLECT_CANARY_DURATION: "Canary order latency, black box, per operation.",
    n.METRIC_COLLECT_CANARY_OPS: "Canary operations: ok, fail (refused), info (unknown).",
    n.METRIC_COLLECT_CANARY_OPEN: "Canary orders placed (or perhaps placed), not known cancelled.",
}
"""The HELP text of every metric the collector serves."""


def family(kind: type[M], registry: CollectorRegistry, name: str, *labels: str, **kw: Any) -> M:
    """A family of ``kind`` named ``name`` (its HELP from ``HELP``) in ``registry``."""
    return kind(name, HELP[name], labels, registry=registry, **kw)


class CollectMetrics:
    """The collector's metric families, in its own registry, every label child created."""

    def __init__(self, r: CollectorRegistry, channels: Sequence[str]) -> None:
        ch = n.LABEL_CHANNEL
        self.drift = family(Gauge, r, n.METRIC_COLLECT_VIEW_DRIFT, ch)
        self.judged = family(Counter, r, n.METRIC_COLLECT_VIEW_OBSERVATIONS, ch)
        self.outside = family(Counter, r, n.METRIC_COLLECT_VIEW_OUTSIDE, ch)
        self.unjudged = family(Counter, r, n.METRIC_COLLECT_VIEW_UNJUDGED, ch)
        self.lag = family(Histogram, r, n.METRIC_COLLECT_LAG, ch, n.LABEL_BOUND,
                           buckets=LAG_BUCKETS_S)  # fmt: skip
        self.pending = family(Gauge, r, n.METRIC_COLLECT_LAG_PENDING, ch)
        self.untimed = family(Counter, r, n.METRIC_COLLECT_LAG_UNTIMED, ch)
        self.negative = family(Counter, r, n.METRIC_COLLECT_NEGATIVE, n.LABEL_SOURCE)
        self.errors = family(Counter, r, n.METRIC_COLLECT_PROBE_ERRORS, n.LABEL_KIND, n.LABEL_CALL)
        self.failed = family(Gauge, r, n.METRIC_COLLECT_PROBE_FAILED)
        self.duration = family(Histogram, r, n.METRIC_COLLECT_PROBE_DURATION, n.LABEL_CALL,
                                buckets=CALL_BUCKETS_S)  # fmt: skip
        self.last = family(Gauge, r, n.METRIC_COLLECT_LAST_PROBE)
        per_channel = (self.drift, self.judged, self.outside, self.unjudged, self.pending,
                       self.untimed, self.negative)  # fmt: skip
        for channel in channels:
            for metric in per_channel:
                metric.labels(channel)
            for bound in COLLECT_BOUNDS:
                self.lag.labels(channel, bound)
        self.negative.labels("truth")
        for kind, call in itertools.product(COLLECT_ERROR_KINDS, COLLECT_CALLS):
            self.errors.labels(kind, call)
        for call in ("truth", "view"):
            self.duration.labels(call)


@dataclass
class MetricsServer:
    """``/metrics`` of one registry, served on a loopback host by a daemon thread."""

    server: Any
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``host:port`` (port 0: a free one); the caller checks ``host``."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, host, int(server.server_address[1]))
